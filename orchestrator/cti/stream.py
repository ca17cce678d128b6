"""CTI events, their per-tenant sequence numbers, the replay buffer and subscriptions.

Every event about a tenant's calls gets the next ``seq`` of that tenant's stream
(1, 2, 3...), so a client that reconnects can ask for what came after the last
``seq`` it saw. The stream keeps the last ``replay_size`` events per tenant; a client
asking for events the buffer no longer holds gets a snapshot of the calls instead,
with ``missed=True``. Sequence numbers restart at 1 when the service restarts: a
client whose ``after_seq`` is beyond the stream's last ``seq`` is told it missed
events, for the same reason.

A :class:`Subscription` filters one client's view (an access number, an extension
or the whole tenant) and hands matching events to its ``sink`` synchronously, so
events reach each client in ``seq`` order.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Event names. queued/dequeued are reserved for the call-queue feature.
EVENTS = frozenset(
    {
        "new",
        "ringing",
        "answered",
        "dtmf",
        "held",
        "unheld",
        "transferred",
        # Attended transfer (orchestrator.cti.attended); it ends with "transferred".
        "transfer_started",
        "transfer_answered",
        "transfer_cancelled",
        "hung_up",
        "queued",
        "dequeued",
        # An agent's state changed (orchestrator.queues.events).
        "agent_state",
        # Supervisors on agents' calls (orchestrator.cti.supervise).
        "supervision_started",
        "supervision_changed",
        "supervision_ended",
        # Conferences (orchestrator.conferences.events): the call is the conference.
        "conference_started",
        "conference_ended",
        "participant_invited",
        "participant_joined",
        "participant_left",
        "participant_updated",
        "participant_talking",
        "conference_locked",
        "conference_unlocked",
        "conference_recording",
        "conference_owner",
        # An extension's call settings changed (orchestrator.pbx.settings): the "call"
        # is {"tenant_id", "extensions": [number]}, the details the settings.
        "call_settings_changed",
        # A tenant's night mode turned on or off (orchestrator.pbx.inbound_install): the
        # "call" is {"tenant_id"}, the details {"enabled", "by", "extension"?}.
        "night_mode_changed",
        # Voicemail (orchestrator.pbx.voicemail): a caller left a message; the call is
        # the caller's leg ({"id", "tenant_id"}), the details name the mailbox.
        "voicemail_deposited",
        # A ring group's call nobody took (orchestrator.pbx.ring_groups): the call is the
        # caller's leg ({"id", "tenant_id", "extensions": the member extensions}).
        "ring_group_unanswered",
        # Call park (orchestrator.pbx.park): the call is the parked leg ({"id",
        # "tenant_id", "extensions": [parker]}), the details its slot.
        "call_parked",
        "call_retrieved",
        "park_timed_out",
        "park_abandoned",
        # Call pickup (orchestrator.pbx.pickup): a call ringing at an extension was taken
        # by another phone; the call is the caller's leg ({"id", "tenant_id",
        # "extensions": [rung, picker]}), the details who took it and how.
        "call_picked_up",
    }
)
REPLAY_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class CtiEvent:
    """One call-state notification: ``event`` happened to ``call`` (a snapshot dict)."""

    event: str
    seq: int
    tenant_id: int
    timestamp: float
    call: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "seq": self.seq,
            "tenant_id": self.tenant_id,
            "timestamp": self.timestamp,
            "call": dict(self.call),
            "details": dict(self.details),
        }


Sink = Callable[["Subscription", CtiEvent], None]


@dataclass(slots=True)
class Subscription:
    """What one client watches: ``access_number``, ``extension``, or (neither) the tenant."""

    id: str
    tenant_id: int
    sink: Sink
    access_number: str | None = None
    extension: str | None = None

    def matches(self, call: Mapping[str, Any]) -> bool:
        """Whether a call (a snapshot dict) is in this subscription's view."""
        if call.get("tenant_id") != self.tenant_id:
            return False
        if self.access_number is not None:
            return call.get("access_number") == self.access_number
        if self.extension is not None:
            return self.extension in call.get("extensions", ())
        return True


