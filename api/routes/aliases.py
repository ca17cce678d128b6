"""``/api/v1/tenants/{tenant_id}/aliases``: other names that reach an extension."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, PageDep, RequireAdmin, SessionDep, VisibleTenantId
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.store import crud
from orchestrator.store.models import AliasCreate, AliasPublic, AliasUpdate

router = APIRouter(
    prefix="/api/v1/tenants/{tenant_id}/aliases", tags=["aliases"], dependencies=[RequireAdmin]
)


@router.get("")
def list_aliases(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    page: PageDep,
    extension_id: StoreInt | None = None,
) -> Page[AliasPublic]:
    rows, total = crud.list_aliases(
        session=session,
        tenant_id=tenant_id,
        offset=page.offset,
        limit=page.limit,
        extension_id=extension_id,
    )
    return page_of(AliasPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_alias(
    session: SessionDep, tenant_id: VisibleTenantId, data: AliasCreate, config: ConfigStateDep
) -> AliasPublic:
    """Add an alias (unique across all tenants) to one of the tenant's extensions."""
    alias = await run_in_threadpool(
        crud.create_alias, session=session, tenant_id=tenant_id, data=data
    )
    await config.changed(tenant_id)
    return AliasPublic.model_validate(alias)


@router.get("/{alias_id}")
def read_alias(session: SessionDep, tenant_id: VisibleTenantId, alias_id: StoreInt) -> AliasPublic:
    alias = crud.get_alias(session=session, tenant_id=tenant_id, alias_id=alias_id)
    return AliasPublic.model_validate(alias)


@router.patch("/{alias_id}")
async def update_alias(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    alias_id: StoreInt,
    data: AliasUpdate,
    config: ConfigStateDep,
) -> AliasPublic:
    alias = await run_in_threadpool(
        crud.update_alias, session=session, tenant_id=tenant_id, alias_id=alias_id, data=data
    )
    await config.changed(tenant_id)
    return AliasPublic.model_validate(alias)


@router.delete("/{alias_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alias(
    session: SessionDep, tenant_id: VisibleTenantId, alias_id: StoreInt, config: ConfigStateDep
) -> None:
    await run_in_threadpool(
        crud.delete_alias, session=session, tenant_id=tenant_id, alias_id=alias_id
    )
    await config.changed(tenant_id)
