"""The ACD end to end on a FakeEngine: each strategy, retries, races and cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.queues.acd import AgentState, Strategy
from orchestrator.queues.acd.testing import AcdHarness, Answer, Busy, Reject, Silent


@pytest.fixture
async def h() -> AsyncIterator[AcdHarness]:
    harness = await AcdHarness.create()
    yield harness
    await harness.close()


def assert_clean(h: AcdHarness) -> None:
    """No connection, offer or agent leg outlives the calls."""
    assert h.fake.connections == {}
    assert not h.acd._calls and not h.acd._agent_legs and not h.acd._caller_legs
    agent_legs = [leg for leg in h.fake.legs.values() if leg.name.startswith("SIP/")]
    assert all(not leg.alive for leg in agent_legs)


async def answered_call(h: AcdHarness, number: str, ext: str) -> None:
    """A caller answered by ``ext``, who then hangs up."""
    caller = await h.call(number)
    await h.until(lambda: h.phones.live_leg(ext) and h.state(ext) == "on_call")
    await h.phones.hangup(ext)
    result = await caller.result()
    assert result.outcome == "answered" and result.agent_id == f"a{ext}"


async def test_longest_idle_end_to_end(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.LONGEST_IDLE)
    h.agent("101", action=Answer(0.01))
    h.agent("102", action=Answer(0.01))
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    assert h.state("102") == "available"
    # Caller and agent talk with each other; the caller's music stopped first.
    agent_leg = h.fake.peer(caller.leg.id)
    assert agent_leg is not None and h.fake.peer(agent_leg) == caller.leg.id
    assert len(h.fake.connections) == 2
    cmds = [c[0] for c in h.fake.commands if c[1:2] == (caller.leg.id,)]
    assert cmds[:2] == ["answer", "hold"] and "unhold" in cmds
    await asyncio.sleep(0.02)
    await h.phones.hangup("101")
    result = await caller.result()
    assert result.outcome == "answered" and result.agent_id == "a101"
    assert result.talk_s >= 0.02 and result.wait_s < 0.1
    assert caller.leg.alive  # the flow decides what happens to the caller next
    # 101 just finished: 102 has been idle longest now.
    await answered_call(h, "+447700900002", "102")
    await answered_call(h, "+447700900003", "101")
    assert h.phones.rang() == ["101", "102", "101"]
    assert_clean(h)


async def test_round_robin_end_to_end(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.ROUND_ROBIN)
    for ext in ("101", "102", "103"):
        h.agent(ext, action=Answer())
    for n in range(4):
        ext = ("101", "102", "103")[n % 3]
        await answered_call(h, f"+44770090000{n}", ext)
    assert h.phones.rang() == ["101", "102", "103", "101"]


async def test_fewest_calls_end_to_end(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.FEWEST_CALLS)
    h.agent("101", action=Answer())
    await answered_call(h, "+447700900001", "101")
    await answered_call(h, "+447700900002", "101")
    # 102 logs in later (idle for less time) but has taken no call today.
    h.agent("102", action=Answer())
    await answered_call(h, "+447700900003", "102")
    await answered_call(h, "+447700900004", "102")
    # 2 calls each: the longest idle (101) is next.
    await answered_call(h, "+447700900005", "101")


EXTS = ("101", "102", "103", "104")


async def test_random_is_reproducible_with_a_seed() -> None:
    picks: list[list[str]] = []
    for _ in range(2):
        h = await AcdHarness.create(seed=42)
        try:
            h.queue(strategy=Strategy.RANDOM)
            for ext in EXTS:
                h.agent(ext, action=Answer())
            for n in range(6):
                caller = await h.call(f"+44770090000{n}")
                await h.until(lambda h=h: any(h.state(e) == "on_call" for e in EXTS))
                ext = h.phones.rang()[-1]
                await h.phones.hangup(ext)
                assert (await caller.result()).outcome == "answered"
            picks.append(h.phones.rang())
        finally:
            await h.close()
    assert picks[0] == picks[1]
    assert len(set(picks[0])) > 1


async def test_skills_based_routing(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.SKILLS, required_skills={"french": 3})
    h.agent("101", skills={"french": 3}, action=Answer())
    h.agent("102", skills={"french": 8}, action=Answer())
    h.agent("103", skills={"english": 10}, action=Answer())
    await answered_call(h, "+33100000001", "102")  # best level first
    # A call needing billing too waits for someone who has it.
    caller = await h.call("+33100000002", required_skills={"french": 3, "billing": 5})
    await asyncio.sleep(0.05)
    assert h.of("offered", call_id=h.of("queued", caller="+33100000002")[0].call_id) == []
    h.agent("104", skills={"french": 4, "billing": 6}, action=Answer())
    await h.until(lambda: h.state("104") == "on_call")
    await h.phones.hangup("104")
    assert (await caller.result()).agent_id == "a104"
    assert "103" not in h.phones.rang()


async def test_ring_all_race_one_wins_the_other_is_hung_up(h: AcdHarness) -> None:
    h.queue(strategy=Strategy.RING_ALL)
    h.agent("101", action=Answer(0.01))
    h.agent("102", action=Answer(0.01))
    h.agent("103", action=Silent())
    caller = await h.call("+447700900001")
    await h.until(lambda: len(h.of("offer_ended")) == 3)
    ended = {e.agent_id: e.reason for e in h.of("offer_ended")}
    winner = next(a for a, r in ended.items() if r == "answered")
    loser = next(a for a in ("a101", "a102") if a != winner)
    assert ended[loser] == "lost" and ended["a103"] == "cancelled"
    hangups = [c for c in h.fake.commands if c[0] == "hangup"]
    assert {c[2] for c in hangups} == {26}  # answered elsewhere
    await h.until(lambda: h.state(loser[1:]) == "available" and h.state("103") == "available")
    assert h.acd.agents.get(1, loser).missed_in_row == 0  # losing a race is no miss
    await h.phones.hangup(winner[1:])
    assert (await caller.result()).agent_id == winner
    assert_clean(h)


@pytest.mark.parametrize(
    ("first", "reason"),
    [(Silent(), "no_answer"), (Busy(), "busy"), (Reject(), "rejected")],
)
async def test_unanswered_offer_goes_to_the_next_agent_after_retry(
    h: AcdHarness, first: Silent | Busy | Reject, reason: str
) -> None:
    h.queue(strategy=Strategy.LONGEST_IDLE, ring_timeout_s=0.05, retry_s=0.05)
    h.agent("101", action=first)
    h.agent("102", action=Answer())
    loop = asyncio.get_running_loop()
    started = loop.time()
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("102") == "on_call")
    took = loop.time() - started
    assert h.of("offer_ended", agent_id="a101")[0].reason == reason
    assert took >= 0.05 + (0.05 if reason == "no_answer" else 0)
    assert h.state("101") == "available"
    await h.phones.hangup("102")
    assert (await caller.result()).agent_id == "a102"
    assert h.phones.rang() == ["101", "102"]


async def test_single_agent_is_retried_and_autopaused(h: AcdHarness) -> None:
    h.queue(ring_timeout_s=0.02, retry_s=0.01, autopause_after=3, max_wait_s=1)
    h.agent("101", action=Silent())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "paused")
    agent = h.acd.agents.get(1, "a101")
    assert agent.pause_reason == "missed_calls" and agent.missed_in_row == 3
    assert h.phones.rang() == ["101"] * 3
    h.acd.unpause(1, "a101")
    h.phones.default("101", Answer())
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    assert (await caller.result()).outcome == "answered"


async def test_caller_hangs_up_during_talk(h: AcdHarness) -> None:
    h.queue(wrapup_s=0.05)
    h.agent("101", action=Answer())
    caller = await h.call("+447700900001")
    await h.until(lambda: h.state("101") == "on_call")
    await h.fake.remote_hangup(caller.leg.id)
    result = await caller.result()
    assert result.outcome == "answered"
    assert h.state("101") == "wrap_up"
    assert h.phones.live_leg("101") is None  # the ACD hung the agent up
    await h.until_event("completed")
    assert h.state("101") == "available"
    assert_clean(h)


async def test_queue_and_agent_management(h: AcdHarness) -> None:
    h.queue()
    with pytest.raises(NotFoundError):
        h.acd.login(1, "nobody", "support")
    h.agent("101")
    with pytest.raises(NotFoundError):
        h.acd.login(1, "a101", "nosuchqueue")
    with pytest.raises(NotFoundError):
        await h.acd.enqueue("leg-x", tenant_id=1, queue="nosuchqueue")
    caller = await h.call("+447700900001")
    with pytest.raises(ConflictError):
        h.acd.remove_queue(1, "support")
    with pytest.raises(ConflictError):
        await h.acd.enqueue(caller.leg.id, tenant_id=1, queue="support")
    assert [w["caller"] for w in h.acd.waiting(1, "support")] == ["+447700900001"]
    assert h.acd.owns_leg(caller.leg.id)
    await h.fake.remote_hangup(caller.leg.id)
    assert (await caller.result()).outcome == "abandoned"
    h.acd.remove_queue(1, "support")
    assert h.state("101") == str(AgentState.LOGGED_OUT)
    assert h.acd.queues(1) == []
