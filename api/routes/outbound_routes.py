"""``/api/v1/outbound-routes``: which trunk numbers dialed by a tenant's users leave through.

A tenant admin sees and changes only its tenant's routes (others answer 404).
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.store import routes
from orchestrator.store.models import (
    OutboundRouteCreate,
    OutboundRoutePublic,
    OutboundRouteUpdate,
)

router = APIRouter(
    prefix="/api/v1/outbound-routes", tags=["outbound-routes"], dependencies=[RequireAdmin]
)


@router.get("")
def list_routes(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[OutboundRoutePublic]:
    """Routes visible to the caller, by tenant, priority and name."""
    rows, total = routes.list_routes(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        scope=user.scope,
    )
    return page_of(OutboundRoutePublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_route(
    session: SessionDep, user: CurrentUser, data: OutboundRouteCreate, config: ConfigStateDep
) -> OutboundRoutePublic:
    """Create a route in ``tenant_id`` through one of its trunks."""
    route = await run_in_threadpool(
        routes.create_route, session=session, data=data, scope=user.scope
    )
    await config.changed(route.tenant_id)
    return OutboundRoutePublic.model_validate(route)


@router.get("/{route_id}")
def read_route(session: SessionDep, user: CurrentUser, route_id: StoreInt) -> OutboundRoutePublic:
    route = routes.read_route(session=session, route_id=route_id, scope=user.scope)
    return OutboundRoutePublic.model_validate(route)


@router.patch("/{route_id}")
async def update_route(
    session: SessionDep,
    user: CurrentUser,
    route_id: StoreInt,
    data: OutboundRouteUpdate,
    config: ConfigStateDep,
) -> OutboundRoutePublic:
    route = await run_in_threadpool(
        routes.update_route, session=session, route_id=route_id, data=data, scope=user.scope
    )
    await config.changed(route.tenant_id)
    return OutboundRoutePublic.model_validate(route)


@router.delete("/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_route(
    session: SessionDep, user: CurrentUser, route_id: StoreInt, config: ConfigStateDep
) -> None:
    route = await run_in_threadpool(
        routes.delete_route, session=session, route_id=route_id, scope=user.scope
    )
    await config.changed(route.tenant_id)
