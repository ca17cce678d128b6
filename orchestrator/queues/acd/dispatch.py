"""The dispatcher: which waiting callers are offered to which available agents.

One pass (:func:`run`) runs whenever something changes (:meth:`AcdService.kick`): the
callers waiting without an offer, in order (queue weight, then priority, then arrival),
each get the available members of their queue that the queue's strategy picks
(:mod:`.strategies`), and an offer rings them (:mod:`.offers`). A caller with no free
agent for it does not block the callers behind it. During its last-agent period
(``last_agent_s``) a caller is offered only to its last agent, and waits for them while
they are busy but reachable.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from typing import Protocol

from orchestrator.queues.acd import offers
from orchestrator.queues.acd.agents import Agent
from orchestrator.queues.acd.strategies import pick
from orchestrator.queues.acd.waiting import QueuedCall


class DispatchHost(offers.OfferHost, Protocol):
    """What a dispatch pass needs of the ACD: an offer's needs and the calls."""

    @property
    def calls(self) -> Mapping[str, QueuedCall]: ...


def run(acd: DispatchHost) -> None:
    """Match waiting callers with available agents; start an offer for each match."""
    now = asyncio.get_running_loop().time()
    today = datetime.date.fromtimestamp(acd.clock())
    available = [a for a in acd.agents.all() if a.available]
    if not available:
        return  # the common case under load: nothing to hand out
    entries = [
        c for c in acd.calls.values() if c.waiting and c.offer is None and c.not_before <= now
    ]
    entries.sort(key=lambda c: c.order_key(acd.runtime_of(c).config.weight))
    # Members per queue, computed once per pass (agents change state as offers start).
    members_of: dict[tuple[int, str], list[Agent]] = {}
    for entry in entries:
        runtime = acd.runtime_of(entry)
        key = (entry.tenant_id, entry.queue)
        if key not in members_of:
            members_of[key] = acd.agents.members(*key)
        members = members_of[key]
        free = [a for a in members if a.available]
        if not free:
            continue
        chosen: list[Agent] = []
        if entry.last_agent and now < entry.exclusive_until:
            last = next((a for a in members if a.id == entry.last_agent), None)
            if last is not None and last.reachable:
                if not last.available:
                    continue  # exclusive: wait for them (until exclusive_until)
                chosen = [last]
        if not chosen:
            by_id = {a.id: a for a in free}
            snaps = pick(
                runtime.config.strategy,
                [a.snapshot(entry.queue, today) for a in free],
                required=entry.skills,
                rr_last=runtime.rr_last,
                rr_last_order=runtime.rr_last_order,
                rng=runtime.rng,
                avoid=frozenset(entry.tried),
            )
            chosen = [by_id[s.agent_id] for s in snaps]
        if not chosen:
            continue
        if all(a.id in entry.tried for a in chosen):
            entry.tried.clear()  # everyone had a go: a new round
        runtime.rr_last = chosen[0].id
        runtime.rr_last_order = chosen[0].queues.get(entry.queue)
        offers.start(acd, runtime, entry, chosen)
