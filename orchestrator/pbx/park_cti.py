"""The API's way to park: which party of an active CTI call may be parked, and by whom
(:meth:`orchestrator.pbx.park.ParkService.park_call`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.core.call import Leg
from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError
from orchestrator.cti.errors import CallStateError
from orchestrator.cti.registry import CallKind

if TYPE_CHECKING:
    from orchestrator.cti.registry import ActiveCall
    from orchestrator.cti.service import CtiService

__all__ = ["Party", "party_to_park"]


@dataclass(frozen=True, slots=True)
class Party:
    """The active call, the engine's leg to park, the parties to hang up, the parker."""

    call: ActiveCall
    leg: Leg
    others: list[str]
    parker: str


async def party_to_park(
    cti: CtiService | None,
    engine: Engine,
    tenant_id: int,
    call_id: str,
    leg_id: str,
    scope: int | None,
) -> Party:
    """The party ``leg_id`` of ``call_id``, checked: 404 for no such call or answered
    party, 409 during an attended transfer. A call the engine switched alone comes
    under control first (nothing else has moved)."""
    if cti is None:
        raise NotFoundError(f"no active call {call_id}", call_id=call_id)
    call = cti.calls.get(call_id, scope)
    if call.tenant_id != tenant_id:
        raise NotFoundError(f"no active call {call_id}", call_id=call_id)
    parties = [leg for leg in call.legs.values() if leg.up and not leg.gone]
    if leg_id not in {leg.id for leg in parties}:
        raise NotFoundError(f"no answered party {leg_id} in call {call_id}", leg_id=leg_id)
    if call.transfer is not None:
        raise CallStateError("an attended transfer is in progress", call_id=call_id)
    engine_leg = engine.leg(leg_id)
    if call.kind is CallKind.DIALPLAN and not call.taken:
        # A call the engine switched alone: its parties come under control first.
        await engine.take([leg.id for leg in parties])
        engine_leg = engine.leg(leg_id)
    if engine_leg is None or not engine_leg.alive:
        raise NotFoundError(f"no live leg {leg_id}", leg_id=leg_id)
    others = [leg.id for leg in parties if leg.id != leg_id]
    parker = next(
        (leg.number for leg in parties if leg.id != leg_id and leg.number in call.extensions),
        "",
    )
    return Party(call, engine_leg, others, parker)
