"""The ACD: queues, agents and the distribution of waiting callers to free agents.

Engine-neutral: it drives calls only through the :class:`~orchestrator.core.Engine`
interface and follows the engine's events, so it runs the same on Asterisk, on
FreeSWITCH and on the :class:`~orchestrator.core.FakeEngine` of the unit tests.

An IVR flow hands its caller to a queue and gets back what happened::

    result = await acd.enqueue(call, tenant_id=1, queue="support")
    if result.outcome in ("overflow", "timeout"):
        await call.transfer(result.destination)

How it works (docs/queues.md has the whole picture):

- each waiting caller is owned by its ``enqueue`` coroutine (:mod:`.session`): it
  answers the leg, plays music on hold and the periodic announcements, and connects
  the caller with the agent who answers;
- the dispatcher (:mod:`.dispatch`) runs whenever something changes (a caller arrives,
  an agent becomes available, a retry pause ends): it matches waiting callers (queue
  weight, then priority, then arrival) with available agents (the queue's strategy)
  and starts an :class:`~.waiting.Offer` task (:mod:`.offers`) for each match;
- engine events never block: the handler only sets flags and wakes the owner (an agent
  leg's answer is settled in :func:`.offers.agent_leg_event`);
- with a :class:`~.places.PlaceKeeper`, waiting callers and the last agents are kept
  in the store, so a restart of the orchestrator keeps their places (:mod:`.places`).
- which legs and playbacks belong to which call is :class:`~.tracking.CallTracking`'s
  bookkeeping (the service's base class).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

from orchestrator.core.call import LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.core.events import (
    EndpointStateChanged,
    EngineConnected,
    Event,
    LegCreated,
    LegDtmf,
    LegHungUp,
    LegStateChanged,
    PlaybackFinished,
)
from orchestrator.ivr.directory import Directory
from orchestrator.queues.acd import dispatch, offers, places, session
from orchestrator.queues.acd.agents import Agent, AgentBook
from orchestrator.queues.acd.config import AgentConfig, QueueConfig, skills
from orchestrator.queues.acd.events import AcdEvent, QueueEvents, QueueResult
from orchestrator.queues.acd.places import Place, PlaceKeeper, ResumedFlow
from orchestrator.queues.acd.reachability import Reachability
from orchestrator.queues.acd.tracking import CallTracking
from orchestrator.queues.acd.waiting import QueuedCall, QueueRuntime

log = logging.getLogger("orchestrator.queues.acd")


class CallerLike(Protocol):
    """What ``enqueue`` needs of a call: an :class:`~orchestrator.ivr.IvrCall` fits."""

    @property
    def id(self) -> str: ...

    @property
    def caller(self) -> str: ...


class AcdService(CallTracking):
    """Call queues of every tenant on one engine (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        directory: Directory,
        *,
        listeners: list[QueueEvents] | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        reachability_poll_s: float = 0.0,
        places: PlaceKeeper | None = None,
    ) -> None:
        """``places``: where waiting callers and last agents are kept (see :mod:`.places`);
        without one, a stop ends every waiting call and the memory is lost."""
        self.engine = engine
        self.directory = directory
        self.listeners: list[QueueEvents] = list(listeners or [])
        self.clock = clock
        self._seed = seed
        self.agents = AgentBook(self.emit, self.kick, clock)
        self._queues: dict[tuple[int, str], QueueRuntime] = {}
        self._calls: dict[str, QueuedCall] = {}
        self._caller_legs: dict[str, QueuedCall] = {}
        self._agent_legs: dict[str, tuple[QueuedCall, Agent]] = {}
        self._playbacks: dict[str, QueuedCall] = {}
        self._last_agent: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._kick_pending = False
        self._unsubscribe: Callable[[], None] | None = None
        self.places = places
        # Carries on with a resumed caller in place of its flow (see .places).
        self.resumed_flow: ResumedFlow | None = None
        # Told of each call with an agent taken back after a restart, both sides up (the
        # call center lists it in CTI again: its IVR call is gone with the last run).
        self.adopted: list[Callable[[QueuedCall], None]] = []
        # Caller legs of the live calls kept as connected to their agent (keep_connected).
        self.connected: set[str] = set()
        # Restored callers waiting for the engine to be connected (places.adopt).
        self.pending: list[tuple[QueuedCall, QueueRuntime]] = []
        # Calls whose dequeue the statistics already hold (the call center fills it from
        # the replayed event log before restore()): an adopted call not in it had its
        # "answered" lost with the last run's unwritten batch, and is counted again.
        self.dequeued_before: set[str] = set()
        self.stopping = False
        # Phones' registrations read from the engine (at connect, new agents, polling).
        self.reachability = Reachability(
            engine, self.agents, self.spawn, poll_s=reachability_poll_s
        )

    # -- life cycle ---------------------------------------------------------------
    def start(self) -> None:
        self.stopping = False
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)
            self.reachability.start()
            if self.pending and self.engine.status().connected:
                places.adopt(self)

    @property
    def following(self) -> bool:
        """Whether the ACD follows the engine's events (between start and stop)."""
        return self._unsubscribe is not None

    async def stop(self) -> None:
        """Stop following the engine; offers end (the agents ringing are hung up).

        With a place keeper, callers still waiting (and callbacks not yet made) are left
        as they are for the next run; otherwise they end as the owners are cancelled.
        """
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.reachability.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def emit(self, event: AcdEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("ACD listener %r failed on %s", listener, event.type)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- configuration --------------------------------------------------------------
    def put_queue(self, config: QueueConfig) -> None:
        """Add a queue or change its configuration (waiting callers stay)."""
        runtime = self._queues.get((config.tenant_id, config.name))
        if runtime is None:
            runtime = QueueRuntime(config)
            if self._seed is not None:
                # A string seed is hashed with SHA-512: the same on every run.
                runtime.rng.seed(f"{self._seed}:{config.tenant_id}:{config.name}")
            self._queues[(config.tenant_id, config.name)] = runtime
        runtime.config = config
        self.kick()

    def remove_queue(self, tenant_id: int, name: str) -> None:
        self.queue(tenant_id, name)
        if any(c.tenant_id == tenant_id and c.queue == name for c in self._calls.values()):
            raise ConflictError("callers are waiting in the queue", queue=name)
        for agent in self.agents.members(tenant_id, name):
            self.agents.logout(tenant_id, agent.id, name)
        del self._queues[(tenant_id, name)]

    def queue(self, tenant_id: int, name: str) -> QueueRuntime:
        runtime = self._queues.get((tenant_id, name))
        if runtime is None:
            raise NotFoundError(f"no queue {name}", tenant_id=tenant_id, queue=name)
        return runtime

    def queues(self, tenant_id: int) -> list[QueueConfig]:
        return [q.config for (t, _), q in sorted(self._queues.items()) if t == tenant_id]

    def put_agent(self, config: AgentConfig, *, reachable: bool = True) -> Agent:
        """Add an agent or update one; a new agent's registration is read from the engine.

        Until that read answers (or an event comes) the agent is ``reachable``.
        """
        new = not self.agents.has(config.tenant_id, config.agent_id)
        old = None if new else self.agents.get(config.tenant_id, config.agent_id).config.endpoint
        agent = self.agents.put(config, reachable=reachable)
        self.agents.changed(agent)
        if new or old != config.endpoint:
            self.reachability.refresh([config.endpoint])
        return agent

    # -- agents ---------------------------------------------------------------------
    def login(self, tenant_id: int, agent_id: str, queue: str) -> Agent:
        self.queue(tenant_id, queue)
        agent = self.agents.login(tenant_id, agent_id, queue)
        if len(agent.queues) == 1:
            self.reachability.refresh([agent.config.endpoint])  # a shift starts: check now
        return agent

    def logout(self, tenant_id: int, agent_id: str, queue: str | None = None) -> Agent:
        return self.agents.logout(tenant_id, agent_id, queue)

    def pause(self, tenant_id: int, agent_id: str, reason: str = "") -> Agent:
        return self.agents.pause(tenant_id, agent_id, reason)

    def unpause(self, tenant_id: int, agent_id: str) -> Agent:
        return self.agents.unpause(tenant_id, agent_id)

    def ready(self, tenant_id: int, agent_id: str) -> Agent:
        return self.agents.ready(tenant_id, agent_id)

    def agent_busy(self, extension: str, busy: bool, *, tenant_id: int) -> None:
        """The phone of ``extension`` is (no longer) on a non-queue call: skip its agent.

        For the channel observer; it must not report the ACD's own legs
        (:meth:`owns_leg`).
        """
        self.agents.set_busy(tenant_id, extension, busy)

    # -- a restart ------------------------------------------------------------------
    def restore(self, stored: Iterable[Place]) -> list[Place]:
        """Take back the callers a previous run left waiting; returns those refused.

        Call before the engine starts (see :mod:`.places`).
        """
        return places.restore(self, stored)

    def remember_last_agents(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """The stored last agents, ``(tenant, number, agent_id)`` oldest first."""
        places.remember_last_agents(self, rows)

    def keeping(self, entry: QueuedCall) -> bool:
        """Whether ``entry`` is left waiting for the next run (the service stops)."""
        if not self.stopping or self.places is None:
            return False
        # A caller talking to its agent is kept as well once both are connected.
        return entry.waiting or (entry.state == "connecting" and entry.leg_id in self.connected)

    def next_seq(self) -> int:
        return next(self._seq)

    @property
    def calls(self) -> Mapping[str, QueuedCall]:
        """The calls waiting or being served, by call id."""
        return self._calls

    def runtime_of(self, entry: QueuedCall) -> QueueRuntime:
        """The queue ``entry`` waits in (it exists: a queue with callers is not removed)."""
        return self._queues[(entry.tenant_id, entry.queue)]

    # -- callers --------------------------------------------------------------------
    async def enqueue(
        self,
        call: CallerLike | str,
        *,
        tenant_id: int,
        queue: str,
        caller: str | None = None,
        priority: int | None = None,
        required_skills: Mapping[str, int] | None = None,
    ) -> QueueResult:
        """Put a caller's leg in ``queue`` and return once it is settled (see
        :class:`QueueResult`). ``priority`` defaults to the queue's rules for the
        caller's number; ``required_skills`` to the queue's."""
        leg_id = call if isinstance(call, str) else call.id
        number = caller if caller is not None else ("" if isinstance(call, str) else call.caller)
        runtime = self.queue(tenant_id, queue)
        config = runtime.config
        if leg_id in self._caller_legs:
            raise ConflictError("the call is already queued", call_id=leg_id)
        entry = QueuedCall(
            id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            queue=queue,
            caller=number,
            priority=config.priority_for(number) if priority is None else int(priority),
            seq=self.next_seq(),
            enqueued_at=self.clock(),
            leg_id=leg_id,
            skills=skills(
                required_skills if required_skills is not None else config.required_skills
            ),
        )
        return await session.run_live(self, runtime, entry)

    def request_callback(self, call_id: str, number: str | None = None) -> None:
        """The caller (a live queued call) leaves, keeping its place for a callback."""
        entry = self._calls.get(call_id)
        if entry is None or entry.kind != "live" or not entry.waiting:
            raise NotFoundError(f"no waiting call {call_id}", call_id=call_id)
        if not self.queue(entry.tenant_id, entry.queue).config.callback_enabled:
            raise ConflictError("the queue offers no callback", queue=entry.queue)
        entry.callback_number = number or entry.caller
        entry.callback_requested = True
        entry.wake.set()

    def waiting(self, tenant_id: int, queue: str) -> list[dict[str, object]]:
        """The calls waiting in ``queue``, first served first."""
        now = self.clock()
        return [c.to_dict(now) for c in self.ordered(tenant_id, queue)]

    def ordered(self, tenant_id: int, queue: str) -> list[QueuedCall]:
        calls = [
            c
            for c in self._calls.values()
            if c.tenant_id == tenant_id and c.queue == queue and c.waiting
        ]
        return sorted(calls, key=lambda c: c.order_key(0))

    def position(self, entry: QueuedCall) -> int:
        ordered = self.ordered(entry.tenant_id, entry.queue)
        return ordered.index(entry) + 1 if entry in ordered else 0

    # -- distribution -----------------------------------------------------------------
    def kick(self) -> None:
        """Run the dispatcher soon (once, however many changes happen meanwhile)."""
        if self._kick_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # configuration before the loop runs: the first enqueue kicks
        self._kick_pending = True
        loop.call_soon(self._dispatch)

    def kick_at(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(max(0.0, delay), self.kick)

    def _dispatch(self) -> None:
        self._kick_pending = False
        if not self.stopping:
            dispatch.run(self)

    # -- engine events ------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, LegHungUp | LegStateChanged | LegCreated | LegDtmf):
            entry = self._caller_legs.get(event.leg_id)
            if entry is not None:
                self._caller_event(entry, event)
            elif event.leg_id in self._agent_legs:
                offers.agent_leg_event(self, *self._agent_legs[event.leg_id], event)
        elif isinstance(event, PlaybackFinished):
            entry = self._playbacks.get(event.playback_id)
            if entry is not None:
                entry.playback_done = True
                entry.wake.set()
        elif isinstance(event, EndpointStateChanged):
            self.agents.set_reachable(event.endpoint, event.state)
        elif isinstance(event, EngineConnected):
            self.reachability.refresh()  # all of them: events may have been missed
            if self.pending:
                places.adopt(self)  # the start-up sweep has taken the kept legs back

    def _caller_event(self, entry: QueuedCall, event: Event) -> None:
        if isinstance(event, LegHungUp):
            entry.caller_gone = True
        elif isinstance(event, LegCreated | LegStateChanged) and event.state == LegState.UP:
            entry.caller_up = True
        elif isinstance(event, LegDtmf):
            config = self.runtime_of(entry).config
            if config.callback_enabled and event.digit == config.callback_key and entry.waiting:
                entry.callback_number = entry.callback_number or entry.caller
                entry.callback_requested = True
        else:
            return
        entry.wake.set()
        if entry.offer is not None:
            entry.offer.wake.set()

    def agent_leg_gone(self, entry: QueuedCall) -> None:
        """The connected agent's leg ended: wrap-up, then ``completed`` (idempotent)."""
        agent = entry.agent
        if entry.agent_gone or agent is None:
            return
        entry.agent_gone, entry.talk_ended_at = True, self.clock()
        self.forget_agent_leg(entry.agent_leg)
        config = self.runtime_of(entry).config
        self.agents.hung_up(agent, config.wrapup_s, lambda w: self._completed(entry, w))
        entry.wake.set()

    def _completed(self, entry: QueuedCall, wrapup: float) -> None:
        agent_id = entry.agent.id if entry.agent else ""
        talk = max(0.0, entry.talk_ended_at - entry.answered_at)
        self.event("completed", entry, agent_id=agent_id, talk_s=talk, wrapup_s=wrapup)
