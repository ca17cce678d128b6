"""Bearer-token authentication and the caller's view of the data.

A request carries ``Authorization: Bearer <token>``; the token's SHA-256
digest names an API user (:mod:`orchestrator.store.users`). A system admin
sees everything; a tenant admin sees only its tenant, and everything of other
tenants answers 404, as if it did not exist.

The first system admin is made at start-up by :func:`ensure_admin` (see there
for how ``ORCH_ADMIN_TOKEN`` is honoured)::

    with session_factory() as session:
        token = ensure_admin(session, settings)
    if token:
        print(f"admin API token (shown once): {token}")
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.errors import NotFoundError, PermissionDeniedError
from orchestrator.store.models import ApiUser, Role
from orchestrator.store.users import ensure_admin

__all__ = ["Principal", "ensure_admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller (a detached copy of its API user row)."""

    user_id: int
    name: str
    role: Role
    tenant_id: int | None

    @classmethod
    def of(cls, user: ApiUser) -> Principal:
        assert user.id is not None
        return cls(user_id=user.id, name=user.name, role=Role(user.role), tenant_id=user.tenant_id)

    @property
    def is_system_admin(self) -> bool:
        return self.role == Role.SYSTEM_ADMIN

    @property
    def scope(self) -> int | None:
        """The only tenant this caller may see, or None for all of them."""
        return None if self.is_system_admin else self.tenant_id

    def require_system_admin(self) -> None:
        if not self.is_system_admin:
            raise PermissionDeniedError("this needs a system admin", role=str(self.role))

    def require_tenant(self, tenant_id: int) -> int:
        """``tenant_id`` if visible to the caller; another tenant is NotFound, not Forbidden."""
        if self.scope is not None and self.scope != tenant_id:
            raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
        return tenant_id
