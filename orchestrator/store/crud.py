"""Data functions for tenants, extensions and aliases (DIDs: :mod:`.dids`, users: :mod:`.users`).

Every function is keyword-only, validates its input with
:mod:`orchestrator.validation`, commits, and raises the core errors:
:class:`ValidationError` for bad input, :class:`NotFoundError` for a missing
object (or one outside the given tenant), :class:`ConflictError` for a
duplicate or an object still in use. Each mutation bumps the affected tenant's
``config_version``; telling the provisioner is the caller's job (after commit).

Example::

    tenant = crud.create_tenant(session=s, data=TenantCreate(name="A", sip_domain="a.example"))
    ext = crud.create_extension(session=s, tenant_id=tenant.id, data=ExtensionCreate(number="101"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from orchestrator.store._common import (
    bump_config,
    commit,
    contains_filter,
    exists,
    page,
    prefix_filter,
)
from orchestrator.store.models import (
    Alias,
    AliasCreate,
    AliasUpdate,
    ApiUser,
    ConferenceRoom,
    Did,
    Extension,
    ExtensionCreate,
    ExtensionUpdate,
    IvrApp,
    OutboundRoute,
    PagingGroup,
    RingGroup,
    SipCredentials,
    Tenant,
    TenantCreate,
    TenantUpdate,
    Trunk,
    utcnow,
)


# -- tenants ---------------------------------------------------------------
def _tenant_fields(values: dict[str, Any]) -> dict[str, Any]:
    if "name" in values:
        values["name"] = v.tenant_name(values["name"])
    if "sip_domain" in values:
        values["sip_domain"] = v.sip_domain(values["sip_domain"])
    return values


def _check_domain_free(session: Session, domain: str, tenant_id: int | None = None) -> None:
    stmt = select(Tenant.id).where(Tenant.sip_domain == domain, Tenant.id != tenant_id)
    if exists(session, stmt):
        raise ConflictError(f"SIP domain {domain} is already in use", field="sip_domain")


def create_tenant(*, session: Session, data: TenantCreate) -> Tenant:
    """Create a tenant; its SIP domain must be unused."""
    values = _tenant_fields(data.model_dump())
    _check_domain_free(session, values["sip_domain"])
    tenant = Tenant(**values)
    session.add(tenant)
    commit(session, tenant, what="tenant")
    return tenant


def get_tenant(*, session: Session, tenant_id: int) -> Tenant:
    """The tenant ``tenant_id``, or :class:`NotFoundError`."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    return tenant


def list_tenants(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    name: str | None = None,
    enabled: bool | None = None,
    only_id: int | None = None,
) -> tuple[Sequence[Tenant], int]:
    """One page of tenants; ``name`` matches a substring, ``only_id`` limits to one tenant."""
    stmt = select(Tenant)
    if name:
        stmt = stmt.where(contains_filter(Tenant.name, name))
    if enabled is not None:
        stmt = stmt.where(Tenant.enabled == enabled)
    if only_id is not None:
        stmt = stmt.where(Tenant.id == only_id)
    return page(session, stmt, offset=offset, limit=limit, order_by=Tenant.id)


def update_tenant(
    *, session: Session, tenant_id: int, data: TenantUpdate, scope: int | None = None
) -> Tenant:
    """Change a tenant's name, SIP domain or enabled flag (only the fields given).

    A tenant admin (``scope`` set) may change only the name.
    """
    if scope is not None and scope != tenant_id:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    tenant = get_tenant(session=session, tenant_id=tenant_id)
    values = data.model_dump(exclude_unset=True)
    if scope is not None and set(values) - {"name"}:
        raise PermissionDeniedError(
            "a tenant admin may change only the tenant's name", fields=sorted(values)
        )
    values = _tenant_fields(values)
    if values.get("enabled", True) is None:
        raise ValidationError("enabled: must be true or false", field="enabled")
    if "sip_domain" in values:
        _check_domain_free(session, values["sip_domain"], tenant_id)
    tenant.sqlmodel_update(values)
    session.add(tenant)
    bump_config(session, tenant_id)
    commit(session, tenant, what="tenant")
    return tenant


