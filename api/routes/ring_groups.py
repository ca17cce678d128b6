"""``/api/v1/tenants/{tenant_id}/ring-groups``: numbers that ring several phones
(docs/pbx.md, "Ring groups").

Tenant admins manage their own tenant's groups (another tenant's answer 404), system
admins any. Every field is checked before anything changes: 422 for a bad value (an
unknown strategy, a member that is no extension of the tenant, a fallback naming
nothing), 409 for a number another extension, room or group has (or a name taken), and
for deleting or renumbering a group DIDs route to. A new or renumbered group's number is
applied to the engine's dialplan before the answer; other changes apply to the next
call (the flow reads the group per call).
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep, VisibleTenantId
from api.schemas import Page
from orchestrator.bounds import StoreInt
from orchestrator.store import ring_groups as groups
from orchestrator.store.models import RingGroupCreate, RingGroupPublic, RingGroupUpdate

router = APIRouter(prefix="/api/v1/tenants", tags=["ring-groups"], dependencies=[RequireAdmin])


def _public(group: object) -> RingGroupPublic:
    return RingGroupPublic.model_validate(group, from_attributes=True)


@router.get("/{tenant_id}/ring-groups")
def list_ring_groups(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, page: PageDep
) -> Page[RingGroupPublic]:
    """The tenant's ring groups, by number."""
    rows, total = groups.list_groups(
        session=session, tenant_id=tenant_id, offset=page.offset, limit=page.limit,
        scope=user.scope,
    )  # fmt: skip
    return Page[RingGroupPublic](
        items=[_public(g) for g in rows], total=total, offset=page.offset, limit=page.limit
    )


@router.post("/{tenant_id}/ring-groups", status_code=status.HTTP_201_CREATED)
async def create_ring_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    data: RingGroupCreate,
    config: ConfigStateDep,
) -> RingGroupPublic:
    """Create a group; its number is dialable once the tenant's dialplan is applied."""
    group = await run_in_threadpool(
        groups.create_group, session=session, tenant_id=tenant_id, data=data, scope=user.scope
    )
    await config.changed(tenant_id)
    return _public(group)


@router.get("/{tenant_id}/ring-groups/{group_id}")
def read_ring_group(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, group_id: StoreInt
) -> RingGroupPublic:
    return _public(
        groups.read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=user.scope)
    )


@router.patch("/{tenant_id}/ring-groups/{group_id}")
async def update_ring_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    group_id: StoreInt,
    data: RingGroupUpdate,
    config: ConfigStateDep,
) -> RingGroupPublic:
    """Change the fields given (members or strategy changed: round robin starts over)."""
    group = await run_in_threadpool(
        groups.update_group, session=session, tenant_id=tenant_id, group_id=group_id,
        data=data, scope=user.scope,
    )  # fmt: skip
    if data.number is not None:
        await config.changed(tenant_id)
    return _public(group)


@router.delete("/{tenant_id}/ring-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_ring_group(
    session: SessionDep,
    user: CurrentUser,
    tenant_id: VisibleTenantId,
    group_id: StoreInt,
    config: ConfigStateDep,
) -> None:
    """Delete a group; 409 while DIDs route to it or the park lot falls back to it."""
    await run_in_threadpool(
        groups.delete_group, session=session, tenant_id=tenant_id, group_id=group_id,
        scope=user.scope,
    )  # fmt: skip
    await config.changed(tenant_id)
