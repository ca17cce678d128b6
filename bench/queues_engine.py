"""Call queues on the real Asterisk: 50 queues, 500 SIPp agents, SIPp callers at rising rates.

The engine-side twin of :mod:`bench.queues` (the same 5 tenants x 10 queues x 10
agents, the ACD on the FakeEngine there). What runs: the ``bench`` Asterisk instance
and the whole service (:class:`bench.harness.Service`: ``build_app``, uvicorn in a
thread, SQLite), a headless Chromium showing ``/wallboard`` for every queue, and SIPp
(:mod:`bench.queues_engine_setup` makes all of it through the REST API):

- **agents**: 500 extensions that are agents, each a member of one queue
  (longest-idle, ``wrapup_s`` of wrap-up) and logged in; their phones register from
  4 ports where :class:`~orchestrator.testing.sipp.Answerer` processes answer every
  call at once;
- **callers**: one extension per tenant calls the queues' access numbers in turn
  (``scenarios/queue_call.xml``), one SIPp per step at ``rate`` calls/s for
  ``step_seconds``. The queue answers, the caller waits (music on hold), is connected to
  an agent and hangs up ``hold_ms`` later; the queue then hangs the agent up.

The rate goes up in steps. A step is *steady* when no call failed in SIP, every caller
was answered by an agent, nobody was left waiting, the waits stayed short (p99 <=
``max_wait_p99_s``; a caller still waiting after ``hold_ms`` hangs up) and the agents
answered as fast as the callers came (no backlog growing through the step: at least
95 % of the offered rate routed). Reported, for the highest steady step:

- calls/s routed: the ACD's ``dequeued``/``answered`` events, first to last;
- wallboard latency p50/p99: from the ACD event's timestamp to the frame in which the
  page drew the update that first included it (as in :mod:`bench.queues`);
- CPU per routed call of this process (the whole service: ACD, IVR runner, CDRs,
  rating, API, wallboard; the benchmark's own share is small) and of Asterisk, also
  above what both take with no call at all (measured before the ramp).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from api.services import services_of
from bench.harness import Service, bench_settings, engine_instance, progress
from bench.ivr import engine_cpu, own_cpu, percentile, quiet_orchestrator_logs
from bench.queues_engine_setup import (
    ANSWER_PORTS,
    NAME,
    SMOKE,
    EngineQueueOptions,
    Tenant,
    place_calls,
    provision,
    start_agents,
)
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.queues.acd import AcdEvent
from orchestrator.testing import sipp
from orchestrator.testing.browser import chromium, missing

__all__ = ["SMOKE", "EngineQueueOptions", "Step", "run"]

AIM_P99_MS = 250.0
# A steady step routes at least this share of its offered rate (see Step.steady).
KEEP_UP = 0.95


class Counting(Protocol):
    """A log handler that counts what it is given (bench.ivr.quiet_orchestrator_logs)."""

    count: int


@dataclass(slots=True)
class Step:
    """One rate's outcome (see :attr:`steady`)."""

    rate: float
    offered: int = 0  # calls SIPp was asked to place
    sip_failed: int = 0  # SIPp's failed calls, and calls it never placed
    far_end_bye: int = 0  # callers the orchestrator hung up on
    # Warnings and errors the orchestrator logged (e.g. a flow failing when its caller
    # hangs up just as the agent answers: the ACD counted the call answered).
    errors: int = 0
    dequeued: collections.Counter[str] = field(default_factory=collections.Counter)
    waits: list[float] = field(default_factory=list)  # of the answered calls, s
    answer_times: list[float] = field(default_factory=list)
    left_waiting: int = 0
    peak_waiting: int = 0
    wall: float = 0.0  # the step's duration, calls and settling, s
    orchestrator_cpu: float = 0.0
    engine_cpu: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # Where the wallboard's latency went, per update: name -> ms (see describe()).
    parts_ms: dict[str, list[float]] = field(default_factory=dict)
    log: str = ""

    @property
    def answered(self) -> int:
        return self.dequeued["answered"]

    @property
    def failed(self) -> int:
        """Calls that did not go caller -> queue -> agent -> caller's own hang-up."""
        return (
            self.sip_failed + self.far_end_bye + self.errors + max(0, self.offered - self.answered)
        )

    def steady(self, max_wait_p99_s: float) -> bool:
        # Everyone served, and as fast as they came: waits growing through the step
        # spread the answers over a longer time than the arrivals.
        return (
            self.offered > 0
            and self.failed == 0
            and self.left_waiting == 0
            and percentile(self.waits, 99) <= max_wait_p99_s
            and self.routed_per_s >= KEEP_UP * self.rate
        )

    @property
    def routed_per_s(self) -> float:
        """Answered calls per second, from the first answer of the step to the last."""
        times = sorted(self.answer_times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


class AcdTape:
    """The ACD's events of some tenants, as they happen (a listener, in the service's thread)."""

    def __init__(self, tenant_ids: Iterable[int]) -> None:
        self.tenant_ids = frozenset(tenant_ids)
        self.events: list[AcdEvent] = []  # list.append is atomic: read from our thread

    def __call__(self, event: AcdEvent) -> None:
        if event.tenant_id in self.tenant_ids:
            self.events.append(event)


# -- the service's side (run on its event loop) ---------------------------------------------
async def _listen(acd: Any, tape: AcdTape) -> None:
    acd.listeners.append(tape)


async def _acd_load(acd: Any, tenants: list[Tenant]) -> tuple[int, int]:
    """(callers waiting, agents not available) in the bench's queues."""
    waiting = sum(len(acd.ordered(t.id, q)) for t in tenants for q in t.queues)
    busy = sum(1 for t in tenants for a in acd.agents.all(t.id) if not a.available)
    return waiting, busy


async def _agent_states(acd: Any, tenants: list[Tenant]) -> collections.Counter[str]:
    return collections.Counter(
        str(a.to_dict()["state"]) for t in tenants for a in acd.agents.all(t.id)
    )


async def wait_available(service: Service, tenants: list[Tenant], timeout: float = 30) -> None:
    acd = services_of(service.app).acd
    agents = sum(len(t.seats) for t in tenants)
    deadline = time.monotonic() + timeout
    while True:
        states = await service.run(_agent_states(acd, tenants))
        if states["available"] == agents:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"agents not all available after {timeout:g} s: {dict(states)}")
        await asyncio.sleep(0.5)


