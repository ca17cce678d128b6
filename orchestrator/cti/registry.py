"""The calls the orchestrator controls, per tenant, as CTI clients see them.

The registry follows two sources and turns them into CTI events on the
:class:`~orchestrator.cti.stream.EventStream`:

- the engine's events (legs answering, DTMF, far-end hold, hang-ups) for every leg
  of a call it knows;
- the IVR runner's observers (``started``, ``dial``, ``transferred``, ``held``...),
  which say what a flow, or a CTI command through the flow's call, did.

A call's id is its first leg's id (the caller's leg for an incoming call, leg A of a
click-to-call). Its last event is ``hung_up`` or ``transferred`` (a blind one; after an
attended transfer the call goes on); then it leaves the registry. Calls switched by the
engine's own dialplan alone (phone to phone) are listed as kind ``dialplan`` when the
registry has an endpoint lookup (``endpoints``): see :mod:`orchestrator.cti.observed`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import LegState
from orchestrator.core.engine import TAKEN, Engine
from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegDtmf,
    LegEvent,
    LegHeld,
    LegHungUp,
    LegStateChanged,
    LegUnheld,
)
from orchestrator.cti.stream import EventStream
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.directory import parse
from orchestrator.ivr.runner import IvrRunner

if TYPE_CHECKING:
    from orchestrator.cti.observed import EndpointLookup

log = logging.getLogger("orchestrator.cti")

# The flow key of IVR applications driven by a CTI client (see orchestrator.cti.remote).
REMOTE_APP = "remote"


class CallKind(enum.StrEnum):
    IVR = "ivr"  # an incoming call a Python flow runs
    REMOTE = "remote"  # an incoming call a CTI client drives (the "remote" app)
    CLICK_TO_CALL = "click_to_call"
    ORIGINATE = "originate"  # click-to-call whose leg A is an extension
    DIALPLAN = "dialplan"  # phones calling each other in the engine's dialplan (observed)


# The roles of a taken dialplan call's legs that play a click-to-call's A and B.
TAKEN_ROLES = {"a": "caller", "b": "dialed"}


class CallState(enum.StrEnum):
    NEW = "new"
    RINGING = "ringing"
    ANSWERED = "answered"
    HELD = "held"
    TRANSFERRED = "transferred"
    HUNG_UP = "hung_up"


@dataclass(slots=True)
class CallLeg:
    """One leg of a call: ``caller`` (incoming), ``dialed`` (by a flow), ``a``/``b``."""

    id: str
    role: str
    number: str = ""
    state: LegState = LegState.RINGING
    answered_at: float | None = None
    cause: int | None = None
    transferred: bool = False

    @property
    def up(self) -> bool:
        return self.state is LegState.UP

    @property
    def gone(self) -> bool:
        return self.state is LegState.HUNG_UP or self.transferred

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "number": self.number,
            "state": str(self.state),
            "answered_at": self.answered_at,
        }


@dataclass(slots=True, eq=False)
class ActiveCall:
    """A call in the registry. ``snapshot()`` is what clients see of it."""

    id: str
    tenant_id: int
    kind: CallKind
    caller: str = ""
    called: str = ""
    access_number: str | None = None
    extensions: list[str] = field(default_factory=list)
    state: CallState = CallState.NEW
    app: str | None = None
    account: str | None = None
    fallback: str = "hangup"
    started_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    legs: dict[str, CallLeg] = field(default_factory=dict)
    ivr: IvrCall | None = None
    # Who drives a remote-app call (set by orchestrator.cti.remote); None otherwise.
    control: Any = None
    # The attended transfer in progress (orchestrator.cti.attended.Consultation), if any.
    transfer: Any = None
    # Loop time when a prepaid paid leg's money runs out (the driver then ends the call).
    paid_until: float = math.inf
    # A dialplan call whose channels Engine.take put under control (legs of ours now):
    # CTI commands then act on it as on a click-to-call (caller as A, dialed as B).
    taken: bool = False
    ended: bool = False
    _changed: asyncio.Event | None = None

    @property
    def remote(self) -> bool:
        return self.kind is CallKind.REMOTE

    def leg(self, role: str) -> CallLeg | None:
        found = next((leg for leg in self.legs.values() if leg.role == role), None)
        if found is None and self.taken and role in TAKEN_ROLES:
            # A taken dialplan call: its caller plays A, the phone it dialed B.
            found = next((leg for leg in self.legs.values() if leg.role == TAKEN_ROLES[role]), None)
        return found

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "kind": str(self.kind),
            "state": str(self.state),
            "caller": self.caller,
            "called": self.called,
            "access_number": self.access_number,
            "extension": self.extensions[0] if self.extensions else None,
            "extensions": list(self.extensions),
            "app": self.app,
            "account": self.account,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "legs": [leg.to_dict() for leg in self.legs.values()],
            "transfer": self.transfer.to_dict() if self.transfer is not None else None,
        }

    # -- waiting for the call to change (click-to-call drivers, remote flows) --------
    def changed(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``ready()`` is true (checked after each change); False on timeout."""
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                while not ready():
                    # No await between the check and clear(): no change can slip by.
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return ready()
        return True


