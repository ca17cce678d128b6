"""The distribution strategies as pure functions over agent snapshots."""

from __future__ import annotations

import random

import pytest

from orchestrator.queues.acd.config import Strategy
from orchestrator.queues.acd.strategies import AgentSnapshot, eligible, has_skills, pick, rank


def agent(
    agent_id: str,
    *,
    idle: float = 0.0,
    calls: int = 0,
    order: int = 0,
    penalty: int = 0,
    skills: dict[str, int] | None = None,
) -> AgentSnapshot:
    return AgentSnapshot(
        agent_id=agent_id,
        penalty=penalty,
        skills=skills or {},
        idle_since=idle,
        calls_today=calls,
        order=order,
    )


def ids(agents: list[AgentSnapshot]) -> list[str]:
    return [a.agent_id for a in agents]


AGENTS = [
    agent("a", idle=30, calls=5, order=1),
    agent("b", idle=10, calls=2, order=2),
    agent("c", idle=20, calls=2, order=3),
    agent("d", idle=40, calls=0, order=4),
]


def test_longest_idle_orders_by_idle_since() -> None:
    assert ids(rank(Strategy.LONGEST_IDLE, AGENTS)[0]) == ["b", "c", "a", "d"]
    assert ids(pick(Strategy.LONGEST_IDLE, AGENTS)) == ["b"]


def test_ring_all_rings_the_whole_first_tier() -> None:
    assert sorted(ids(pick(Strategy.RING_ALL, AGENTS))) == ["a", "b", "c", "d"]
    tiered = [*AGENTS, agent("e", penalty=1)]
    assert "e" not in ids(pick(Strategy.RING_ALL, tiered))


@pytest.mark.parametrize(
    ("last", "expected"),
    [(None, "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")],
)
def test_round_robin_goes_after_the_last_offered(last: str | None, expected: str) -> None:
    order = {"a": 1, "b": 2, "c": 3, "d": 4}.get(last or "")
    assert ids(pick(Strategy.ROUND_ROBIN, AGENTS, rr_last=last, rr_last_order=order)) == [expected]


def test_round_robin_skips_past_an_agent_no_longer_free() -> None:
    # "b" (order 2) was offered last and is now busy: "c" is next, not "a".
    free = [a for a in AGENTS if a.agent_id != "b"]
    assert ids(pick(Strategy.ROUND_ROBIN, free, rr_last="b", rr_last_order=2)) == ["c"]
    assert ids(rank(Strategy.ROUND_ROBIN, free, rr_last="b", rr_last_order=2)[0]) == [
        "c",
        "d",
        "a",
    ]


def test_fewest_calls_then_longest_idle() -> None:
    assert ids(rank(Strategy.FEWEST_CALLS, AGENTS)[0]) == ["d", "b", "c", "a"]


def test_random_is_seedable_and_a_permutation() -> None:
    first = ids(rank(Strategy.RANDOM, AGENTS, rng=random.Random(7))[0])
    again = ids(rank(Strategy.RANDOM, AGENTS, rng=random.Random(7))[0])
    assert first == again
    assert sorted(first) == ["a", "b", "c", "d"]
    picks = {ids(pick(Strategy.RANDOM, AGENTS, rng=random.Random(s)))[0] for s in range(50)}
    assert picks == {"a", "b", "c", "d"}  # everyone gets a turn


def test_skills_filter_and_best_total_level_first() -> None:
    pool = [
        agent("fr5", idle=10, skills={"french": 5}),
        agent("fr9", idle=50, skills={"french": 9, "billing": 2}),
        agent("fr9b", idle=20, skills={"french": 9, "billing": 2}),
        agent("en", idle=0, skills={"english": 10}),
        agent("fr2", idle=0, skills={"french": 2}),
    ]
    required = {"french": 3}
    assert ids(rank(Strategy.SKILLS, pool, required=required)[0]) == ["fr9b", "fr9", "fr5"]
    both = {"french": 3, "billing": 1}
    assert ids(pick(Strategy.SKILLS, pool, required=both)) == ["fr9b"]
    assert pick(Strategy.SKILLS, pool, required={"german": 1}) == []


def test_required_skills_filter_every_strategy() -> None:
    pool = [agent("x", skills={"vip": 1}), agent("y")]
    for strategy in Strategy:
        assert ids(pick(strategy, pool, required={"vip": 1})) == ["x"]


def test_has_skills_and_eligible() -> None:
    a = agent("a", skills={"french": 4})
    assert has_skills(a, {}) and has_skills(a, {"french": 4})
    assert not has_skills(a, {"french": 5}) and not has_skills(a, {"german": 1})
    assert ids(eligible([a, agent("b")], {"french": 1})) == ["a"]


def test_penalty_tiers_come_in_order() -> None:
    pool = [agent("low", penalty=0, idle=100), agent("high", penalty=2, idle=0)]
    tiers = rank(Strategy.LONGEST_IDLE, pool)
    assert [ids(t) for t in tiers] == [["low"], ["high"]]
    assert ids(pick(Strategy.LONGEST_IDLE, pool)) == ["low"]
    assert ids(pick(Strategy.LONGEST_IDLE, pool, avoid=frozenset({"low"}))) == ["high"]


def test_avoid_puts_tried_agents_last_but_keeps_them_when_alone() -> None:
    assert ids(pick(Strategy.LONGEST_IDLE, AGENTS, avoid=frozenset({"b"}))) == ["c"]
    only = [agent("solo")]
    assert ids(pick(Strategy.LONGEST_IDLE, only, avoid=frozenset({"solo"}))) == ["solo"]


def test_no_agents() -> None:
    for strategy in Strategy:
        assert pick(strategy, []) == []
        assert rank(strategy, []) == []


def test_ties_are_stable_by_agent_id() -> None:
    pool = [agent("b"), agent("a"), agent("c")]
    assert ids(rank(Strategy.LONGEST_IDLE, pool)[0]) == ["a", "b", "c"]
    assert ids(rank(Strategy.FEWEST_CALLS, pool)[0]) == ["a", "b", "c"]
    assert ids(rank(Strategy.SKILLS, pool)[0]) == ["a", "b", "c"]
