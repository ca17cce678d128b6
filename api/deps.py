"""FastAPI dependencies, as ``Annotated`` aliases for route signatures.

Example::

    @router.get("/{tenant_id}")
    def read_tenant(session: SessionDep, tenant_id: VisibleTenantId) -> TenantPublic: ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.auth import Principal
from api.config_state import ConfigState
from api.errors import AuthenticationError
from orchestrator.core import Engine
from orchestrator.store import users
from orchestrator.store._common import MAX_LIMIT

_bearer = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer <token>")


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request."""
    with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller named by the bearer token, or 401."""
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("missing bearer token")
    user = users.user_for_token(session=session, token=credentials.credentials)
    if user is None:
        raise AuthenticationError("invalid bearer token")
    principal = Principal.of(user)
    if not principal.is_system_admin and principal.tenant_id is None:
        # Cannot happen through the API; refuse rather than let "no tenant" mean "all".
        raise AuthenticationError("this API user belongs to no tenant")
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def get_system_admin(user: CurrentUser) -> Principal:
    """The caller, if a system admin; 403 otherwise."""
    user.require_system_admin()
    return user


SystemAdmin = Annotated[Principal, Depends(get_system_admin)]


def get_visible_tenant_id(tenant_id: Annotated[int, Path()], user: CurrentUser) -> int:
    """The ``{tenant_id}`` of the path, if the caller may see it; 404 otherwise."""
    return user.require_tenant(tenant_id)


VisibleTenantId = Annotated[int, Depends(get_visible_tenant_id)]


@dataclass(frozen=True, slots=True)
class PageParams:
    offset: int
    limit: int


def get_page_params(
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> PageParams:
    return PageParams(offset=offset, limit=limit)


PageDep = Annotated[PageParams, Depends(get_page_params)]


def get_config_state(request: Request) -> ConfigState:
    state: ConfigState = request.app.state.config_state
    return state


ConfigStateDep = Annotated[ConfigState, Depends(get_config_state)]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