# -- the ramp ------------------------------------------------------------------------------
class Bench:
    """Everything a step needs: the service, the engine, the page, the tape."""

    def __init__(
        self,
        o: EngineQueueOptions,
        service: Service,
        instance: AsteriskInstance,
        driver: Any,
        tenants: list[Tenant],
        tape: AcdTape,
        logs: Counting,
    ) -> None:
        self.o = o
        self.service = service
        self.instance = instance
        self.driver = driver
        self.tenants = tenants
        self.tape = tape
        self.logs = logs
        self.acd = services_of(service.app).acd
        self.server = f"127.0.0.1:{instance.ports.sip}"

    async def load(self) -> tuple[int, int]:
        return await self.service.run(_acd_load(self.acd, self.tenants))

    async def idle(self, seconds: float) -> tuple[float, float]:
        """CPU seconds per second of this process and of the engine, with no call."""
        cpu = own_cpu(), engine_cpu(self.instance)
        started = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - started
        return (own_cpu() - cpu[0]) / wall, (engine_cpu(self.instance) - cpu[1]) / wall

    async def _sample(self, step: Step) -> None:
        while True:
            waiting, _ = await self.load()
            step.peak_waiting = max(step.peak_waiting, waiting)
            await asyncio.sleep(0.5)

    async def step(self, rate: float) -> Step:
        o = self.o
        calls = max(1, round(rate * o.step_seconds))
        step = Step(rate=rate, offered=calls)
        await asyncio.to_thread(self.driver.execute_script, "window.wallboard.renders.length = 0")
        mark, logged = len(self.tape.events), self.logs.count
        cpu = own_cpu(), engine_cpu(self.instance)
        started = time.monotonic()
        sampler = asyncio.create_task(self._sample(step))
        try:
            placed, step.sip_failed, step.far_end_bye, step.log = await place_calls(
                self.server, self.tenants, rate=rate, calls=calls, hold_ms=o.hold_ms
            )
            # SIPp saw every call end; the ACD hangs up the agents and wraps up.
            deadline = time.monotonic() + o.settle_s
            load = await self.load()
            while load != (0, 0) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                load = await self.load()
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        step.orchestrator_cpu = own_cpu() - cpu[0]
        step.engine_cpu = engine_cpu(self.instance) - cpu[1]
        step.wall = time.monotonic() - started
        step.left_waiting = load[0]
        step.errors = self.logs.count - logged
        step.offered = max(calls, placed)
        for event in self.tape.events[mark:]:
            if event.type == "dequeued":
                step.dequeued[event.reason] += 1
                if event.reason == "answered":
                    step.waits.append(event.wait_s)
                    step.answer_times.append(event.timestamp)
        await asyncio.sleep(0.5)  # the last frames
        renders = await asyncio.to_thread(
            self.driver.execute_script, "return window.wallboard.renders.splice(0)"
        )
        step.latencies_ms = [r["frame"] - r["event_at"] for r in renders]
        step.parts_ms = {
            # event to snapshot: the board's coalescing (an update at most every 0.1 s
            # per queue) and the event loop's delay
            "board": [r["sent_at"] - r["event_at"] for r in renders],
            # snapshot to message: waiting in the WebSocket's outbox
            "outbox": [r["message_at"] - r["sent_at"] for r in renders],
            # message to the page's handler: sending, the browser's network and JS
            "send": [r["received"] - r["message_at"] for r in renders],
            # handler to the painted frame
            "page": [r["frame"] - r["received"] for r in renders],
        }
        return step


