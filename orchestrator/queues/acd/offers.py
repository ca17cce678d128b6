"""Offers: ringing one agent (or, for ring-all, several) for one waiting call.

An offer is a task of its own. It dials every chosen agent (through the
:class:`~orchestrator.ivr.directory.Directory`: ``extension:101`` or a remote number)
and waits until one answers, all fail, the ring timeout passes or the call stops
waiting. The first agent to answer wins (decided in :func:`agent_leg_event`, which the
ACD's event handler calls synchronously, so two answers at once cannot both win); at the
end every other leg is hung up (cause 26,
answered elsewhere, when there is a winner) and each agent's part is settled:

- ``no_answer``, ``busy``, ``rejected``, ``failed``: a miss. The agent is available
  again at once (and auto-paused after ``autopause_after`` misses in a row); the
  caller is not offered to them again while another agent is free, and the next offer
  waits ``retry_s``;
- ``lost`` (answered after the winner) and ``cancelled`` (the caller left, timed out,
  someone else answered, or the service stops): no fault of the agent's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core.call import LegState
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import LegCreated, LegDtmf, LegHungUp, LegStateChanged
from orchestrator.core.targets import Routing
from orchestrator.ivr.directory import Directory
from orchestrator.queues.acd.agents import AgentBook
from orchestrator.queues.acd.waiting import Offer, QueuedCall, QueueRuntime

if TYPE_CHECKING:
    from orchestrator.core.engine import Engine
    from orchestrator.queues.acd.agents import Agent

log = logging.getLogger("orchestrator.queues.acd")

# Q.850 causes of a failed offer, as offer_ended reasons.
OFFER_FAILURES = {17: "busy", 21: "rejected", 18: "no_answer", 19: "no_answer"}
ANSWERED_ELSEWHERE = 26


class OfferHost(Protocol):
    """What an offer needs of the ACD (:class:`~.service.AcdService` is one): the engine,
    the agents, and the bookkeeping of agent legs, events and dispatch passes."""

    @property
    def engine(self) -> Engine: ...
    @property
    def directory(self) -> Directory: ...
    @property
    def agents(self) -> AgentBook: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def stopping(self) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]: ...
    def event(self, type_: str, entry: QueuedCall, **fields: object) -> None: ...
    def kick(self) -> None: ...
    def kick_at(self, delay: float) -> None: ...
    def runtime_of(self, entry: QueuedCall) -> QueueRuntime: ...
    def track_agent_leg(self, entry: QueuedCall, agent: Agent, leg_id: str) -> None: ...
    def forget_agent_leg(self, leg_id: str) -> None: ...
    def agent_leg_gone(self, entry: QueuedCall) -> None: ...
    def release(self, entry: QueuedCall) -> None: ...
    def note_last_agent(
        self, tenant_id: int, number: str, agent_id: str, *, keep: bool
    ) -> None: ...


def start(acd: OfferHost, runtime: QueueRuntime, entry: QueuedCall, agents: list[Agent]) -> None:
    """Ring ``agents`` for ``entry`` (they are reserved at once) in a task of its own."""
    offer = Offer(entry, {acd.engine.new_id(): agent for agent in agents})
    entry.offer = offer
    for leg_id, agent in offer.legs.items():
        acd.track_agent_leg(entry, agent, leg_id)
        acd.agents.ringing(agent, entry.id, entry.queue)
        acd.event("offered", entry, agent_id=agent.id)
    offer.task = acd.spawn(_run(acd, runtime, offer), f"acd-offer-{entry.id}")


async def _run(acd: OfferHost, runtime: QueueRuntime, offer: Offer) -> None:
    entry, config = offer.call, runtime.config
    loop = asyncio.get_running_loop()
    try:
        for leg_id, agent in list(offer.legs.items()):
            if offer.finished:
                break
            try:
                target = await acd.directory.resolve(str(entry.tenant_id), agent.config.dial_target)
                await acd.engine.originate(
                    target.dial,
                    leg_id=leg_id,
                    caller_id=entry.caller,
                    # The engine's own limit is only a backstop for ours.
                    timeout=math.ceil(config.ring_timeout_s) + 1,
                    routing=Routing("acd", {"call": entry.id}),
                )
            except OrchestratorError as exc:
                log.warning("queue %s: cannot ring agent %s: %s", entry.queue, agent.id, exc)
                offer.failed.add(leg_id)
                offer.gone.setdefault(leg_id, 0)
        deadline = loop.time() + config.ring_timeout_s
        while not offer.finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            offer.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(offer.wake.wait(), remaining)
    finally:
        await _end(acd, runtime, offer)


async def _end(acd: OfferHost, runtime: QueueRuntime, offer: Offer) -> None:
    """Hang up every leg but the winner's and settle each agent's part."""
    entry, config = offer.call, runtime.config
    offer.closed = True
    for leg_id, agent in offer.legs.items():
        if leg_id == offer.winner:
            acd.event("offer_ended", entry, agent_id=agent.id, reason="answered")
            continue
        acd.forget_agent_leg(leg_id)
        if leg_id not in offer.gone:
            ringing_out = entry.waiting and not acd.stopping
            cause = ANSWERED_ELSEWHERE if offer.winner else 19 if ringing_out else 16
            with contextlib.suppress(OrchestratorError):
                await acd.engine.hangup(leg_id, cause)
        if leg_id in offer.answered:
            reason = "lost" if offer.winner else "cancelled"
        elif leg_id in offer.failed:
            reason = "failed"
        elif leg_id in offer.gone:
            reason = OFFER_FAILURES.get(offer.gone[leg_id], "failed")
        else:
            ended = offer.winner or not entry.waiting or acd.stopping
            reason = "cancelled" if ended else "no_answer"
        acd.event("offer_ended", entry, agent_id=agent.id, reason=reason)
        if reason in ("cancelled", "lost"):
            acd.agents.released(agent)
        else:
            entry.tried.add(agent.id)
            acd.agents.missed(agent, config.autopause_after)
    entry.offer = None
    if entry.waiting and not offer.winner:
        entry.not_before = asyncio.get_running_loop().time() + config.retry_s
        acd.kick_at(config.retry_s)
    acd.kick()


def agent_leg_event(
    acd: OfferHost,
    entry: QueuedCall,
    agent: Agent,
    event: LegHungUp | LegStateChanged | LegCreated | LegDtmf,
) -> None:
    """An event on an agent leg of ``entry``: an answer, or a hangup while ringing or
    talking. It only settles state and wakes the offer (or the call's owner)."""
    offer = entry.offer
    ringing = offer is not None and not offer.closed and event.leg_id in offer.legs
    if isinstance(event, LegCreated | LegStateChanged) and event.state == LegState.UP:
        if offer is None or not ringing:
            return
        offer.answered.add(event.leg_id)
        if not offer.winner and entry.waiting:
            _answered(acd, entry, offer, event.leg_id, agent)
        offer.wake.set()
    elif isinstance(event, LegHungUp):
        if event.leg_id == entry.agent_leg:
            acd.agent_leg_gone(entry)
        if offer is not None and ringing:
            offer.gone.setdefault(event.leg_id, event.cause)
            offer.wake.set()


def _answered(acd: OfferHost, entry: QueuedCall, offer: Offer, leg_id: str, agent: Agent) -> None:
    """The first agent to answer gets the call (later ones lose the race)."""
    now = acd.clock()
    offer.winner = entry.agent_leg = leg_id
    entry.state, entry.agent, entry.answered_at = "connecting", agent, now
    acd.release(entry)  # served: a restart from now on does not give it back
    acd.agents.answered(agent)
    runtime = acd.runtime_of(entry)
    wait = entry.wait_s(now)
    if entry.kind == "live":
        runtime.recent_waits.append(wait)
        acd.event(
            "dequeued",
            entry,
            agent_id=agent.id,
            reason="answered",
            wait_s=wait,
            sl_threshold_s=runtime.config.service_level_s,
            kind=entry.kind,
        )
    number = entry.callback_number or entry.caller
    if number:
        acd.note_last_agent(entry.tenant_id, number, agent.id, keep=True)
    entry.wake.set()
