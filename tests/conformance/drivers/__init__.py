"""Drivers: the engine's side of a conformance test, one per engine.

A contract test says what happens in telephony words ("a call arrives and the caller keys
12# after a second", "dial a target that is busy", "the control link drops") and the
driver makes it happen on its engine, so the tests name no engine internals. The
FakeEngine's driver plays the far end with its scripting hooks; the Asterisk driver with
Local channels into a test-only dialplan context (the far half runs the far end's part)
and a REST-only ARI client that acts behind the adapter's back. A FreeSWITCH driver
implements the same methods (loopback channels and its own dialplan).

Every originate of the suite goes through :meth:`Driver.originate`, the one place that
knows how a target is spelled for the engine. One module per engine (fake.py,
asterisk.py, freeswitch.py), the shared parts in base.py.
"""

from tests.conformance.drivers.asterisk import (
    CONTEXT_FAR,
    CONTEXT_IN,
    CONTEXT_OUT,
    DB_FAMILY,
    DIALPLAN,
    AsteriskDriver,
)
from tests.conformance.drivers.base import Driver, Events, FarEnd, Incoming, Outcome
from tests.conformance.drivers.fake import FakeDriver

__all__ = [
    "CONTEXT_FAR",
    "CONTEXT_IN",
    "CONTEXT_OUT",
    "DB_FAMILY",
    "DIALPLAN",
    "AsteriskDriver",
    "Driver",
    "Events",
    "FakeDriver",
    "FarEnd",
    "Incoming",
    "Outcome",
]
