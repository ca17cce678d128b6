"""The API's routers, in the order they appear in the OpenAPI document."""

from fastapi import APIRouter

from api.routes import (
    aliases,
    calls,
    dids,
    extensions,
    health,
    ivr_apps,
    outbound_routes,
    tenants,
    trunks,
    users,
    ws,
)

ROUTERS: list[APIRouter] = [
    health.router,
    tenants.router,
    extensions.router,
    aliases.router,
    dids.router,
    ivr_apps.router,
    trunks.router,
    outbound_routes.router,
    users.router,
    calls.router,
    ws.router,
]
