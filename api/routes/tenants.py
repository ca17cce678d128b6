"""``/api/v1/tenants``: tenants and their engine configuration state.

Every role reads its own tenant (an agent needs its ``tenant_id`` to place calls);
only admins change it or look at its configuration state (docs/roles.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import (
    ConfigStateDep,
    CurrentUser,
    PageDep,
    RequireAdmin,
    SessionDep,
    SystemAdmin,
    VisibleTenantId,
)
from api.schemas import ApplyResultPublic, Page, TenantConfig, page_of
from api.services import services_of
from orchestrator.store import crud, recordings
from orchestrator.store.models import TenantCreate, TenantPublic, TenantUpdate

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.get("")
def list_tenants(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=80, description="part of the name")] = None,
    enabled: bool | None = None,
) -> Page[TenantPublic]:
    """Tenants visible to the caller (a tenant admin sees only its own)."""
    rows, total = crud.list_tenants(
        session=session,
        offset=page.offset,
        limit=page.limit,
        name=name,
        enabled=enabled,
        only_id=user.scope,
    )
    return page_of(TenantPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tenant(
    session: SessionDep, _admin: SystemAdmin, data: TenantCreate, config: ConfigStateDep
) -> TenantPublic:
    """Create a tenant (system admin)."""
    tenant = await run_in_threadpool(crud.create_tenant, session=session, data=data)
    await config.changed(tenant.id)
    return TenantPublic.model_validate(tenant)


@router.get("/{tenant_id}")
def read_tenant(session: SessionDep, tenant_id: VisibleTenantId) -> TenantPublic:
    return TenantPublic.model_validate(crud.get_tenant(session=session, tenant_id=tenant_id))


@router.patch("/{tenant_id}", dependencies=[RequireAdmin])
async def update_tenant(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    data: TenantUpdate,
    config: ConfigStateDep,
) -> TenantPublic:
    """Change a tenant; a tenant admin may change only its name."""
    tenant = await run_in_threadpool(
        crud.update_tenant, session=session, tenant_id=tenant_id, data=data, scope=user.scope
    )
    await config.changed(tenant_id)
    return TenantPublic.model_validate(tenant)


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tenant(
    request: Request,
    session: SessionDep,
    tenant_id: VisibleTenantId,
    _admin: SystemAdmin,
    config: ConfigStateDep,
) -> None:
    """Delete a tenant (system admin); its DIDs return to the inventory, its recordings'
    audio is deleted from S3 and the engine."""
    audio = await run_in_threadpool(recordings.tenant_audio, session, tenant_id)
    await run_in_threadpool(crud.delete_tenant, session=session, tenant_id=tenant_id)
    await config.removed(tenant_id)
    service = services_of(request.app).recordings
    if audio and service is not None:
        await service.purge(audio)


@router.get("/{tenant_id}/config", dependencies=[RequireAdmin])
def read_config(
    session: SessionDep, tenant_id: VisibleTenantId, config: ConfigStateDep
) -> TenantConfig:
    """The tenant's configuration version and the last attempt to apply it."""
    tenant = crud.get_tenant(session=session, tenant_id=tenant_id)
    result = config.results.get(tenant_id)
    return TenantConfig(
        tenant_id=tenant_id,
        config_version=tenant.config_version,
        last_apply=ApplyResultPublic.model_validate(result, from_attributes=True)
        if result
        else None,
    )


@router.post("/{tenant_id}/config/apply", dependencies=[RequireAdmin])
async def apply_config(
    session: SessionDep, tenant_id: VisibleTenantId, config: ConfigStateDep
) -> ApplyResultPublic:
    """Render and apply the tenant's configuration now."""
    await run_in_threadpool(crud.get_tenant, session=session, tenant_id=tenant_id)
    result = await config.apply(tenant_id)
    return ApplyResultPublic.model_validate(result, from_attributes=True)
