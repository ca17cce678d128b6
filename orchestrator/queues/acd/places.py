"""Waiting callers kept across a restart of the orchestrator, and the last-agent memory.

The ACD lives in the orchestrator's memory but its callers live in the engine: when the
orchestrator stops (or dies) and starts again, a caller waiting in a queue is still
there, under the orchestrator's control, hearing music on hold (checked on Asterisk 22; only
the events of the gap, a key pressed or a hangup, are lost). So the ACD tells a
:class:`PlaceKeeper` (the store, in the service) where every waiting caller stands:

- :meth:`PlaceKeeper.keep` when a caller starts waiting (or becomes a callback), with
  what it takes to give it the same place again (a :class:`Place`);
- :meth:`PlaceKeeper.release` when it stops waiting (answered, gone, timed out...);
- :meth:`PlaceKeeper.remember_agent` when an agent answers a caller's number.

With a keeper, the waiting callers' legs are kept (``Engine.keep``) and a stop leaves
them as they are (no ``dequeued``, music on). The next run gives :func:`restore` the
stored places before the engine starts: the entries are back in the waiting list at
once, in their order and before any new caller, but get no offer yet. When the engine
is connected (its start-up sweep has taken the kept legs back), :func:`adopt` settles
each one: a caller whose leg is alive waits on from where it was (same call id,
arrival time and priority, music restarted, ``max_wait_s`` and the last-agent period
counted from the original arrival; a ``queued`` event with ``reason`` ``resumed`` and
the ``wait_s`` so far); a caller whose leg is gone is closed as ``abandoned`` (they
left unserved while nobody watched); a callback waits on as a callback.

A caller already talking to an agent is kept too, as *connected*: once the caller and
the agent are connected (``Engine.connect``), the place is written again with the agent,
the agent's leg and the answer time, and both legs are kept (``Engine.keep``: the engine's
sweep spares them and their connection). The next run does not hand the call out again:
:func:`adopt` re-owns it (:func:`session.run_adopted`): the agent is on that call again
(not counted as a new answer), and when either side hangs up the other is hung up, the
agent wraps up and ``completed`` goes out, as if no restart had happened. If a side
ended while nobody watched, that happens at once.

Nobody's IVR flow is waiting for a resumed caller's result any more: the ACD hands it
to :attr:`AcdService.resumed_flow` (the call center carries out what the builtin
``queue`` flow would: overflow destination, "thank you" after a callback, hang up) or,
without one, hangs the caller up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from orchestrator.core.errors import OrchestratorError
from orchestrator.queues.acd import session
from orchestrator.queues.acd.config import skills
from orchestrator.queues.acd.events import QueueResult
from orchestrator.queues.acd.waiting import QueuedCall, QueueRuntime

if TYPE_CHECKING:
    from orchestrator.queues.acd.agents import Agent

log = logging.getLogger("orchestrator.queues.acd")

KINDS = ("live", "callback")


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """Where a waiting caller stands, as stored: enough to give it the same place again.

    ``enqueued_at`` and ``callback_at`` are Unix times (wall clock); ``seq`` orders
    callers who arrived in the same instant.
    """

    call_id: str
    tenant_id: int
    queue: str
    enqueued_at: float
    kind: str = "live"
    leg_id: str = ""
    caller: str = ""
    callback_number: str = ""
    priority: int = 0
    seq: int = 0
    callback_at: float = 0.0
    skills: Mapping[str, int] = field(default_factory=dict)
    # A live caller already talking to an agent (see "connected" in the module doc):
    # the agent, its leg, and when the agent answered (Unix time).
    agent_id: str = ""
    agent_leg: str = ""
    answered_at: float = 0.0

    @property
    def connected(self) -> bool:
        return bool(self.agent_leg)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"place kind must be one of {KINDS}, not {self.kind!r}")
        object.__setattr__(self, "skills", skills(self.skills))

    @classmethod
    def of(cls, entry: QueuedCall) -> Place:
        connected = entry.kind == "live" and entry.state == "connecting" and entry.connected
        return cls(
            call_id=entry.id,
            tenant_id=entry.tenant_id,
            queue=entry.queue,
            enqueued_at=entry.enqueued_at,
            kind=entry.kind,
            leg_id=entry.leg_id if entry.kind == "live" else "",
            caller=entry.caller,
            callback_number=entry.callback_number,
            priority=entry.priority,
            seq=entry.seq,
            callback_at=entry.callback_at,
            skills=dict(entry.skills),
            # Kept as connected once the caller is connected with its agent.
            agent_id=(entry.agent.id if entry.agent else "") if connected else "",
            agent_leg=entry.agent_leg if connected else "",
            answered_at=entry.answered_at if connected else 0.0,
        )


class PlaceKeeper(Protocol):
    """Keeps the places of waiting callers and the last agents (the service: the store).

    Called synchronously from the ACD's decisions: it must not block (queue the write).
    """

    def keep(self, place: Place) -> None: ...

    def release(self, call_id: str) -> None: ...

    def remember_agent(self, tenant_id: int, number: str, agent_id: str, at: float) -> None: ...


# What carries on with a resumed caller once its time in the queue is over (its flow is
# gone): the place it had and the queue's result.
ResumedFlow = Callable[[Place, QueueResult], Awaitable[None]]


class PlaceHost(session.SessionHost, Protocol):
    """What a restart needs of the ACD (:class:`~.service.AcdService` is one): a caller
    owner's needs, the place keeper, and the calls and legs to take back."""

    @property
    def calls(self) -> Mapping[str, QueuedCall]: ...
    @property
    def following(self) -> bool: ...
    @property
    def places(self) -> PlaceKeeper | None: ...
    @property
    def resumed_flow(self) -> ResumedFlow | None: ...
    @property
    def adopted(self) -> list[Callable[[QueuedCall], None]]: ...
    @property
    def connected(self) -> set[str]: ...
    @property
    def pending(self) -> list[tuple[QueuedCall, QueueRuntime]]: ...
    @property
    def dequeued_before(self) -> set[str]: ...

    def kick(self) -> None: ...
    def next_seq(self) -> int: ...
    def queue(self, tenant_id: int, name: str) -> QueueRuntime: ...
    def owns_leg(self, leg_id: str) -> bool: ...
    def track_agent_leg(self, entry: QueuedCall, agent: Agent, leg_id: str) -> None: ...
    def note_last_agent(
        self, tenant_id: int, number: str, agent_id: str, *, keep: bool
    ) -> None: ...


