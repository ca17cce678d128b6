"""Supervisors listen to, whisper to and barge in on an agent's call.

A supervision session calls the supervisor's phone; when it answers, the engine makes
the supervisor's leg supervise the agent's channel
(:meth:`Engine.supervise <orchestrator.core.engine.Engine.supervise>`, modes of
:class:`~orchestrator.core.engine.SupervisionMode`):

=========  ===============================  ==================================
mode       :class:`SupervisionMode` member  who hears the supervisor
=========  ===============================  ==================================
listen     ``LISTEN``                       nobody
whisper    ``WHISPER``                      the agent only (coaching)
barge      ``BARGE``                        the agent and the other party
=========  ===============================  ==================================

The supervisor always hears both sides. Switching the mode calls ``supervise`` again:
the supervisor stays on the line. A session ends when the supervisor hangs up, the
agent's call ends, it is stopped (``DELETE``), the supervisor does not answer, or the
service stops; nothing it made outlives it: it hangs up the supervisor's leg, and the
engine's supervision ends with that leg.

The agent's call is the newest answered channel of the agent's SIP endpoint, as the
engine's observation reports it (:class:`~orchestrator.cti.channels.ChannelWatch`), so
any call can be supervised: a queue call, a click-to-call, a phone-to-phone call.
``call_id`` is the CTI registry's call for that channel or its peers, else the
engine's call id.

CTI events on the tenant's stream (``call`` is a record of kind ``supervision`` listing
only the supervisor's extension: a client watching the agent's extension does not
learn that it is listened to): ``supervision_started`` (the supervisor's phone rings),
``supervision_changed`` (answered, or the mode switched), ``supervision_ended``
(``reason``). ``details`` is the session's snapshot.

Example::

    supervision = SupervisionService(engine, cti.stream, endpoint_of, calls=cti.calls)
    supervision.start()
    session = await supervision.begin(1, supervisor="150", agent="101", mode="listen",
                                      scope=None)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.call import LegState, can_transition
from orchestrator.core.engine import Engine, SupervisionMode
from orchestrator.core.errors import (
    ConflictError,
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.events import (
    ChannelEvent,
    Event,
    LegCreated,
    LegEvent,
    LegHungUp,
    LegStateChanged,
)
from orchestrator.core.targets import Routing, SipUser
from orchestrator.cti.channels import ChannelWatch
from orchestrator.cti.registry import CallRegistry
from orchestrator.cti.stream import EventStream

log = logging.getLogger("orchestrator.cti.supervise")

# (tenant id, extension) -> the extension's SIP endpoint id, None if there is none.
ExtensionEndpoint = Callable[[int, str], Awaitable[str | None]]

EXTENSION = re.compile(r"[0-9]{2,10}")
RING_S = 30.0
MAX_SESSION_S = 4 * 3600.0
# Margin on top of the ring time for the engine to report the outcome.
ENGINE_MARGIN_S = 10.0
SUPERVISE_ARG = "supervise"


class Mode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


# Each mode as the engine's.
MODES: dict[Mode, SupervisionMode] = {
    Mode.LISTEN: SupervisionMode.LISTEN,
    Mode.WHISPER: SupervisionMode.WHISPER,
    Mode.BARGE: SupervisionMode.BARGE,
}


class SessionState(enum.StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class AgentNotOnCallError(NotFoundError):
    """The agent's phone has no answered call to supervise (404)."""

    error_id = "agent-not-on-call"


class SupervisorBusyError(ConflictError):
    """The supervisor is in another session, or their phone is on a call (409)."""

    error_id = "supervisor-busy"


