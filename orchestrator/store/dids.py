"""Data functions for DIDs: the inventory of public numbers and where they ring.

A DID with no tenant is unassigned inventory (and has no destination). An
assigned DID's destination is ``extension:<number>`` (an extension of the
same tenant), ``ivr:<name>`` (an IVR app of the same tenant, see
:mod:`.ivr_apps`) or ``hangup``.

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin):
DIDs of other tenants are invisible (:class:`NotFoundError`), and only the
destination may be changed (:class:`PermissionDeniedError` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import (
    ConflictError,
    PermissionDeniedError,
    ValidationError,
)
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page,
    prefix_filter,
    read_scoped,
)
from orchestrator.store.models import (
    Did,
    DidCreate,
    DidUpdate,
    Extension,
    IvrApp,
    RingGroup,
    Schedule,
    Tenant,
    utcnow,
)

#: A destination's kind -> the tenant's table that must hold it, the column it names and
#: how an error calls it (the single-DID check and the CSV import share it).
DESTINATION_TABLES: dict[str, tuple[Any, Any, str]] = {
    "extension": (Extension, Extension.number, "extension"),
    "ivr": (IvrApp, IvrApp.name, "IVR app"),
    "ring_group": (RingGroup, RingGroup.number, "ring group"),
    "schedule": (Schedule, Schedule.name, "schedule"),
}


def check_destination(session: Session, tenant_id: int | None, destination: str | None) -> None:
    """Refuse a destination that is malformed, set on an unassigned DID, or that names no
    extension, IVR app, ring group or schedule of the tenant."""
    if destination is None:
        return
    target = v.parse_destination(destination)
    if tenant_id is None:
        raise ValidationError(
            "destination: an unassigned DID cannot have a destination", field="destination"
        )
    table = DESTINATION_TABLES.get(target.kind)
    if table is None:
        return  # hangup: nothing to find
    model, key, what = table
    stmt = select(model.id).where(model.tenant_id == tenant_id, key == target.target)
    if not exists(session, stmt):
        raise ValidationError(
            f"destination: tenant {tenant_id} has no {what} {target.target}",
            field="destination",
        )


def _check_tenant(session: Session, tenant_id: int | None) -> None:
    if tenant_id is not None and session.get(Tenant, tenant_id) is None:
        raise ValidationError(f"tenant_id: no tenant {tenant_id}", field="tenant_id")


def create_did(*, session: Session, data: DidCreate) -> Did:
    """Add a DID to the inventory, optionally assigned to a tenant with a destination."""
    number = v.e164(data.number)
    batch = v.pricing_batch(data.pricing_batch)
    destination = v.destination(data.destination) if data.destination is not None else None
    _check_tenant(session, data.tenant_id)
    check_destination(session, data.tenant_id, destination)
    if exists(session, select(Did.id).where(Did.number == number)):
        raise ConflictError(f"DID {number} already exists", field="number")
    did = Did(number=number, pricing_batch=batch, tenant_id=data.tenant_id, destination=destination)
    session.add(did)
    bump_config(session, did.tenant_id)
    commit(session, did, what="DID")
    return did


def get_did(*, session: Session, did_id: int, scope: int | None = None) -> Did:
    """The DID ``did_id`` (if visible in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(session, Did, did_id, scope, what="DID", did_id=did_id)


def list_dids(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    unassigned: bool | None = None,
    pricing_batch: str | None = None,
    number_prefix: str | None = None,
    scope: int | None = None,
) -> tuple[Sequence[Did], int]:
    """One page of DIDs, filtered; a ``scope`` sees only its own tenant's DIDs."""
    stmt = select(Did)
    if scope is not None:
        stmt = stmt.where(Did.tenant_id == scope)
    if tenant_id is not None:
        stmt = stmt.where(Did.tenant_id == tenant_id)
    if unassigned is not None:
        column = col(Did.tenant_id)
        stmt = stmt.where(column.is_(None) if unassigned else column.is_not(None))
    if pricing_batch is not None:
        stmt = stmt.where(Did.pricing_batch == pricing_batch)
    if number_prefix:
        if not number_prefix.isascii() or not number_prefix.lstrip("+").isdigit():
            raise ValidationError(
                "number_prefix: must be digits, optionally after '+'", field="number_prefix"
            )
        stmt = stmt.where(prefix_filter(Did.number, number_prefix))
    return page(session, stmt, offset=offset, limit=limit, order_by=Did.number)


def update_did(
    *, session: Session, did_id: int, data: DidUpdate, scope: int | None = None
) -> tuple[Did, set[int]]:
    """Change a DID; returns it and the tenants whose configuration changed.

    Moving a DID to another tenant (or back to the inventory) clears its
    destination unless a new one is given, since it named the old tenant's
    extension.
    """
    did = get_did(session=session, did_id=did_id, scope=scope)
    values: dict[str, Any] = data.model_dump(exclude_unset=True)
    if scope is not None and set(values) - {"destination"}:
        raise PermissionDeniedError(
            "a tenant admin may change only a DID's destination", fields=sorted(values)
        )
    if values.get("pricing_batch", "") is None:
        raise ValidationError("pricing_batch: must not be null", field="pricing_batch")
    if "pricing_batch" in values:
        values["pricing_batch"] = v.pricing_batch(values["pricing_batch"])
    if values.get("destination") is not None:
        values["destination"] = v.destination(values["destination"])
    old_tenant = did.tenant_id
    new_tenant = values.get("tenant_id", old_tenant)
    if new_tenant != old_tenant:
        _check_tenant(session, new_tenant)
        values.setdefault("destination", None)
    check_destination(session, new_tenant, values.get("destination", did.destination))
    did.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(did)
    bump_config(session, old_tenant, new_tenant)
    commit(session, did, what="DID")
    return did, {tid for tid in (old_tenant, new_tenant) if tid is not None}


def delete_did(*, session: Session, did_id: int) -> Did:
    """Remove a DID from the inventory; returns it (for its former tenant)."""
    did = get_did(session=session, did_id=did_id)
    session.delete(did)
    bump_config(session, did.tenant_id)
    commit(session, what="DID")
    return did
