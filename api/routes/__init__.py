"""The API's routers, in the order they appear in the OpenAPI document."""

from fastapi import APIRouter

from api.routes import aliases, dids, extensions, health, tenants, users

ROUTERS: list[APIRouter] = [
    health.router,
    tenants.router,
    extensions.router,
    aliases.router,
    dids.router,
    users.router,
]