@dataclass(frozen=True, slots=True)
class Replay:
    """What a (re)subscribing client gets besides live events."""

    last_seq: int
    events: list[CtiEvent]
    missed: bool


class _TenantStream:
    __slots__ = ("buffer", "seq")

    def __init__(self, size: int) -> None:
        self.seq = 0
        self.buffer: deque[CtiEvent] = deque(maxlen=size)


class EventStream:
    """Numbers, keeps and fans out CTI events, per tenant."""

    def __init__(self, replay_size: int = REPLAY_SIZE) -> None:
        if replay_size < 1:
            raise ValueError("replay_size must be at least 1")
        self.replay_size = replay_size
        self._tenants: dict[int, _TenantStream] = {}
        self._subscriptions: dict[int, dict[str, Subscription]] = {}
        self._ids = itertools.count(1)

    def _tenant(self, tenant_id: int) -> _TenantStream:
        stream = self._tenants.get(tenant_id)
        if stream is None:
            stream = self._tenants[tenant_id] = _TenantStream(self.replay_size)
        return stream

    def last_seq(self, tenant_id: int) -> int:
        stream = self._tenants.get(tenant_id)
        return stream.seq if stream is not None else 0

    def publish(
        self,
        event: str,
        tenant_id: int,
        call: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
    ) -> CtiEvent:
        """Number ``event``, keep it for replay and hand it to matching subscriptions."""
        if event not in EVENTS:
            raise ValueError(f"unknown CTI event {event!r}")
        stream = self._tenant(tenant_id)
        stream.seq += 1
        item = CtiEvent(event, stream.seq, tenant_id, time.time(), call, dict(details or {}))
        stream.buffer.append(item)
        for sub in list(self._subscriptions.get(tenant_id, {}).values()):
            if sub.matches(call):
                sub.sink(sub, item)
        return item

    def subscribe(
        self,
        tenant_id: int,
        sink: Sink,
        *,
        access_number: str | None = None,
        extension: str | None = None,
        after_seq: int | None = None,
    ) -> tuple[Subscription, Replay]:
        """Start a subscription; with ``after_seq``, also the kept events after it.

        The replay is computed in the same step as the subscription starts, so a
        client sees every event exactly once: replayed, then live.
        """
        sub = Subscription(
            f"s{next(self._ids)}", tenant_id, sink, access_number=access_number, extension=extension
        )
        self._subscriptions.setdefault(tenant_id, {})[sub.id] = sub
        return sub, self.replay(sub, after_seq)

    def replay(self, sub: Subscription, after_seq: int | None) -> Replay:
        stream = self._tenants.get(sub.tenant_id)
        last = stream.seq if stream is not None else 0
        if after_seq is None:
            return Replay(last, [], False)
        if after_seq > last or after_seq < 0:
            return Replay(last, [], True)  # a sequence of another run of the service
        if after_seq == last:
            return Replay(last, [], False)
        assert stream is not None
        oldest = stream.buffer[0].seq if stream.buffer else last + 1
        if after_seq + 1 < oldest:
            return Replay(last, [], True)
        events = [e for e in _after(stream.buffer, after_seq) if sub.matches(e.call)]
        return Replay(last, events, False)

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscriptions.get(sub.tenant_id)
        if subs is not None:
            subs.pop(sub.id, None)
            if not subs:
                del self._subscriptions[sub.tenant_id]

    def subscription_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())


def _after(buffer: deque[CtiEvent], seq: int) -> Iterable[CtiEvent]:
    # Seqs in the buffer are consecutive: index arithmetic instead of a scan.
    start = seq + 1 - buffer[0].seq
    return itertools.islice(buffer, max(start, 0), None)
