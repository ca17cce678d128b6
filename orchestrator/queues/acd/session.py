"""The owners of waiting calls: a live caller's ``enqueue``, and a callback's task.

Each owner is the only code sending commands for its call, and its ``finally``
always runs the cleanup: the call leaves the waiting list (which ends any offer in
progress, hanging up the agents still ringing), music and announcements stop, the
agent's leg is hung up (the engine ends their connection). Nothing outlives the owner, except a
caller still waiting when the service stops with a place keeper: it is left as it is,
music on, for the next run (:mod:`.places`), which resumes it with :func:`run_resumed`.

While waiting, the caller is on hold on its own leg (``hold`` with the queue's music
class). An announcement takes it off hold, plays, and the music resumes when the
playback ends. When an agent answers, the caller and the agent are connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core.call import LegState
from orchestrator.core.errors import LegGoneError, OrchestratorError
from orchestrator.core.targets import Routing
from orchestrator.ivr.directory import Directory
from orchestrator.queues.acd.agents import AgentBook
from orchestrator.queues.acd.events import QueueResult
from orchestrator.queues.acd.waiting import QueuedCall, QueueRuntime, position_prompt, wait_prompt

if TYPE_CHECKING:
    from orchestrator.core.engine import Engine

log = logging.getLogger("orchestrator.queues.acd")

_EXTENSION = re.compile(r"[0-9]{2,10}")
# Longest the owner waits for an ended offer to hang up its agents.
OFFER_CLEANUP_S = 10.0


class SessionHost(Protocol):
    """What a caller's owner needs of the ACD (:class:`~.service.AcdService` is one):
    the engine, the agents, and the bookkeeping of calls, legs, playbacks and events."""

    @property
    def engine(self) -> Engine: ...
    @property
    def directory(self) -> Directory: ...
    @property
    def agents(self) -> AgentBook: ...
    @property
    def clock(self) -> Callable[[], float]: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]: ...
    def event(self, type_: str, entry: QueuedCall, **fields: object) -> None: ...
    def kick_at(self, delay: float) -> None: ...
    def track(self, entry: QueuedCall, *, keep: bool = True) -> None: ...
    def track_leg(self, entry: QueuedCall, leg_id: str) -> None: ...
    def untrack(self, entry: QueuedCall) -> None: ...
    def leave(self, entry: QueuedCall) -> None: ...
    def keeping(self, entry: QueuedCall) -> bool: ...
    def keep_connected(self, entry: QueuedCall) -> None: ...
    def ordered(self, tenant_id: int, queue: str) -> list[QueuedCall]: ...
    def position(self, entry: QueuedCall) -> int: ...
    def last_agent_of(self, tenant_id: int, number: str) -> str: ...
    def track_playback(self, entry: QueuedCall, playback_id: str) -> None: ...
    def forget_playback(self, entry: QueuedCall) -> None: ...
    def agent_leg_gone(self, entry: QueuedCall) -> None: ...


async def _wait(entry: QueuedCall, until: float) -> None:
    """Sleep until the loop time ``until`` or the call is woken."""
    timeout = until - asyncio.get_running_loop().time()
    if timeout <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(entry.wake.wait(), None if math.isinf(timeout) else timeout)


def _dequeued(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, reason: str) -> None:
    acd.event(
        "dequeued",
        entry,
        reason=reason,
        wait_s=entry.wait_s(acd.clock()),
        sl_threshold_s=runtime.config.service_level_s,
        kind=entry.kind,
    )


def _refusal(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> str:
    """Why the caller cannot even join: ``max_len``, ``no_agents`` or ``""``."""
    config = runtime.config
    if config.max_len and len(acd.ordered(entry.tenant_id, entry.queue)) >= config.max_len:
        return "max_len"
    members = acd.agents.members(entry.tenant_id, entry.queue)
    if config.leave_when_empty and not any(a.reachable for a in members):
        return "no_agents"
    return ""


async def run_live(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> QueueResult:
    """Hold a live caller in the queue until it is answered, leaves or gives up."""
    config = runtime.config
    refusal = _refusal(acd, runtime, entry)
    if refusal:
        _dequeued(acd, runtime, entry, "overflow")
        return QueueResult(
            "overflow", entry.queue, entry.id, destination=config.overflow, reason=refusal
        )
    exclusive(acd, runtime, entry, 0.0)  # before any offer can be made
    acd.track(entry)
    return await _own(acd, runtime, entry, resumed=False)


def exclusive(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, waited: float) -> None:
    """With ``last_agent_s``, offer the caller only to its last agent for a while (what
    is left of the period after ``waited`` seconds in the queue)."""
    last = acd.last_agent_of(entry.tenant_id, entry.caller)
    remaining = runtime.config.last_agent_s - waited
    if last and remaining > 0:
        entry.last_agent = last
        entry.exclusive_until = asyncio.get_running_loop().time() + remaining
        acd.kick_at(remaining)


async def run_resumed(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> QueueResult:
    """Hold a caller taken back after a restart (already tracked), from where it was:
    ``max_wait_s`` and the last-agent period count from its original arrival."""
    return await _own(acd, runtime, entry, resumed=True)


async def _own(
    acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, *, resumed: bool
) -> QueueResult:
    config, engine = runtime.config, acd.engine
    leg = engine.leg(entry.leg_id)
    entry.caller_up = entry.caller_up or (leg is not None and leg.state is LegState.UP)
    entry.caller_gone = entry.caller_gone or (leg is not None and not leg.alive)
    waited = entry.wait_s(acd.clock()) if resumed else 0.0
    outcome, moh = "", False
    try:
        try:
            if not entry.caller_up and not entry.caller_gone:
                await engine.answer(entry.leg_id)
            await engine.hold(entry.leg_id, config.moh_class)
            moh = True
            again = {"reason": "resumed", "wait_s": waited} if resumed else {}
            acd.event(
                "queued",
                entry,
                position=acd.position(entry),
                priority=entry.priority,
                kind="live",
                **again,
            )
            outcome = await _hold(acd, runtime, entry, waited)
        except LegGoneError:
            entry.caller_gone, outcome = True, "abandoned"
        if entry.state == "connecting":
            return await _talk(acd, entry)
        return _left(acd, runtime, entry, outcome)
    finally:
        if acd.keeping(entry):
            acd.leave(entry)  # the service stops: the next run takes the caller back
        else:
            if entry.state == "waiting":
                entry.state = "left"  # cancelled: no agent may win it now
                _dequeued(acd, runtime, entry, "abandoned")
            await _cleanup(acd, entry, moh=moh and not entry.agent_leg)
            if outcome == "callback":
                _start_callback(acd, runtime, entry)


async def _hold(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, waited: float) -> str:
    """Wait for an agent; the reason the caller leaves otherwise (``""``: answered).

    ``waited``: seconds already spent in the queue (by a caller resumed after a restart).
    """
    config, engine = runtime.config, acd.engine
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start - waited + config.max_wait_s if config.max_wait_s else math.inf
    every = config.announce_every_s
    announcing = every and (config.announce_position or config.announce_wait)
    next_announce = start + every if announcing else math.inf
    while True:
        entry.wake.clear()
        if entry.state == "connecting":
            return ""
        if entry.caller_gone:
            return "abandoned"
        if entry.callback_requested:
            return "callback"
        if entry.playback_done:
            acd.forget_playback(entry)
            await engine.hold(entry.leg_id, config.moh_class)
            continue
        now = loop.time()
        if now >= deadline:
            return "timeout"
        if now >= next_announce:
            next_announce = now + every
            await _announce(acd, runtime, entry)
            continue
        await _wait(entry, min(deadline, next_announce))


async def _announce(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> None:
    config = runtime.config
    media: list[str] = []
    if config.announce_position:
        media += position_prompt(acd.position(entry))
    estimate = runtime.estimated_wait()
    if config.announce_wait and estimate is not None:
        media += wait_prompt(estimate)
    if not media or entry.playback_id:
        return
    playback_id = acd.engine.new_id()
    acd.track_playback(entry, playback_id)
    await acd.engine.unhold(entry.leg_id)
    await acd.engine.play(entry.leg_id, media, playback_id=playback_id)


def _left(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, outcome: str) -> QueueResult:
    """The caller leaves without an agent: ``abandoned``, ``timeout`` or ``callback``."""
    entry.state = "left"
    wait = entry.wait_s(acd.clock())
    _dequeued(acd, runtime, entry, outcome)
    return QueueResult(
        outcome,
        entry.queue,
        entry.id,
        wait_s=wait,
        destination=runtime.config.overflow if outcome == "timeout" else "",
        callback_number=entry.callback_number if outcome == "callback" else "",
        reason="max_wait" if outcome == "timeout" else "",
    )


async def _talk(acd: SessionHost, entry: QueuedCall) -> QueueResult:
    """An agent answered: connect them with the caller until either hangs up."""
    engine = acd.engine
    if entry.playback_id:
        with contextlib.suppress(OrchestratorError):
            await engine.stop_playback(entry.playback_id)
        acd.forget_playback(entry)
    with contextlib.suppress(OrchestratorError):
        await engine.unhold(entry.leg_id)
    await _connect(acd, entry)
    return await _talking(acd, entry)


async def _talking(acd: SessionHost, entry: QueuedCall) -> QueueResult:
    """Until the caller or the agent hangs up."""
    wait = max(0.0, entry.answered_at - entry.enqueued_at)
    agent_id = entry.agent.id if entry.agent else ""
    while not (entry.caller_gone or entry.agent_gone):
        entry.wake.clear()
        await entry.wake.wait()
    talk = (entry.talk_ended_at or acd.clock()) - entry.answered_at
    return QueueResult("answered", entry.queue, entry.id, wait, agent_id, max(0.0, talk))


async def run_adopted(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> QueueResult:
    """Own a call that was connected with its agent when the previous run ended (see
    :mod:`.places`): the talk goes on; then the usual cleanup, wrap-up and completion."""
    try:
        return await _talking(acd, entry)
    finally:
        if acd.keeping(entry):
            acd.leave(entry)  # the service stops again: the next run adopts it
        else:
            await _cleanup(acd, entry, moh=False)


async def _connect(acd: SessionHost, entry: QueuedCall) -> None:
    """The caller and the agent talk; a side gone is noted."""
    entry.connected = True
    try:
        await acd.engine.connect(entry.leg_id, entry.agent_leg)
    except LegGoneError as exc:
        if exc.details.get("leg_id") == entry.agent_leg:
            acd.agent_leg_gone(entry)
        else:
            entry.caller_gone = True
        return
    acd.keep_connected(entry)


async def _cleanup(acd: SessionHost, entry: QueuedCall, *, moh: bool) -> None:
    # Runs when the owner is cancelled too: every step is attempted whatever failed.
    engine = acd.engine
    offer = entry.offer
    acd.untrack(entry)  # wakes the offer, which hangs up the agents still ringing
    if offer is not None and offer.task is not None and offer.task is not asyncio.current_task():
        await asyncio.wait({offer.task}, timeout=OFFER_CLEANUP_S)
    if entry.playback_id:
        with contextlib.suppress(Exception):
            await engine.stop_playback(entry.playback_id)
        acd.forget_playback(entry)
    if moh and not entry.caller_gone:
        with contextlib.suppress(Exception):
            await engine.unhold(entry.leg_id)
    if entry.agent_leg and not entry.agent_gone:
        with contextlib.suppress(Exception):
            await engine.hangup(entry.agent_leg)
        acd.agent_leg_gone(entry)  # in case the engine said nothing (already gone)


# -- callbacks -------------------------------------------------------------------------
def _start_callback(acd: SessionHost, runtime: QueueRuntime, live: QueuedCall) -> None:
    """Keep the caller's place (arrival order and priority) as a callback entry."""
    entry = QueuedCall(
        id=live.id,
        tenant_id=live.tenant_id,
        queue=live.queue,
        caller=live.caller,
        priority=live.priority,
        seq=live.seq,
        enqueued_at=live.enqueued_at,
        kind="callback",
        skills=dict(live.skills),
        callback_number=live.callback_number or live.caller,
        callback_at=acd.clock(),
        last_agent=live.last_agent,
        exclusive_until=live.exclusive_until,
    )
    acd.spawn(run_callback(acd, runtime, entry), f"acd-callback-{entry.id}")