def describe(step: Step, max_wait_p99_s: float) -> str:
    answered = max(1, step.answered)
    text = (
        f"{NAME}: {step.rate:g}/s offered {step.offered}, dequeued {dict(step.dequeued)}, "
        f"SIP failed {step.sip_failed}, hung up by the far end {step.far_end_bye}, "
        f"orchestrator warnings/errors {step.errors}, "
        f"left waiting {step.left_waiting} (peak {step.peak_waiting}), "
        f"routed {step.routed_per_s:.1f}/s, "
        f"wait p50/p99 {percentile(step.waits, 50):.2f}/{percentile(step.waits, 99):.2f} s, "
        f"CPU per call: orchestrator {1000 * step.orchestrator_cpu / answered:.1f} ms "
        f"({100 * step.orchestrator_cpu / max(step.wall, 0.001):.0f} % of a core), "
        f"engine {1000 * step.engine_cpu / answered:.1f} ms"
    )
    if step.latencies_ms:
        parts = ", ".join(
            f"{name} {statistics.median(v):.0f}/{percentile(v, 99):.0f}"
            for name, v in step.parts_ms.items()
        )
        text += (
            f", wallboard p50/p99 {statistics.median(step.latencies_ms):.0f}/"
            f"{percentile(step.latencies_ms, 99):.0f} ms ({len(step.latencies_ms)} updates; "
            f"{parts})"
        )
    return text + ("" if step.steady(max_wait_p99_s) else "  (not steady)")


def report(o: EngineQueueOptions, steps: list[Step], idle: tuple[float, float]) -> int:
    """The result lines (stdout); 1 when no step was steady.

    ``idle``: CPU seconds per second of the orchestrator and the engine with no call
    (registration polls, the wallboard's clock, heartbeats); the ``_above_idle`` figure
    takes that share out of a step's CPU, leaving what the calls themselves cost.
    """
    queues = o.tenants * o.queues_per_tenant
    agents = queues * o.agents_per_queue
    capacity = agents / (o.hold_ms / 1000 + o.wrapup_s)
    print(f"{NAME}.engine: Asterisk (bench instance, SIPp phones; see bench/queues_engine.py)")
    print(f"{NAME}.queues: {queues} queues")
    print(f"{NAME}.agents: {agents} agents")
    print(f"{NAME}.agent_capacity: {capacity:.0f} calls/s")
    print(f"{NAME}.orchestrator_idle_load: {100 * idle[0]:.1f} % of a core")
    print(f"{NAME}.engine_idle_load: {100 * idle[1]:.1f} % of a core")
    steady = [s for s in steps if s.steady(o.max_wait_p99_s)]
    if not steady:
        print(f"{NAME}.calls_routed: 0 calls/s (no steady step)")
        return 1
    best = steady[-1]
    answered = max(1, best.answered)
    print(f"{NAME}.offered_rate: {best.rate:g} calls/s")
    print(f"{NAME}.calls_routed: {best.routed_per_s:.1f} calls/s")
    print(f"{NAME}.wait_p99: {percentile(best.waits, 99) * 1000:.0f} ms")
    if best.latencies_ms:
        print(f"{NAME}.wallboard_updates: {len(best.latencies_ms)} updates")
        print(f"{NAME}.wallboard_latency_p50: {statistics.median(best.latencies_ms):.1f} ms")
        p99 = percentile(best.latencies_ms, 99)
        print(f"{NAME}.wallboard_latency_p99: {p99:.1f} ms  # aim < {AIM_P99_MS:g}")
    within = [s for s in steady if s.latencies_ms and percentile(s.latencies_ms, 99) < AIM_P99_MS]
    top = f"{within[-1].rate:g}" if within else "0"
    print(f"{NAME}.wallboard_p99_under_{AIM_P99_MS:g}ms_up_to: {top} calls/s")
    cpu = best.orchestrator_cpu
    print(f"{NAME}.orchestrator_cpu_load: {100 * cpu / best.wall:.0f} % of a core")
    print(f"{NAME}.orchestrator_cpu_per_call: {1000 * cpu / answered:.2f} ms")
    above = max(0.0, cpu - idle[0] * best.wall)
    print(f"{NAME}.orchestrator_cpu_per_call_above_idle: {1000 * above / answered:.2f} ms")
    print(f"{NAME}.engine_cpu_per_call: {1000 * best.engine_cpu / answered:.2f} ms")
    return 0


