"""What the builder knows about a live call, and how it persists between restarts.

An :class:`OpenCall` groups the channels of one call (the engine's ``call_id``, plus
channels joined to it by notes, e.g. click-to-call leg B). Each :class:`ChannelTrack`
keeps the facts the CDR needs: when it started, was answered and ended, who dialed it
and with what outcome, and what features said about it (role, service, account).
:class:`ServiceSpan` records a service a channel received for a while (an IVR app).

Both serialise to plain JSON (:meth:`OpenCall.to_state` / :meth:`OpenCall.from_state`),
which is what the ``cdr_open_calls`` table holds while the call is live. Times are Unix
seconds (floats) here; the CDR rows get timezone-aware UTC datetimes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Dial outcomes as open calls saved before the outcomes were engine-neutral wrote them
# (the Asterisk adapter's dial statuses in lower case): read back as today's values after
# an upgrade.
_SAVED_DIAL_STATUSES = {"answer": "answered", "noanswer": "no_answer", "cancel": "cancelled",
                        "chanunavail": "unavailable", "dontcall": "rejected",
                        "torture": "rejected"}  # fmt: skip


@dataclass(slots=True)
class ChannelTrack:
    """One engine channel of a call."""

    id: str
    seq: int
    started: float
    name: str = ""
    endpoint: str = ""
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    context: str = ""
    answered: float | None = None
    ended: float | None = None
    cause: int | None = None
    # The channel that dialed this one, and the final outcome of that dial.
    dialed_by: str | None = None
    dial_status: str = ""
    # What features said about the channel (notes); empty: derived when the CDR is made.
    role: str = ""
    service: str = ""
    account: str | None = None
    tenant_id: int | None = None
    detail: str = ""  # a forwarded leg: the extension that forwarded the call
    # The engine's plumbing (ChannelStarted.kind internal), never a party of the call.
    plumbing: bool = False
    # ChannelStarted.pair_id: shared by the two halves of a loopback channel.
    pair_id: str = ""
    # False for a channel reloaded after a restart until the engine reports it again.
    confirmed: bool = True
    # The answer time was not seen (it happened while the orchestrator was down).
    approximate: bool = False

    @property
    def alive(self) -> bool:
        return self.ended is None

    @property
    def loopback_pair(self) -> str | None:
        """What both halves of a loopback channel share (None for other channels)."""
        return self.pair_id or None


@dataclass(slots=True)
class ServiceSpan:
    """A service a channel received for a while: ``ivr`` (the app in ``detail``)..."""

    channel_id: str
    service: str
    role: str
    started: float
    detail: str = ""
    tenant_id: int | None = None
    answered: float | None = None
    ended: float | None = None
    account: str | None = None
    extension: str = ""  # voicemail: the extension whose mailbox took the message


@dataclass(slots=True)
class OpenCall:
    """A live call: its channels, dial outcomes, services, recordings and notes."""

    key: str
    started: float
    last_seen: float
    channels: dict[str, ChannelTrack] = field(default_factory=dict)
    spans: list[ServiceSpan] = field(default_factory=list)
    # Final dial outcomes (ChannelDialed.status), oldest first.
    dial_statuses: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    account: str | None = None
    notes: list[str] = field(default_factory=list)
    # Other engine call ids merged into this one (click-to-call leg B, IVR dials).
    aliases: list[str] = field(default_factory=list)
    next_seq: int = 0

    @property
    def finished(self) -> bool:
        """Every channel has ended (and there was at least one)."""
        return bool(self.channels) and all(not c.alive for c in self.channels.values())

    def add_channel(self, channel_id: str, started: float) -> ChannelTrack:
        track = ChannelTrack(id=channel_id, seq=self.next_seq, started=started)
        self.next_seq += 1
        self.channels[channel_id] = track
        self.started = min(self.started, started)
        return track

    def open_span(self, channel_id: str, service: str) -> ServiceSpan | None:
        return next(
            (
                s
                for s in reversed(self.spans)
                if s.channel_id == channel_id and s.service == service and s.ended is None
            ),
            None,
        )

    def absorb(self, other: OpenCall) -> None:
        """Take over ``other``'s channels and facts (it was the same call all along)."""
        for track in sorted(other.channels.values(), key=lambda c: c.seq):
            track.seq = self.next_seq
            self.next_seq += 1
            self.channels[track.id] = track
        self.spans.extend(other.spans)
        self.dial_statuses.extend(other.dial_statuses)
        self.recordings.extend(r for r in other.recordings if r not in self.recordings)
        self.notes.extend(other.notes)
        self.account = self.account or other.account
        self.aliases.extend([other.key, *other.aliases])
        self.started = min(self.started, other.started)
        self.last_seen = max(self.last_seen, other.last_seen)

    # -- persistence ---------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OpenCall:
        data = dict(state)
        channels = {k: ChannelTrack(**v) for k, v in data.pop("channels", {}).items()}
        for track in channels.values():
            track.dial_status = _SAVED_DIAL_STATUSES.get(track.dial_status, track.dial_status)
        data["dial_statuses"] = [
            _SAVED_DIAL_STATUSES.get(s, s) for s in data.get("dial_statuses", [])
        ]
        spans = [ServiceSpan(**s) for s in data.pop("spans", [])]
        return cls(**data, channels=channels, spans=spans)
