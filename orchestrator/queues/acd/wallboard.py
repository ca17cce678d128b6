"""The live wallboard model: per queue, the figures and the agents, pushed as they change.

A :class:`Wallboard` is an :class:`~orchestrator.queues.acd.events.AcdEvent` listener. For
every queue it builds a JSON-friendly snapshot (:meth:`Wallboard.snapshot`): the
figures of a :class:`~orchestrator.queues.acd.stats.QueueStats` (waiting calls, longest
wait, answered / abandoned today, both service levels, ASA, AHT) plus the queue's
agents with their state and reason, and pushes it to the watchers allowed to see the
queue's tenant (:meth:`Wallboard.watch`), e.g. the wallboard WebSocket
(``api/routes/wallboard.py``)::

    board = Wallboard(stats)             # stats: fed by the ACD, or rebuilt from events
    board.attach(acd)                    # listen, and take the agents' current states
    watch = board.watch(scope=tenant_id) # None: every tenant
    first = board.snapshots(scope=tenant_id)
    while True:
        await watch.wait()
        send(watch.take())               # the latest snapshot of each changed queue

Timing: an event marks its queue changed; the queue's snapshot goes out at most every
``min_interval_s`` (a burst of events is one update) and never later than that after
the event, so well within a second. While callers wait, a clock tick re-sends the
queue every ``tick_s`` so the longest wait grows with nobody calling. A watcher keeps
only the newest snapshot of each queue, so a slow client never piles up a backlog.

After a restart the board shows what it showed before: the figures come from a
:class:`QueueStats` rebuilt from the day's stored events, the agent list from a
:meth:`Wallboard.replay` of the same events, and the agents' states from the ACD
(derived from live engine facts)::

    stats = QueueStats.rebuild(events)
    board = Wallboard(stats)
    board.replay(events)
    board.attach(acd)

Agents who logged out of a queue stay on its tile as ``logged_out`` (until
:meth:`Wallboard.reset_day`).

Every snapshot carries ``event_at`` (the time of the oldest event it is the first to
include, or None for a clock tick) and ``sent_at``, so a client can measure how long
an event took to reach its screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.core.errors import NotFoundError
from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.stats import QueueStats

# How agents are listed on a tile: working first, absent last.
STATE_ORDER = (
    "available",
    "ringing",
    "on_call",
    "wrap_up",
    "busy",
    "paused",
    "unavailable",
    "logged_out",
)
_RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}

QueueKey = tuple[int, str]


class _AgentLike(Protocol):
    """What the board reads of an ACD agent (:class:`~orchestrator.queues.acd.agents.Agent`)."""

    def to_dict(self) -> dict[str, object]: ...


class _AcdLike(Protocol):
    """What :meth:`Wallboard.attach` needs of an :class:`~orchestrator.queues.acd.AcdService`."""

    listeners: list[Callable[[AcdEvent], None]]

    @property
    def agents(self) -> Any: ...

    def queue(self, tenant_id: int, name: str) -> Any: ...


@dataclass(slots=True)
class _AgentRow:
    tenant_id: int
    agent_id: str
    extension: str = ""
    state: str = "logged_out"
    reason: str = ""
    since: float = 0.0
    queues: tuple[str, ...] = ()
    # Queues the agent was logged into today: a logout keeps them on those tiles.
    seen: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "extension": self.extension,
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
        }


class Watch:
    """One client's view: the newest pending snapshot per queue (see the module doc)."""

    def __init__(self, scope: int | None, queues: frozenset[str] = frozenset()) -> None:
        self.scope = scope
        self.queues = queues
        self._pending: dict[QueueKey, dict[str, Any]] = {}
        self._ready = asyncio.Event()

    def sees(self, key: QueueKey) -> bool:
        return (self.scope is None or self.scope == key[0]) and (
            not self.queues or key[1] in self.queues
        )

    def offer(self, key: QueueKey, snapshot: dict[str, Any]) -> None:
        previous = self._pending.get(key)
        earlier = previous["event_at"] if previous is not None else None
        # Not sent yet: the newer snapshot also answers the older event (latency counts
        # from the older one).
        if earlier is not None and (snapshot["event_at"] is None or earlier < snapshot["event_at"]):
            snapshot = {**snapshot, "event_at": earlier}
        self._pending[key] = snapshot
        self._ready.set()

    async def wait(self) -> None:
        await self._ready.wait()

    def take(self) -> list[dict[str, Any]]:
        """The pending snapshots (queue order), emptying the watch."""
        pending, self._pending = self._pending, {}
        self._ready.clear()
        return [pending[key] for key in sorted(pending)]


