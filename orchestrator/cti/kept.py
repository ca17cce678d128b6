"""Click-to-call and originated calls kept across a restart of the orchestrator (and
dialplan calls put under control with ``Engine.take``, driven the same way).

Such a call lives in the engine (two legs connected to each other, see
``Engine.connect``) but is driven by a task of the orchestrator. So once its two parties
are connected, :class:`CtiService` tells a :class:`CallKeeper` (the store, in the
service) what it takes to drive it again (a :class:`KeptCall`: id, tenant, kind,
parties, legs, times) and keeps its legs (``Engine.keep``); when the call ends the
record is released. A graceful stop leaves such calls up, as a crash does.

The next run gives :func:`restore` the records before the engine starts: their legs are
kept, so the engine's start-up sweep spares them and their connection. Once the engine
is connected, :func:`adopt` takes each call back under its old id: listed in ``GET
/calls`` and the CTI snapshot again, driven until a party leaves, then ended as usual
(the other leg hung up, ``hung_up``). A call a party left while nobody
watched is ended at once.

Not carried over: a prepaid limit (the call is cut at ``max_call_s`` from the restart at
the latest) and an attended transfer in progress (the record is written again when one
completes, naming the legs connected then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core.call import LegState
from orchestrator.core.engine import TAKEN
from orchestrator.core.events import EngineConnected, Event, LegCreated
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg, CallState

if TYPE_CHECKING:
    from orchestrator.cti.service import CtiService

log = logging.getLogger("orchestrator.cti")


@dataclass(frozen=True, slots=True, kw_only=True)
class KeptCall:
    """What it takes to drive a connected click-to-call again (times are Unix times).

    Records of earlier versions carry one key more (the engine's own object joining the
    two legs): ignored, the engine takes the legs' connection back by itself."""

    call_id: str
    tenant_id: int
    kind: str
    caller: str = ""
    called: str = ""
    extensions: tuple[str, ...] = ()
    account: str | None = None
    legs: tuple[tuple[str, str, str], ...] = ()  # (leg id, role, number)
    started_at: float = 0.0
    answered_at: float = 0.0

    @classmethod
    def of(cls, call: ActiveCall) -> KeptCall:
        return cls(
            call_id=call.id,
            tenant_id=call.tenant_id,
            kind=str(call.kind),
            caller=call.caller,
            called=call.called,
            extensions=tuple(call.extensions),
            account=call.account,
            legs=tuple((leg.id, leg.role, leg.number) for leg in call.legs.values() if leg.up),
            started_at=call.started_at,
            answered_at=call.answered_at or 0.0,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "caller": self.caller,
            "called": self.called,
            "extensions": list(self.extensions),
            "account": self.account,
            "legs": [list(leg) for leg in self.legs],
            "started_at": self.started_at,
            "answered_at": self.answered_at,
        }

    @classmethod
    def from_json(cls, call_id: str, tenant_id: int, data: Mapping[str, Any]) -> KeptCall:
        """The record as stored; ``ValueError``/``KeyError``/``TypeError`` if it is not one."""
        legs = tuple((str(i), str(r), str(n)) for i, r, n in data["legs"])
        return cls(
            call_id=call_id,
            tenant_id=tenant_id,
            kind=str(CallKind(data["kind"])),
            caller=str(data.get("caller", "")),
            called=str(data.get("called", "")),
            extensions=tuple(str(e) for e in data.get("extensions", ())),
            account=data.get("account"),
            legs=legs,
            started_at=float(data.get("started_at", 0.0)),
            answered_at=float(data.get("answered_at", 0.0)),
        )

    def to_call(self) -> ActiveCall:
        """The registry's call, answered, with its legs up."""
        call = ActiveCall(
            id=self.call_id,
            tenant_id=self.tenant_id,
            kind=CallKind(self.kind),
            caller=self.caller,
            called=self.called,
            extensions=list(self.extensions),
            account=self.account,
            state=CallState.ANSWERED,
            started_at=self.started_at or time.time(),
            answered_at=self.answered_at or None,
        )
        # A kept dialplan call was one Engine.take put under control.
        call.taken = call.kind is CallKind.DIALPLAN
        for leg_id, role, number in self.legs:
            call.legs[leg_id] = CallLeg(
                leg_id, role, number, state=LegState.UP, answered_at=self.answered_at or None
            )
        return call


