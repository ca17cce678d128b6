"""Live queue figures computed from ACD events alone, rebuildable from stored events.

:class:`QueueStats` is a listener (``acd.listeners.append(stats)``) that keeps, per
queue, what a wallboard shows. It reads nothing but :class:`AcdEvent` records, so
the figures after a restart are the same as before it: replay the day's stored
events into a new one (:meth:`QueueStats.rebuild`).

Definitions (per queue, since the counters were last :meth:`reset`, e.g. at midnight):

- ``waiting`` / ``longest_wait_s``: live callers waiting now and the longest wait so
  far; ``callbacks_waiting``: callers kept for a callback;
- ``answered``, ``abandoned`` (hung up while waiting), ``overflowed`` (full, or no
  agent), ``timed_out`` (``max_wait_s``), ``callbacks_requested``/``_connected``;
- service level: ``answered_within_sl / answered`` and, counting abandons against
  it, ``answered_within_sl / (answered + abandoned)``; "within" is a wait of at most
  the queue's threshold when the call was answered;
- ``asa_s`` (average speed of answer): total wait of answered calls / answered;
- ``aht_s`` (average handle time): (talk + wrap-up) / calls completed (a call
  completes when its agent's wrap-up ends);
- ``agents``: how many agents logged into the queue are in each state.

Ratios are None while their denominator is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.queues.acd.events import AcdEvent


@dataclass(slots=True)
class _Queue:
    waiting: dict[str, float] = field(default_factory=dict)  # call id -> enqueued at
    callbacks: set[str] = field(default_factory=set)
    answered: int = 0
    answered_within_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    timed_out: int = 0
    callbacks_requested: int = 0
    callbacks_connected: int = 0
    wait_answered_s: float = 0.0
    completed: int = 0
    handle_s: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue's wallboard figures at one moment (see the module doc)."""

    tenant_id: int
    queue: str
    waiting: int
    longest_wait_s: float
    callbacks_waiting: int
    answered: int
    answered_within_sl: int
    abandoned: int
    overflowed: int
    timed_out: int
    callbacks_requested: int
    callbacks_connected: int
    service_level: float | None
    service_level_with_abandoned: float | None
    asa_s: float | None
    aht_s: float | None
    completed: int
    agents: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class QueueStats:
    """An :class:`AcdEvent` listener accumulating :class:`QueueFigures` per queue."""

    def __init__(self) -> None:
        self._queues: dict[tuple[int, str], _Queue] = {}
        # (tenant, agent) -> (state, queues logged into)
        self._agents: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}
        # The agents logged into each (tenant, queue), so that one queue's figures cost
        # its own agents, not a scan of every tenant's; and each agent's rank of first
        # appearance, which keeps the ``agents`` counts in the order a scan gave them.
        self._members: dict[tuple[int, str], set[str]] = {}
        self._rank: dict[tuple[int, str], int] = {}
        self.last_timestamp = 0.0

    @classmethod
    def rebuild(cls, events: Iterable[AcdEvent]) -> QueueStats:
        """Figures as they were after ``events`` (stored in the order they happened)."""
        stats = cls()
        for event in events:
            stats.apply(event)
        return stats

    def __call__(self, event: AcdEvent) -> None:
        self.apply(event)

    def reset(self) -> None:
        """Zero the counters (a new day); waiting calls and agent states carry over."""
        for key, q in self._queues.items():
            self._queues[key] = _Queue(waiting=q.waiting, callbacks=q.callbacks)

    def _queue(self, tenant_id: int, name: str) -> _Queue:
        key = (tenant_id, name)
        if key not in self._queues:
            self._queues[key] = _Queue()
        return self._queues[key]

    def apply(self, event: AcdEvent) -> None:
        self.last_timestamp = max(self.last_timestamp, event.timestamp)
        if event.type == "agent_state":
            self._agent_state(event)
            return
        if not event.queue:
            return
        q = self._queue(event.tenant_id, event.queue)
        if event.type == "queued":
            if event.kind == "callback":
                q.callbacks.add(event.call_id)
            else:
                # wait_s: what a caller resumed after a restart had waited already.
                q.waiting[event.call_id] = event.timestamp - event.wait_s
        elif event.type == "dequeued":
            q.waiting.pop(event.call_id, None)
            self._dequeued(q, event)
        elif event.type == "callback_result":
            q.callbacks.discard(event.call_id)
            if event.reason == "connected":
                q.callbacks_connected += 1
        elif event.type == "completed":
            q.completed += 1
            q.handle_s += event.talk_s + event.wrapup_s

    def _agent_state(self, event: AcdEvent) -> None:
        tenant, agent = key = (event.tenant_id, event.agent_id)
        old = self._agents.get(key)
        for name in set(old[1] if old else ()) - set(event.queues):
            members = self._members[(tenant, name)]
            members.discard(agent)
            if not members:
                del self._members[(tenant, name)]
        for name in event.queues:
            self._members.setdefault((tenant, name), set()).add(agent)
        self._agents[key] = (event.state, event.queues)
        self._rank.setdefault(key, len(self._rank))

    @staticmethod
    def _dequeued(q: _Queue, event: AcdEvent) -> None:
        if event.reason == "answered":
            q.answered += 1
            q.wait_answered_s += event.wait_s
            if event.wait_s <= event.sl_threshold_s:
                q.answered_within_sl += 1
        elif event.reason == "abandoned":
            q.abandoned += 1
        elif event.reason == "overflow":
            q.overflowed += 1
        elif event.reason == "timeout":
            q.timed_out += 1
        elif event.reason == "callback":
            q.callbacks_requested += 1

    def queues(self) -> list[tuple[int, str]]:
        return sorted(self._queues)

    def figures(self, tenant_id: int, queue: str, now: float | None = None) -> QueueFigures:
        """The queue's figures; ``now`` (default: the last event's time) dates the waits."""
        q = self._queues.get((tenant_id, queue)) or _Queue()
        at = self.last_timestamp if now is None else now
        longest = max((at - since for since in q.waiting.values()), default=0.0)
        members = sorted(
            ((tenant_id, a) for a in self._members.get((tenant_id, queue), ())),
            key=self._rank.__getitem__,
        )
        agents = Counter(self._agents[key][0] for key in members)
        return QueueFigures(
            tenant_id=tenant_id,
            queue=queue,
            waiting=len(q.waiting),
            longest_wait_s=max(0.0, longest),
            callbacks_waiting=len(q.callbacks),
            answered=q.answered,
            answered_within_sl=q.answered_within_sl,
            abandoned=q.abandoned,
            overflowed=q.overflowed,
            timed_out=q.timed_out,
            callbacks_requested=q.callbacks_requested,
            callbacks_connected=q.callbacks_connected,
            service_level=_ratio(q.answered_within_sl, q.answered),
            service_level_with_abandoned=_ratio(q.answered_within_sl, q.answered + q.abandoned),
            asa_s=_ratio(q.wait_answered_s, q.answered),
            aht_s=_ratio(q.handle_s, q.completed),
            completed=q.completed,
            agents=dict(agents),
        )