class Wallboard:
    """Per tenant and queue, the live wallboard snapshot (see the module doc)."""

    def __init__(
        self,
        stats: QueueStats,
        *,
        agents: Iterable[Mapping[str, object]] = (),
        feed_stats: bool = False,
        clock: Callable[[], float] = time.time,
        min_interval_s: float = 0.1,
        tick_s: float = 1.0,
    ) -> None:
        """``feed_stats``: apply each event to ``stats`` too (when nobody else does)."""
        self.stats = stats
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.tick_s = tick_s
        self._feed_stats = feed_stats
        self._acd: _AcdLike | None = None
        self._agents: dict[tuple[int, str], _AgentRow] = {}
        self._members: dict[QueueKey, set[str]] = {}
        self._queues: set[QueueKey] = set(stats.queues())
        self._thresholds: dict[QueueKey, float] = {}
        self._dirty: dict[QueueKey, float] = {}  # queue -> time of its oldest unsent event
        self._timers: dict[QueueKey, asyncio.TimerHandle] = {}
        self._last_push: dict[QueueKey, float] = {}
        self._watches: set[Watch] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._seq = itertools.count(1)
        for data in agents:
            self._seed_agent(data)

    # -- inputs ------------------------------------------------------------------------
    def attach(self, acd: _AcdLike) -> None:
        """Listen to ``acd`` and take its agents' current states (live truth)."""
        self._acd = acd
        for agent in acd.agents.all():
            self._seed_agent(agent.to_dict())
        acd.listeners.append(self)

    def add_queue(self, tenant_id: int, name: str, *, sl_threshold_s: float | None = None) -> None:
        """Show a queue before its first event (e.g. one just configured)."""
        self._queues.add((tenant_id, name))
        if sl_threshold_s is not None:
            self._thresholds[(tenant_id, name)] = sl_threshold_s

    def _seed_agent(self, data: Mapping[str, object]) -> None:
        tenant_id, agent_id = int(str(data["tenant_id"])), str(data["agent_id"])
        raw = data.get("queues") or ()
        queues = tuple(str(q) for q in raw) if isinstance(raw, list | tuple | set) else ()
        row = self._row(tenant_id, agent_id)
        row.extension = str(data.get("extension", "") or "")
        state, reason = str(data.get("state", "logged_out")), str(data.get("reason", ""))
        if (state, reason) != (row.state, row.reason) or not row.since:
            # Since when is unknown here; a replay of the stored events knows it.
            row.state, row.reason, row.since = state, reason, self.clock()
        self._set_queues(row, queues)

    def _row(self, tenant_id: int, agent_id: str) -> _AgentRow:
        row = self._agents.get((tenant_id, agent_id))
        if row is None:
            row = self._agents[(tenant_id, agent_id)] = _AgentRow(tenant_id, agent_id)
        return row

    def _set_queues(self, row: _AgentRow, queues: tuple[str, ...]) -> set[QueueKey]:
        """Record the agent's logins; returns the tiles the agent is shown on."""
        row.queues = queues
        row.seen.update(queues)
        for queue in row.seen:
            key = (row.tenant_id, queue)
            self._queues.add(key)
            self._members.setdefault(key, set()).add(row.agent_id)
        return {(row.tenant_id, q) for q in row.seen}

    def __call__(self, event: AcdEvent) -> None:
        """The listener: note what changed, send it soon (never blocks)."""
        if self._feed_stats:
            self.stats.apply(event)
        for key in self._note(event):
            self._changed(key, event.timestamp)

    def replay(self, events: Iterable[AcdEvent]) -> None:
        """After a restart, the day's stored events: who was in which queue, thresholds.

        Only the agent list and the queues are replayed (the figures come from the
        rebuilt ``stats``); :meth:`attach` afterwards corrects the agents' states to
        the ACD's live ones.
        """
        for event in events:
            self._note(event)

    def _note(self, event: AcdEvent) -> set[QueueKey]:
        """Record the event's agent or queue; returns the queues whose tiles changed."""
        if event.type == "agent_state":
            row = self._row(event.tenant_id, event.agent_id)
            row.state, row.reason, row.since = event.state, event.reason, event.timestamp
            if not row.extension and self._acd is not None:
                with contextlib.suppress(NotFoundError):
                    agent = self._acd.agents.get(row.tenant_id, row.agent_id)
                    row.extension = str(agent.config.extension)
            return self._set_queues(row, event.queues)
        if not event.queue:
            return set()
        key = (event.tenant_id, event.queue)
        self._queues.add(key)
        if event.type == "dequeued" and event.sl_threshold_s:
            self._thresholds[key] = event.sl_threshold_s
        return {key}

    def reset_day(self) -> None:
        """A new day (with ``stats.reset()``): forget who logged out of which queue."""
        for row in self._agents.values():
            row.seen = set(row.queues)
        for key, members in self._members.items():
            self._members[key] = {a for a in members if key[1] in self._agents[(key[0], a)].seen}
        for key in list(self._queues):
            self._changed(key, self.clock())

    # -- snapshots -------------------------------------------------------------------------
    def queues(self, scope: int | None = None) -> list[QueueKey]:
        return sorted(k for k in self._queues if scope is None or k[0] == scope)

    def snapshot(
        self, tenant_id: int, queue: str, *, event_at: float | None = None
    ) -> dict[str, Any]:
        """The queue's figures and agents now (see the module doc for the timestamps)."""
        now = self.clock()
        figures = self.stats.figures(tenant_id, queue, now=now).to_dict()
        del figures["agents"]  # counted from the agent list below, which is live
        rows = [self._agents[(tenant_id, a)] for a in self._members.get((tenant_id, queue), ())]
        agents = []
        for row in rows:
            shown = row.to_dict()
            if queue not in row.queues:
                shown.update(state="logged_out", reason="")
            agents.append(shown)
        agents.sort(key=lambda a: (_RANK.get(a["state"], len(_RANK)), a["agent_id"]))
        return {
            **figures,
            "sl_threshold_s": self._threshold(tenant_id, queue),
            "agents_by_state": dict(Counter(a["state"] for a in agents)),
            "agents": agents,
            "seq": next(self._seq),
            "event_at": event_at,
            "sent_at": now,
        }

    def snapshots(
        self, scope: int | None = None, queues: frozenset[str] = frozenset()
    ) -> list[dict[str, Any]]:
        """Every queue ``scope`` sees (None: all tenants), optionally only ``queues``."""
        return [self.snapshot(t, q) for t, q in self.queues(scope) if not queues or q in queues]

    def _threshold(self, tenant_id: int, queue: str) -> float | None:
        if self._acd is not None:
            with contextlib.suppress(NotFoundError):
                return float(self._acd.queue(tenant_id, queue).config.service_level_s)
        return self._thresholds.get((tenant_id, queue))

    # -- pushing ---------------------------------------------------------------------------
    def watch(self, scope: int | None, queues: Iterable[str] = ()) -> Watch:
        """A new watcher of ``scope``'s queues; :meth:`unwatch` it when done."""
        watch = Watch(scope, frozenset(queues))
        self._watches.add(watch)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="wallboard")
        return watch

    def unwatch(self, watch: Watch) -> None:
        self._watches.discard(watch)
        if not self._watches and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _changed(self, key: QueueKey, at: float) -> None:
        if not self._watches:
            return  # nobody to tell; whoever watches next starts from a full snapshot
        self._dirty.setdefault(key, at)
        if key in self._timers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a rebuild, a unit test): the next snapshot reads it anyway
        # Push after the current burst of listener calls (so stats have them all), and
        # not sooner than min_interval_s after the queue's previous push.
        due = self._last_push.get(key, 0.0) + self.min_interval_s
        self._timers[key] = loop.call_at(max(loop.time(), due), self._flush, key)

    def _flush(self, key: QueueKey) -> None:
        self._timers.pop(key, None)
        event_at = self._dirty.pop(key, None)
        self._last_push[key] = asyncio.get_running_loop().time()
        self._push(key, event_at)

    def _push(self, key: QueueKey, event_at: float | None) -> None:
        watches = [w for w in self._watches if w.sees(key)]
        if not watches:
            return
        snapshot = self.snapshot(*key, event_at=event_at)
        for watch in watches:
            watch.offer(key, snapshot)

    async def _tick(self) -> None:
        """Re-send queues with callers waiting, so their longest wait keeps growing."""
        while True:
            await asyncio.sleep(self.tick_s)
            now = self.clock()
            for key in self.queues():
                if key not in self._timers and self.stats.figures(*key, now=now).waiting:
                    self._push(key, None)