class CallKeeper(Protocol):
    """Keeps the records of connected click-to-call calls (the service: the store).

    Called synchronously from the CTI service: it must not block (queue the write).
    """

    def keep(self, call: KeptCall) -> None: ...

    def release(self, call_id: str) -> None: ...


def keep(cti: CtiService, call: ActiveCall) -> None:
    """The call's parties are connected: kept until it ends (see the module doc)."""
    if cti.keeper is None:
        return
    record = KeptCall.of(call)
    cti.keeper.keep(record)
    before = cti.kept.get(call.id)
    if before is not None:  # written again after an attended transfer: other legs
        cti.engine.release(leg_id for leg_id, _, _ in before.legs)
    cti.engine.keep(leg_id for leg_id, _, _ in record.legs)
    cti.kept[call.id] = record


def connected_legs(call: ActiveCall) -> frozenset[str]:
    """The legs a record of the call would name now."""
    return frozenset(leg.id for leg in call.legs.values() if leg.up)


def release(cti: CtiService, call: ActiveCall) -> None:
    """The call ends: its record and its legs are not kept any more."""
    record = cti.kept.pop(call.id, None)
    if record is None or cti.keeper is None:
        return
    cti.keeper.release(call.id)
    cti.engine.release(leg_id for leg_id, _, _ in record.legs)


def restore(cti: CtiService, records: list[KeptCall]) -> None:
    """Before the engine starts: keep the records' legs; adopted once it is connected."""
    for record in records:
        cti.kept[record.call_id] = record
        cti.engine.keep(leg_id for leg_id, _, _ in record.legs)
        cti.pending.append(record)
    if cti.pending and cti.engine.status().connected:
        adopt(cti)


def on_event(cti: CtiService, event: Event) -> None:
    if isinstance(event, EngineConnected) and cti.pending:
        adopt(cti)  # the start-up sweep has reported the kept legs
    elif (
        isinstance(event, LegCreated)
        and event.routing is not None
        and event.routing.service == TAKEN
        and not event.resumed
    ):
        taken(cti, event.leg_id)


def taken(cti: CtiService, leg_id: str) -> None:
    """A leg of a dialplan call was taken (Engine.take): once all its parties are legs
    of ours, the call is driven and kept as a connected click-to-call is (a party who
    hangs up ends it for the other, as the dialplan's Dial() did)."""
    call = cti.calls.call_of_leg(leg_id)
    if call is None or not call.taken or call.id in cti.connected or call.ended:
        return
    parties = [leg for leg in call.legs.values() if leg.up]
    if len(parties) < 2 or any(cti.engine.leg(leg.id) is None for leg in parties):
        return  # the other party's LegCreated comes next
    cti.connected.add(call.id)
    keep(cti, call)
    cti.spawn(_drive(cti, call), f"cti-taken-{call.id}")


def adopt(cti: CtiService) -> None:
    """Take each restored call back under its id; end those a party left meanwhile."""
    pending, cti.pending[:] = list(cti.pending), []
    for record in pending:
        call = record.to_call()
        for leg in call.legs.values():
            engine_leg = cti.engine.leg(leg.id)
            if engine_leg is None or not engine_leg.alive:
                leg.state = LegState.HUNG_UP
        cti.calls.add(call)
        cti.connected.add(call.id)
        cti.spawn(_drive(cti, call), f"cti-adopted-{call.id}")


async def _drive(cti: CtiService, call: ActiveCall) -> None:
    """Until a party leaves (or ``max_call_s`` from now), then end the call as usual."""
    from orchestrator.cti.service import call_over

    cause = 16
    try:
        await call.wait_until(lambda: call_over(call), cti.max_call_s)
        cause = next((leg.cause for leg in call.legs.values() if leg.gone), None) or 16
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await cti.finish(call, cause)
