"""FastAPI dependencies, as ``Annotated`` aliases for route signatures.

Example::

    @router.get("/{tenant_id}")
    def read_tenant(session: SessionDep, tenant_id: VisibleTenantId) -> TenantPublic: ...

Roles are enforced here (the matrix is in docs/roles.md): a router or a route names
the least role it needs in its ``dependencies``, which FastAPI solves before anything
else of the request, so a refused role is 403 before any lookup::

    router = APIRouter(prefix="/api/v1/trunks", dependencies=[RequireAdmin])

    @router.get("/{queue_id}/status", dependencies=[RequireSupervisor])
    def queue_status(...): ...

An agent's own things are checked by the path parameters ``AgentId``,
``OwnExtensionId`` and ``ReadableExtensionId``, and by
:meth:`~api.auth.Principal.require_call_from` for the calls it places.

A self-care user (role ``user``) is refused by ``CurrentUser`` itself, so by every route
that does not take ``AnyCaller`` (``/api/v1/me...``, ``GET /api/v1/users/me``)::

    @router.get("/calls")
    def my_calls(session: SessionDep, me: AnyCaller, ...) -> Page[MyCallPublic]:
        tenant_id, extension_id, number = me.require_own_phone()
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
from api.services import Services, services_of
from orchestrator.bounds import StoreInt
from orchestrator.core import Engine
from orchestrator.core.errors import PermissionDeniedError
from orchestrator.store import users
from orchestrator.store._common import MAX_LIMIT, read_scoped
from orchestrator.store.models import EXTENSION_ROLES, QueueAgent, Role

_bearer = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer <token>")


def get_services(request: Request) -> Services:
    """The app's typed services (api.services); every other dependency starts here."""
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One database session per request."""
    with services.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_caller(session: SessionDep, credentials: Credentials) -> Principal:
    """The caller named by the bearer token, any role (a self-care user too), or 401.

    A self-care user whose extension is disabled is 403 on everything until an admin
    enables it again (deleting the extension deletes the user: 401).
    """
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("missing bearer token")
    user = users.user_for_token(session=session, token=credentials.credentials)
    if user is None:
        raise AuthenticationError("invalid bearer token")
    extension = users.own_extension(session=session, user=user)
    principal = Principal.of(user, None if extension is None else extension.number)
    if not principal.is_system_admin and principal.tenant_id is None:
        # The database refuses it (a CHECK); refuse rather than let "no tenant" mean "all".
        raise AuthenticationError("this API user belongs to no tenant")
    if principal.role in EXTENSION_ROLES and extension is None:
        raise AuthenticationError(f"this {principal.role}'s extension no longer exists")
    if principal.is_user and extension is not None and not extension.enabled:
        raise PermissionDeniedError(
            f"extension {extension.number} is disabled: its self-care user can do nothing "
            "until an admin enables it again",
            role=str(principal.role),
            extension=extension.number,
        )
    return principal


def get_current_user(session: SessionDep, credentials: Credentials) -> Principal:
    """The caller named by the bearer token (401), if not a self-care user (403).

    Every route but ``/api/v1/me...`` and ``GET /api/v1/users/me`` authenticates with this
    (as ``CurrentUser`` or through a role dependency), so a self-care user is refused
    everywhere a route does not ask for :data:`AnyCaller` explicitly.
    """
    principal = get_caller(session, credentials)
    principal.require(Role.AGENT)
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]
#: Any authenticated caller, a self-care user included: only routes of its own things.
AnyCaller = Annotated[Principal, Depends(get_caller)]


def get_system_admin(user: CurrentUser) -> Principal:
    """The caller, if a system admin; 403 otherwise."""
    user.require_system_admin()
    return user


SystemAdmin = Annotated[Principal, Depends(get_system_admin)]


def get_admin(user: CurrentUser) -> Principal:
    """The caller, if a system or tenant admin; 403 otherwise (the configuration)."""
    user.require(Role.TENANT_ADMIN)
    return user


def get_supervisor(user: CurrentUser) -> Principal:
    """The caller, if a supervisor or an admin; 403 otherwise (agents)."""
    user.require(Role.SUPERVISOR)
    return user


def get_call_placer(user: CurrentUser) -> Principal:
    """The caller, if an admin or an agent (supervisors place no calls); 403 otherwise.

    An agent still calls only from its own extension: see ``require_call_from``.
    """
    user.require_call_placer()
    return user


#: For ``dependencies=[...]`` of a router or a route: the least role it needs.
RequireAdmin = Depends(get_admin)
RequireSupervisor = Depends(get_supervisor)
RequireCallPlacer = Depends(get_call_placer)
#: Any role but a self-care user: for a router whose routes solve a service dependency
#: (503 when the feature is off) before their ``CurrentUser``, so the role comes first.
RequireStaff = Depends(get_current_user)
AdminUser = Annotated[Principal, Depends(get_admin)]
SupervisorUser = Annotated[Principal, Depends(get_supervisor)]


def check_agent(session: Session, user: Principal, agent_id: StoreInt) -> None:
    """404 for an agent the caller cannot see; 403 for an agent acting on another one."""
    if user.at_least(Role.SUPERVISOR):
        return  # the action itself looks the agent up in the caller's scope
    agent = read_scoped(session, QueueAgent, agent_id, user.scope, what="agent", agent_id=agent_id)
    user.require_own_agent(agent.extension_id, agent_id)


def get_agent_id(
    session: SessionDep, user: CurrentUser, agent_id: Annotated[StoreInt, Path()]
) -> int:
    """The ``{agent_id}`` of the path, if the caller may act on that agent (see check_agent)."""
    check_agent(session, user, agent_id)
    return agent_id


AgentId = Annotated[int, Depends(get_agent_id)]


def get_own_extension_id(user: CurrentUser, extension_id: Annotated[StoreInt, Path()]) -> int:
    """The ``{extension_id}`` of the path for an admin, or an agent's own; 403 otherwise."""
    user.require_own_extension(extension_id)
    return extension_id


def get_readable_extension_id(user: CurrentUser, extension_id: Annotated[StoreInt, Path()]) -> int:
    """As :func:`get_own_extension_id`, and supervisors may read any of their tenant's."""
    user.require_own_extension(extension_id, supervisor=True)
    return extension_id


OwnExtensionId = Annotated[int, Depends(get_own_extension_id)]
ReadableExtensionId = Annotated[int, Depends(get_readable_extension_id)]


def get_visible_tenant_id(tenant_id: Annotated[StoreInt, Path()], user: CurrentUser) -> int:
    """The ``{tenant_id}`` of the path, if the caller may see it; 404 otherwise."""
    return user.require_tenant(tenant_id)


VisibleTenantId = Annotated[int, Depends(get_visible_tenant_id)]


@dataclass(frozen=True, slots=True)
class PageParams:
    offset: StoreInt
    limit: StoreInt


def get_page_params(
    offset: Annotated[StoreInt, Query(ge=0)] = 0,
    limit: Annotated[StoreInt, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> PageParams:
    return PageParams(offset=offset, limit=limit)


PageDep = Annotated[PageParams, Depends(get_page_params)]


def get_config_state(services: ServicesDep) -> ConfigState:
    return services.config_state


ConfigStateDep = Annotated[ConfigState, Depends(get_config_state)]


def get_engine(services: ServicesDep) -> Engine:
    return services.engine


EngineDep = Annotated[Engine, Depends(get_engine)]
