"""``/api/v1/ivr-apps``: IVR applications and the DIDs (access numbers) that reach them.

A tenant admin sees and changes only its tenant's apps (others answer 404). When
the service runs IVR flows (``Services.ivr_registry``), an app must name one of
them; otherwise any well-formed key is accepted.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, ServicesDep, SessionDep
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.store import ivr_apps
from orchestrator.store.models import (
    DidPublic,
    IvrAppCreate,
    IvrAppPublic,
    IvrAppUpdate,
    IvrNumber,
)

router = APIRouter(prefix="/api/v1/ivr-apps", tags=["ivr-apps"], dependencies=[RequireAdmin])


class IvrRegistry(Protocol):
    def names(self) -> list[str]: ...


def get_known_ivr_apps(services: ServicesDep) -> list[str] | None:
    """The flows this service can run, or None when it has no IVR registry."""
    registry: IvrRegistry | None = services.ivr_registry
    return None if registry is None else list(registry.names())


KnownIvrApps = Annotated[list[str] | None, Depends(get_known_ivr_apps)]


@router.get("")
def list_ivr_apps(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[IvrAppPublic]:
    """IVR apps visible to the caller, by tenant and name."""
    rows, total = ivr_apps.list_ivr_apps(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        scope=user.scope,
    )
    return page_of(IvrAppPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_ivr_app(
    session: SessionDep,
    user: CurrentUser,
    data: IvrAppCreate,
    known: KnownIvrApps,
    config: ConfigStateDep,
) -> IvrAppPublic:
    """Create an IVR app in ``tenant_id``; 422 lists the known flows if ``app`` is unknown."""
    app = await run_in_threadpool(
        ivr_apps.create_ivr_app, session=session, data=data, scope=user.scope, known_apps=known
    )
    await config.changed(app.tenant_id)
    return IvrAppPublic.model_validate(app)


@router.get("/{app_id}")
def read_ivr_app(session: SessionDep, user: CurrentUser, app_id: StoreInt) -> IvrAppPublic:
    app = ivr_apps.read_ivr_app(session=session, app_id=app_id, scope=user.scope)
    return IvrAppPublic.model_validate(app)


class CallSummaryPublic(BaseModel):
    """What one finished call on the app did (newest last)."""

    call_id: str
    caller: str
    called: str
    started_at: float
    ended_at: float
    answered: bool
    collected: list[str]
    played: StoreInt
    transferred_to: str | None
    variables: dict[str, str]
    outcome: str
    error: str


@router.get("/{app_id}/recent-calls")
def recent_ivr_calls(
    session: SessionDep, user: CurrentUser, app_id: StoreInt, services: ServicesDep
) -> list[CallSummaryPublic]:
    """The app's last finished calls in this process: what each collected and how it ended.

    For IVR developers checking a flow on live calls; kept in memory (200 calls in all).
    """
    app = ivr_apps.read_ivr_app(session=session, app_id=app_id, scope=user.scope)
    runner = services.ivr_runner
    recent = [] if runner is None else list(runner.recent)
    return [
        CallSummaryPublic.model_validate(s, from_attributes=True)
        for s in recent
        if s.tenant == str(app.tenant_id) and s.app_name == app.name
    ]


@router.patch("/{app_id}")
async def update_ivr_app(
    session: SessionDep,
    user: CurrentUser,
    app_id: StoreInt,
    data: IvrAppUpdate,
    known: KnownIvrApps,
    config: ConfigStateDep,
) -> IvrAppPublic:
    """Change an IVR app; renaming is 409 while DIDs reach it."""
    app = await run_in_threadpool(
        ivr_apps.update_ivr_app,
        session=session,
        app_id=app_id,
        data=data,
        scope=user.scope,
        known_apps=known,
    )
    await config.changed(app.tenant_id)
    return IvrAppPublic.model_validate(app)


@router.delete("/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_ivr_app(
    session: SessionDep, user: CurrentUser, app_id: StoreInt, config: ConfigStateDep
) -> None:
    """Delete an IVR app; 409 while DIDs reach it or a ring group or the park lot falls
    back to it."""
    app = await run_in_threadpool(
        ivr_apps.delete_ivr_app, session=session, app_id=app_id, scope=user.scope
    )
    await config.changed(app.tenant_id)


@router.get("/{app_id}/numbers")
def list_numbers(
    session: SessionDep, user: CurrentUser, app_id: StoreInt, page: PageDep
) -> Page[DidPublic]:
    """The DIDs routed to the app."""
    rows, total = ivr_apps.list_numbers(
        session=session, app_id=app_id, scope=user.scope, offset=page.offset, limit=page.limit
    )
    return page_of(DidPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("/{app_id}/numbers", status_code=status.HTTP_201_CREATED)
async def allocate_number(
    session: SessionDep,
    user: CurrentUser,
    app_id: StoreInt,
    data: IvrNumber,
    config: ConfigStateDep,
) -> DidPublic:
    """Route a DID of the tenant to the app (a system admin may take unassigned inventory)."""
    did = await run_in_threadpool(
        ivr_apps.allocate_number,
        session=session,
        app_id=app_id,
        number=data.number,
        scope=user.scope,
    )
    await config.changed(did.tenant_id)
    return DidPublic.model_validate(did)


@router.delete("/{app_id}/numbers/{number}", status_code=status.HTTP_204_NO_CONTENT)
async def release_number(
    session: SessionDep, user: CurrentUser, app_id: StoreInt, number: str, config: ConfigStateDep
) -> None:
    """Stop routing the DID to the app; it keeps its tenant and has no destination."""
    did = await run_in_threadpool(
        ivr_apps.release_number, session=session, app_id=app_id, number=number, scope=user.scope
    )
    await config.changed(did.tenant_id)
