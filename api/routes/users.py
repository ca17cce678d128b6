"""``/api/v1/users``: API users and their tokens (system admin only)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import PageDep, SessionDep, SystemAdmin
from api.schemas import Page, page_of
from orchestrator.store import users
from orchestrator.store.models import ApiUserCreate, ApiUserCreated, ApiUserPublic, ApiUserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("")
def list_users(
    session: SessionDep, _admin: SystemAdmin, page: PageDep, tenant_id: int | None = None
) -> Page[ApiUserPublic]:
    rows, total = users.list_api_users(
        session=session, offset=page.offset, limit=page.limit, tenant_id=tenant_id
    )
    return page_of(ApiUserPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, _admin: SystemAdmin, data: ApiUserCreate) -> ApiUserCreated:
    """Create an API user; the response holds its bearer token, this once."""
    user, token = users.create_api_user(session=session, data=data)
    return ApiUserCreated(**ApiUserPublic.model_validate(user).model_dump(), token=token)


@router.get("/{user_id}")
def read_user(session: SessionDep, _admin: SystemAdmin, user_id: int) -> ApiUserPublic:
    return ApiUserPublic.model_validate(users.get_api_user(session=session, user_id=user_id))


@router.patch("/{user_id}")
def update_user(
    session: SessionDep, _admin: SystemAdmin, user_id: int, data: ApiUserUpdate
) -> ApiUserPublic:
    user = users.update_api_user(session=session, user_id=user_id, data=data)
    return ApiUserPublic.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(session: SessionDep, _admin: SystemAdmin, user_id: int) -> None:
    """Delete an API user (not the last system admin)."""
    users.delete_api_user(session=session, user_id=user_id)
