"""Call control for applications in any language (CTI): the calls the orchestrator
controls per tenant, their events with per-tenant sequence numbers and replay, remote
IVR apps driven by a client, and the commands (answer, play, collect, hangup,
transfer, redirect, hold, click-to-call) the WebSocket and REST APIs expose.

See docs/cti.md for the protocol. The pieces:

- :class:`CallRegistry`: active calls, fed by the engine and the IVR runner;
- :class:`EventStream`: CTI events, ``seq`` per tenant, a bounded replay buffer;
- :class:`CtiService`: queries and commands, and the ``remote`` flow;
- :mod:`orchestrator.cti.commands`: the commands' parameters.
"""

from orchestrator.cti.errors import CallNotRemoteError, CallStateError
from orchestrator.cti.registry import REMOTE_APP, ActiveCall, CallKind, CallRegistry, CallState
from orchestrator.cti.service import CtiService
from orchestrator.cti.stream import CtiEvent, EventStream, Replay, Subscription

__all__ = [
    "REMOTE_APP",
    "ActiveCall",
    "CallKind",
    "CallNotRemoteError",
    "CallRegistry",
    "CallState",
    "CallStateError",
    "CtiEvent",
    "CtiService",
    "EventStream",
    "Replay",
    "Subscription",
]
