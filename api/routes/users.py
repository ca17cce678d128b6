"""``/api/v1/users``: API users and their tokens.

A system admin manages every API user. A tenant admin manages its own tenant's
supervisors, agents and self-care users (``tenant_id`` defaults to its tenant; other
tenants' users answer 404, its fellow tenant admins 403). ``GET /api/v1/users/me`` tells
any caller who it is (role, tenant, an agent's or a user's extension). Roles: docs/roles.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.deps import AdminUser, AnyCaller, PageDep, SessionDep
from api.schemas import Page, page_of
from api.services import services_of
from orchestrator.bounds import StoreInt
from orchestrator.store import users
from orchestrator.store.models import ApiUserCreate, ApiUserCreated, ApiUserPublic, ApiUserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me")
def read_me(session: SessionDep, user: AnyCaller) -> ApiUserPublic:
    """The caller's own API user (no token); ``/api/v1/me`` tells more (tenant, extension)."""
    return ApiUserPublic.model_validate(users.get_api_user(session=session, user_id=user.user_id))


@router.get("")
def list_users(
    session: SessionDep, admin: AdminUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[ApiUserPublic]:
    rows, total = users.list_api_users(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        scope=admin.scope,
    )
    return page_of(ApiUserPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, admin: AdminUser, data: ApiUserCreate) -> ApiUserCreated:
    """Create an API user; the response holds its bearer token, this once.

    An ``agent`` or a ``user`` (self-care) names its ``extension_id`` (an extension of
    the same tenant).
    """
    admin.require_manages(data.role)
    user, token = users.create_api_user(session=session, data=data, scope=admin.scope)
    return ApiUserCreated(**ApiUserPublic.model_validate(user).model_dump(), token=token)


@router.get("/{user_id}")
def read_user(session: SessionDep, admin: AdminUser, user_id: StoreInt) -> ApiUserPublic:
    user = users.get_api_user(session=session, user_id=user_id, scope=admin.scope)
    return ApiUserPublic.model_validate(user)


@router.patch("/{user_id}")
def update_user(
    session: SessionDep, admin: AdminUser, user_id: StoreInt, data: ApiUserUpdate
) -> ApiUserPublic:
    target = users.get_api_user(session=session, user_id=user_id, scope=admin.scope)
    admin.require_manages(target.role)
    user = users.update_api_user(session=session, user_id=user_id, data=data, scope=admin.scope)
    return ApiUserPublic.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(request: Request, session: SessionDep, admin: AdminUser, user_id: StoreInt) -> None:
    """Delete an API user (not the last system admin); its token stops working at once."""
    target = users.get_api_user(session=session, user_id=user_id, scope=admin.scope)
    admin.require_manages(target.role)
    users.delete_api_user(
        session=session,
        user_id=user_id,
        scope=admin.scope,
        admin_token=services_of(request.app).settings.admin_token,
    )
