"""Agents' phone registrations read from the engine, so an unregistered phone is never "available".

``EndpointStateChanged`` events keep an agent's ``reachable`` fact current: the ACD
applies each one at once (``AcdService`` -> ``AgentBook.set_reachable``). Events alone
are not enough, though: at start nothing has been said yet, events are lost while the
control link is down, and some engines do not send them at all for some users
(``Engine.capabilities.registration_events`` is false: Asterisk built without the test events its
registrar raises, see ``orchestrator/engines/asterisk/contacts.py``).
:class:`Reachability` therefore reads ``Engine.endpoint_states`` for

- every agent when the engine (re)connects (``EngineConnected``), which also corrects
  whatever was missed while the link was down;
- an agent added to the ACD, or logging in while logged out everywhere;
- the logged-in agents every ``poll_s`` seconds (0: never) when the engine does not
  report registrations, and only every ``safety_poll_s`` (at least ``poll_s``) when it
  does: a safety net for an event lost without the link dropping. A read of Asterisk
  lists every contact of the engine, so this keeps its cost off the common case.

Reads are coalesced: endpoints asked for while a read runs go in the next one. A state
read is applied only if no event for that endpoint came while it was read
(:meth:`AgentBook.seed_reachable`). A failed read (engine down) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError
from orchestrator.queues.acd.agents import AgentBook

log = logging.getLogger("orchestrator.queues.acd")

# How often the poll loop looks at the clock (poll_s can be changed while it runs).
_TICK_S = 0.5
# The poll's period while the engine reports registrations (see the module doc).
SAFETY_POLL_S = 60.0


class Reachability:
    """Seeds and refreshes the agents' ``reachable`` fact from the engine (module doc)."""

    def __init__(
        self,
        engine: Engine,
        agents: AgentBook,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
        *,
        poll_s: float = 0.0,
        safety_poll_s: float = SAFETY_POLL_S,
    ) -> None:
        self.engine = engine
        self.agents = agents
        self.poll_s = poll_s
        self.safety_poll_s = safety_poll_s
        self.reads = 0  # reads done (tests, diagnostics)
        self._spawn = spawn
        self._pending: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling if ``poll_s`` is set (from within the event loop)."""
        if self._poller is None and self.poll_s > 0:
            self._poller = self._spawn(self._poll(), "acd-reachability-poll")

    def stop(self) -> None:
        """Forget pending reads (the owner cancels the tasks)."""
        self._pending.clear()
        self._reader = self._poller = None

    def refresh(self, endpoints: Iterable[str] | None = None) -> None:
        """Read these endpoints' states soon (``None``: every agent's)."""
        if endpoints is None:
            endpoints = (a.config.endpoint for a in self.agents.all())
        self._pending.update(e for e in endpoints if e)
        if not self._pending or (self._reader is not None and not self._reader.done()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # configuration before the loop runs: EngineConnected reads them all
        self._reader = self._spawn(self._read(), "acd-reachability-read")

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until the reads asked for so far are done."""
        reader = self._reader
        if reader is None or reader.done():
            return
        await asyncio.wait({reader}, timeout=timeout)  # not cancelled on timeout

    async def _read(self) -> None:
        while self._pending:
            endpoints = sorted(self._pending)
            self._pending.clear()
            marks = self.agents.endpoint_marks(endpoints)
            try:
                states = await self.engine.endpoint_states(endpoints)
            except OrchestratorError as exc:
                # Down: EngineConnected reads everyone again once it is back.
                log.info("ACD: could not read %d endpoint states: %s", len(endpoints), exc)
                return
            self.reads += 1
            self.agents.seed_reachable(states, marks)

    def interval(self) -> float:
        """Seconds between two polls now (0: no polling)."""
        if self.poll_s <= 0 or not self.engine.capabilities.registration_events:
            return self.poll_s
        return max(self.poll_s, self.safety_poll_s)

    async def _poll(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(_TICK_S)
            interval = self.interval()
            if interval <= 0 or time.monotonic() - last < interval:
                continue
            last = time.monotonic()
            if not self.engine.status().connected:
                continue
            self.refresh(a.config.endpoint for a in self.agents.all() if a.queues)
