"""Inbound routing of a tenant's DIDs (docs/pbx.md, "Office hours, holidays and night mode"):

- ``/api/v1/tenants/{tenant_id}/schedules``: office-hours schedules (CRUD, holidays
  included), and ``.../schedules/{name}/state?at=``: where a call at that moment goes;
- ``/api/v1/tenants/{tenant_id}/night-mode``: the night mode (GET/PUT), which closes
  every schedule of the tenant; published as ``night_mode_changed``;
- ``/api/v1/tenants/{tenant_id}/blacklist``: caller numbers and prefixes refused on the
  tenant's DIDs.

Tenant admins act on their own tenant (another answers 404), system admins on any. Every
value is checked first: a bad one is 422 and nothing changes. A change that alters the
tenant's engine configuration (a schedule a DID names appears or goes, the blacklist's
first or last entry) applies the tenant before the answer; other changes need no engine
change (the flow reads the store on each call).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, RequireAdmin, ServicesDep, SessionDep, VisibleTenantId
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import ValidationError
from orchestrator.pbx.schedule import evaluate
from orchestrator.store import schedules as store
from orchestrator.store.models import (
    NightModePublic,
    NightModePut,
    ScheduleCreate,
    SchedulePublic,
    SchedulePut,
    ScheduleState,
    TenantBlacklistCreate,
    TenantBlacklistPublic,
)

router = APIRouter(prefix="/api/v1/tenants", tags=["inbound-routing"], dependencies=[RequireAdmin])

ScheduleName = Annotated[str, Path(max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


# -- schedules -----------------------------------------------------------------------------
@router.get("/{tenant_id}/schedules")
def list_schedules(session: SessionDep, tenant_id: VisibleTenantId) -> list[SchedulePublic]:
    """The tenant's schedules, by name."""
    rows = store.list_schedules(session, tenant_id)
    return [SchedulePublic.model_validate(r, from_attributes=True) for r in rows]


@router.post("/{tenant_id}/schedules", status_code=status.HTTP_201_CREATED)
async def create_schedule(
    session: SessionDep, tenant_id: VisibleTenantId, data: ScheduleCreate, config: ConfigStateDep
) -> SchedulePublic:
    """A new schedule; DIDs route to it with the destination ``schedule:<name>``."""
    row = await run_in_threadpool(store.create_schedule, session, tenant_id, data)
    await config.changed(tenant_id)
    return SchedulePublic.model_validate(row, from_attributes=True)


@router.get("/{tenant_id}/schedules/{name}")
def read_schedule(
    session: SessionDep, tenant_id: VisibleTenantId, name: ScheduleName
) -> SchedulePublic:
    row = store.get_schedule(session, tenant_id, name)
    return SchedulePublic.model_validate(row, from_attributes=True)


@router.put("/{tenant_id}/schedules/{name}")
async def replace_schedule(
    session: SessionDep, tenant_id: VisibleTenantId, name: ScheduleName, data: SchedulePut
) -> SchedulePublic:
    """Replace everything but the name (holidays included); the next call uses it."""
    row = await run_in_threadpool(store.replace_schedule, session, tenant_id, name, data)
    return SchedulePublic.model_validate(row, from_attributes=True)


@router.delete("/{tenant_id}/schedules/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(
    session: SessionDep, tenant_id: VisibleTenantId, name: ScheduleName, config: ConfigStateDep
) -> None:
    """Delete a schedule; 409 while a DID routes to it."""
    await run_in_threadpool(store.delete_schedule, session, tenant_id, name)
    await config.changed(tenant_id)


@router.get("/{tenant_id}/schedules/{name}/state")
def schedule_state(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    name: ScheduleName,
    at: Annotated[
        datetime | None,
        Query(description="ISO 8601 with an offset, e.g. 2026-03-29T09:30:00+02:00; default now"),
    ] = None,
) -> ScheduleState:
    """Where a call at ``at`` goes (the night mode counted), in the schedule's zone."""
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        raise ValidationError("at: must have a UTC offset ('Z' or '+02:00')", field="at")
    elif not 1971 <= at.year <= 2199:
        # Dates near year 1 or 9999 would overflow the time zone conversion.
        raise ValidationError("at: must be from 1971 to 2199", field="at")
    row = store.get_schedule(session, tenant_id, name)
    night = store.night_mode(session, tenant_id).enabled
    decision = evaluate(store.hours_of(row), at, night_mode=night)
    return ScheduleState(
        schedule=row.name,
        at=at,
        local_time=decision.local,
        state=decision.state,
        destination=decision.destination,
        holiday=decision.holiday,
    )


# -- night mode ----------------------------------------------------------------------------
@router.get("/{tenant_id}/night-mode")
def read_night_mode(session: SessionDep, tenant_id: VisibleTenantId) -> NightModePublic:
    return store.night_mode(session, tenant_id)


@router.put("/{tenant_id}/night-mode")
async def set_night_mode(
    services: ServicesDep, session: SessionDep, tenant_id: VisibleTenantId, data: NightModePut
) -> NightModePublic:
    """On: every schedule of the tenant is closed until it is turned off (also ``*16``
    from a phone). A change is published as ``night_mode_changed``."""
    if services.night_mode is not None:
        return await services.night_mode.set(tenant_id, data.enabled, by="api")
    state, _changed = await run_in_threadpool(
        store.set_night_mode, session, tenant_id, data.enabled
    )
    return state


# -- blacklist -----------------------------------------------------------------------------
@router.get("/{tenant_id}/blacklist")
def list_blacklist(session: SessionDep, tenant_id: VisibleTenantId) -> list[TenantBlacklistPublic]:
    """The tenant's blacklist, oldest entry first."""
    rows = store.list_blacklist(session, tenant_id)
    return [TenantBlacklistPublic.model_validate(r, from_attributes=True) for r in rows]


@router.post("/{tenant_id}/blacklist", status_code=status.HTTP_201_CREATED)
async def add_blacklist_entry(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    data: TenantBlacklistCreate,
    config: ConfigStateDep,
) -> TenantBlacklistPublic:
    """Refuse a caller number (``match`` exact) or every number starting so (prefix)."""
    first = not store.list_blacklist(session, tenant_id)
    row = await run_in_threadpool(store.add_blacklist_entry, session, tenant_id, data)
    if first:  # the tenant's DIDs run through the orchestrator from now on
        await config.changed(tenant_id)
    return TenantBlacklistPublic.model_validate(row, from_attributes=True)


@router.delete("/{tenant_id}/blacklist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_blacklist_entry(
    session: SessionDep, tenant_id: VisibleTenantId, entry_id: StoreInt,
    config: ConfigStateDep,
) -> None:  # fmt: skip
    empty = await run_in_threadpool(store.delete_blacklist_entry, session, tenant_id, entry_id)
    if empty:
        await config.changed(tenant_id)