def delete_tenant(*, session: Session, tenant_id: int) -> None:
    """Delete a tenant with its extensions, aliases, IVR apps, routes, trunks and API users.

    Its DIDs go back to the inventory (no tenant, no destination).
    """
    tenant = get_tenant(session=session, tenant_id=tenant_id)
    # Explicit rather than ON DELETE alone, so the outcome does not depend on
    # the backend honouring foreign keys.
    session.execute(
        sa.update(Did)
        .where(col(Did.tenant_id) == tenant_id)
        .values(tenant_id=None, destination=None)
    )
    # Routes before trunks: a route's trunk_id has no ON DELETE.
    for table in (Alias, Extension, IvrApp, OutboundRoute, Trunk, ApiUser):
        session.execute(sa.delete(table).where(col(table.tenant_id) == tenant_id))
    session.delete(tenant)
    commit(session, what="tenant")


# -- extensions ------------------------------------------------------------
def _extension_fields(values: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "number": v.extension_number,
        "sip_username": v.sip_username,
        "name": v.display_name,
        "first_name": v.display_name,
        "last_name": v.display_name,
        "caller_id_name": v.display_name,
    }
    for key, check in checks.items():
        if values.get(key) is not None:
            values[key] = check(values[key], field=key)
    if values.get("email"):
        values["email"] = v.email(values["email"])
    elif "email" in values:
        values["email"] = None
    if values.get("caller_id_number"):
        values["caller_id_number"] = v.caller_id_number(values["caller_id_number"])
    for key in ("number", "sip_username", "enabled", *checks):
        if key in values and values[key] is None:
            raise ValidationError(f"{key}: must not be null", field=key)
    return values


def _check_extension_free(
    session: Session, tenant_id: int, values: dict[str, Any], extension_id: int | None = None
) -> None:
    for key in ("number", "sip_username"):
        if key in values:
            stmt = select(Extension.id).where(
                Extension.tenant_id == tenant_id,
                getattr(Extension, key) == values[key],
                Extension.id != extension_id,
            )
            if exists(session, stmt):
                raise ConflictError(
                    f"{key} {values[key]} is already used in this tenant", field=key
                )
    if "number" in values:
        stmt = select(ConferenceRoom.id).where(
            ConferenceRoom.tenant_id == tenant_id, ConferenceRoom.number == values["number"]
        )
        if exists(session, stmt):
            raise ConflictError(
                f"number {values['number']} is a conference room of this tenant", field="number"
            )
        stmt = select(RingGroup.id).where(
            RingGroup.tenant_id == tenant_id, RingGroup.number == values["number"]
        )
        if exists(session, stmt):
            raise ConflictError(
                f"number {values['number']} is a ring group of this tenant", field="number"
            )
        # *46<number> pages a group or calls an extension: one number cannot be both.
        stmt = select(PagingGroup.id).where(
            PagingGroup.tenant_id == tenant_id, PagingGroup.number == values["number"]
        )
        if exists(session, stmt):
            raise ConflictError(
                f"number {values['number']} is a paging group of this tenant", field="number"
            )


def _dids_routed_to(session: Session, tenant_id: int, number: str) -> list[str]:
    stmt = select(Did.number).where(
        Did.tenant_id == tenant_id, Did.destination == f"extension:{number}"
    )
    return list(session.exec(stmt).all())


