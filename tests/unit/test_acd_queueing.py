"""Waiting callers on a FakeEngine: priority, overflow, abandon, callback, last agent,
announcements, and the figures those calls produce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import TrunkNumber
from orchestrator.queues.acd import PriorityRule, Strategy
from orchestrator.queues.acd.testing import AcdHarness, Answer, Silent

# A callback to this number rings it through the StaticDirectory's trunk.
CUSTOMER = TrunkNumber("carrier", "+447700900001")


@pytest.fixture
async def h() -> AsyncIterator[AcdHarness]:
    harness = await AcdHarness.create()
    yield harness
    await harness.close()


async def serve_next(h: AcdHarness, ext: str) -> str:
    """Let ``ext`` take the next caller and hang up; the caller number served."""
    await h.until(lambda: h.state(ext) == "on_call")
    agent = h.acd.agents.get(1, f"a{ext}")
    number = h.acd._calls[agent.call_id].caller
    await h.phones.hangup(ext)
    await h.until(lambda: h.state(ext) == "paused")
    return number


async def test_priority_then_fifo(h: AcdHarness) -> None:
    h.queue(priority_rules=(PriorityRule("+44207946*", 5),))
    h.agent("101", action=Answer())
    h.acd.pause(1, "a101", "meeting")
    first = await h.call("+447700900001")
    vip = await h.call("+442079460001")
    second = await h.call("+447700900002")
    explicit = await h.call("+447700900003", priority=9)
    assert [w["caller"] for w in h.acd.waiting(1, "support")] == [
        "+447700900003",
        "+442079460001",
        "+447700900001",
        "+447700900002",
    ]
    assert h.of("queued", caller="+442079460001")[0].priority == 5
    assert h.of("queued", caller="+447700900002")[0].position == 3
    served = []
    for _ in range(4):
        # Pause again as soon as the call is answered: one call at a time.
        h.acd.unpause(1, "a101")
        await h.until(lambda: h.state("101") == "on_call")
        h.acd.pause(1, "a101", "meeting")
        served.append(await serve_next(h, "101"))
    assert served == ["+447700900003", "+442079460001", "+447700900001", "+447700900002"]
    for caller in (first, vip, second, explicit):
        assert (await caller.result()).outcome == "answered"


async def test_overflow_by_max_len(h: AcdHarness) -> None:
    h.queue(max_len=1, overflow="extension:200")
    waiting = await h.call("+447700900001")
    full = await h.call("+447700900002")
    result = await full.result()
    assert (result.outcome, result.reason, result.destination) == (
        "overflow",
        "max_len",
        "extension:200",
    )
    # Refused before anything was done to the leg: the flow sends it on.
    assert not [c for c in h.fake.commands if c[1:2] == (full.leg.id,)]
    assert h.stats.figures(1, "support").overflowed == 1
    await h.fake.remote_hangup(waiting.leg.id)
    assert (await waiting.result()).outcome == "abandoned"


async def test_overflow_when_no_agent(h: AcdHarness) -> None:
    h.queue(leave_when_empty=True, overflow="queue:sales")
    result = await (await h.call("+447700900001")).result()
    assert (result.outcome, result.reason, result.destination) == (
        "overflow",
        "no_agents",
        "queue:sales",
    )


async def test_timeout_by_max_wait(h: AcdHarness) -> None:
    h.queue(max_wait_s=0.05, overflow="number:+442079460000")
    h.agent("101", action=Silent())
    loop = asyncio.get_running_loop()
    started = loop.time()
    caller = await h.call("+447700900001")
    result = await caller.result()
    assert result.outcome == "timeout" and result.destination == "number:+442079460000"
    assert 0.05 <= loop.time() - started < 0.5
    assert caller.leg.alive
    cmds = [c[0] for c in h.fake.commands if c[1:2] == (caller.leg.id,)]
    assert cmds[-1] == "unhold"  # the flow gets the caller back without music
    # The agent who was ringing is released, not blamed.
    await h.until(lambda: h.state("101") == "available")
    assert h.of("offer_ended")[-1].reason == "cancelled"
    assert h.stats.figures(1, "support").timed_out == 1


async def test_abandon_while_waiting_and_while_an_agent_rings(h: AcdHarness) -> None:
    h.queue(ring_timeout_s=1)
    h.agent("101", action=Silent())
    ringing = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "ringing")
    waiting = await h.call("+447700900002")
    await h.fake.remote_hangup(waiting.leg.id)
    assert (await waiting.result()).outcome == "abandoned"
    await h.fake.remote_hangup(ringing.leg.id)
    result = await ringing.result()
    assert result.outcome == "abandoned" and result.wait_s < 1
    assert h.phones.live_leg("101") is None  # the offer was cancelled
    await h.until(lambda: h.state("101") == "available")
    assert h.acd.agents.get(1, "a101").missed_in_row == 0
    figures = h.stats.figures(1, "support")
    assert (figures.abandoned, figures.waiting) == (2, 0)
    assert h.fake.connections == {} and not h.acd._agent_legs


async def test_callback_keeps_the_place(h: AcdHarness) -> None:
    h.queue(callback_enabled=True, callback_key="*")
    h.agent("101", action=Answer())
    h.acd.pause(1, "a101", "lunch")
    first = await h.call("+447700900001")
    await h.fake.dtmf(first.leg.id, "*")
    result = await first.result()
    assert result.outcome == "callback" and result.callback_number == "+447700900001"
    await h.fake.remote_hangup(first.leg.id)  # the flow says goodbye
    second = await h.call("+447700900002")
    assert [w["kind"] for w in h.acd.waiting(1, "support")] == ["callback", "live"]
    h.acd.unpause(1, "a101")
    # The agent is called first, then the customer's number.
    await h.until(lambda: any(c[0] == "originate" and c[1] == CUSTOMER for c in h.fake.commands))
    customer = next(c[2] for c in h.fake.commands if c[0] == "originate" and c[1] == CUSTOMER)
    assert h.state("101") == "on_call"
    await h.fake.remote_answer(customer)
    await h.until_event("callback_result", reason="connected")
    assert h.fake.peer(customer) is not None
    await h.fake.remote_hangup(customer)
    # Then the live caller behind it.
    await h.until(lambda: h.of("dequeued", caller="+447700900002", reason="answered"))
    await h.phones.hangup("101")
    assert (await second.result()).outcome == "answered"
    figures = h.stats.figures(1, "support")
    assert (figures.callbacks_requested, figures.callbacks_connected) == (1, 1)
    assert figures.answered == 1


async def test_callback_by_api_and_customer_not_answering(h: AcdHarness) -> None:
    h.queue(callback_enabled=True)
    h.agent("101", action=Answer())
    h.acd.pause(1, "a101")
    caller = await h.call("+447700900001")
    call_id = h.of("queued")[0].call_id
    with pytest.raises(NotFoundError):
        h.acd.request_callback("nope")
    h.acd.request_callback(call_id, "+447700900999")
    assert (await caller.result()).callback_number == "+447700900999"
    h.acd.unpause(1, "a101")
    result = await h.until_event("callback_result", timeout=3)
    assert result.reason == "no_answer"  # the customer's phone rang out
    await h.until(lambda: h.state("101") == "available")
    assert h.fake.connections == {} and not h.acd._calls


async def test_callback_refused_when_not_enabled(h: AcdHarness) -> None:
    h.queue()
    caller = await h.call("+447700900001")
    await h.fake.dtmf(caller.leg.id, "*")  # ignored
    with pytest.raises(ConflictError):
        h.acd.request_callback(h.of("queued")[0].call_id)
    await h.fake.remote_hangup(caller.leg.id)
    assert (await caller.result()).outcome == "abandoned"


async def test_last_agent_first_and_exclusive_for_a_while(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.LONGEST_IDLE, last_agent_s=0.15)
    h.agent("101", action=Answer())
    h.agent("102", action=Answer())
    h.acd.pause(1, "a101")
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("102") == "on_call")
    await h.phones.hangup("102")
    await caller.result()
    h.acd.unpause(1, "a101")
    # 101 has been idle longer, but the caller's last agent was 102.
    again = await h.call("+447700900001")
    await h.until(lambda: h.state("102") == "on_call")
    assert h.state("101") == "available"
    # While 102 is busy, the same caller waits for them, then anyone after 150 ms.
    third = await h.call("+447700900001")
    await asyncio.sleep(0.08)
    assert h.state("101") == "available"
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    await h.phones.hangup("102")
    assert (await again.result()).agent_id == "a102"
    assert (await third.result()).agent_id == "a101"


async def test_announcements_between_music(h: AcdHarness) -> None:
    h.queue(announce_every_s=0.03, announce_position=True, announce_wait=True, moh_class="jazz")
    first = await h.call("+447700900001")
    second = await h.call("+447700900002")
    await h.until(
        lambda: len([c for c in h.fake.commands if c[0] == "play" and c[1] == second.leg.id]) >= 2
    )
    plays = [c[2] for c in h.fake.commands if c[0] == "play"]
    assert (Prompt.QUEUE_YOU_ARE_NEXT,) in plays
    assert (Prompt.QUEUE_THERE_ARE, "number:1", Prompt.QUEUE_CALLS_WAITING) in plays
    cmds = [c[0] for c in h.fake.commands if c[1:2] == (second.leg.id,)]
    assert cmds[:3] == ["answer", "hold", "unhold"]
    assert cmds[3:5] == ["play", "hold"]
    assert ("hold", second.leg.id, "jazz") in h.fake.commands
    for caller in (first, second):
        await h.fake.remote_hangup(caller.leg.id)
        await caller.result()


async def test_estimated_wait_is_announced_after_answers(h: AcdHarness) -> None:
    h.queue(announce_every_s=0.03, announce_position=False, announce_wait=True)
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    await caller.result()
    h.acd.pause(1, "a101")
    waiting = await h.call("+447700900002")
    await h.until(lambda: any(c[0] == "play" for c in h.fake.commands))
    play = next(c for c in h.fake.commands if c[0] == "play")
    assert play[2][:2] == (Prompt.QUEUE_HOLD_TIME, Prompt.QUEUE_LESS_THAN)
    await h.fake.remote_hangup(waiting.leg.id)
    await waiting.result()


async def test_figures_from_a_live_scenario(h: AcdHarness) -> None:
    # The service level is generous: on a loaded 2-core CI machine an answer took > 50 ms.
    h.queue(service_level_s=2, wrapup_s=0.01)
    h.agent("101", action=Answer())
    for n in range(3):
        caller = await h.call(f"+44770090000{n}")
        await h.until(lambda: h.state("101") == "on_call")
        await asyncio.sleep(0.01)
        await h.phones.hangup("101")
        await caller.result()
        await h.until(lambda: h.state("101") == "available")
    h.acd.pause(1, "a101", "lunch")
    gone = await h.call("+447700900009")
    await h.fake.remote_hangup(gone.leg.id)
    await gone.result()
    f = h.stats.figures(1, "support")
    assert (f.answered, f.abandoned, f.completed, f.answered_within_sl) == (3, 1, 3, 3)
    assert f.service_level == 1 and f.service_level_with_abandoned == pytest.approx(0.75)
    assert f.asa_s is not None and f.asa_s < 2
    assert f.aht_s is not None and f.aht_s >= 0.02
    assert f.agents == {"paused": 1}
