"""API users and their bearer tokens.

Tokens are random (``secrets.token_urlsafe``), shown once on creation and
stored only as SHA-256 hex digests; a token is looked up by its digest. A
plain (unsalted) hash is enough because tokens carry 256 random bits, so
there is nothing to brute-force, and it keeps the lookup an index hit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.settings import Settings
from orchestrator.store._common import commit, exists, page, read_scoped, tenant_filter
from orchestrator.store.models import (
    EXTENSION_ROLES,
    ApiUser,
    ApiUserCreate,
    ApiUserUpdate,
    Extension,
    Role,
    Tenant,
)

#: The system admin that :func:`ensure_admin` creates and keeps in line with ORCH_ADMIN_TOKEN.
BOOTSTRAP_ADMIN = "admin"


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def _check_name(session: Session, name: str, user_id: int | None = None) -> str:
    name = v.display_name(name)
    if not name:
        raise ValidationError("name: must not be empty", field="name")
    if exists(session, select(ApiUser.id).where(ApiUser.name == name, ApiUser.id != user_id)):
        raise ConflictError(f"API user {name} already exists", field="name")
    return name


def _check_role(session: Session, data: ApiUserCreate) -> None:
    """A system admin has no tenant; every other role one; an agent and a self-care user
    one of its extensions."""
    if data.role == Role.SYSTEM_ADMIN:
        if data.tenant_id is not None:
            raise ValidationError(
                "tenant_id: a system_admin belongs to no tenant", field="tenant_id"
            )
    elif data.tenant_id is None or session.get(Tenant, data.tenant_id) is None:
        raise ValidationError(
            f"tenant_id: a {data.role} needs an existing tenant", field="tenant_id"
        )
    if data.role not in EXTENSION_ROLES:
        if data.extension_id is not None:
            raise ValidationError(
                f"extension_id: only an agent or a user has one, not a {data.role}",
                field="extension_id",
            )
        return
    if data.extension_id is None:
        raise ValidationError(
            f"extension_id: a {data.role} needs its extension", field="extension_id"
        )
    extension = session.get(Extension, data.extension_id)
    if extension is None or extension.tenant_id != data.tenant_id:
        raise ValidationError(
            f"extension_id: no extension {data.extension_id} in tenant {data.tenant_id}",
            field="extension_id",
        )


def create_api_user(
    *, session: Session, data: ApiUserCreate, scope: int | None = None
) -> tuple[ApiUser, str]:
    """Create an API user; returns it and its token (the only time the token is seen).

    A ``system_admin`` has no ``tenant_id``; every other role needs an existing one, and
    an ``agent`` or a ``user`` (self-care) an ``extension_id`` of that tenant. With a
    ``scope`` (a tenant admin's tenant) the ``tenant_id`` defaults to it, and another
    tenant is not found.
    """
    if scope is not None:
        if data.tenant_id is None:
            data = data.model_copy(update={"tenant_id": scope})
        elif data.tenant_id != scope:
            raise NotFoundError(f"tenant {data.tenant_id} not found", tenant_id=data.tenant_id)
    name = _check_name(session, data.name)
    _check_role(session, data)
    token = new_token()
    user = ApiUser(
        name=name,
        role=data.role,
        tenant_id=data.tenant_id,
        extension_id=data.extension_id,
        token_hash=hash_token(token),
    )
    session.add(user)
    commit(session, user, what="API user")
    return user, token


def get_api_user(*, session: Session, user_id: int, scope: int | None = None) -> ApiUser:
    """The API user ``user_id`` (if in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(session, ApiUser, user_id, scope, what="API user", user_id=user_id)


def list_api_users(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[ApiUser], int]:
    """One page of API users, optionally of one tenant (``scope``: a tenant admin's)."""
    stmt = select(ApiUser)
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(ApiUser.tenant_id == only)
    return page(session, stmt, offset=offset, limit=limit, order_by=ApiUser.id)


def update_api_user(
    *, session: Session, user_id: int, data: ApiUserUpdate, scope: int | None = None
) -> ApiUser:
    """Rename an API user (role, tenant and extension are fixed: create another instead)."""
    user = get_api_user(session=session, user_id=user_id, scope=scope)
    if data.name is not None:
        user.name = _check_name(session, data.name, user_id)
    session.add(user)
    commit(session, user, what="API user")
    return user


def delete_api_user(
    *, session: Session, user_id: int, scope: int | None = None, admin_token: str = ""
) -> None:
    """Delete an API user; the last system admin cannot be deleted, nor the one whose
    token is ``ORCH_ADMIN_TOKEN`` (``admin_token``) while that is set."""
    user = get_api_user(session=session, user_id=user_id, scope=scope)
    if user.role == Role.SYSTEM_ADMIN:
        # Locked (on PostgreSQL), so two admins deleting each other cannot leave none.
        others = session.exec(
            select(ApiUser.id)
            .where(ApiUser.role == Role.SYSTEM_ADMIN, ApiUser.id != user_id)
            .with_for_update()
        ).all()
        if not others:
            raise ConflictError(
                "the last system admin cannot be deleted: create another system admin first",
                user_id=user_id,
            )
        if admin_token and hmac.compare_digest(user.token_hash, hash_token(admin_token)):
            raise ConflictError(
                "this system admin logs in with ORCH_ADMIN_TOKEN, which would stop working "
                "until the service restarts: unset ORCH_ADMIN_TOKEN (or set another) and "
                "restart first",
                user_id=user_id,
            )
    session.delete(user)
    commit(session, what="API user")


def user_for_token(*, session: Session, token: str) -> ApiUser | None:
    """The API user whose token this is, or None."""
    digest = hash_token(token)
    user = session.exec(select(ApiUser).where(ApiUser.token_hash == digest)).first()
    # The lookup is by digest; compare again in constant time for good measure.
    if user is None or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user


def own_extension(*, session: Session, user: ApiUser) -> Extension | None:
    """An agent's or a self-care user's own extension (None for other roles, or gone)."""
    if user.extension_id is None:
        return None
    return session.get(Extension, user.extension_id)


def extension_number(*, session: Session, user: ApiUser) -> str | None:
    """The number of an agent's or a self-care user's own extension (None for others)."""
    extension = own_extension(session=session, user=user)
    return None if extension is None else extension.number


#: The rules for ``ORCH_ADMIN_TOKEN`` (README, Settings), said by the start-up error.
ADMIN_TOKEN_RULES = (
    "ORCH_ADMIN_TOKEN must be 16 to 256 printable ASCII characters without spaces "
    "(it is sent in an HTTP header), or unset: then a token is generated and printed "
    "once at the first start"
)
_ADMIN_TOKEN = re.compile(r"[!-~]{16,256}")


def check_admin_token(token: str) -> str:
    """``token`` if it may be ``ORCH_ADMIN_TOKEN`` ("" when unset); else ValidationError."""
    if token and not _ADMIN_TOKEN.fullmatch(token):
        raise ValidationError(
            f"{ADMIN_TOKEN_RULES} (the one set has {len(token)} characters)",
            field="admin_token",
        )
    return token


def ensure_admin(session: Session, settings: Settings) -> str | None:
    """Make sure a system admin can log in; returns a generated token to print once.

    * No system admin yet: create :data:`BOOTSTRAP_ADMIN` with ``ORCH_ADMIN_TOKEN``
      (returns None: the operator knows it) or with a generated token (returned).
    * ``ORCH_ADMIN_TOKEN`` set but matching no system admin: it becomes the
      token of :data:`BOOTSTRAP_ADMIN` (created if it was deleted), so changing
      the variable and restarting rotates the bootstrap token. Other system
      admins are left alone.
    * Otherwise nothing changes.
    """
    wanted = check_admin_token(settings.admin_token)
    admins = session.exec(select(ApiUser).where(ApiUser.role == Role.SYSTEM_ADMIN)).all()
    if admins and (not wanted or any(a.token_hash == hash_token(wanted) for a in admins)):
        return None
    token = wanted or new_token()
    bootstrap = session.exec(select(ApiUser).where(ApiUser.name == BOOTSTRAP_ADMIN)).first()
    if bootstrap is None:
        bootstrap = ApiUser(name=BOOTSTRAP_ADMIN, role=Role.SYSTEM_ADMIN, token_hash="")
    # A tenant's user that happens to be called "admin" is promoted: the name is reserved.
    bootstrap.role, bootstrap.tenant_id, bootstrap.extension_id = Role.SYSTEM_ADMIN, None, None
    bootstrap.token_hash = hash_token(token)
    session.add(bootstrap)
    commit(session, bootstrap, what="bootstrap admin")
    return None if wanted else token
