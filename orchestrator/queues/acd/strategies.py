"""Distribution strategies: pure functions over snapshots of the free agents.

:func:`rank` takes the agents that could take a call right now and returns them in
the order the queue should offer the call; nothing here touches the engine or a
clock, so every strategy is tested exhaustively on plain data.

Rules common to every strategy:

- a call's required skills filter first (:func:`eligible`): an agent lacking a
  skill, or having it below the required level, is never offered the call;
- penalty tiers: agents with the lowest penalty come first; higher tiers only follow
  (ring-all rings the first tier only);
- ties keep a stable order (the agent id), so the outcome never depends on dict order.

Strategies within a tier:

``ring_all``      every agent of the tier at once; first to answer wins.
``longest_idle``  longest since their last queue call ended (or since they became
                  free), first.
``round_robin``   the agent after the one the queue offered last, in member order.
``fewest_calls``  fewest queue calls answered today, then longest idle.
``random``        shuffled with the queue's seedable ``random.Random``.
``skills``        best total level over the required skills, then longest idle.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from orchestrator.queues.acd.config import Strategy


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """What a strategy may know about one free agent."""

    agent_id: str
    penalty: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    # Wall-clock time the agent last became free for queue calls (smaller = idle longer).
    idle_since: float = 0.0
    calls_today: int = 0
    # Position in the queue's member list (round-robin order).
    order: int = 0


def has_skills(agent: AgentSnapshot, required: Mapping[str, int]) -> bool:
    """Whether ``agent`` has every required skill at (at least) the required level."""
    return all(agent.skills.get(name, 0) >= level for name, level in required.items())


def eligible(agents: Sequence[AgentSnapshot], required: Mapping[str, int]) -> list[AgentSnapshot]:
    return [a for a in agents if has_skills(a, required)]


def skill_score(agent: AgentSnapshot, required: Mapping[str, int]) -> int:
    """Sum of the agent's levels in the required skills (all skills when none required)."""
    names = required.keys() if required else agent.skills.keys()
    return sum(agent.skills.get(name, 0) for name in names)


def _longest_idle(agents: list[AgentSnapshot]) -> list[AgentSnapshot]:
    return sorted(agents, key=lambda a: (a.idle_since, a.agent_id))


def _round_robin(
    agents: list[AgentSnapshot], last: str | None, last_order: int | None
) -> list[AgentSnapshot]:
    ordered = sorted(agents, key=lambda a: (a.order, a.agent_id))
    if last is None:
        return ordered
    # Start after the agent offered last; if they are not free now, after their place.
    after = last_order
    for agent in ordered:
        if agent.agent_id == last:
            after = agent.order
    if after is None:
        return ordered
    later = [a for a in ordered if a.order > after]
    return later + [a for a in ordered if a.order <= after]


def _within_tier(
    strategy: Strategy,
    tier: list[AgentSnapshot],
    required: Mapping[str, int],
    rr_last: str | None,
    rr_last_order: int | None,
    rng: random.Random,
) -> list[AgentSnapshot]:
    if strategy in (Strategy.LONGEST_IDLE, Strategy.RING_ALL):
        return _longest_idle(tier)
    if strategy is Strategy.ROUND_ROBIN:
        return _round_robin(tier, rr_last, rr_last_order)
    if strategy is Strategy.FEWEST_CALLS:
        return sorted(tier, key=lambda a: (a.calls_today, a.idle_since, a.agent_id))
    if strategy is Strategy.RANDOM:
        shuffled = sorted(tier, key=lambda a: a.agent_id)
        rng.shuffle(shuffled)
        return shuffled
    # SKILLS
    return sorted(tier, key=lambda a: (-skill_score(a, required), a.idle_since, a.agent_id))


def rank(
    strategy: Strategy,
    agents: Sequence[AgentSnapshot],
    *,
    required: Mapping[str, int] | None = None,
    rr_last: str | None = None,
    rr_last_order: int | None = None,
    rng: random.Random | None = None,
) -> list[list[AgentSnapshot]]:
    """The eligible agents in offer order, as penalty tiers (lowest penalty first).

    ``rr_last`` / ``rr_last_order`` are the round-robin pointer (the agent offered
    last by this queue and their member position); ``rng`` drives ``random``.
    """
    required = required or {}
    pool = sorted(eligible(agents, required), key=lambda a: (a.penalty, a.agent_id))
    generator = rng or random.Random()
    return [
        _within_tier(strategy, list(tier), required, rr_last, rr_last_order, generator)
        for _penalty, tier in groupby(pool, key=lambda a: a.penalty)
    ]


def pick(
    strategy: Strategy,
    agents: Sequence[AgentSnapshot],
    *,
    required: Mapping[str, int] | None = None,
    rr_last: str | None = None,
    rr_last_order: int | None = None,
    rng: random.Random | None = None,
    avoid: frozenset[str] = frozenset(),
) -> list[AgentSnapshot]:
    """Whom to ring now: the whole first tier for ring-all, else the first agent.

    Agents in ``avoid`` (they already failed to answer this call) come after every
    other eligible agent, so a caller is not offered twice to the same agent while
    someone else is free.
    """
    tiers = rank(
        strategy,
        agents,
        required=required,
        rr_last=rr_last,
        rr_last_order=rr_last_order,
        rng=rng,
    )
    fresh = [[a for a in tier if a.agent_id not in avoid] for tier in tiers]
    fresh = [tier for tier in fresh if tier]
    if fresh:
        tiers = fresh
    if not tiers:
        return []
    return tiers[0] if strategy is Strategy.RING_ALL else tiers[0][:1]
