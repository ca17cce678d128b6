"""The call center as the service runs it: the ACD wired to the store, IVR, CTI and phones.

:class:`CallCenter` puts together, around one :class:`~orchestrator.queues.acd.AcdService`:

- :class:`~.sync.StoreSync`: queues, agents and memberships from the store, at start
  and after every change through the API (:meth:`CallCenter.reload`);
- :class:`~.eventlog.EventLog`: every ACD event stored; today's statistics rebuilt into
  :attr:`CallCenter.stats` (a live :class:`~orchestrator.queues.acd.QueueStats`) at start;
- :class:`~.store.places.PlaceStore`: waiting callers' places and the last agents kept in the
  store, so a restart gives the callers their places back (:meth:`CallCenter.start`);
- :class:`~.actions.AgentActions`: login/logout/pause for REST, WebSocket and phones;
- :class:`~.events.CtiForwarder`: ``queued``/``dequeued``/``agent_state`` on the CTI
  stream;
- :class:`~.feature_codes.AgentCodes`: the handlers of the agents' feature codes (``*61``
  log in, ``*62`` log out, ``*63`` pause by default) dialed from their phones;
- the IVR flow ``queue`` (:func:`~.flow.queue_flow`).

The composition root (orchestrator/runtime.py, through :mod:`.install`) builds it and
calls :meth:`start` before the engine starts (so the engine's start-up sweep spares the
callers taken back) and :meth:`stop` before the IVR runner stops (so the flows of
waiting callers leave them up for the next run).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from orchestrator.core.engine import Engine
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.cti import CtiService
from orchestrator.ivr.directory import Directory
from orchestrator.queues.acd import AcdService, QueueStats
from orchestrator.queues.acd.wallboard import Wallboard
from orchestrator.queues.actions import AgentActions
from orchestrator.queues.eventlog import EventLog
from orchestrator.queues.events import CtiForwarder
from orchestrator.queues.feature_codes import AgentCodes
from orchestrator.queues.flow import carry_on
from orchestrator.queues.store.places import PlaceStore
from orchestrator.queues.sync import StoreSync

log = logging.getLogger("orchestrator.queues")

# How often logged-in agents' registrations are read from the engine when it does not
# report them (Asterisk without the registrar's test events, see
# orchestrator/engines/asterisk/registrations.py); with events the ACD reads them only
# as a safety net (orchestrator/queues/acd/reachability.py).
REACHABILITY_POLL_S = 5.0


class CallCenter:
    """The ACD and everything around it (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        directory: Directory,
        sessions: Callable[[], Session],
        *,
        cti: CtiService | None = None,
        stats: QueueStats | None = None,
        acd: AcdService | None = None,
        flush_s: float = 0.5,
        reachability_poll_s: float = REACHABILITY_POLL_S,
        node: str = "",
    ) -> None:
        """``node``: the engine node's name, under which waiting callers are kept."""
        self.engine = engine
        self.places = PlaceStore(sessions, node=node)
        self.acd = acd or AcdService(
            engine, directory, reachability_poll_s=reachability_poll_s, places=self.places
        )
        self.acd.resumed_flow = lambda place, result: carry_on(self.acd, place, result)
        self.stats = stats if stats is not None else QueueStats()
        self.sync = StoreSync(self.acd, sessions)
        self.events = EventLog(sessions, self.stats, flush_s=flush_s)
        self.actions = AgentActions(self.acd, sessions)
        self.forwarder = CtiForwarder(cti, self.acd) if cti is not None else None
        if self.forwarder is not None:
            self.acd.adopted.append(self.forwarder.adopted)
        self.codes = AgentCodes(self.actions)
        self.wallboard = Wallboard(self.stats)
        self._started = False

    async def start(self) -> None:
        """Rebuild today's statistics, load the store, take back the callers the last run
        left waiting, follow the engine."""
        if self._started:
            return
        self._started = True
        places, last_agents = await self.places.load()
        await self.events.start(keep={p.call_id for p in places})
        # The statistics first: the wallboard reads them as soon as an event is out.
        listeners: list[Any] = [self.stats, self.events]
        if self.forwarder is not None:
            listeners.append(self.forwarder)
        self.acd.listeners[:0] = listeners
        await self.sync.load(initial=True)
        self.acd.remember_last_agents(last_agents)
        self._recent_waits()
        self.acd.dequeued_before = {e.call_id for e in self.events.replayed if e.type == "dequeued"}
        self.acd.restore(places)  # they wait for the engine (see orchestrator.queues.acd.places)
        self.places.start()
        # The wallboard from the start, not from its first viewer: who logged out of which
        # queue earlier today is only in the replayed events.
        self.wallboard.replay(self.events.replayed)
        self.wallboard.attach(self.acd)
        self.acd.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.acd.stop()  # waiting callers stay, for the next run
        await self.places.stop()
        await self.events.stop()

    def _recent_waits(self) -> None:
        """Today's answered waits feed the estimated-wait announcements, as before."""
        for event in self.events.replayed:
            if event.type == "dequeued" and event.reason == "answered" and event.kind == "live":
                with contextlib.suppress(NotFoundError):
                    self.acd.queue(event.tenant_id, event.queue).recent_waits.append(event.wait_s)

    async def reload(self, tenant_id: int) -> None:
        """The store changed for ``tenant_id``: the ACD follows (see :mod:`.sync`)."""
        if self._started:
            await self.sync.load(tenant_id)

    def check_removable(self, tenant_id: int, queue: str) -> None:
        """Refuse (409) to delete or disable a queue callers are waiting in."""
        try:
            waiting = self.acd.ordered(tenant_id, queue)
        except NotFoundError:
            return
        if waiting:
            raise ConflictError(f"{len(waiting)} callers are waiting in queue {queue}", queue=queue)

    def status(self, tenant_id: int, queue: str) -> dict[str, Any]:
        """Waiting calls, the queue's agents and today's figures (``GET .../status``)."""
        now = time.time()
        try:
            waiting = self.acd.waiting(tenant_id, queue)
            agents = [
                {**a.to_dict(), "penalty": a.penalties.get(queue, a.config.penalty)}
                for a in self.acd.agents.members(tenant_id, queue)
            ]
            running = True
        except NotFoundError:
            waiting, agents, running = [], [], False
        figures = self.stats.figures(tenant_id, queue, now=now).to_dict()
        return {
            "tenant_id": tenant_id,
            "queue": queue,
            "running": running,
            "time": now,
            "waiting": waiting,
            "agents": agents,
            "figures": figures,
        }