async def ramp(bench: Bench) -> list[Step]:
    o = bench.o
    steps: list[Step] = []
    for rate in o.rates:
        progress(f"{NAME}: {rate:g} calls/s for {o.step_seconds:g} s")
        step = await bench.step(rate)
        steps.append(step)
        progress(describe(step, o.max_wait_p99_s))
        if step.log:
            progress(f"--- SIPp's errors ---\n{step.log}")
        if not step.steady(o.max_wait_p99_s):
            break
    return steps


async def open_wallboard(service: Service, driver: Any, timeout: float = 20) -> None:
    url = f"{service.url}/wallboard#token={service.settings.admin_token}"
    await asyncio.to_thread(driver.get, url)
    deadline = time.monotonic() + timeout
    script = "return window.wallboard && window.wallboard.connected"
    while not await asyncio.to_thread(driver.execute_script, script):
        if time.monotonic() > deadline:
            raise RuntimeError("the wallboard page did not connect")
        await asyncio.sleep(0.1)


async def benchmark(
    o: EngineQueueOptions,
    service: Service,
    instance: AsteriskInstance,
    driver: Any,
    logs: Counting,
) -> int:
    server = f"127.0.0.1:{instance.ports.sip}"
    started = time.monotonic()
    async with service.client() as http, contextlib.AsyncExitStack() as phones:
        tenants = await provision(http, o)
        progress(f"{NAME}: provisioned ({time.monotonic() - started:.1f} s)")
        await start_agents(http, o, server, tenants)
        for port in ANSWER_PORTS:
            await phones.enter_async_context(sipp.Answerer(local_port=port, timeout=3600))
        await wait_available(service, tenants)
        tape = AcdTape(t.id for t in tenants)
        await service.run(_listen(services_of(service.app).acd, tape))
        await open_wallboard(service, driver)
        bench = Bench(o, service, instance, driver, tenants, tape, logs)
        idle = await bench.idle(o.idle_s)
        progress(
            f"{NAME}: every agent available, wallboard connected; with no call the "
            f"orchestrator takes {100 * idle[0]:.1f} %, the engine {100 * idle[1]:.1f} % of a core"
        )
        steps = await ramp(bench)
    return report(o, steps, idle)


async def run(options: EngineQueueOptions | None = None) -> int:
    """Start the engine, the service and Chromium, run the ramp, stop everything."""
    o = options or EngineQueueOptions()
    reason = missing()
    if reason is not None:
        progress(f"{NAME}: cannot measure the wallboard in a browser: {reason}")
        return 1
    with contextlib.ExitStack() as stack:
        logs = stack.enter_context(quiet_orchestrator_logs())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-qe-")))
        instance = stack.enter_context(engine_instance())
        # Phones registered by earlier runs (contacts live in the engine's astdb for up to
        # an hour) would be listed by every registration read of the ACD.
        await asyncio.to_thread(instance.cli, "database deltree registrar")
        driver = stack.enter_context(chromium())
        settings = bench_settings(tmp)
        async with Service(settings) as service:
            failures = await benchmark(o, service, instance, driver, logs)
        if logs.count:
            progress(f"{NAME}: {logs.count} warnings/errors logged by the orchestrator")
        return failures
