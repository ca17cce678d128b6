"""``/api/v1/tenants/{tenant_id}/park``: the tenant's park lot (docs/pbx.md, "Call park").

``GET``/``PUT`` the lot (slots, timeout, ring-back time, fallback; ``PUT`` replaces it, a
field left out is its default, a bad value is 422 and nothing changes); ``GET .../calls``
the calls parked now; ``POST .../calls`` parks a party of an active call (``call_id``
and ``leg_id`` as ``GET /api/v1/calls`` shows them): the other parties are hung up, as
a phone's blind transfer to the park code lets its call go.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CurrentUser,
    RequireAdmin,
    RequireSupervisor,
    ServicesDep,
    SessionDep,
    VisibleTenantId,
)
from orchestrator.core.errors import EngineUnavailableError
from orchestrator.store import park as store
from orchestrator.store.models import ParkedCallPublic, ParkLotPublic, ParkLotPut

router = APIRouter(prefix="/api/v1/tenants", tags=["park"])


class ParkRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    call_id: str = Field(max_length=128, description="the active call (GET /api/v1/calls)")
    leg_id: str = Field(max_length=128, description="its party to park")


def _lot(lot: store.Lot) -> ParkLotPublic:
    return ParkLotPublic(
        tenant_id=lot.tenant_id, slots=lot.slots, timeout_s=lot.timeout_s,
        ringback_s=lot.ringback_s, fallback=lot.fallback,
    )  # fmt: skip


@router.get("/{tenant_id}/park", dependencies=[RequireSupervisor])
def read_park_lot(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId
) -> ParkLotPublic:
    """The tenant's park lot (the defaults until one is stored)."""
    return _lot(store.get_lot(session, tenant_id, scope=user.scope))


@router.put("/{tenant_id}/park", dependencies=[RequireAdmin])
async def replace_park_lot(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, data: ParkLotPut
) -> ParkLotPublic:
    """Replace the lot; calls parked now keep their slot and time."""
    lot = await run_in_threadpool(
        store.put_lot, session, tenant_id, data.model_dump(), scope=user.scope
    )
    return _lot(lot)


@router.get("/{tenant_id}/park/calls", dependencies=[RequireSupervisor])
def read_parked_calls(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId
) -> list[ParkedCallPublic]:
    """The calls parked now, by slot."""
    rows = store.parked(session, tenant_id, scope=user.scope)
    return [ParkedCallPublic.model_validate(row.model_dump()) for row in rows]


@router.post("/{tenant_id}/park/calls", status_code=201, dependencies=[RequireSupervisor])
async def park_call(
    services: ServicesDep, user: CurrentUser, tenant_id: VisibleTenantId, data: ParkRequest
) -> ParkedCallPublic:
    """Park ``leg_id`` of the call ``call_id``; 404 for no such call or party, 409 when
    the call cannot be parked now or the lot is full."""
    if services.park is None:
        raise EngineUnavailableError("call park is not running in this service")
    row = await services.park.park_call(tenant_id, data.call_id, data.leg_id, scope=user.scope)
    return ParkedCallPublic.model_validate(row.model_dump())
