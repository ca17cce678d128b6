"""Call queues: 50 queues, 500 agents, a wallboard in a real Chromium, rising call rates.

What runs: the API (``create_app``) served by uvicorn from a thread, with an
:class:`~orchestrator.queues.acd.AcdService` and the live
:class:`~orchestrator.queues.acd.wallboard.Wallboard` in the service's event loop, and a
headless Chromium showing ``/wallboard`` for all 50 queues over the WebSocket.

**Engine: the FakeEngine.** The call legs are the orchestrator's in-memory
:class:`~orchestrator.core.FakeEngine`, not Asterisk: on this 2-core machine 500
ringing/answering agent channels plus callers would measure Asterisk and SIPp, not
the ACD, and leave no core for the browser. So calls/s is the routing rate of the
orchestrator's ACD (queueing, strategy, offer, answer, connect, wrap-up, events,
statistics, wallboard), with the engine's side costing next to nothing.

The load: 5 tenants x 10 queues (longest-idle), 10 agents each. Callers arrive at
``rate`` calls/s spread over the queues; an agent's phone answers after ``ring_s``
and hangs up after ``talk_s``, then ``wrapup_s`` of wrap-up (short, so the 500 agents
can take ~770 calls/s and the machine, not the agents, is the limit). The rate goes up in
steps; a step is *steady* when at least 99 % of its callers were answered, at least
95 % within the step (no growing backlog), and none was still waiting ``settle_s``
after it. Reported, for the highest steady step:

- ``queues.calls_routed``: answered calls/s;
- ``queues.wallboard_latency_p50/p99``: from an ACD event (its timestamp, taken by
  the ACD) to the frame in which the page showed the update that first included it
  (``performance.timeOrigin + performance.now()`` in the page's
  ``requestAnimationFrame``; same machine, same clock);
- ``queues.cpu_per_call``: CPU time of the service's thread per answered call (the
  ACD, the API, the wallboard, and also the FakeEngine and the load generator,
  which run in that same event loop).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.auth import ensure_admin
from api.main import create_app
from api.routes.wallboard import get_wallboard
from api.services import services_of
from bench.harness import progress
from orchestrator.core.events import Event, LegCreated
from orchestrator.core.fake import FakeEngine
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.queues.acd import (
    AcdEvent,
    AcdService,
    AgentConfig,
    QueueConfig,
    QueueStats,
    Strategy,
)
from orchestrator.settings import Settings
from orchestrator.store.db import make_engine, session_factory, upgrade
from orchestrator.testing.browser import LiveServer, chromium, missing

TOKEN = "bench-queues-admin-token-0123456789"
AIM_P99_MS = 250.0


@dataclass(frozen=True, slots=True)
class QueueOptions:
    tenants: int = 5
    queues_per_tenant: int = 10
    agents_per_queue: int = 10
    rates: tuple[float, ...] = (50, 100, 150, 200, 300, 400, 500, 600, 700)
    step_seconds: float = 15
    ring_s: float = 0.05
    talk_s: float = 0.5
    wrapup_s: float = 0.1
    settle_s: float = 3.0
    min_answered: float = 0.99


# `python -m bench --smoke`: 2 queues of 2 agents, one slow step.
SMOKE = QueueOptions(
    tenants=1, queues_per_tenant=2, agents_per_queue=2, rates=(2,), step_seconds=2, settle_s=1
)


@dataclass(slots=True)
class StepResult:
    rate: float
    offered: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    answered_in_step: int = 0
    left_waiting: int = 0
    cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def steady(self) -> bool:
        answered = self.outcomes["answered"]
        # All answered, none left waiting, and answered as fast as they came (no
        # growing backlog inside the step).
        return (
            self.left_waiting == 0
            and answered >= self.offered * 0.99
            and self.answered_in_step >= self.offered * 0.95
        )


class Load:
    """The ACD, its agents' phones and the callers, all in the service's event loop."""

    def __init__(self, options: QueueOptions, fake: FakeEngine, acd: AcdService) -> None:
        self.o = options
        self.fake = fake
        self.acd = acd
        self.queues = [
            (t, f"q{q:02d}")
            for t in range(1, options.tenants + 1)
            for q in range(options.queues_per_tenant)
        ]
        self.active = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.answered_at: list[float] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._numbers = itertools.count(1)
        self._idle = asyncio.Event()  # no caller in progress
        self._idle.set()
        fake.subscribe(self._on_event)
        acd.listeners.append(self._on_acd)

    @classmethod
    async def create(cls, options: QueueOptions, app: Any) -> Load:
        fake = FakeEngine()
        await fake.start()
        acd = AcdService(fake, StaticDirectory(fake), seed=1)
        acd.start()
        stats = QueueStats()
        acd.listeners.append(stats)
        services_of(app).acd, services_of(app).acd_stats = acd, stats
        board = get_wallboard(services_of(app))
        load = cls(options, fake, acd)
        ext = 1000
        for tenant, name in load.queues:
            acd.put_queue(
                QueueConfig(
                    tenant_id=tenant,
                    name=name,
                    strategy=Strategy.LONGEST_IDLE,
                    ring_timeout_s=5,
                    retry_s=0.1,
                    wrapup_s=options.wrapup_s,
                    service_level_s=20,
                )
            )
            board.add_queue(tenant, name, sl_threshold_s=20)
            for _ in range(options.agents_per_queue):
                ext += 1
                config = AgentConfig(tenant_id=tenant, agent_id=f"a{ext}", extension=str(ext))
                acd.put_agent(config)
                acd.login(tenant, config.agent_id, name)
        return load

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_acd(self, event: AcdEvent) -> None:
        if event.type == "dequeued" and event.reason == "answered":
            self.answered_at.append(event.timestamp)

    def _on_event(self, event: Event) -> None:
        routing = event.routing if isinstance(event, LegCreated) else None
        if routing is not None and routing.service == "acd":
            self._spawn(self._agent_phone(event.leg_id))

    async def _agent_phone(self, leg_id: str) -> None:
        await asyncio.sleep(self.o.ring_s)
        leg = self.fake.legs.get(leg_id)
        if leg is None or not leg.alive:
            return
        await self.fake.remote_answer(leg_id)
        await asyncio.sleep(self.o.talk_s)
        leg = self.fake.legs.get(leg_id)
        if leg is not None and leg.alive:
            await self.fake.remote_hangup(leg_id)

    async def _caller(self, n: int) -> None:
        tenant, queue = self.queues[n % len(self.queues)]
        number = f"+4420{n:08d}"
        self.active += 1
        self._idle.clear()
        try:
            leg = await self.fake.incoming_call(caller=number, called="5000")
            result = await self.acd.enqueue(leg.id, tenant_id=tenant, queue=queue, caller=number)
            self.outcomes[result.outcome] += 1
            current = self.fake.legs.get(leg.id)
            if current is not None and current.alive:
                await self.fake.remote_hangup(leg.id)
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()

    def waiting(self) -> int:
        return sum(len(self.acd.ordered(t, q)) for t, q in self.queues)

    async def step(self, rate: float, seconds: float, settle_s: float) -> StepResult:
        result = StepResult(rate)
        before = self.outcomes.copy()
        cpu0 = time.thread_time()
        loop = asyncio.get_running_loop()
        start_wall, start = time.time(), loop.time()
        while (now := loop.time()) < start + seconds:
            due = int((now - start) * rate)
            while result.offered < due:
                self._spawn(self._caller(next(self._numbers)))
                result.offered += 1
            await asyncio.sleep(0.002)
        end_wall = time.time()
        deadline = loop.time() + settle_s + self.o.talk_s + self.o.wrapup_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), deadline - loop.time())
        result.left_waiting = self.waiting()
        result.cpu_s = time.thread_time() - cpu0
        result.outcomes = self.outcomes - before
        result.answered_in_step = sum(1 for t in self.answered_at if start_wall <= t < end_wall)
        return result

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.acd.stop()


def _app(directory: Path) -> Any:
    url = f"sqlite:///{directory / 'bench-queues.db'}"
    upgrade(url)
    settings = Settings(engine="fake", database_url=url, state_dir=directory, admin_token=TOKEN)
    sessions = session_factory(make_engine(url))
    with sessions() as session:
        ensure_admin(session, settings)
    return create_app(
        settings=settings,
        engine=FakeEngine(),
        provisioner=RecordingProvisioner(),
        session_factory=sessions,
    )


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run(options: QueueOptions | None = None) -> int:
    """Run the ramp; print the figures of the highest steady step. 1 if none was steady."""
    o = options or QueueOptions()
    reason = missing()
    if reason is not None:
        progress(f"queues: cannot measure the wallboard in a browser: {reason}")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-queues-") as tmp:
        app = _app(Path(tmp))
        server = LiveServer(app).start()
        try:
            with chromium() as driver:
                return _ramp(o, app, server, driver)
        finally:
            server.stop()


def _ramp(o: QueueOptions, app: Any, server: LiveServer, driver: Any) -> int:
    load = server.run(Load.create(o, app))
    queues = len(load.queues)
    agents = queues * o.agents_per_queue
    capacity = agents / (o.ring_s + o.talk_s + o.wrapup_s)
    progress(
        f"queues: {queues} queues, {agents} agents on the FakeEngine (they can take "
        f"{capacity:.0f} calls/s); wallboard in Chromium"
    )
    driver.get(f"{server.url}/wallboard#token={TOKEN}")
    deadline = time.monotonic() + 20
    while not driver.execute_script("return window.wallboard && window.wallboard.connected"):
        if time.monotonic() > deadline:
            raise RuntimeError("the wallboard page did not connect")
        time.sleep(0.1)
    results: list[StepResult] = []
    try:
        for rate in o.rates:
            driver.execute_script("window.wallboard.renders.length = 0")
            step = server.run(load.step(rate, o.step_seconds, o.settle_s), timeout=600)
            time.sleep(0.5)  # the last frames
            renders = driver.execute_script("return window.wallboard.renders.splice(0)")
            step.latencies_ms = [r["frame"] - r["event_at"] for r in renders]
            if renders:
                parts = {
                    "server": [r["sent_at"] - r["event_at"] for r in renders],
                    "outbox": [r["message_at"] - r["sent_at"] for r in renders],
                    "send": [r["received"] - r["message_at"] for r in renders],
                    "page": [r["frame"] - r["received"] for r in renders],
                }
                progress(
                    "queues:   p50/p99 ms "
                    + ", ".join(
                        f"{k} {statistics.median(v):.0f}/{_percentile(v, 99):.0f}"
                        for k, v in parts.items()
                    )
                )
            results.append(step)
            p99 = _percentile(step.latencies_ms, 99) if step.latencies_ms else float("nan")
            routed = step.answered_in_step / o.step_seconds
            progress(
                f"queues: {rate:g}/s offered {step.offered}, {dict(step.outcomes)}, "
                f"left waiting {step.left_waiting}, routed {routed:.1f}/s, "
                f"wallboard p99 {p99:.0f} ms, cpu {step.cpu_s:.1f} s"
                + ("" if step.steady else "  (not steady)")
            )
            if not step.steady:
                break
    finally:
        server.run(load.close())
    steady = [s for s in results if s.steady]
    print("queues.engine: FakeEngine (in-memory legs; see bench/queues.py)")
    print(f"queues.queues: {queues} queues")
    print(f"queues.agents: {agents} agents")
    print(f"queues.agent_capacity: {capacity:.0f} calls/s")
    if not steady:
        print("queues.calls_routed: 0 calls/s (no steady step)")
        return 1
    best = steady[-1]
    answered = best.outcomes["answered"]
    print(f"queues.offered_rate: {best.rate:g} calls/s")
    print(f"queues.calls_routed: {best.answered_in_step / o.step_seconds:.1f} calls/s")
    if best.latencies_ms:
        print(f"queues.wallboard_updates: {len(best.latencies_ms)} updates")
        print(f"queues.wallboard_latency_p50: {statistics.median(best.latencies_ms):.1f} ms")
        print(f"queues.wallboard_latency_p99: {_percentile(best.latencies_ms, 99):.1f} ms")
    print(f"queues.cpu_per_call: {best.cpu_s / max(1, answered) * 1000:.2f} ms")
    # The aim is p99 < 250 ms: up to which rate did this machine keep it?
    within = [s for s in steady if s.latencies_ms and _percentile(s.latencies_ms, 99) < AIM_P99_MS]
    top = f"{within[-1].rate:g}" if within else "0"
    print(f"queues.wallboard_p99_under_{AIM_P99_MS:g}ms_up_to: {top} calls/s")
    return 0
