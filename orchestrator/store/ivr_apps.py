"""Data functions for IVR applications and the DIDs (access numbers) that reach them.

An IVR app is a tenant's instance of a Python flow (``app``, e.g. ``visa_status``)
under a ``name`` that DIDs route to with the destination ``ivr:<name>``. The
flow's runner looks the app up on each call::

    app = get_ivr_app(session, tenant_id, "visa")   # IvrApp or None
    if app is None or not app.enabled: ...           # the dialplan hangs up on those anyway

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin):
apps of other tenants are invisible (:class:`NotFoundError`). ``known_apps`` is
the list of flows the running service has (``None``: accept any valid key).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import (
    Did,
    Extension,
    IvrApp,
    IvrAppCreate,
    IvrAppUpdate,
    utcnow,
)
from orchestrator.store.park import check_not_park_fallback
from orchestrator.store.ring_groups import check_not_in_groups

__all__ = [
    "allocate_number",
    "create_ivr_app",
    "delete_ivr_app",
    "get_ivr_app",
    "list_ivr_apps",
    "list_numbers",
    "read_ivr_app",
    "release_number",
    "update_ivr_app",
]


def _fields(
    session: Session,
    tenant_id: int,
    values: dict[str, Any],
    known_apps: Collection[str] | None,
) -> dict[str, Any]:
    refuse_nulls(values, *values)
    if "name" in values:
        values["name"] = v.ivr_name(values["name"], field="name")
    if "app" in values:
        key = v.ivr_app_key(values["app"])
        if known_apps is not None and key not in known_apps:
            known = sorted(known_apps)
            raise ValidationError(
                f"app: no IVR flow {key!r} in this service; known: {', '.join(known) or 'none'}",
                field="app",
                known=known,
            )
        values["app"] = key
    if "description" in values:
        values["description"] = v.description(values["description"])
    if "fallback" in values:
        target = v.ivr_fallback(values["fallback"])
        if target.kind == "extension":
            stmt = select(Extension.id).where(
                Extension.tenant_id == tenant_id, Extension.number == target.target
            )
            if not exists(session, stmt):
                raise ValidationError(
                    f"fallback: tenant {tenant_id} has no extension {target.target}",
                    field="fallback",
                )
        values["fallback"] = str(target)
    if "max_duration_s" in values:
        values["max_duration_s"] = v.bounded_int(
            values["max_duration_s"], 10, 14400, field="max_duration_s"
        )
    if "settings" in values:
        values["settings"] = v.ivr_settings(values["settings"])
    return values


def _check_name_free(
    session: Session, tenant_id: int, name: str, app_id: int | None = None
) -> None:
    stmt = select(IvrApp.id).where(
        IvrApp.tenant_id == tenant_id, IvrApp.name == name, IvrApp.id != app_id
    )
    if exists(session, stmt):
        raise ConflictError(f"IVR app {name} already exists in this tenant", field="name")


def _numbers_of(session: Session, app: IvrApp) -> list[str]:
    stmt = select(Did.number).where(
        Did.tenant_id == app.tenant_id, Did.destination == f"ivr:{app.name}"
    )
    return list(session.exec(stmt.order_by(Did.number)).all())


def create_ivr_app(
    *,
    session: Session,
    data: IvrAppCreate,
    scope: int | None = None,
    known_apps: Collection[str] | None = None,
) -> IvrApp:
    """Create an IVR app in ``data.tenant_id``; its name is unique within the tenant."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = _fields(session, tenant_id, data.model_dump(exclude={"tenant_id"}), known_apps)
    _check_name_free(session, tenant_id, values["name"])
    app = IvrApp(**values, tenant_id=tenant_id)
    session.add(app)
    bump_config(session, tenant_id)
    commit(session, app, what="IVR app")
    return app


def get_ivr_app(session: Session, tenant_id: int, name: str) -> IvrApp | None:
    """The tenant's IVR app called ``name`` (enabled or not), or None: the runner's lookup."""
    stmt = select(IvrApp).where(IvrApp.tenant_id == tenant_id, IvrApp.name == name)
    return session.exec(stmt).first()


