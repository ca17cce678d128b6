"""``/api/v1/trunks``: a tenant's SIP trunks (carriers) for outbound calls.

The password is write-only (``has_password`` tells whether one is set). A
tenant admin sees and changes only its tenant's trunks (others answer 404).
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.store import trunks
from orchestrator.store.models import TrunkCreate, TrunkPublic, TrunkUpdate

router = APIRouter(prefix="/api/v1/trunks", tags=["trunks"], dependencies=[RequireAdmin])


@router.get("")
def list_trunks(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[TrunkPublic]:
    """Trunks visible to the caller, by tenant and name."""
    rows, total = trunks.list_trunks(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        scope=user.scope,
    )
    return page_of(TrunkPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_trunk(
    session: SessionDep, user: CurrentUser, data: TrunkCreate, config: ConfigStateDep
) -> TrunkPublic:
    """Create a trunk in ``tenant_id``; the engine gets endpoint ``trunk-t<tenant_id>-<name>``."""
    trunk = await run_in_threadpool(
        trunks.create_trunk, session=session, data=data, scope=user.scope
    )
    await config.changed(trunk.tenant_id)
    return TrunkPublic.model_validate(trunk)


@router.get("/{trunk_id}")
def read_trunk(session: SessionDep, user: CurrentUser, trunk_id: StoreInt) -> TrunkPublic:
    trunk = trunks.read_trunk(session=session, trunk_id=trunk_id, scope=user.scope)
    return TrunkPublic.model_validate(trunk)


@router.patch("/{trunk_id}")
async def update_trunk(
    session: SessionDep,
    user: CurrentUser,
    trunk_id: StoreInt,
    data: TrunkUpdate,
    config: ConfigStateDep,
) -> TrunkPublic:
    trunk = await run_in_threadpool(
        trunks.update_trunk, session=session, trunk_id=trunk_id, data=data, scope=user.scope
    )
    await config.changed(trunk.tenant_id)
    return TrunkPublic.model_validate(trunk)


@router.delete("/{trunk_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_trunk(
    session: SessionDep, user: CurrentUser, trunk_id: StoreInt, config: ConfigStateDep
) -> None:
    """Delete a trunk; 409 while outbound routes use it."""
    trunk = await run_in_threadpool(
        trunks.delete_trunk, session=session, trunk_id=trunk_id, scope=user.scope
    )
    await config.changed(trunk.tenant_id)