def restore(acd: PlaceHost, places: Iterable[Place]) -> list[Place]:
    """Put the places back in the waiting lists (no offers yet); returns those refused.

    A place whose queue is unknown (deleted or disabled meanwhile) is refused: the
    caller is closed with ``dequeued`` reason ``restart`` and its place released (its
    leg is not kept, so the engine's start-up sweep hangs it up).
    """
    refused: list[Place] = []
    for place in sorted(places, key=lambda p: (p.enqueued_at, p.seq)):
        entry = QueuedCall(
            id=place.call_id,
            tenant_id=place.tenant_id,
            queue=place.queue,
            caller=place.caller,
            priority=place.priority,
            seq=acd.next_seq(),  # before anyone arriving in this run
            enqueued_at=place.enqueued_at,
            kind=place.kind,
            leg_id=place.leg_id,
            skills=dict(place.skills),
            callback_number=place.callback_number,
            callback_at=place.callback_at,
            not_before=math.inf,  # until adopted
        )
        try:
            runtime = acd.queue(place.tenant_id, place.queue)
        except OrchestratorError:
            refused.append(place)
            wait = entry.wait_s(acd.clock())
            if place.kind == "callback":
                acd.event(
                    "callback_result", entry, reason="cancelled", wait_s=wait, kind="callback"
                )
            elif not place.connected:  # (a connected call's dequeued went out already)
                acd.event("dequeued", entry, reason="restart", wait_s=wait, kind="live")
            if acd.places is not None:
                acd.places.release(place.call_id)
            continue
        if place.call_id in acd.calls or (place.leg_id and acd.owns_leg(place.leg_id)):
            continue  # already here (restored twice)
        if entry.kind == "live" and entry.leg_id:
            acd.engine.keep([entry.leg_id])  # the engine's start-up sweep spares it
        if place.connected:
            _reconnect(acd, entry, place)
        acd.track(entry, keep=False)
        acd.pending.append((entry, runtime))
    if acd.pending and acd.following and acd.engine.status().connected:
        adopt(acd)
    return refused


