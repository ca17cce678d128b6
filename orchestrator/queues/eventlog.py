"""Queue statistics that survive a restart: every ACD event is stored, today's replayed.

:class:`EventLog` is an ACD listener. It keeps each :class:`~orchestrator.queues.acd.AcdEvent`
in memory and writes them in batches (every ``flush_s``, in a worker thread, so the
event dispatch never waits for the database). At start, :meth:`EventLog.start` replays
the events stored since local midnight into the live :class:`~orchestrator.queues.acd.QueueStats`
(the one the wallboard reads), so today's figures are the same as before the restart.

What the previous run left open is closed, except the callers whose places were kept
(``keep``: the ACD takes them back, see :mod:`orchestrator.queues.acd.places`): other waiting
callers and callbacks get a ``dequeued`` event of reason ``restart`` (not counted as
answered or abandoned) or a ``callback_result`` ``cancelled``, and the logged-in agents
an ``agent_state`` ``logged_out``; the agents' logins restored from the store then come
as fresh events. These closing events are stored too, so the next restart agrees.

At local midnight the counters start again (:meth:`QueueStats.reset`) and events older
than ``keep_days`` are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from sqlmodel import Session

from orchestrator.queues.acd import AcdEvent, QueueStats
from orchestrator.queues.store import runtime as store

log = logging.getLogger("orchestrator.queues")

FLUSH_S = 0.5
KEEP_DAYS = 7


def midnight(now: float) -> datetime.datetime:
    """Local midnight of the day of ``now`` (a Unix time), timezone-aware."""
    local = datetime.datetime.fromtimestamp(now).astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def closing_events(
    events: list[AcdEvent], now: float, keep: Collection[str] = frozenset()
) -> list[AcdEvent]:
    """Events that close what ``events`` left open but the calls in ``keep``."""
    waiting: dict[str, AcdEvent] = {}
    callbacks: dict[str, AcdEvent] = {}
    agents: dict[tuple[int, str], AcdEvent] = {}
    for e in events:
        if e.type == "queued" and e.call_id not in keep:
            (callbacks if e.kind == "callback" else waiting)[e.call_id] = e
        elif e.type == "dequeued":
            waiting.pop(e.call_id, None)
        elif e.type == "callback_result":
            callbacks.pop(e.call_id, None)
        elif e.type == "agent_state":
            agents[(e.tenant_id, e.agent_id)] = e
    out = [
        AcdEvent(
            type="dequeued",
            tenant_id=e.tenant_id,
            timestamp=now,
            queue=e.queue,
            call_id=e.call_id,
            caller=e.caller,
            reason="restart",
            kind=e.kind,
            wait_s=max(0.0, now - e.timestamp + e.wait_s),  # (wait_s: before a resume)
        )
        for e in waiting.values()
    ]
    out += [
        AcdEvent(
            type="callback_result",
            tenant_id=e.tenant_id,
            timestamp=now,
            queue=e.queue,
            call_id=e.call_id,
            caller=e.caller,
            reason="cancelled",
            kind="callback",
        )
        for e in callbacks.values()
    ]
    out += [
        AcdEvent(
            type="agent_state",
            tenant_id=e.tenant_id,
            timestamp=now,
            agent_id=e.agent_id,
            state="logged_out",
        )
        for e in agents.values()
        if e.queues or e.state != "logged_out"
    ]
    return out


class EventLog:
    """Stores ACD events and rebuilds today's statistics at start (see the module doc)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        stats: QueueStats,
        *,
        flush_s: float = FLUSH_S,
        keep_days: int = KEEP_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.stats = stats
        self.flush_s = flush_s
        self.keep_days = keep_days
        self.clock = clock
        self.day = midnight(clock())
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.stored = 0
        # Today's events as replayed at start (the wallboard replays them too).
        self.replayed: list[AcdEvent] = []

    def __call__(self, event: AcdEvent) -> None:
        self._pending.append(event.to_dict())

    def _load(self, since: datetime.datetime) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return store.events_since(session, since)

    async def start(self, keep: Collection[str] = frozenset()) -> int:
        """Replay today's stored events into the stats; returns how many were replayed.

        The callers in ``keep`` (call ids) are left waiting: the ACD takes them back.
        """
        now = self.clock()
        self.day = midnight(now)
        rows = await asyncio.to_thread(self._load, self.day)
        events = [AcdEvent.from_dict(r) for r in rows]
        self.replayed = events
        for event in events:
            self.stats.apply(event)
        for event in closing_events(events, now, keep):
            self.stats.apply(event)
            self(event)
        await self.flush()
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="acd-event-log")
        log.info("queue statistics rebuilt from %d stored events", len(events))
        return len(events)

    async def stop(self) -> None:
        # Not a cancel: a batch being written when the task is cancelled would still be
        # committed by its thread, but after stop() returned (and after a restarted
        # service has replayed the log without it).
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        await self.flush()

    def _write(self, batch: list[dict[str, Any]]) -> int:
        with self.sessions() as session:
            return store.append_events(session, batch)

    async def flush(self) -> None:
        """Write the events kept so far (the next flush retries a failed batch)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            self.stored += await asyncio.to_thread(self._write, batch)
        except Exception:
            log.exception("could not store %d queue events; retrying", len(batch))
            self._pending = batch + self._pending

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.flush_s)
            await self.flush()
            day = midnight(self.clock())
            if day != self.day:
                self.day = day
                self.stats.reset()
                await asyncio.to_thread(self._purge, day - datetime.timedelta(days=self.keep_days))

    def _purge(self, before: datetime.datetime) -> None:
        with self.sessions() as session:
            store.purge_events(session, before)
