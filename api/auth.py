"""Bearer-token authentication, roles, and the caller's view of the data.

A request carries ``Authorization: Bearer <token>``; the token's SHA-256
digest names an API user (:mod:`orchestrator.store.users`). A system admin
sees everything; every other role sees only its tenant, and everything of other
tenants answers 404, as if it did not exist.

Roles, from most to least (docs/roles.md has the route-by-route matrix):

* ``system_admin``: every tenant, tenants, DIDs inventory, API users.
* ``tenant_admin``: its tenant's configuration and call control; its supervisors
  and agents.
* ``supervisor``: reads its tenant's call center (queues, agents, calls, CDRs,
  recordings, wallboard, CTI events), logs agents in and out, pauses them,
  supervises calls; changes no configuration (403).
* ``agent``: acts only as the agent of its own extension (log in/out, pause, its
  redirect, calls from its phone); anything else is 403.

A role refused is 403 before anything is looked up, so a 403 tells nothing about
another tenant's data; an agent's own things are checked after the tenant (404).

The first system admin is made at start-up by :func:`ensure_admin` (see there
for how ``ORCH_ADMIN_TOKEN`` is honoured)::

    with session_factory() as session:
        token = ensure_admin(session, settings)
    if token:
        print(f"admin API token (shown once): {token}")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.core.errors import NotFoundError, PermissionDeniedError
from orchestrator.store.models import ApiUser, Role
from orchestrator.store.users import ensure_admin

__all__ = ["RANK", "TENANT_MANAGED", "Principal", "ensure_admin"]

#: Each role may do what the roles ranked below it may (an agent's own things aside).
RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.TENANT_ADMIN: 2, Role.SYSTEM_ADMIN: 3}

#: The API users a tenant admin may create, rename and delete in its tenant.
TENANT_MANAGED = frozenset({Role.SUPERVISOR, Role.AGENT})

_NEEDS = {
    Role.SYSTEM_ADMIN: "this needs a system admin, not a {role}",
    Role.TENANT_ADMIN: (
        "this needs a tenant admin, not a {role}: the configuration and call control are an admin's"
    ),
    Role.SUPERVISOR: "this needs a supervisor or an admin, not a {role}",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller (a detached copy of its API user row).

    ``extension_id`` / ``extension`` (its number) are an agent's own extension.
    """

    user_id: int
    name: str
    role: Role
    tenant_id: int | None
    extension_id: int | None = None
    extension: str | None = None

    @classmethod
    def of(cls, user: ApiUser, extension: str | None = None) -> Principal:
        assert user.id is not None
        return cls(
            user_id=user.id,
            name=user.name,
            role=Role(user.role),
            tenant_id=user.tenant_id,
            extension_id=user.extension_id,
            extension=extension,
        )

    @property
    def is_system_admin(self) -> bool:
        return self.role == Role.SYSTEM_ADMIN

    @property
    def is_agent(self) -> bool:
        return self.role == Role.AGENT

    @property
    def scope(self) -> int | None:
        """The only tenant this caller may see, or None for all of them."""
        return None if self.is_system_admin else self.tenant_id

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]

    def require(self, role: Role) -> None:
        """403 unless the caller's role is ``role`` or above."""
        if not self.at_least(role):
            message = _NEEDS[role].format(role=self.role)
            raise PermissionDeniedError(message, role=str(self.role), needs=str(role))

    def require_system_admin(self) -> None:
        self.require(Role.SYSTEM_ADMIN)

    def require_tenant(self, tenant_id: int) -> int:
        """``tenant_id`` if visible to the caller; another tenant is NotFound, not Forbidden."""
        if self.scope is not None and self.scope != tenant_id:
            raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
        return tenant_id

    def require_manages(self, role: Role) -> None:
        """A system admin manages every API user; a tenant admin its supervisors and agents."""
        if self.is_system_admin:
            return
        self.require(Role.TENANT_ADMIN)
        if role not in TENANT_MANAGED:
            raise PermissionDeniedError(
                f"a tenant admin manages supervisors and agents; a {role} needs a system admin",
                role=str(self.role),
                target_role=str(role),
            )

    # -- an agent's own things -----------------------------------------------------------
    def require_own_extension(self, extension_id: int, *, supervisor: bool = False) -> None:
        """Admins (and, if ``supervisor``, supervisors) pass; an agent only for its own."""
        if self.at_least(Role.SUPERVISOR if supervisor else Role.TENANT_ADMIN):
            return
        if not self.is_agent:
            self.require(Role.TENANT_ADMIN)
        if extension_id != self.extension_id:
            raise PermissionDeniedError(
                f"an agent acts on its own extension only (extension_id {self.extension_id})",
                role=str(self.role),
                extension_id=extension_id,
            )

    def require_own_agent(self, agent_extension_id: int, agent_id: int) -> None:
        """Supervisors and admins act on any agent; an agent only on the one of its extension."""
        if self.at_least(Role.SUPERVISOR):
            return
        if agent_extension_id != self.extension_id:
            raise PermissionDeniedError(
                f"agent {agent_id} is not yours: an agent acts only on itself",
                role=str(self.role),
                agent_id=agent_id,
            )

    def require_call_placer(self) -> None:
        """Admins and agents place calls (agents from their own phone); supervisors do not."""
        if not self.is_agent and not self.at_least(Role.TENANT_ADMIN):
            raise PermissionDeniedError(
                f"a {self.role} cannot place calls: it has no phone of its own in the API",
                role=str(self.role),
                needs=str(Role.TENANT_ADMIN),
            )

    def require_call_from(self, extension: str | None, chosen: Mapping[str, object]) -> None:
        """Admins place any call; an agent only from its own phone, paid and shown as usual.

        ``extension``: the number of the extension the call starts from (None: not an
        extension); ``chosen``: the optional fields whose defaults an agent must keep
        (caller IDs, the paying account).
        """
        self.require_call_placer()
        if self.at_least(Role.TENANT_ADMIN):
            return
        if extension is None or extension != self.extension:
            raise PermissionDeniedError(
                f"an agent places calls from its own extension ({self.extension}) only",
                role=str(self.role),
                extension=extension,
            )
        fields = sorted(name for name, value in chosen.items() if value is not None)
        if fields:
            raise PermissionDeniedError(
                f"an agent cannot choose {', '.join(fields)}: the extension's own apply",
                role=str(self.role),
                fields=fields,
            )

    def require_subscription(self, extension: str | None, access_number: str | None) -> None:
        """Supervisors and admins watch the tenant; an agent only its own extension."""
        if self.at_least(Role.SUPERVISOR):
            return
        if access_number is not None or extension is None or extension != self.extension:
            raise PermissionDeniedError(
                f"an agent subscribes to its own extension ({self.extension}) only",
                role=str(self.role),
                extension=extension,
            )
