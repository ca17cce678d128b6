"""Observation of dials on FreeSWITCH: ``ChannelDialed`` from CHANNEL_OUTGOING.

FreeSWITCH fires CHANNEL_OUTGOING for each channel it dials (a dialplan ``bridge``, an
``originate``), before the dialed channel's CHANNEL_CREATE; when a channel dialed it, the
event names it as ``Other-Type: originator`` / ``Other-Leg-Unique-ID`` (see
switch_core_session_outgoing_channel). :class:`Dials` reports the dial once the dialed
channel has been reported started (``ChannelStarted``, as on Asterisk: CTI looks both
channels up), and its outcome: ``answered`` at its answer, or, when it ends unanswered, the
outcome its hangup cause names (:data:`OUTCOMES`) just before its ``ChannelEnded``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
)
from orchestrator.core.outcomes import DialOutcome

# FreeSWITCH's hangup cause of a dialed channel that never answered -> the dial's outcome.
OUTCOMES: dict[str, DialOutcome] = {
    "USER_BUSY": DialOutcome.BUSY,
    "NO_ANSWER": DialOutcome.NO_ANSWER,
    "NO_USER_RESPONSE": DialOutcome.NO_ANSWER,
    "ALLOTTED_TIMEOUT": DialOutcome.NO_ANSWER,
    "PROGRESS_TIMEOUT": DialOutcome.NO_ANSWER,
    "ORIGINATOR_CANCEL": DialOutcome.CANCELLED,
    "LOSE_RACE": DialOutcome.CANCELLED,
    "PICKED_OFF": DialOutcome.CANCELLED,
    "NORMAL_CLEARING": DialOutcome.CANCELLED,
    "CALL_REJECTED": DialOutcome.REJECTED,
    "USER_NOT_REGISTERED": DialOutcome.UNAVAILABLE,
    "SUBSCRIBER_ABSENT": DialOutcome.UNAVAILABLE,
    "UNALLOCATED_NUMBER": DialOutcome.UNAVAILABLE,
    "NO_ROUTE_DESTINATION": DialOutcome.UNAVAILABLE,
    "DESTINATION_OUT_OF_ORDER": DialOutcome.UNAVAILABLE,
    "CHAN_NOT_IMPLEMENTED": DialOutcome.UNAVAILABLE,
}
DEFAULT_OUTCOME = DialOutcome.CONGESTION


class Dials:
    """Dials under way (see the module doc); :meth:`see` turns one observation event
    into what to report, in order."""

    def __init__(self) -> None:
        self._pending: dict[str, ChannelDialed] = {}  # dialed, not yet reported started
        self._open: dict[str, ChannelDialed] = {}  # reported, no outcome yet

    def see(self, event: ChannelEvent, started: Collection[str]) -> list[ChannelEvent]:
        """``event`` and the dial events around it. ``started``: the channels reported
        started (a ChannelDialed waits for its dialed channel's)."""
        if isinstance(event, ChannelDialed):
            if event.peer_id not in started:
                self._pending[event.peer_id] = event
                return []
            self._open[event.peer_id] = event
            return [event]
        peer = event.channel_id
        if isinstance(event, ChannelStarted):
            dial = self._pending.pop(peer, None)
            if dial is None:
                return [event]
            self._open[peer] = dial
            return [event, dial]
        dial = self._open.get(peer)
        if dial is None:
            if isinstance(event, ChannelEnded):
                self._pending.pop(peer, None)
            return [event]
        if isinstance(event, ChannelStateChanged) and event.state == "up":
            del self._open[peer]
            done = replace(dial, status=DialOutcome.ANSWERED, timestamp=event.timestamp)
            return [event, done]
        if isinstance(event, ChannelEnded):
            del self._open[peer]
            outcome = OUTCOMES.get(event.cause_text, DEFAULT_OUTCOME)
            return [replace(dial, status=outcome, timestamp=event.timestamp), event]
        return [event]