@dataclass(slots=True, eq=False)
class SupervisionSession:
    """One supervisor on one agent's call; ``snapshot()`` is what clients see."""

    id: str
    tenant_id: int
    supervisor: str
    agent: str
    mode: Mode
    agent_channel: str
    call_id: str
    supervisor_leg: str
    state: SessionState = SessionState.RINGING
    # The supervisor's leg as its leg events report it.
    supervisor_state: LegState = LegState.DOWN
    started_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None
    # Set by stop requests; the driver reads it and ends the session with this reason.
    stop_reason: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "supervisor": self.supervisor,
            "agent": self.agent,
            "mode": str(self.mode),
            "state": str(self.state),
            "call_id": self.call_id,
            "agent_channel": self.agent_channel,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "reason": self.reason,
        }

    def changed(self) -> None:
        self._changed.set()

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` (checked after each change); False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while not ready():
                    self._changed.clear()  # no await since the check: nothing slips by
                    await self._changed.wait()
        except TimeoutError:
            return ready()
        return True


class SupervisionService:
    """Supervision sessions of every tenant (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        stream: EventStream,
        endpoint_of: ExtensionEndpoint,
        *,
        calls: CallRegistry | None = None,
        ring_s: float = RING_S,
        max_s: float = MAX_SESSION_S,
    ) -> None:
        self.engine = engine
        self.stream = stream
        self.endpoint_of = endpoint_of
        self.calls = calls
        self.ring_s = ring_s
        self.max_s = max_s
        self.channels = ChannelWatch()
        self._sessions: dict[str, SupervisionSession] = {}
        # Leg and channel ids whose events wake sessions (their legs, the agent's channel).
        self._watched: dict[str, list[SupervisionSession]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Follow the engine (before it starts: every channel must be seen)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        """End every session (reason ``shutdown``) and stop following the engine."""
        sessions = list(self._sessions.values())
        for session in sessions:
            self._request_stop(session, "shutdown")
        for session in sessions:
            if session.task is not None:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(session.task), ENGINE_MARGIN_S)
                session.task.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- queries ---------------------------------------------------------------------
    def list(self, *, scope: int | None, tenant_id: int | None = None) -> list[dict[str, Any]]:
        """Snapshots of the live sessions the caller may see, oldest first."""
        if scope is not None:
            if tenant_id is not None and tenant_id != scope:
                raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
            tenant_id = scope
        return [
            s.snapshot()
            for s in self._sessions.values()
            if tenant_id is None or s.tenant_id == tenant_id
        ]

    def get(self, session_id: str, *, scope: int | None) -> dict[str, Any]:
        return self._get(session_id, scope).snapshot()

    def _get(self, session_id: str, scope: int | None) -> SupervisionSession:
        session = self._sessions.get(session_id)
        if session is None or (scope is not None and session.tenant_id != scope):
            raise NotFoundError(f"no supervision session {session_id}", session_id=session_id)
        return session

    # -- commands ----------------------------------------------------------------------
    async def begin(
        self, tenant_id: int, *, supervisor: str, agent: str, mode: str, scope: int | None
    ) -> dict[str, Any]:
        """Call the supervisor's phone to supervise the agent's current call."""
        if scope is not None and scope != tenant_id:
            raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
        chosen = _mode(mode)
        for what, number in (("supervisor", supervisor), ("agent", agent)):
            if EXTENSION.fullmatch(number) is None:
                raise ValidationError(f"invalid {what} extension {number!r}", field=what)
        if supervisor == agent:
            raise ValidationError("an agent cannot supervise their own call", field="agent")
        supervisor_endpoint = await self._endpoint(tenant_id, supervisor, "supervisor")
        agent_endpoint = await self._endpoint(tenant_id, agent, "agent")
        dial = SipUser(supervisor_endpoint)
        # From here to the registration, no await: two requests cannot both pass.
        if any(
            s.tenant_id == tenant_id and s.supervisor == supervisor for s in self._sessions.values()
        ):
            raise SupervisorBusyError(
                f"supervisor {supervisor} is already supervising", supervisor=supervisor
            )
        if self.channels.answered(supervisor_endpoint):
            raise SupervisorBusyError(
                f"supervisor {supervisor}'s phone is on a call", supervisor=supervisor
            )
        own = {s.supervisor_leg for s in self._sessions.values()}
        channel = next((c for c in self.channels.answered(agent_endpoint) if c.id not in own), None)
        if channel is None:
            raise AgentNotOnCallError(f"agent {agent} is not on a call", agent=agent)
        session = SupervisionSession(
            id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            supervisor=supervisor,
            agent=agent,
            mode=chosen,
            agent_channel=channel.id,
            call_id=self._call_of(channel.id) or channel.call_id or channel.id,
            supervisor_leg=self.engine.new_id(),
        )
        self._sessions[session.id] = session
        self._watch(session, session.agent_channel, session.supervisor_leg)
        try:
            await self.engine.originate(
                dial,
                leg_id=session.supervisor_leg,
                caller_id=agent,
                timeout=self.ring_s,
                routing=Routing(SUPERVISE_ARG, {"session": session.id}),
            )
        except BaseException:
            self._forget(session)
            raise
        self._publish(session, "supervision_started")
        session.task = asyncio.create_task(self._drive(session), name=f"supervise-{session.id}")
        return session.snapshot()

    async def change(self, session_id: str, mode: str, *, scope: int | None) -> dict[str, Any]:
        """Switch the session's mode; the supervisor stays on the line."""
        session = self._get(session_id, scope)
        chosen = _mode(mode)
        async with session.lock:
            if session.state is SessionState.ENDED or session.stop_reason is not None:
                raise NotFoundError(f"no supervision session {session_id}", session_id=session_id)
            if chosen is session.mode:
                return session.snapshot()
            previous = session.mode
            if session.state is SessionState.ACTIVE:
                await self._attach(session, chosen)
            session.mode = chosen
        self._publish(session, "supervision_changed", previous_mode=str(previous))
        return session.snapshot()

    async def end(self, session_id: str, *, scope: int | None) -> dict[str, Any]:
        """Stop the session: the supervisor's phone is hung up. Returns the final snapshot."""
        session = self._get(session_id, scope)
        self._request_stop(session, "stopped")
        if session.task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.task), ENGINE_MARGIN_S)
        return session.snapshot()

    # -- the session's life ----------------------------------------------------------------
    async def _drive(self, session: SupervisionSession) -> None:
        reason = "failed"
        try:
            await session.wait_until(
                lambda: self._ringing_over(session) is not None, self.ring_s + ENGINE_MARGIN_S
            )
            reason = self._ringing_over(session) or "no_answer"
            if reason != "answered":
                return
            async with session.lock:
                if session.stop_reason is not None:
                    reason = session.stop_reason
                    return
                await self._attach(session, session.mode)
                session.state, session.answered_at = SessionState.ACTIVE, time.time()
            self._publish(session, "supervision_changed")
            await session.wait_until(lambda: self._over(session) is not None, self.max_s)
            reason = self._over(session) or "max_duration"
        except AgentNotOnCallError:
            reason = "call_ended"  # it ended while the supervision was being set up
        except OrchestratorError as exc:
            log.warning("supervision %s: %s", session.id, exc)
            reason = "failed"
        except asyncio.CancelledError:
            reason = "shutdown"
            raise
        finally:
            await self._finish(session, reason)

    def _ringing_over(self, session: SupervisionSession) -> str | None:
        """Why the ringing phase is over (``answered`` or an end reason), None if it is not."""
        if session.stop_reason is not None:
            return session.stop_reason
        if session.agent_channel not in self.channels:
            return "call_ended"
        state = session.supervisor_state
        if state is LegState.UP:
            return "answered"
        return "no_answer" if state is LegState.HUNG_UP else None

    def _over(self, session: SupervisionSession) -> str | None:
        """Why an active session is over, None while it goes on."""
        if session.stop_reason is not None:
            return session.stop_reason
        if session.supervisor_state is LegState.HUNG_UP:
            return "supervisor_hung_up"
        if session.agent_channel not in self.channels:
            return "call_ended"
        return None

    async def _attach(self, session: SupervisionSession, mode: Mode) -> None:
        """The supervisor's leg supervises the agent's channel in ``mode`` (first or switch)."""
        try:
            await self.engine.supervise(session.agent_channel, session.supervisor_leg, MODES[mode])
        except LegGoneError:
            if session.supervisor_state is LegState.HUNG_UP:
                raise
            raise AgentNotOnCallError(
                f"agent {session.agent}'s call ended", agent=session.agent
            ) from None

    async def _finish(self, session: SupervisionSession, reason: str) -> None:
        # Runs when the driver is cancelled too: nothing the session made may outlive it.
        async with session.lock:
            session.state, session.reason = SessionState.ENDED, reason
            session.ended_at = time.time()
            # The engine's supervision ends with the supervisor's leg.
            await self._hangup(session)
        self._forget(session)
        self._publish(session, "supervision_ended", reason=reason)

    async def _hangup(self, session: SupervisionSession) -> None:
        if session.supervisor_state is LegState.HUNG_UP:
            return
        try:
            await self.engine.hangup(session.supervisor_leg)
        except OrchestratorError as exc:
            log.debug("supervision leg %s: %s", session.supervisor_leg, exc)

    # -- helpers ---------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, ChannelEvent):
            self.channels.on_event(event)
            sessions = self._watched.get(event.channel_id, ())
        elif isinstance(event, LegEvent):
            sessions = self._watched.get(event.leg_id, ())
            state = _leg_state(event)
            if state is not None:
                for session in sessions:
                    if session.supervisor_leg == event.leg_id and can_transition(
                        session.supervisor_state, state
                    ):
                        session.supervisor_state = state
        else:
            return
        for session in sessions:
            session.changed()

    def _watch(self, session: SupervisionSession, *ids: str) -> None:
        for one in ids:
            self._watched.setdefault(one, []).append(session)

    def _unwatch(self, session: SupervisionSession, *ids: str) -> None:
        for one in ids:
            watchers = self._watched.get(one, [])
            if session in watchers:
                watchers.remove(session)
            if not watchers:
                self._watched.pop(one, None)

    def _forget(self, session: SupervisionSession) -> None:
        self._sessions.pop(session.id, None)
        self._unwatch(session, session.agent_channel, session.supervisor_leg)

    def _request_stop(self, session: SupervisionSession, reason: str) -> None:
        if session.stop_reason is None:
            session.stop_reason = reason
        session.changed()

    async def _endpoint(self, tenant_id: int, extension: str, what: str) -> str:
        endpoint = await self.endpoint_of(tenant_id, extension)
        if not endpoint:
            raise NotFoundError(
                f"no extension {extension} in tenant {tenant_id}", field=what, extension=extension
            )
        return endpoint

    def _call_of(self, channel_id: str) -> str | None:
        """The CTI registry's call of the channel or of a channel it talks with."""
        if self.calls is None:
            return None
        for one in [channel_id, *(c.id for c in self.channels.peers(channel_id))]:
            call = self.calls.call_of_leg(one)
            if call is not None:
                return call.id
        return None

    def _publish(self, session: SupervisionSession, event: str, **extra: Any) -> None:
        record = {
            "id": session.call_id,
            "tenant_id": session.tenant_id,
            "kind": "supervision",
            "access_number": None,
            "extension": session.supervisor,
            "extensions": [session.supervisor],
        }
        self.stream.publish(event, session.tenant_id, record, {**session.snapshot(), **extra})


def _leg_state(event: LegEvent) -> LegState | None:
    """The leg's state an event reports, None for events that say nothing of it."""
    if isinstance(event, LegHungUp):
        return LegState.HUNG_UP
    if isinstance(event, LegCreated | LegStateChanged):
        try:
            return LegState(event.state)
        except ValueError:
            return None
    return None


def _mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise ValidationError(
            f"unknown supervision mode {value!r}", field="mode", allowed=[str(m) for m in Mode]
        ) from None