def read_ivr_app(*, session: Session, app_id: int, scope: int | None = None) -> IvrApp:
    """The IVR app ``app_id`` (if visible in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(session, IvrApp, app_id, scope, what="IVR app", ivr_app_id=app_id)


def list_ivr_apps(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[IvrApp], int]:
    """One page of IVR apps, by tenant and name."""
    return page_by_tenant(
        session,
        IvrApp,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=(IvrApp.tenant_id, IvrApp.name),
    )


def update_ivr_app(
    *,
    session: Session,
    app_id: int,
    data: IvrAppUpdate,
    scope: int | None = None,
    known_apps: Collection[str] | None = None,
) -> IvrApp:
    """Change an IVR app (only the fields given); renaming is refused while DIDs reach it."""
    app = read_ivr_app(session=session, app_id=app_id, scope=scope)
    values = _fields(session, app.tenant_id, data.model_dump(exclude_unset=True), known_apps)
    if values.get("name", app.name) != app.name:
        _check_name_free(session, app.tenant_id, values["name"], app_id)
        numbers = _numbers_of(session, app)
        if numbers:
            raise ConflictError(
                f"IVR app {app.name} is reached by DIDs {', '.join(numbers)}; "
                "release them before renaming",
                dids=numbers,
            )
        check_not_in_groups(session, app.tenant_id, f"ivr:{app.name}", "before renaming")
        check_not_park_fallback(session, app.tenant_id, f"ivr:{app.name}", "before renaming")
    app.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(app)
    bump_config(session, app.tenant_id)
    commit(session, app, what="IVR app")
    return app


def delete_ivr_app(*, session: Session, app_id: int, scope: int | None = None) -> IvrApp:
    """Delete an IVR app; refused while DIDs reach it. Returns it (for its tenant)."""
    app = read_ivr_app(session=session, app_id=app_id, scope=scope)
    numbers = _numbers_of(session, app)
    if numbers:
        raise ConflictError(
            f"IVR app {app.name} is reached by DIDs {', '.join(numbers)}; release them first",
            dids=numbers,
        )
    check_not_in_groups(session, app.tenant_id, f"ivr:{app.name}", "first")
    check_not_park_fallback(session, app.tenant_id, f"ivr:{app.name}", "first")
    session.delete(app)
    bump_config(session, app.tenant_id)
    commit(session, what="IVR app")
    return app


# -- access numbers --------------------------------------------------------
def list_numbers(
    *,
    session: Session,
    app_id: int,
    scope: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[Did], int]:
    """One page of the DIDs routed to the app, by number."""
    app = read_ivr_app(session=session, app_id=app_id, scope=scope)
    stmt = select(Did).where(Did.tenant_id == app.tenant_id, Did.destination == f"ivr:{app.name}")
    return page(session, stmt, offset=offset, limit=limit, order_by=Did.number)


def allocate_number(*, session: Session, app_id: int, number: str, scope: int | None = None) -> Did:
    """Route the DID ``number`` to the app (destination ``ivr:<name>``).

    The DID must be the app's tenant's, or, for a system admin, unassigned
    inventory (it is then assigned to the tenant), and have no other
    destination; allocating it again is a no-op.
    """
    app = read_ivr_app(session=session, app_id=app_id, scope=scope)
    number = v.e164(number)
    did = session.exec(select(Did).where(Did.number == number)).first()
    # A tenant admin sees only its tenant's DIDs (as in /dids): others do not exist.
    if did is None or (scope is not None and did.tenant_id != scope):
        raise ValidationError(
            f"number: no DID {number} available to tenant {app.tenant_id}", field="number"
        )
    if did.tenant_id not in (None, app.tenant_id):
        raise ConflictError(
            f"DID {number} belongs to tenant {did.tenant_id}", field="number", number=number
        )
    destination = f"ivr:{app.name}"
    if did.destination not in (None, destination):
        raise ConflictError(
            f"DID {number} already routes to {did.destination}; clear its destination first",
            field="number",
            destination=did.destination,
        )
    did.sqlmodel_update(
        {"tenant_id": app.tenant_id, "destination": destination, "updated_at": utcnow()}
    )
    session.add(did)
    bump_config(session, app.tenant_id)
    commit(session, did, what="DID")
    return did


def release_number(*, session: Session, app_id: int, number: str, scope: int | None = None) -> Did:
    """Stop routing the DID ``number`` to the app: it stays the tenant's, with no destination."""
    app = read_ivr_app(session=session, app_id=app_id, scope=scope)
    number = v.e164(number)
    stmt = select(Did).where(
        Did.number == number,
        Did.tenant_id == app.tenant_id,
        Did.destination == f"ivr:{app.name}",
    )
    did = session.exec(stmt).first()
    if did is None:
        raise NotFoundError(f"DID {number} is not a number of IVR app {app.name}", number=number)
    did.sqlmodel_update({"destination": None, "updated_at": utcnow()})
    session.add(did)
    bump_config(session, app.tenant_id)
    commit(session, did, what="DID")
    return did