async def run_callback(
    acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall, *, resumed: bool = False
) -> None:
    """When an agent answers, call the customer back and connect them.

    The agent is called first, so a customer never picks up to silence; the agent
    hears ringback meanwhile. ``resumed``: a callback taken back after a restart
    (already tracked); it expires ``callback_expire_s`` after it was asked for.
    """
    config, engine = runtime.config, acd.engine
    loop = asyncio.get_running_loop()
    asked = acd.clock() - entry.callback_at if entry.callback_at else 0.0
    expire = loop.time() + config.callback_expire_s - asked
    again = {"reason": "resumed", "wait_s": entry.wait_s(acd.clock())} if resumed else {}
    if not resumed:
        acd.track(entry)
    acd.event(
        "queued",
        entry,
        position=acd.position(entry),
        priority=entry.priority,
        kind="callback",
        **again,
    )
    result, reported = "", False
    try:
        while entry.state == "waiting":
            entry.wake.clear()
            if loop.time() >= expire:
                entry.state, result = "left", "timeout"
                break
            await _wait(entry, expire)
        if entry.state == "connecting":
            result = await _call_back(acd, runtime, entry)
        if result == "connected":
            _callback_result(acd, entry, result)
            reported = True
            while not (entry.caller_gone or entry.agent_gone):
                entry.wake.clear()
                await entry.wake.wait()
    finally:
        if acd.keeping(entry):
            acd.leave(entry)  # the service stops: the next run calls back
        else:
            if entry.state == "waiting":
                entry.state = "left"
            await _cleanup(acd, entry, moh=False)
            if entry.leg_id and not entry.caller_gone:
                with contextlib.suppress(Exception):
                    await engine.hangup(entry.leg_id)
            if not reported:
                _callback_result(acd, entry, result or "cancelled")


