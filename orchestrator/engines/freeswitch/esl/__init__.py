"""An asyncio FreeSWITCH Event Socket (ESL) client, in three layers.

* :mod:`.wire` - frames from bytes (any split), events decoded the same from plain,
  json and xml, commands encoded with nothing unvalidated reaching the wire;
* :mod:`.connection` - one authenticated connection: requests matched to replies,
  ``bgapi`` jobs, events, errors translated into :mod:`orchestrator.core.errors`;
* :mod:`.client` - the link kept up: reconnect with backoff, re-subscribe, LinkUp /
  LinkDown around the events;

and :mod:`.listings`, parsers of the api outputs the adapter reads (``show channels as
json``, registrations, conference lists, ``uuid_dump``).
"""

from __future__ import annotations

from orchestrator.engines.freeswitch.esl import listings
from orchestrator.engines.freeswitch.esl.client import EslClient, LinkDown, LinkUp, StreamItem
from orchestrator.engines.freeswitch.esl.connection import (
    EslCommandError,
    EslConnection,
    check_result,
)
from orchestrator.engines.freeswitch.esl.wire import (
    EslEvent,
    EslProtocolError,
    Frame,
    FrameParser,
    encode_command,
    parse_event,
)

__all__ = [
    "EslClient",
    "EslCommandError",
    "EslConnection",
    "EslEvent",
    "EslProtocolError",
    "Frame",
    "FrameParser",
    "LinkDown",
    "LinkUp",
    "StreamItem",
    "check_result",
    "encode_command",
    "listings",
    "parse_event",
]