class CallRegistry:
    """Active calls by id and by leg, fed by the engine and the IVR runner."""

    def __init__(
        self,
        engine: Engine,
        stream: EventStream | None = None,
        endpoints: EndpointLookup | None = None,
    ) -> None:
        self.engine = engine
        self.stream = stream or EventStream()
        # Endpoint -> (tenant, extension): with it, dialplan-only calls are listed too.
        self.endpoints = endpoints
        self._calls: dict[str, ActiveCall] = {}
        self._by_leg: dict[str, ActiveCall] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._unobserve: Callable[[], None] | None = None
        self._runner: IvrRunner | None = None

    def start(self, runner: IvrRunner | None = None) -> None:
        """Follow the engine's events and, if given, the runner's flows."""
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)
        if self.endpoints is not None and self._unobserve is None:
            from orchestrator.cti.observed import DialplanCalls

            self._unobserve = self.engine.subscribe(DialplanCalls(self, self.endpoints).on_event)
        if runner is not None and self._on_ivr not in runner.observers:
            runner.observers.append(self._on_ivr)
            self._runner = runner

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None
        if self._runner is not None and self._on_ivr in self._runner.observers:
            self._runner.observers.remove(self._on_ivr)
        self._runner = None

    # -- queries ---------------------------------------------------------------------
    def get(self, call_id: str, scope: int | None = None) -> ActiveCall:
        """The call, if it is active and the caller's ``scope`` (tenant) may see it."""
        call = self._calls.get(call_id)
        if call is None or (scope is not None and call.tenant_id != scope):
            raise NotFoundError(f"no active call {call_id}", call_id=call_id)
        return call

    def call_of_leg(self, leg_id: str) -> ActiveCall | None:
        """The active call a leg (channel) belongs to, if any."""
        return self._by_leg.get(leg_id)

    def list(
        self,
        *,
        tenant_id: int | None = None,
        extension: str | None = None,
        access_number: str | None = None,
    ) -> list[ActiveCall]:
        """Active calls, oldest first, filtered."""
        return [
            c
            for c in self._calls.values()
            if (tenant_id is None or c.tenant_id == tenant_id)
            and (extension is None or extension in c.extensions)
            and (access_number is None or c.access_number == access_number)
        ]

    # -- changes, used by the registry itself and by the service ---------------------
    def add(self, call: ActiveCall) -> None:
        """Register a call and announce it (``new``)."""
        self._calls[call.id] = call
        for leg_id in call.legs:
            self._by_leg[leg_id] = call
        self.publish(call, "new")

    def add_leg(self, call: ActiveCall, leg_id: str, role: str, number: str = "") -> CallLeg:
        leg = call.legs.get(leg_id)
        if leg is None:
            leg = call.legs[leg_id] = CallLeg(leg_id, role, number)
            if not call.ended:
                self._by_leg[leg_id] = call
        return leg

    def drop_leg(self, call: ActiveCall, leg_id: str) -> None:
        """A leg that left the call for good (e.g. after a transfer): no longer listed."""
        call.legs.pop(leg_id, None)
        if self._by_leg.get(leg_id) is call:
            del self._by_leg[leg_id]

    def add_extension(self, call: ActiveCall, extension: str) -> None:
        if extension not in call.extensions:
            call.extensions.append(extension)

    def publish(self, call: ActiveCall, event: str, **details: Any) -> None:
        if call.ended and event not in ("hung_up", "transferred"):
            return
        self.stream.publish(event, call.tenant_id, call.snapshot(), details)

    def ringing(self, call: ActiveCall, **details: Any) -> None:
        if call.state is CallState.NEW:
            call.state = CallState.RINGING
        self.publish(call, "ringing", **details)
        call.changed()

    def set_held(self, call: ActiveCall, held: bool, **details: Any) -> None:
        if held and call.state is CallState.ANSWERED:
            call.state = CallState.HELD
            self.publish(call, "held", **details)
        elif not held and call.state is CallState.HELD:
            call.state = CallState.ANSWERED
            self.publish(call, "unheld", **details)
        call.changed()

    def leg_answered(self, call: ActiveCall, leg: CallLeg, at: float | None = None) -> None:
        if leg.up or leg.gone:
            return
        leg.state, leg.answered_at = LegState.UP, at or time.time()
        if call.state in (CallState.NEW, CallState.RINGING):
            call.state, call.answered_at = CallState.ANSWERED, leg.answered_at
        self.publish(call, "answered", leg_id=leg.id, role=leg.role)
        call.changed()

    def leg_gone(self, call: ActiveCall, leg: CallLeg, cause: int) -> None:
        if leg.state is LegState.HUNG_UP:
            return
        leg.state, leg.cause = LegState.HUNG_UP, cause
        if leg.role == "caller":
            self.end(call, CallState.HUNG_UP, cause=cause)
        call.changed()

    def end(self, call: ActiveCall, state: CallState, **details: Any) -> None:
        """The call's last event (``hung_up`` or ``transferred``); it leaves the registry."""
        if call.ended:
            return
        call.state = state
        self.publish(call, str(state), **details)
        call.ended = True
        self._calls.pop(call.id, None)
        for leg_id in call.legs:
            if self._by_leg.get(leg_id) is call:
                del self._by_leg[leg_id]
        if call.control is not None:
            call.control.close()
        call.changed()

    # -- the engine's events -----------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if not isinstance(event, LegEvent):
            return
        call = self._by_leg.get(event.leg_id)
        routing = event.routing if isinstance(event, LegCreated) else None
        if call is None and routing is not None and routing.service == "dial":
            parent = self._calls.get(routing.get("call"))
            if parent is not None:
                call = parent
                self.add_leg(parent, event.leg_id, "dialed")
        if call is None:
            return
        leg = call.legs[event.leg_id]
        if (
            isinstance(event, LegCreated)
            and event.routing is not None
            and event.routing.service == TAKEN
            and call.kind is CallKind.DIALPLAN
        ):
            call.taken = True  # its channels are legs of ours now (Engine.take)
            call.changed()
        if isinstance(event, LegCreated | LegStateChanged):
            if LegState(event.state) is LegState.UP:
                self.leg_answered(call, leg, event.timestamp)
        elif isinstance(event, LegDtmf):
            # Keys typed into a Python flow are its input (PINs, account numbers): they
            # are not broadcast to everyone watching the tenant.
            if call.kind is not CallKind.IVR:
                self.publish(call, "dtmf", digit=event.digit, leg_id=leg.id)
        elif isinstance(event, LegHeld | LegUnheld):
            self.set_held(call, isinstance(event, LegHeld), leg_id=leg.id, by="phone")
        elif isinstance(event, LegHungUp):
            self.leg_gone(call, leg, event.cause)

    # -- the IVR runner's observer -------------------------------------------------
    def _on_ivr(self, ivr: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "started":
            self._ivr_started(ivr, details)
            return
        call = self._calls.get(ivr.id)
        if call is None:
            return
        if action == "answered":
            self.leg_answered(call, call.legs[ivr.id])
        elif action == "dial":
            leg = self.add_leg(call, details["leg_id"], "dialed")
            leg.number = str(details.get("destination", ""))
            extension = _extension_of(leg.number)
            if extension:
                self.add_extension(call, extension)
        elif action in ("held", "unheld"):
            self.set_held(call, action == "held", leg_id=ivr.id, by="orchestrator")
        elif action == "transferred":
            self.end(call, CallState.TRANSFERRED, destination=details.get("destination"))
        elif action == "hung_up":
            self.leg_gone(call, call.legs[ivr.id], int(details.get("cause", 16)))
        elif action == "ended":
            self.end(call, CallState.HUNG_UP, cause=ivr.hangup_cause or 16)

    def _ivr_started(self, ivr: IvrCall, details: dict[str, Any]) -> None:
        if ivr.id in self._calls or not ivr.tenant.isdigit():
            return
        remote = details.get("app") == REMOTE_APP
        call = ActiveCall(
            id=ivr.id,
            tenant_id=int(ivr.tenant),
            kind=CallKind.REMOTE if remote else CallKind.IVR,
            caller=ivr.caller,
            called=ivr.called,
            access_number=ivr.called or None,
            app=ivr.app,
            fallback=str(details.get("fallback") or "hangup"),
            ivr=ivr,
        )
        caller = CallLeg(ivr.id, "caller", ivr.caller)
        if ivr.answered:
            caller.state, caller.answered_at = LegState.UP, time.time()
            call.state, call.answered_at = CallState.ANSWERED, caller.answered_at
        call.legs[ivr.id] = caller
        if remote:
            from orchestrator.cti.remote import RemoteControl

            call.control = RemoteControl(call)
        self.add(call)


def _extension_of(destination: str) -> str | None:
    try:
        kind, value = parse(destination)
    except ValidationError:
        return None
    return value if kind == "extension" else None
