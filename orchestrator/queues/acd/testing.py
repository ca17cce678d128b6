"""Agents' phones played on a :class:`~orchestrator.core.FakeEngine`, for ACD tests.

Each time the ACD rings an agent (an originate with the routing ``Routing("acd", ...)``),
the phone does the next scripted action for that extension, or its default::

    phones = AgentPhones(fake)
    phones.default("101", Answer(0.01))        # answers after 10 ms
    phones.script("102", Busy(), Silent())     # busy, then rings out, then default
    ...
    await phones.hangup("101")                 # the agent ends the call
    await phones.close()

:class:`AcdHarness` puts an :class:`AcdService` on it with fast timings; with a
:class:`MemoryPlaces` keeper, :meth:`AcdHarness.restart` replays a restart of the
service (a new ACD takes the waiting callers back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.events import Event, LegCreated
from orchestrator.core.fake import FakeEngine
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.queues.acd.agents import Agent
from orchestrator.queues.acd.config import AgentConfig, QueueConfig
from orchestrator.queues.acd.events import AcdEvent, QueueResult
from orchestrator.queues.acd.places import Place
from orchestrator.queues.acd.service import AcdService
from orchestrator.queues.acd.stats import QueueStats


@dataclass(frozen=True, slots=True)
class Answer:
    after: float = 0.0


@dataclass(frozen=True, slots=True)
class Busy:
    after: float = 0.0
    cause: int = 17


@dataclass(frozen=True, slots=True)
class Reject:
    after: float = 0.0
    cause: int = 21


@dataclass(frozen=True, slots=True)
class Silent:
    """Rings until the ACD gives up."""


Action = Answer | Busy | Reject | Silent


class AgentPhones:
    """Scripted agent phones (see the module doc)."""

    def __init__(self, fake: FakeEngine) -> None:
        self.fake = fake
        self._scripts: dict[str, deque[Action]] = defaultdict(deque)
        self._defaults: dict[str, Action] = {}
        # Every ring, in order: (extension, leg id).
        self.rings: list[tuple[str, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = fake.subscribe(self._on_event)

    def default(self, extension: str, action: Action) -> None:
        self._defaults[extension] = action

    def script(self, extension: str, *actions: Action) -> None:
        self._scripts[extension].extend(actions)

    def rang(self) -> list[str]:
        """The extensions rung so far, in order."""
        return [ext for ext, _ in self.rings]

    def live_leg(self, extension: str) -> str | None:
        """The extension's leg that is still up or ringing (the latest one)."""
        for ext, leg_id in reversed(self.rings):
            leg = self.fake.legs.get(leg_id)
            if ext == extension and leg is not None and leg.alive:
                return leg_id
        return None

    async def hangup(self, extension: str) -> None:
        leg_id = self.live_leg(extension)
        assert leg_id is not None, f"{extension} has no live leg"
        await self.fake.remote_hangup(leg_id)

    async def close(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, LegCreated) or event.routing is None:
            return
        if event.routing.service != "acd":
            return
        # FakeEngine dial strings are SIP/<extension>@<tenant>.
        extension = event.name.removeprefix("SIP/").partition("@")[0]
        self.rings.append((extension, event.leg_id))
        script = self._scripts.get(extension)
        action = script.popleft() if script else self._defaults.get(extension, Silent())
        if isinstance(action, Silent):
            return
        task = asyncio.create_task(self._act(event.leg_id, action))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, leg_id: str, action: Action) -> None:
        await asyncio.sleep(getattr(action, "after", 0.0))
        leg = self.fake.legs.get(leg_id)
        if leg is None or not leg.alive:
            return
        if isinstance(action, Answer):
            await self.fake.remote_answer(leg_id)
        elif isinstance(action, Busy | Reject):
            await self.fake.remote_hangup(leg_id, action.cause)


class MemoryPlaces:
    """A :class:`~orchestrator.queues.acd.places.PlaceKeeper` in memory: the store's stand-in,
    outliving the :class:`AcdService` instances of a test."""

    def __init__(self) -> None:
        self.places: dict[str, Place] = {}
        self.agents: dict[tuple[int, str], tuple[str, float]] = {}

    def keep(self, place: Place) -> None:
        self.places[place.call_id] = place

    def release(self, call_id: str) -> None:
        self.places.pop(call_id, None)

    def remember_agent(self, tenant_id: int, number: str, agent_id: str, at: float) -> None:
        self.agents[(tenant_id, number)] = (agent_id, at)

    def last_agents(self) -> list[tuple[int, str, str]]:
        """``(tenant, number, agent)``, oldest first (as the store gives them)."""
        rows = sorted(self.agents.items(), key=lambda item: item[1][1])
        return [(tenant, number, agent) for (tenant, number), (agent, _) in rows]


# Fast timings for unit tests: offers ring for 100 ms, retries after 10 ms.
FAST = {"ring_timeout_s": 0.1, "retry_s": 0.01}


@dataclass(slots=True)
class Caller:
    """A caller the harness put in a queue: its leg and the running ``enqueue``."""

    leg: Leg
    task: asyncio.Task[QueueResult]

    async def result(self, timeout: float = 2.0) -> QueueResult:
        async with asyncio.timeout(timeout):
            return await self.task