def _callback_result(acd: SessionHost, entry: QueuedCall, reason: str) -> None:
    acd.event(
        "callback_result",
        entry,
        agent_id=entry.agent.id if entry.agent else "",
        reason=reason,
        wait_s=(entry.answered_at or acd.clock()) - entry.enqueued_at,
        kind="callback",
    )


async def _call_back(acd: SessionHost, runtime: QueueRuntime, entry: QueuedCall) -> str:
    config, engine = runtime.config, acd.engine
    loop = asyncio.get_running_loop()
    number = entry.callback_number
    kind = "extension" if _EXTENSION.fullmatch(number) else "number"
    ringback = engine.new_id()
    with contextlib.suppress(OrchestratorError):
        await engine.play(entry.agent_leg, "tone:ring", playback_id=ringback)
    try:
        target = await acd.directory.resolve(str(entry.tenant_id), f"{kind}:{number}")
        leg_id = engine.new_id()
        acd.track_leg(entry, leg_id)
        await engine.originate(
            target.dial,
            leg_id=leg_id,
            timeout=math.ceil(config.ring_timeout_s) + 1,
            routing=Routing("acd", {"call": entry.id}),
        )
    except OrchestratorError as exc:
        log.warning("callback %s to %s: %s", entry.id, number, exc)
        return "failed"
    deadline = loop.time() + config.ring_timeout_s
    while not (entry.caller_up or entry.caller_gone or entry.agent_gone):
        if loop.time() >= deadline:
            break
        entry.wake.clear()
        await _wait(entry, deadline)
    if entry.agent_gone:
        return "agent_gone"
    if not entry.caller_up:
        return "no_answer"
    with contextlib.suppress(OrchestratorError):
        await engine.stop_playback(ringback)
    await _connect(acd, entry)
    return "connected"
