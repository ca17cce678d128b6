"""Waiting callers' places and the last agents, kept in the store for the next run.

:class:`PlaceStore` is the ACD's :class:`~orchestrator.queues.acd.places.PlaceKeeper`. The ACD
tells it of every change synchronously; it only notes the change, and a writer task
stores what is noted at once, in one transaction in a worker thread. So a caller's
place is in the store a few milliseconds after it started waiting (the window in which
a crash would lose it; the event log's 0.5 s batches would be coarser), and changes of
one call within a batch collapse to the latest. A failed write is retried (changes
noted meanwhile are newer and win).

At start, :meth:`PlaceStore.load` reads what the previous run left: the places (those of
a queue no longer enabled are dropped) and the newest last agents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlmodel import Session

from orchestrator.queues.acd.places import Place
from orchestrator.queues.acd.tracking import LAST_AGENT_MEMORY
from orchestrator.queues.store import runtime as store
from orchestrator.store.batching import BatchWriter

log = logging.getLogger("orchestrator.queues")

RETRY_S = 1.0


class PlaceStore(BatchWriter):
    """The store behind the ACD's places and last agents (see the module doc)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        node: str = "",
        memory: int = LAST_AGENT_MEMORY,
        retry_s: float = RETRY_S,
    ) -> None:
        """``node``: the engine node (its run takes back the callers it holds)."""
        super().__init__(retry_s=retry_s, name="acd-places")
        self.sessions = sessions
        self.node = node
        self.memory = memory
        self.batches = 0  # batches written (tests, diagnostics)
        self._places: dict[str, Place | None] = {}
        self._agents: dict[tuple[int, str], tuple[str, float]] = {}

    # -- the PlaceKeeper ---------------------------------------------------------------
    def keep(self, place: Place) -> None:
        self._places[place.call_id] = place
        self.noted()

    def release(self, call_id: str) -> None:
        self._places[call_id] = None
        self.noted()

    def remember_agent(self, tenant_id: int, number: str, agent_id: str, at: float) -> None:
        self._agents[(tenant_id, number)] = (agent_id, at)
        self.noted()

    # -- life cycle --------------------------------------------------------------------
    def _read(self) -> tuple[list[Place], list[tuple[int, str, str]]]:
        with self.sessions() as session:
            places = store.load_places(session, self.node)
            return places, store.load_last_agents(session, self.memory)

    async def load(self) -> tuple[list[Place], list[tuple[int, str, str]]]:
        """The places and the last agents ``(tenant, number, agent)`` kept by the last run."""
        return await asyncio.to_thread(self._read)

    def _write(
        self,
        places: dict[str, Place | None],
        agents: dict[tuple[int, str], tuple[str, float]],
    ) -> None:
        with self.sessions() as session:
            if places:
                store.save_places(session, places, self.node)
            if agents:
                store.remember_agents(session, agents)

    async def flush(self) -> bool:
        """Write the changes noted so far; False if that failed (they are kept)."""
        if not self._places and not self._agents:
            return True
        places, self._places = self._places, {}
        agents, self._agents = self._agents, {}
        try:
            await asyncio.to_thread(self._write, places, agents)
        except Exception:
            log.exception("could not store %d queue place(s); retrying", len(places))
            # Changes noted during the write are newer: they win.
            self._places = places | self._places
            self._agents = agents | self._agents
            return False
        self.batches += 1
        return True
