"""Agent states on a FakeEngine: wrap-up, pause, registration, busy elsewhere, several
queues; a queue used from a Python IVR flow; and the endpoint -> agents index."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.events import EndpointStateChanged
from orchestrator.core.targets import Routing
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory
from orchestrator.queues.acd import AgentConfig, QueueResult
from orchestrator.queues.acd.agents import AgentBook
from orchestrator.queues.acd.testing import AcdHarness, Answer

ALICE, BOB = "alice@acme.example", "bob@acme.example"

# A call to the queue flow "q" of tenant 1, as the dialplan hands it over.
Q = Routing("ivr", {"flow": "q", "tenant": "1"})


@pytest.fixture
async def h() -> AsyncIterator[AcdHarness]:
    harness = await AcdHarness.create()
    yield harness
    await harness.close()


async def test_wrap_up_holds_the_next_call_back(h: AcdHarness) -> None:
    h.queue(wrapup_s=0.1)
    h.agent("101", action=Answer())
    first = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    second = await h.call("+447700900002")
    loop = asyncio.get_running_loop()
    await h.phones.hangup("101")
    hung_up_at = loop.time()
    await first.result()
    assert h.state("101") == "wrap_up"
    await h.until(lambda: h.of("offered", caller="+447700900002"))
    assert loop.time() - hung_up_at >= 0.1
    await h.until(lambda: h.state("101") == "on_call")
    completed = h.of("completed")[0]
    assert completed.wrapup_s == pytest.approx(0.1, abs=0.05)
    states = [e.state for e in h.of("agent_state", agent_id="a101")]
    assert states == [
        "available",
        "ringing",
        "on_call",
        "wrap_up",
        "available",
        "ringing",
        "on_call",
    ]
    await h.phones.hangup("101")
    await second.result()


async def test_ready_ends_wrap_up_early(h: AcdHarness) -> None:
    h.queue(wrapup_s=60)
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    await caller.result()
    assert h.state("101") == "wrap_up"
    h.acd.ready(1, "a101")
    assert h.state("101") == "available"
    assert h.of("completed")[0].wrapup_s < 1


async def test_pause_with_reason_skips_the_agent(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", action=Answer())
    h.agent("102", action=Answer())
    h.acd.pause(1, "a101", "training")
    event = h.of("agent_state", agent_id="a101")[-1]
    assert (event.state, event.reason, event.queues) == ("paused", "training", ("support",))
    with pytest.raises(ValidationError):
        h.acd.pause(1, "a102", "x" * 100)
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("102") == "on_call")
    assert h.phones.rang() == ["102"]
    await h.phones.hangup("102")
    await caller.result()


async def test_pause_during_a_call_takes_effect_after_it(h: AcdHarness) -> None:
    h.queue(wrapup_s=0.02)
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    h.acd.pause(1, "a101", "lunch")
    assert h.state("101") == "on_call"
    await h.phones.hangup("101")
    await caller.result()
    await h.until(lambda: h.state("101") == "paused")
    states = [e.state for e in h.of("agent_state", agent_id="a101")]
    assert states[-3:] == ["on_call", "wrap_up", "paused"]


async def test_unregistered_phone_is_not_offered_calls(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", endpoint="alice@acme.example", action=Answer())
    await h.fake.emit(EndpointStateChanged(endpoint="alice@acme.example", state="offline"))
    event = h.of("agent_state", agent_id="a101")[-1]
    assert (event.state, event.reason) == ("unavailable", "unregistered")
    # An unknown state changes nothing.
    await h.fake.emit(EndpointStateChanged(endpoint="alice@acme.example", state="unknown"))
    assert h.state("101") == "unavailable"
    caller = await h.call("+447700900001")
    await asyncio.sleep(0.03)
    assert h.phones.rang() == []
    # The phone registers again: still logged in, and it gets the waiting call.
    await h.fake.emit(EndpointStateChanged(endpoint="alice@acme.example", state="online"))
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    assert (await caller.result()).agent_id == "a101"


async def test_agent_added_as_unreachable_until_it_registers(h: AcdHarness) -> None:
    h.queue()
    config = AgentConfig(
        tenant_id=1, agent_id="a101", extension="101", endpoint="alice@acme.example"
    )
    h.acd.put_agent(config, reachable=False)
    h.acd.login(1, "a101", "support")
    assert h.state("101") == "unavailable"
    await h.fake.emit(EndpointStateChanged(endpoint="alice@acme.example", state="reachable"))
    assert h.state("101") == "available"


async def test_busy_on_another_call_is_skipped(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", action=Answer())
    h.acd.agent_busy("101", True, tenant_id=1)
    assert (h.of("agent_state")[-1].state, h.of("agent_state")[-1].reason) == (
        "busy",
        "other_call",
    )
    h.acd.agent_busy("101", True, tenant_id=2)  # another tenant's 101: no effect
    caller = await h.call("+447700900001")
    await asyncio.sleep(0.03)
    assert h.phones.rang() == []
    h.acd.agent_busy("101", False, tenant_id=1)
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    await caller.result()


async def test_agent_in_several_queues_serves_the_heavier_first(h: AcdHarness) -> None:
    h.queue("sales", weight=0)
    h.queue("support", weight=10)
    h.agent("101", "sales", "support", action=Answer())
    h.acd.pause(1, "a101")
    sales = await h.call("+447700900001", queue="sales")
    support = await h.call("+447700900002", queue="support")
    assert h.of("agent_state")[-1].queues == ("sales", "support")
    h.acd.unpause(1, "a101")
    await h.until(lambda: h.state("101") == "on_call")
    h.acd.pause(1, "a101")
    await h.phones.hangup("101")
    assert (await support.result()).outcome == "answered"
    assert not sales.task.done()
    # Logging out of sales leaves the sales caller waiting for someone else.
    h.acd.logout(1, "a101", "sales")
    h.acd.unpause(1, "a101")
    await asyncio.sleep(0.03)
    assert not sales.task.done()
    h.acd.logout(1, "a101")
    assert h.state("101") == "logged_out"
    await h.fake.remote_hangup(sales.leg.id)
    assert (await sales.result()).outcome == "abandoned"


async def test_logout_during_a_call_keeps_the_call(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    h.acd.logout(1, "a101")
    assert h.state("101") == "logged_out"
    assert h.phones.live_leg("101") is not None
    await h.phones.hangup("101")
    assert (await caller.result()).outcome == "answered"


async def test_enqueue_from_an_ivr_flow(h: AcdHarness) -> None:
    h.queue(overflow="extension:200", max_wait_s=0.05)
    results: list[QueueResult] = []

    async def flow(call: IvrCall) -> None:
        await call.answer()
        await call.play("sound:welcome")
        result = await h.acd.enqueue(call, tenant_id=int(call.tenant), queue="support")
        results.append(result)
        if result.outcome in ("overflow", "timeout"):
            await call.transfer(result.destination)

    registry = AppRegistry(builtins={"queue": flow}, entry_point_group=None)

    async def lookup(_tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name, "queue", "1")

    runner = IvrRunner(h.fake, registry, lookup, StaticDirectory(h.fake))
    runner.start()
    try:
        # Nobody logged in: the caller times out and the flow transfers it.
        await h.fake.incoming_call(caller="+447700900001", called="5000", routing=Q)
        await runner.wait_idle(2)
        assert results[0].outcome == "timeout"
        assert h.fake.commands[-1][0] == "transfer"
        # An agent answers, talks, hangs up; the flow ends and the runner hangs up.
        h.agent("101", action=Answer())
        leg = await h.fake.incoming_call(caller="+447700900002", called="5000", routing=Q)
        await h.until(lambda: h.state("101") == "on_call")
        await h.phones.hangup("101")
        await runner.wait_idle(2)
        assert results[1].outcome == "answered" and results[1].agent_id == "a101"
        assert results[1].call_id and not leg.alive
    finally:
        await runner.stop()


def test_the_endpoint_index_follows_agents() -> None:
    book = AgentBook(lambda _event: None, lambda: None, time.monotonic)

    def put(agent_id: str, endpoint: str, tenant_id: int = 1) -> None:
        book.put(
            AgentConfig(tenant_id=tenant_id, agent_id=agent_id, extension="101", endpoint=endpoint)
        )

    def on(endpoint: str) -> list[tuple[int, str]]:
        return [(a.tenant_id, a.id) for a in book.on_endpoint(endpoint)]

    put("a1", ALICE)
    put("a2", ALICE, tenant_id=2)  # one phone, two tenants' agents: both follow it
    put("a3", BOB)
    put("a4", "")  # no phone: in no index entry
    assert on(ALICE) == [(1, "a1"), (2, "a2")] and on(BOB) == [(1, "a3")] and on("") == []
    put("a1", ALICE)  # another setting changed, the same phone
    assert on(ALICE) == [(1, "a1"), (2, "a2")]
    put("a2", BOB, tenant_id=2)
    assert on(ALICE) == [(1, "a1")] and on(BOB) == [(1, "a3"), (2, "a2")]
    book.set_reachable(ALICE, "offline")
    assert [a.reachable for a in book.all()] == [False, True, True, True]
    book.remove(1, "a1")
    assert on(ALICE) == [] and ALICE not in book._by_endpoint
    assert ALICE not in book._endpoint_events  # the last agent took its mark along
    put("a4", BOB)
    book.set_reachable(BOB, "unreachable")
    assert [a.reachable for a in book.all()] == [False, False, False]
    book.remove(1, "a3")
    book.remove(2, "a2")
    book.remove(1, "a4")
    assert book._by_endpoint == {} and book._endpoint_events == {}


async def test_an_agent_follows_its_new_phone(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", endpoint=ALICE)
    h.acd.put_agent(AgentConfig(tenant_id=1, agent_id="a101", extension="101", endpoint=BOB))
    await h.fake.emit(EndpointStateChanged(endpoint=ALICE, state="offline"))
    assert h.state("101") == "available"  # the old phone is no longer theirs
    await h.fake.emit(EndpointStateChanged(endpoint=BOB, state="offline"))
    assert h.state("101") == "unavailable"
