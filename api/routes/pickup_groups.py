"""``/api/v1/tenants/{tenant_id}/pickup-groups``: the tenant's call pickup groups
(docs/pbx.md, Call pickup).

Tenant admins manage their own tenant's groups (others answer 404), system admins any.
A group is ``{"name": "sales", "members": ["101", "102"]}``; members are extension
numbers of the tenant. ``PUT`` replaces the name and the member list. A bad name or a
member that is no extension of the tenant is 422, a name taken 409; nothing changes
then. Members become *managed* (their calls run through the orchestrator, which is what
lets ``*98`` take them), so a change re-applies the tenant's configuration.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, RequireAdmin, SessionDep, VisibleTenantId
from orchestrator.bounds import StoreInt
from orchestrator.store import pickup
from orchestrator.store.models import PickupGroupPublic, PickupGroupWrite

router = APIRouter(prefix="/api/v1/tenants", tags=["pickup-groups"], dependencies=[RequireAdmin])


@router.get("/{tenant_id}/pickup-groups")
def list_pickup_groups(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId
) -> list[PickupGroupPublic]:
    """The tenant's pickup groups, by name, with their members' numbers."""
    return pickup.list_groups(session=session, tenant_id=tenant_id, scope=user.scope)


@router.post("/{tenant_id}/pickup-groups", status_code=status.HTTP_201_CREATED)
async def create_pickup_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    data: PickupGroupWrite,
    config: ConfigStateDep,
) -> PickupGroupPublic:
    """A new group; its members' calls run through the orchestrator from now on."""
    group = await run_in_threadpool(
        pickup.create_group, session=session, tenant_id=tenant_id, data=data, scope=user.scope
    )
    await config.changed(tenant_id)
    return group


@router.get("/{tenant_id}/pickup-groups/{group_id}")
def read_pickup_group(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, group_id: StoreInt
) -> PickupGroupPublic:
    return pickup.read_group(
        session=session, tenant_id=tenant_id, group_id=group_id, scope=user.scope
    )


@router.put("/{tenant_id}/pickup-groups/{group_id}")
async def update_pickup_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    group_id: StoreInt,
    data: PickupGroupWrite,
    config: ConfigStateDep,
) -> PickupGroupPublic:
    """Replace the group's name and members."""
    group = await run_in_threadpool(
        pickup.update_group,
        session=session,
        tenant_id=tenant_id,
        group_id=group_id,
        data=data,
        scope=user.scope,
    )
    await config.changed(tenant_id)
    return group


@router.delete("/{tenant_id}/pickup-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_pickup_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    group_id: StoreInt,
    config: ConfigStateDep,
) -> None:
    await run_in_threadpool(
        pickup.delete_group,
        session=session,
        tenant_id=tenant_id,
        group_id=group_id,
        scope=user.scope,
    )
    await config.changed(tenant_id)
