"""A restart of the orchestrator on a FakeEngine: waiting callers keep their places.

Each test makes an ACD with a :class:`MemoryPlaces` keeper (the store's stand-in), puts
callers in a queue, and :meth:`AcdHarness.restart` replays a restart: the ACD stops,
the callers' ``enqueue`` are cancelled (as the IVR runner's stop does) and a new ACD
on the same engine takes the kept callers back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.core import FakeEngine
from orchestrator.ivr import StaticDirectory
from orchestrator.queues.acd import AcdService, PriorityRule, QueueStats, Strategy
from orchestrator.queues.acd.places import Place
from orchestrator.queues.acd.testing import AcdHarness, Answer, MemoryPlaces, Silent


@pytest.fixture
def places() -> MemoryPlaces:
    return MemoryPlaces()


@pytest.fixture
async def h(places: MemoryPlaces) -> AsyncIterator[AcdHarness]:
    harness = await AcdHarness.create(places=places)
    yield harness
    await harness.close()


def commands_on(h: AcdHarness, leg_id: str, since: int = 0) -> list[str]:
    return [c[0] for c in h.fake.commands[since:] if c[1:2] == (leg_id,)]


async def test_callers_keep_their_places_and_order(h: AcdHarness, places: MemoryPlaces) -> None:
    h.queue(priority_rules=(PriorityRule("+44207946*", 5),))
    h.agent("101", action=Answer())
    h.acd.pause(1, "a101", "lunch")
    first = await h.call("+447700900001")
    vip = await h.call("+442079460001")
    second = await h.call("+447700900002")
    before = h.acd.waiting(1, "support")
    assert sorted(places.places) == sorted(w["call_id"] for w in before)
    assert h.fake.kept_legs == {first.leg.id, vip.leg.id, second.leg.id}
    mark = len(h.fake.commands)
    await asyncio.sleep(0.05)

    await h.restart()
    await h.until(lambda: len(h.of("queued", reason="resumed")) == 3)
    # Nothing was done to the callers: no hangup, no music stopped, no dequeued.
    assert not h.of("dequeued")
    for caller in (first, vip, second):
        assert caller.task.cancelled()  # its flow ended with the previous run
        assert h.fake.legs[caller.leg.id].alive
        assert commands_on(h, caller.leg.id, mark) == ["hold"]  # music restarted
    after = h.acd.waiting(1, "support")
    assert [w["call_id"] for w in after] == [w["call_id"] for w in before]
    assert [w["caller"] for w in after] == ["+442079460001", "+447700900001", "+447700900002"]
    for old, new in zip(before, after, strict=True):
        # (0.04: a sleep may end a clock tick early, and waits are rounded to 1 ms)
        assert new["wait_s"] >= old["wait_s"] + 0.04 and new["priority"] == old["priority"]
    resumed = h.of("queued", reason="resumed")
    assert [e.caller for e in resumed] == ["+447700900001", "+442079460001", "+447700900002"]
    assert [e.position for e in resumed] == [2, 1, 3]
    assert all(e.wait_s >= 0.04 for e in resumed)
    # A new caller comes after them whatever the clock says.
    late = await h.call("+447700900003")

    served = []
    for _ in range(4):
        h.acd.unpause(1, "a101")
        await h.until(lambda: h.state("101") == "on_call")
        h.acd.pause(1, "a101", "lunch")
        agent = h.acd.agents.get(1, "a101")
        served.append(h.acd.calls[agent.call_id].caller)
        await h.phones.hangup("101")
        await h.until(lambda: h.state("101") == "paused")
    assert served == ["+442079460001", "+447700900001", "+447700900002", "+447700900003"]
    # The resumed callers' results went to resumed_flow (their flows are gone), which
    # hung them up; the new caller's to its enqueue.
    await h.until(lambda: len(h.resumed) == 3)
    assert {r.outcome for _, r in h.resumed} == {"answered"}
    assert all(not h.fake.legs[c.leg.id].alive for c in (first, vip, second))
    assert (await late.result()).outcome == "answered"
    answered = h.of("dequeued", reason="answered")
    assert answered[0].wait_s >= before[0]["wait_s"] + 0.04
    assert places.places == {} and h.fake.kept_legs == set()
    # The statistics count each caller once, waits from their first arrival.
    figures = h.stats.figures(1, "support")
    assert (figures.answered, figures.waiting, figures.abandoned) == (4, 0, 0)


async def test_waiting_figures_survive(h: AcdHarness) -> None:
    h.queue()
    caller = await h.call("+447700900001")
    await asyncio.sleep(0.05)
    await h.restart()
    await h.until(lambda: h.of("queued", reason="resumed"))
    # A fresh QueueStats fed the resumed event alone dates the wait from the arrival.
    stats = QueueStats.rebuild(h.of("queued", reason="resumed"))
    assert stats.figures(1, "support", now=h.acd.clock()).longest_wait_s >= 0.04
    await h.fake.remote_hangup(caller.leg.id)
    await h.until(lambda: h.of("dequeued", reason="abandoned"))
    assert h.stats.figures(1, "support").waiting == 0


async def test_a_caller_gone_meanwhile_is_closed_as_abandoned(
    h: AcdHarness, places: MemoryPlaces
) -> None:
    h.queue()
    stays = await h.call("+447700900001")
    leaves = await h.call("+447700900002")
    mark = len(h.fake.commands)

    # The caller hangs up while no orchestrator runs: the new one hears nothing of it.
    await h.restart(lambda: h.fake.remote_hangup(leaves.leg.id))
    [gone] = h.of("dequeued")
    assert (gone.caller, gone.reason, gone.kind) == ("+447700900002", "abandoned", "live")
    assert gone.wait_s > 0
    assert [w["caller"] for w in h.acd.waiting(1, "support")] == ["+447700900001"]
    assert list(places.places) == [h.of("queued", caller="+447700900001")[0].call_id]
    assert commands_on(h, leaves.leg.id, mark) == []  # nothing sent to a leg that is gone
    assert h.fake.kept_legs == {stays.leg.id}
    figures = h.stats.figures(1, "support")
    assert (figures.abandoned, figures.waiting) == (1, 1)


async def test_max_wait_counts_from_the_first_arrival(h: AcdHarness) -> None:
    h.queue(max_wait_s=0.6, overflow="extension:200")
    caller = await h.call("+447700900001")
    await asyncio.sleep(0.5)
    await h.restart()
    await h.until(lambda: h.resumed)
    [(place, result)] = h.resumed
    assert (result.outcome, result.destination, result.reason) == (
        "timeout",
        "extension:200",
        "max_wait",
    )
    # Timed out ~0.1 s after the restart (0.6 s after the arrival), not 0.6 s after it.
    assert place.leg_id == caller.leg.id and 0.59 <= result.wait_s < 1.0
    assert h.of("dequeued")[0].reason == "timeout"


async def test_last_agent_survives_a_restart(h: AcdHarness, places: MemoryPlaces) -> None:
    h.queue(strategy=Strategy.LONGEST_IDLE, last_agent_s=10)
    h.agent("101", action=Answer())
    h.agent("102", action=Answer())
    h.acd.pause(1, "a101")
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("102") == "on_call")
    await h.phones.hangup("102")
    await caller.result()
    assert places.agents[(1, "+447700900001")][0] == "a102"
    h.acd.unpause(1, "a101")
    h.acd.pause(1, "a102")
    # The same number waits for its last agent, 102 (paused: the exclusive period holds).
    again = await h.call("+447700900001")
    await asyncio.sleep(0.05)
    assert h.state("101") == "available"

    await h.restart()
    assert h.acd.last_agent_of(1, "+447700900001") == "a102"
    await asyncio.sleep(0.05)
    assert h.state("101") == "available"  # still waiting for 102, after the restart too
    h.acd.unpause(1, "a102")
    await h.until(lambda: h.state("102") == "on_call")
    await h.phones.hangup("102")
    await h.until(lambda: h.resumed)
    assert h.resumed[0][1].agent_id == "a102"
    assert again.task.cancelled()


async def test_a_callback_keeps_its_place(h: AcdHarness, places: MemoryPlaces) -> None:
    h.queue(callback_enabled=True, callback_key="*")
    h.agent("101", action=Answer())
    h.acd.pause(1, "a101")
    caller = await h.call("+447700900001")
    await h.fake.dtmf(caller.leg.id, "*")
    assert (await caller.result()).outcome == "callback"
    await h.until(lambda: any(p.kind == "callback" for p in places.places.values()))
    [place] = places.places.values()
    assert (place.leg_id, place.callback_number, place.callback_at > 0) == (
        "",
        "+447700900001",
        True,
    )

    await h.restart()
    assert not h.of("callback_result")
    [waiting] = h.acd.waiting(1, "support")
    assert (waiting["call_id"], waiting["kind"]) == (place.call_id, "callback")
    h.phones.default("+447700900001", Answer())  # the customer's number answers
    h.acd.unpause(1, "a101")
    result = await h.until_event("callback_result")
    assert (result.reason, result.call_id, result.agent_id) == ("connected", place.call_id, "a101")
    assert places.places == {}


async def test_a_place_of_a_queue_gone_is_refused(places: MemoryPlaces) -> None:
    fake = FakeEngine()
    await fake.start()
    leg = await fake.incoming_call(caller="+447700900001", called="5000")
    acd = AcdService(fake, StaticDirectory(fake), places=places)
    events = []
    acd.listeners.append(events.append)
    place = Place(call_id="c1", tenant_id=1, queue="gone", enqueued_at=1.0, leg_id=leg.id)
    assert acd.restore([place]) == [place]
    assert [(e.type, e.reason) for e in events] == [("dequeued", "restart")]
    assert leg.id not in fake.kept_legs and acd.calls == {}


async def test_restored_callers_wait_for_the_engine(places: MemoryPlaces) -> None:
    """Before the engine is connected (its start-up sweep has not run), no offers."""
    fake = FakeEngine()
    await fake.start()
    leg = await fake.incoming_call(caller="+447700900001", called="5000")
    await fake.stop()
    acd = AcdService(fake, StaticDirectory(fake), places=places)
    h = AcdHarness(fake, acd)
    h.queue()
    h.agent("101", action=Silent())
    place = Place(call_id="c1", tenant_id=1, queue="support", enqueued_at=1.0, leg_id=leg.id)
    acd.restore([place])
    assert fake.kept_legs == {leg.id}
    acd.start()
    await asyncio.sleep(0.05)
    assert [w["call_id"] for w in acd.waiting(1, "support")] == ["c1"]
    assert h.phones.rang() == [] and not h.of("queued")
    await fake.start()  # EngineConnected: adopted
    await h.until(lambda: h.phones.rang() == ["101"])
    [resumed] = h.of("queued", reason="resumed")
    assert resumed.call_id == "c1" and resumed.wait_s > 1000
    await fake.remote_hangup(leg.id)
    await h.until(lambda: h.resumed)
    assert h.resumed[0][1].outcome == "abandoned"
    await h.close()


async def test_without_a_keeper_a_stop_ends_the_waiting_calls() -> None:
    h = await AcdHarness.create()
    h.queue()
    caller = await h.call("+447700900001")
    await h.acd.stop()
    caller.task.cancel()
    await asyncio.gather(caller.task, return_exceptions=True)
    assert h.of("dequeued")[0].reason == "abandoned"
    assert "unhold" in commands_on(h, caller.leg.id)
    assert h.fake.kept_legs == set()
    await h.close()


async def test_an_offer_in_progress_ends_without_a_miss(h: AcdHarness) -> None:
    h.queue(autopause_after=1)
    h.agent("101", action=Silent())  # rings until the ACD gives up
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "ringing")
    ringing = h.phones.live_leg("101")
    assert ringing is not None

    await h.restart()
    # The agent stopped ringing, not counted as a miss (after one, autopause_after=1
    # would have paused them), and the new run offers the caller to them again.
    assert not h.fake.legs[ringing].alive
    assert [e.reason for e in h.of("offer_ended")] == ["cancelled"]
    await h.until(lambda: len(h.phones.rang()) == 2)
    assert h.fake.legs[caller.leg.id].alive


# -- calls connected with an agent: adopted, not cut (before: their legs were not kept, the
# restart cut them and no ``completed`` ever came) ---------------------------------------
async def _connected(h: AcdHarness, places: MemoryPlaces) -> tuple[str, str]:
    """A caller talking to agent 101: (caller leg, agent leg)."""
    h.queue(wrapup_s=0)
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: any(p.connected for p in places.places.values()))
    [place] = places.places.values()
    assert place.agent_id == "a101" and place.leg_id == caller.leg.id
    assert h.fake.peer(caller.leg.id) == place.agent_leg
    assert h.fake.kept_legs == {caller.leg.id, place.agent_leg}
    return caller.leg.id, place.agent_leg


async def test_a_call_with_an_agent_is_adopted_not_cut(h: AcdHarness, places: MemoryPlaces) -> None:
    caller, agent = await _connected(h, places)
    mark = len(h.fake.commands)
    await h.restart()
    await h.until(lambda: h.state("101") == "on_call")
    # Nothing was done to the call: both legs up, still connected, not offered again.
    assert [c for c in h.fake.commands[mark:] if set(c[1:]) & {caller, agent}] == []
    assert h.fake.legs[caller].alive and h.fake.legs[agent].alive
    assert h.fake.peer(caller) == agent
    assert h.acd.waiting(1, "support") == []
    # The agent hangs up: the connection ends, wrap-up (none here), completed once.
    await h.phones.hangup("101")
    await h.until(lambda: h.of("completed"))
    await h.until(lambda: h.resumed)
    [(_, result)] = h.resumed
    assert (result.outcome, result.agent_id) == ("answered", "a101")
    assert h.fake.peer(caller) is None
    assert len(h.of("completed")) == 1 and len(h.of("dequeued", reason="answered")) == 1
    assert places.places == {} and h.fake.kept_legs == set()
    await h.until(lambda: h.state("101") == "available")
    figures = h.stats.figures(1, "support")
    assert (figures.answered, figures.completed, figures.waiting) == (1, 1, 0)


async def test_an_answer_lost_with_a_crash_is_counted_by_the_adoption(
    h: AcdHarness, places: MemoryPlaces
) -> None:
    """A kill -9 can lose the event log's last half second, the call's "answered" with
    it: the adoption counts it again, once (on the real engine: answered 3 for 4)."""
    await _connected(h, places)
    [place] = places.places.values()
    await h.restart(lost={place.call_id})
    await h.until(lambda: h.state("101") == "on_call")
    await h.until(lambda: h.stats.figures(1, "support").answered == 1)
    await h.phones.hangup("101")
    await h.until(lambda: h.of("completed"))
    figures = h.stats.figures(1, "support")
    assert (figures.answered, figures.completed, figures.waiting) == (1, 1, 0)
    assert figures.asa_s is not None and figures.asa_s < 1


async def test_the_caller_hangs_up_after_the_restart(h: AcdHarness, places: MemoryPlaces) -> None:
    caller, agent = await _connected(h, places)
    await h.restart()
    await h.until(lambda: h.state("101") == "on_call")
    await h.fake.remote_hangup(caller)
    await h.until(lambda: h.of("completed"))
    assert not h.fake.legs[agent].alive  # the agent's leg was hung up
    assert h.fake.peer(caller) is None
    assert places.places == {} and h.fake.kept_legs == set()


async def test_the_agent_hung_up_while_nobody_watched(h: AcdHarness, places: MemoryPlaces) -> None:
    caller, agent = await _connected(h, places)
    await h.restart(lambda: h.fake.remote_hangup(agent))
    await h.until(lambda: h.of("completed"))
    await h.until(lambda: h.resumed)
    assert h.resumed[0][1].outcome == "answered"
    assert h.fake.peer(caller) is None
    assert places.places == {} and h.fake.kept_legs == set()
    await h.until(lambda: h.state("101") == "available")
    assert len(h.of("completed")) == 1


async def test_an_adopted_call_survives_a_second_restart(
    h: AcdHarness, places: MemoryPlaces
) -> None:
    caller, agent = await _connected(h, places)
    await h.restart()
    await h.until(lambda: h.state("101") == "on_call")
    await h.restart()  # a second deploy while the adopted call goes on
    await h.until(lambda: h.state("101") == "on_call")
    assert h.fake.legs[caller].alive and h.fake.legs[agent].alive
    assert h.fake.peer(caller) == agent
    assert [p.connected for p in places.places.values()] == [True]
    await h.phones.hangup("101")
    await h.until(lambda: h.of("completed") and not places.places)
    assert len(h.of("completed")) == 1 and h.fake.kept_legs == set()