def _check_not_a_destination(session: Session, extension: Extension, doing: str) -> None:
    """Refuse to delete or renumber an extension that DIDs, IVR fallbacks, other
    extensions' redirects, ring groups or the park lot's fallback still name."""
    dids = _dids_routed_to(session, extension.tenant_id, extension.number)
    if dids:
        raise ConflictError(
            f"extension {extension.number} is the destination of DIDs {', '.join(dids)}; "
            f"route them elsewhere {doing}",
            dids=dids,
        )
    stmt = select(IvrApp.name).where(
        IvrApp.tenant_id == extension.tenant_id,
        IvrApp.fallback == f"extension:{extension.number}",
    )
    apps = sorted(session.exec(stmt).all())
    if apps:
        raise ConflictError(
            f"extension {extension.number} is the fallback of IVR apps {', '.join(apps)}; "
            f"change their fallback {doing}",
            ivr_apps=apps,
        )
    from orchestrator.store.redirects import check_not_redirect_target

    check_not_redirect_target(session, extension, doing)
    from orchestrator.store.ring_groups import check_not_in_groups

    check_not_in_groups(session, extension.tenant_id, f"extension:{extension.number}", doing)
    from orchestrator.store.park import check_not_park_fallback

    check_not_park_fallback(session, extension.tenant_id, f"extension:{extension.number}", doing)


def create_extension(*, session: Session, tenant_id: int, data: ExtensionCreate) -> Extension:
    """Create an extension with a generated SIP password.

    ``number`` and ``sip_username`` (default: the number) are unique within the tenant.
    """
    get_tenant(session=session, tenant_id=tenant_id)
    values = data.model_dump()
    values["sip_username"] = values.get("sip_username") or values["number"]
    values = _extension_fields(values)
    _check_extension_free(session, tenant_id, values)
    extension = Extension(**values, tenant_id=tenant_id, sip_password=v.generate_password())
    session.add(extension)
    bump_config(session, tenant_id)
    commit(session, extension, what="extension")
    return extension


def get_extension(*, session: Session, tenant_id: int, extension_id: int) -> Extension:
    """The extension ``extension_id`` of ``tenant_id``, or :class:`NotFoundError`."""
    extension = session.get(Extension, extension_id)
    if extension is None or extension.tenant_id != tenant_id:
        raise NotFoundError(f"extension {extension_id} not found", extension_id=extension_id)
    return extension


def list_extensions(
    *,
    session: Session,
    tenant_id: int,
    offset: int = 0,
    limit: int = 100,
    number_prefix: str | None = None,
    name: str | None = None,
) -> tuple[Sequence[Extension], int]:
    """One page of a tenant's extensions, by number prefix and/or name substring.

    ``name`` matches the extension name, first or last name.
    """
    get_tenant(session=session, tenant_id=tenant_id)
    stmt = select(Extension).where(Extension.tenant_id == tenant_id)
    if number_prefix:
        if not number_prefix.isascii() or not number_prefix.isdigit():
            raise ValidationError("number_prefix: must be digits", field="number_prefix")
        stmt = stmt.where(prefix_filter(Extension.number, number_prefix))
    if name:
        stmt = stmt.where(
            sa.or_(
                contains_filter(Extension.name, name),
                contains_filter(Extension.first_name, name),
                contains_filter(Extension.last_name, name),
            )
        )
    return page(session, stmt, offset=offset, limit=limit, order_by=Extension.number)


def update_extension(
    *, session: Session, tenant_id: int, extension_id: int, data: ExtensionUpdate
) -> Extension:
    """Change an extension (only the fields given).

    Renumbering is refused while a DID or an IVR app's fallback names the old number.
    """
    extension = get_extension(session=session, tenant_id=tenant_id, extension_id=extension_id)
    values = _extension_fields(data.model_dump(exclude_unset=True))
    _check_extension_free(session, tenant_id, values, extension_id)
    if values.get("number", extension.number) != extension.number:
        _check_not_a_destination(session, extension, "before renumbering")
    extension.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(extension)
    bump_config(session, tenant_id)
    commit(session, extension, what="extension")
    return extension


def delete_extension(*, session: Session, tenant_id: int, extension_id: int) -> None:
    """Delete an extension and its aliases; refused while a DID or an IVR fallback names it."""
    extension = get_extension(session=session, tenant_id=tenant_id, extension_id=extension_id)
    _check_not_a_destination(session, extension, "first")
    session.execute(sa.delete(Alias).where(col(Alias.extension_id) == extension_id))
    session.delete(extension)
    bump_config(session, tenant_id)
    commit(session, what="extension")


