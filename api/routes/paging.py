"""``/api/v1/tenants/{tenant_id}/paging-groups``: the tenant's paging groups (docs/pbx.md,
Intercom and paging).

Tenant admins manage their own tenant's groups (another tenant answers 404), system
admins any. A group is paged by ``*46<number>`` from a phone of the tenant; its number
is 2-10 digits, unique among the tenant's groups and no extension's (409), its members
1 to 50 extension numbers of the tenant (422 for one that is not). Groups are read per
call, so a change applies to the next page without touching the engine's configuration.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, PageDep, RequireAdmin, SessionDep, VisibleTenantId
from api.schemas import Page
from orchestrator.bounds import StoreInt
from orchestrator.store import paging
from orchestrator.store.models import PagingGroupCreate, PagingGroupPublic, PagingGroupUpdate

router = APIRouter(prefix="/api/v1/tenants", tags=["paging-groups"], dependencies=[RequireAdmin])


def _public(group: object) -> PagingGroupPublic:
    return PagingGroupPublic.model_validate(group, from_attributes=True)


@router.get("/{tenant_id}/paging-groups")
def list_paging_groups(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, page: PageDep
) -> Page[PagingGroupPublic]:
    """The tenant's paging groups, by name."""
    rows, total = paging.list_groups(
        session=session, tenant_id=tenant_id, offset=page.offset, limit=page.limit,
        scope=user.scope,
    )  # fmt: skip
    return Page[PagingGroupPublic](
        items=[_public(g) for g in rows], total=total, offset=page.offset, limit=page.limit
    )


@router.post("/{tenant_id}/paging-groups", status_code=status.HTTP_201_CREATED)
async def create_paging_group(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, data: PagingGroupCreate
) -> PagingGroupPublic:
    """Create a group: ``{"name": "warehouse", "number": "700", "members": ["101", "102"]}``."""
    group = await run_in_threadpool(
        paging.create_group, session=session, tenant_id=tenant_id, data=data, scope=user.scope
    )
    return _public(group)


@router.get("/{tenant_id}/paging-groups/{group_id}")
def read_paging_group(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, group_id: StoreInt
) -> PagingGroupPublic:
    return _public(
        paging.read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=user.scope)
    )


@router.patch("/{tenant_id}/paging-groups/{group_id}")
async def update_paging_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    group_id: StoreInt,
    data: PagingGroupUpdate,
) -> PagingGroupPublic:
    """Change the fields given (``members`` replaces the whole list)."""
    group = await run_in_threadpool(
        paging.update_group, session=session, tenant_id=tenant_id, group_id=group_id,
        data=data, scope=user.scope,
    )  # fmt: skip
    return _public(group)


@router.delete("/{tenant_id}/paging-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_paging_group(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, group_id: StoreInt
) -> None:
    await run_in_threadpool(
        paging.delete_group, session=session, tenant_id=tenant_id, group_id=group_id,
        scope=user.scope,
    )  # fmt: skip
