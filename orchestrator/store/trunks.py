"""Data functions for SIP trunks: a tenant's carriers, for outbound calls.

Each enabled trunk becomes an endpoint, an AOR (contact ``sip:<host>:<port>``)
and, with credentials, an outbound auth in the engine, all with the id
``trunk-t<tenant_id>-<name>`` (:func:`orchestrator.store.models.trunk_endpoint`).
The password is write-only: no ``Public`` shape shows it.

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin):
trunks of other tenants are invisible (:class:`NotFoundError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, ValidationError
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import OutboundRoute, Trunk, TrunkCreate, TrunkUpdate, utcnow

__all__ = [
    "check_credentials",
    "create_trunk",
    "delete_trunk",
    "list_trunks",
    "read_trunk",
    "trunk_fields",
    "update_trunk",
]

_OPTIONAL = {
    "username": v.sip_username,
    "password": v.trunk_password,
    "from_user": v.sip_username,
    "from_domain": v.sip_host,
    "caller_id_number": v.caller_id_number,
}


def trunk_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a trunk's fields (those present in ``values``)."""
    refuse_nulls(values, "name", "host", "port", "transport", "enabled")
    if "name" in values:
        values["name"] = v.slug(values["name"])
    if "host" in values:
        values["host"] = v.sip_host(values["host"])
    if "port" in values:
        values["port"] = v.bounded_int(values["port"], 1, 65535, field="port")
    if "transport" in values and values["transport"] != "udp":
        raise ValidationError("transport: only 'udp' is supported for now", field="transport")
    for key, check in _OPTIONAL.items():
        if key in values:
            # An empty string clears an optional field, like null.
            values[key] = check(values[key], field=key) if values[key] else None
    return values


def check_credentials(username: str | None, password: str | None) -> None:
    """Digest credentials come in pairs: a user name needs a password and the reverse."""
    if bool(username) != bool(password):
        field = "password" if username else "username"
        raise ValidationError(
            f"{field}: a trunk's username and password are set (or cleared) together",
            field=field,
        )


def _check_name_free(
    session: Session, tenant_id: int, name: str, trunk_id: int | None = None
) -> None:
    stmt = select(Trunk.id).where(
        Trunk.tenant_id == tenant_id, Trunk.name == name, Trunk.id != trunk_id
    )
    if exists(session, stmt):
        raise ConflictError(f"trunk {name} already exists in this tenant", field="name")


def create_trunk(*, session: Session, data: TrunkCreate, scope: int | None = None) -> Trunk:
    """Create a trunk in ``data.tenant_id``; its name is unique within the tenant."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = trunk_fields(data.model_dump(exclude={"tenant_id"}))
    check_credentials(values["username"], values["password"])
    _check_name_free(session, tenant_id, values["name"])
    trunk = Trunk(**values, tenant_id=tenant_id)
    session.add(trunk)
    bump_config(session, tenant_id)
    commit(session, trunk, what="trunk")
    return trunk


def read_trunk(*, session: Session, trunk_id: int, scope: int | None = None) -> Trunk:
    """The trunk ``trunk_id`` (if visible in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(session, Trunk, trunk_id, scope, what="trunk", trunk_id=trunk_id)


def list_trunks(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[Trunk], int]:
    """One page of trunks, by tenant and name."""
    return page_by_tenant(
        session,
        Trunk,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=(Trunk.tenant_id, Trunk.name),
    )


def update_trunk(
    *, session: Session, trunk_id: int, data: TrunkUpdate, scope: int | None = None
) -> Trunk:
    """Change a trunk (only the fields given). Routes follow it by id, so renaming is fine."""
    trunk = read_trunk(session=session, trunk_id=trunk_id, scope=scope)
    values = trunk_fields(data.model_dump(exclude_unset=True))
    check_credentials(
        values.get("username", trunk.username), values.get("password", trunk.password)
    )
    if "name" in values:
        _check_name_free(session, trunk.tenant_id, values["name"], trunk_id)
    trunk.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(trunk)
    bump_config(session, trunk.tenant_id)
    commit(session, trunk, what="trunk")
    return trunk


def delete_trunk(*, session: Session, trunk_id: int, scope: int | None = None) -> Trunk:
    """Delete a trunk; refused while outbound routes use it. Returns it (for its tenant)."""
    trunk = read_trunk(session=session, trunk_id=trunk_id, scope=scope)
    stmt = select(OutboundRoute.name).where(OutboundRoute.trunk_id == trunk_id)
    routes = sorted(session.exec(stmt).all())
    if routes:
        raise ConflictError(
            f"trunk {trunk.name} is used by outbound routes {', '.join(routes)}; "
            "move or delete them first",
            routes=routes,
        )
    session.delete(trunk)
    bump_config(session, trunk.tenant_id)
    commit(session, what="trunk")
    return trunk