def get_sip_credentials(*, session: Session, tenant_id: int, extension_id: int) -> SipCredentials:
    """An extension's SIP user name, password and domain (what a phone needs)."""
    extension = get_extension(session=session, tenant_id=tenant_id, extension_id=extension_id)
    tenant = get_tenant(session=session, tenant_id=tenant_id)
    return SipCredentials(
        extension_id=extension_id,
        sip_username=extension.sip_username,
        sip_password=extension.sip_password,
        sip_domain=tenant.sip_domain,
    )


# -- aliases ---------------------------------------------------------------
def _alias_fields(session: Session, tenant_id: int, values: dict[str, Any]) -> dict[str, Any]:
    if "alias" in values:
        values["alias"] = v.alias(values["alias"])
    if "extension_id" in values:
        extension = session.get(Extension, values["extension_id"])
        if extension is None or extension.tenant_id != tenant_id:
            raise ValidationError(
                f"extension_id: no extension {values['extension_id']} in this tenant",
                field="extension_id",
            )
    return values


def _check_alias_free(session: Session, alias: str, alias_id: int | None = None) -> None:
    if exists(session, select(Alias.id).where(Alias.alias == alias, Alias.id != alias_id)):
        raise ConflictError(f"alias {alias} is already in use", field="alias")


def create_alias(*, session: Session, tenant_id: int, data: AliasCreate) -> Alias:
    """Give an extension of ``tenant_id`` an alias, unique across all tenants."""
    get_tenant(session=session, tenant_id=tenant_id)
    values = _alias_fields(session, tenant_id, data.model_dump())
    _check_alias_free(session, values["alias"])
    alias = Alias(**values, tenant_id=tenant_id)
    session.add(alias)
    bump_config(session, tenant_id)
    commit(session, alias, what="alias")
    return alias


def get_alias(*, session: Session, tenant_id: int, alias_id: int) -> Alias:
    """The alias ``alias_id`` of ``tenant_id``, or :class:`NotFoundError`."""
    alias = session.get(Alias, alias_id)
    if alias is None or alias.tenant_id != tenant_id:
        raise NotFoundError(f"alias {alias_id} not found", alias_id=alias_id)
    return alias


def list_aliases(
    *,
    session: Session,
    tenant_id: int,
    offset: int = 0,
    limit: int = 100,
    extension_id: int | None = None,
) -> tuple[Sequence[Alias], int]:
    """One page of a tenant's aliases, optionally of one extension."""
    get_tenant(session=session, tenant_id=tenant_id)
    stmt = select(Alias).where(Alias.tenant_id == tenant_id)
    if extension_id is not None:
        stmt = stmt.where(Alias.extension_id == extension_id)
    return page(session, stmt, offset=offset, limit=limit, order_by=Alias.alias)


def update_alias(*, session: Session, tenant_id: int, alias_id: int, data: AliasUpdate) -> Alias:
    """Rename an alias or move it to another extension of the same tenant."""
    alias = get_alias(session=session, tenant_id=tenant_id, alias_id=alias_id)
    values = data.model_dump(exclude_unset=True)
    for key in ("alias", "extension_id"):
        if key in values and values[key] is None:
            raise ValidationError(f"{key}: must not be null", field=key)
    values = _alias_fields(session, tenant_id, values)
    if "alias" in values:
        _check_alias_free(session, values["alias"], alias_id)
    alias.sqlmodel_update(values)
    session.add(alias)
    bump_config(session, tenant_id)
    commit(session, alias, what="alias")
    return alias


def delete_alias(*, session: Session, tenant_id: int, alias_id: int) -> None:
    """Delete an alias."""
    alias = get_alias(session=session, tenant_id=tenant_id, alias_id=alias_id)
    session.delete(alias)
    bump_config(session, tenant_id)
    commit(session, what="alias")