def _reconnect(acd: PlaceHost, entry: QueuedCall, place: Place) -> None:
    """A connected place: the call is with its agent, not waiting (see the module doc)."""
    entry.state, entry.answered_at = "connecting", place.answered_at
    entry.agent_leg, entry.connected = place.agent_leg, True
    try:
        entry.agent = acd.agents.get(place.tenant_id, place.agent_id)
    except OrchestratorError:
        entry.agent = None  # removed meanwhile: the call is kept, nobody wraps up
    acd.engine.keep([place.agent_leg])
    acd.connected.add(place.leg_id)  # kept by a stop again, until it ends
    if entry.agent is not None:
        acd.track_agent_leg(entry, entry.agent, place.agent_leg)


def remember_last_agents(acd: PlaceHost, rows: Iterable[tuple[int, str, str]]) -> None:
    """Fill the last-agent memory with stored ``(tenant, number, agent)``, oldest first."""
    for tenant_id, number, agent_id in rows:
        acd.note_last_agent(tenant_id, number, agent_id, keep=False)


def adopt(acd: PlaceHost) -> None:
    """The engine is connected: each restored caller waits on, or is closed if gone."""
    pending, acd.pending[:] = list(acd.pending), []
    for entry, runtime in pending:
        session.exclusive(acd, runtime, entry, entry.wait_s(acd.clock()))
        if entry.kind == "callback":
            entry.not_before = 0.0
            acd.spawn(
                session.run_callback(acd, runtime, entry, resumed=True),
                f"acd-callback-{entry.id}",
            )
            continue
        if entry.agent_leg:
            _adopt_connected(acd, runtime, entry)
            continue
        leg = acd.engine.leg(entry.leg_id)
        if leg is None or not leg.alive or entry.caller_gone:
            entry.state = "left"
            acd.event(
                "dequeued",
                entry,
                reason="abandoned",
                wait_s=entry.wait_s(acd.clock()),
                sl_threshold_s=runtime.config.service_level_s,
                kind="live",
            )
            acd.untrack(entry)
            continue
        entry.not_before = 0.0
        acd.spawn(_resume(acd, runtime, entry), f"acd-resumed-{entry.id}")
    acd.kick()


def _adopt_connected(acd: PlaceHost, runtime: QueueRuntime, entry: QueuedCall) -> None:
    """A call connected with its agent before the restart: owned again, not offered again."""
    engine = acd.engine
    caller, agent_leg = engine.leg(entry.leg_id), engine.leg(entry.agent_leg)
    entry.not_before = 0.0
    entry.caller_gone = entry.caller_gone or caller is None or not caller.alive
    if entry.kind == "live" and entry.id not in acd.dequeued_before:
        # A crash lost the answer with the event log's last batch (written every
        # half second): count it now, as it was, so the figures stay right.
        wait = max(0.0, entry.answered_at - entry.enqueued_at)
        acd.event(
            "dequeued",
            entry,
            agent_id=entry.agent.id if entry.agent is not None else "",
            reason="answered",
            wait_s=wait,
            sl_threshold_s=runtime.config.service_level_s,
            kind=entry.kind,
        )
    if entry.agent is not None:
        acd.agents.resume_call(entry.agent, entry.id, entry.queue)
        if agent_leg is None or not agent_leg.alive:
            acd.agent_leg_gone(entry)  # wrap-up and completed, as after a hang-up
    else:
        entry.agent_gone = True
    if not (entry.caller_gone or entry.agent_gone):
        for listener in list(acd.adopted):
            try:
                listener(entry)
            except Exception:
                log.exception("adopted-call listener %r failed on %s", listener, entry.id)
    acd.spawn(_resume(acd, runtime, entry), f"acd-adopted-{entry.id}")


async def _resume(acd: PlaceHost, runtime: QueueRuntime, entry: QueuedCall) -> None:
    """Own a resumed caller: hold it in the queue (or re-own its call with an agent),
    then carry on in place of its flow."""
    place = Place.of(entry)
    owner = session.run_adopted if entry.agent_leg else session.run_resumed
    try:
        result = await owner(acd, runtime, entry)
    except asyncio.CancelledError:
        # The service stops: a caller still waiting is kept for the next run; one who was
        # talking to an agent is cut, as a flow's caller is when its flow is cancelled.
        if not acd.engine.is_kept(entry.leg_id) and not entry.caller_gone:
            with contextlib.suppress(OrchestratorError):
                await acd.engine.hangup(entry.leg_id)
        raise
    try:
        if acd.resumed_flow is not None:
            await acd.resumed_flow(place, result)
        elif result.outcome != "abandoned":
            await acd.engine.hangup(entry.leg_id)
    except OrchestratorError as exc:
        log.warning("resumed caller %s after %s: %s", entry.id, result.outcome, exc)