class AcdHarness:
    """An :class:`AcdService` on a FakeEngine with scripted phones, for tests::

    h = await AcdHarness.create()
    h.queue(strategy=Strategy.RING_ALL)
    h.agent("101"); h.phones.default("101", Answer())
    caller = await h.call("+447700900001")
    ...
    await h.close()
    """

    def __init__(self, fake: FakeEngine, acd: AcdService) -> None:
        self.fake = fake
        self.acd = acd
        self.phones = AgentPhones(fake)
        self.events: list[AcdEvent] = []
        self.stats = QueueStats()
        self.callers: list[Caller] = []
        # Resumed callers' results (in place of their flows), after a restart.
        self.resumed: list[tuple[Place, QueueResult]] = []
        self._changed = asyncio.Event()
        self._listen(acd)
        fake.subscribe(lambda _e: self._changed.set())

    def _listen(self, acd: AcdService) -> None:
        acd.listeners += [self.events.append, self.stats, lambda _e: self._changed.set()]
        acd.resumed_flow = self._resumed

    async def _resumed(self, place: Place, result: QueueResult) -> None:
        self.resumed.append((place, result))
        self._changed.set()
        leg = self.fake.legs.get(place.leg_id)
        if leg is not None and leg.alive:
            await self.fake.hangup(place.leg_id)

    @classmethod
    async def create(cls, *, seed: int = 1, places: MemoryPlaces | None = None) -> AcdHarness:
        fake = FakeEngine()
        await fake.start()
        acd = AcdService(fake, StaticDirectory(fake), seed=seed, places=places)
        acd.start()
        return cls(fake, acd)

    async def restart(
        self, between: Callable[[], Any] | None = None, *, lost: Collection[str] = ()
    ) -> AcdService:
        """The service stops and starts again on the same engine (calls stay up).

        The ACD stops, then the callers' ``enqueue`` are cancelled (as the IVR runner's
        stop cancels their flows); ``between`` runs while nothing runs (e.g. a caller
        hangs up unseen); a new ACD with the same queues, agents (logins, pauses) and
        keeper takes the kept callers back.
        """
        old = self.acd
        await old.stop()
        for caller in self.callers:
            caller.task.cancel()
        await asyncio.gather(*(c.task for c in self.callers), return_exceptions=True)
        if between is not None:
            result = between()
            if asyncio.iscoroutine(result):
                await result
        keeper = old.places
        new = AcdService(self.fake, StaticDirectory(self.fake), seed=old._seed, places=keeper)
        # What the event log replays; ``lost``: call ids whose events a crash did not let it
        # write (the new ACD counts their answers again, and so do these stats).
        new.dequeued_before = {e.call_id for e in self.events if e.type == "dequeued"} - set(lost)
        if lost:
            self.stats.reset()
            for e in self.events:
                if e.call_id not in lost or e.type == "queued":
                    self.stats.apply(e)
        self._listen(new)
        for tenant_id in {a.tenant_id for a in old.agents.all()} | {1}:
            for config in old.queues(tenant_id):
                new.put_queue(config)
        for agent in old.agents.all():
            again = new.put_agent(agent.config, reachable=agent.reachable)
            for queue in agent.queues:
                new.login(agent.tenant_id, agent.id, queue)
            if agent.paused:
                new.pause(agent.tenant_id, agent.id, agent.pause_reason)
            again.penalties = dict(agent.penalties)
        if isinstance(keeper, MemoryPlaces):
            new.remember_last_agents(keeper.last_agents())
            new.restore(list(keeper.places.values()))
        new.start()
        self.acd = new
        return new

    async def close(self) -> None:
        await self.phones.close()
        await self.acd.stop()

    def queue(self, name: str = "support", **settings: Any) -> QueueConfig:
        config = QueueConfig(tenant_id=1, name=name, **(FAST | settings))
        self.acd.put_queue(config)
        return config

    def agent(
        self, extension: str, *queues: str, action: Action | None = None, **settings: Any
    ) -> Agent:
        """Agent ``a<extension>`` logged into ``queues`` (default: support)."""
        agent = self.acd.put_agent(
            AgentConfig(tenant_id=1, agent_id=f"a{extension}", extension=extension, **settings)
        )
        for queue in queues or ("support",):
            self.acd.login(1, agent.id, queue)
        if action is not None:
            self.phones.default(extension, action)
        return agent

    async def call(self, number: str, queue: str = "support", **kwargs: Any) -> Caller:
        """A caller enters ``queue``; returns once it is queued (or settled)."""
        leg = await self.fake.incoming_call(caller=number, called="5000")
        task = asyncio.create_task(
            self.acd.enqueue(leg.id, tenant_id=1, queue=queue, caller=number, **kwargs)
        )
        await self.until(
            lambda: (
                task.done() or any(e.type == "queued" and e.leg_id == leg.id for e in self.events)
            )
        )
        caller = Caller(leg, task)
        self.callers.append(caller)
        return caller

    def of(self, type_: str, **match: Any) -> list[AcdEvent]:
        return [
            e
            for e in self.events
            if e.type == type_ and all(getattr(e, k) == v for k, v in match.items())
        ]

    async def until(self, predicate: Callable[[], object], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                if predicate():
                    return
                # Woken by any ACD or engine event; the slice covers task completions.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.005)

    async def until_event(self, type_: str, timeout: float = 2.0, **match: Any) -> AcdEvent:
        await self.until(lambda: self.of(type_, **match), timeout)
        return self.of(type_, **match)[0]

    def state(self, extension: str) -> str:
        return str(self.acd.agents.get(1, f"a{extension}").state()[0])
