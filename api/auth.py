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
  redirect, calls from its phone, its call history); anything else is 403.
* ``user`` (self-care): one extension's person. It has ``/api/v1/me`` (who it is, its
  own call history) and ``GET /api/v1/users/me``; every other route
  is 403, because :data:`api.deps.CurrentUser` (which every other route authenticates
  with, directly or through a role dependency) refuses it: a new route is closed to it
  unless it says otherwise (``api.deps.AnyCaller``). Its token stops working when its
  extension is deleted (the API user goes with it: 401) or disabled (403 until enabled).

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
RANK = {
    Role.USER: 0,
    Role.AGENT: 1,
    Role.SUPERVISOR: 2,
    Role.TENANT_ADMIN: 3,
    Role.SYSTEM_ADMIN: 4,
}

#: The API users a tenant admin may create, rename and delete in its tenant.
TENANT_MANAGED = frozenset({Role.SUPERVISOR, Role.AGENT, Role.USER})

_NEEDS = {
    Role.SYSTEM_ADMIN: "this needs a system admin, not a {role}",
    Role.TENANT_ADMIN: (
        "this needs a tenant admin, not a {role}: the configuration and call control are an admin's"
    ),
    Role.SUPERVISOR: "this needs a supervisor or an admin, not a {role}",
    Role.AGENT: (
        "this needs an agent, a supervisor or an admin, not a {role}: a self-care user has "
        "/api/v1/me (its own extension's things) only"
    ),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller (a detached copy of its API user row).

    ``extension_id`` / ``extension`` (its number) are an agent's or a self-care user's
    own extension.
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
    def is_user(self) -> bool:
        """A self-care user (role ``user``): its own extension's things only."""
        return self.role == Role.USER

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
        """A system admin manages every API user; a tenant admin its supervisors, agents and
        self-care users."""
        if self.is_system_admin:
            return
        self.require(Role.TENANT_ADMIN)
        if role not in TENANT_MANAGED:
            raise PermissionDeniedError(
                f"a tenant admin manages supervisors, agents and users; a {role} needs a "
                "system admin",
                role=str(self.role),
                target_role=str(role),
            )

    # -- a self-care user's (and an agent's) own extension ------------------------------
    def require_own_phone(self) -> tuple[int, int, str]:
        """``(tenant_id, extension_id, number)`` of the caller's own extension, for the
        ``/api/v1/me/...`` routes; 403 for a role that has none (admins, supervisors)."""
        if self.tenant_id is None or self.extension_id is None or self.extension is None:
            raise PermissionDeniedError(
                f"a {self.role} has no extension of its own: /api/v1/me/... is a self-care "
                "user's or an agent's (an admin reads the extension's things under "
                "/api/v1/tenants/... and /api/v1/cdrs)",
                role=str(self.role),
                needs=str(Role.USER),
            )
        return self.tenant_id, self.extension_id, self.extension

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
        if not self.is_agent:
            self.require(Role.SUPERVISOR)
        if agent_extension_id != self.extension_id:
            raise PermissionDeniedError(
                f"agent {agent_id} is not yours: an agent acts only on itself",
                role=str(self.role),
                agent_id=agent_id,
            )

    def require_call_placer(self) -> None:
        """Admins and agents place calls (agents from their own phone); supervisors do not."""
        if not self.is_agent and not self.at_least(Role.TENANT_ADMIN):
            why = (
                "a self-care user changes its settings, not calls"
                if self.is_user
                else "it has no phone of its own in the API"
            )
            raise PermissionDeniedError(
                f"a {self.role} cannot place calls: {why}",
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
        if not self.is_agent:
            self.require(Role.SUPERVISOR)
        if access_number is not None or extension is None or extension != self.extension:
            raise PermissionDeniedError(
                f"an agent subscribes to its own extension ({self.extension}) only",
                role=str(self.role),
                extension=extension,
            )
