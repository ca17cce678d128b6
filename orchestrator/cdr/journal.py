"""Calls across the orchestrator's gaps: their true times from the engine's own journal.

After a restart (a crash, a deploy, a graceful stop) the builder reloads the calls that
were live; some of their channels ended, or were answered, while nobody listened. The
engine recorded that (:meth:`~orchestrator.core.engine.Engine.journal`); these functions
say which channels to ask about and apply what the engine answers, so such a call's CDR
gets its real answer and end times and hangup cause, not the time it was last seen.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.cdr.tracker import ChannelTrack, OpenCall
from orchestrator.core.journal import LegRecord

NOTE = "ended while the orchestrator was down: times from the engine's journal"


def legs_to_read_back(calls: Iterable[OpenCall]) -> list[str]:
    """Channels whose truth is only in the journal: reloaded ones the engine has not
    reported alive, and live ones whose answer fell in the gap (approximate)."""
    return [
        track.id
        for call in calls
        for track in call.channels.values()
        if (not track.confirmed and track.alive) or (track.approximate and track.alive)
    ]


def apply_record(call: OpenCall, track: ChannelTrack, record: LegRecord) -> bool:
    """Take the engine's answer and end of ``track`` from ``record``; True if it ended.

    An answer seen only after the gap (``approximate``) is replaced by the journal's;
    one seen live is kept (the same instant, from the event). An end is applied only to
    a channel still open here: a live end event, when there was one, came first.
    """
    answered = record.answered_at
    if answered is not None and (track.answered is None or track.approximate):
        track.answered, track.approximate = answered, False
        for span in call.spans:
            if span.channel_id == track.id and (span.answered is None or span.answered > answered):
                span.answered = max(answered, span.started)
    if record.ended_at is None or not track.alive:
        return False
    track.ended, track.confirmed = record.ended_at, True
    track.cause = record.cause if record.cause is not None else 0
    for span in call.spans:
        if span.channel_id == track.id and span.ended is None:
            span.ended = record.ended_at
    if NOTE not in call.notes:
        call.notes.append(NOTE)
    return True
