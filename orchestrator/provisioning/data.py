"""A validated snapshot of what one tenant's engine configuration is made from.

The snapshot is read from the store in one go and re-validated here, so that a
row written by any path (API, CSV import, a hand-edited database) cannot reach a
template unchecked. The composition root hands :func:`load_tenant` and
:func:`load_all` to the engine's kit; the snapshot's types are
:mod:`orchestrator.provisioning.tenant` (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from orchestrator import validation
from orchestrator.core.errors import ValidationError
from orchestrator.provisioning.tenant import (
    DialPattern,
    DidRoute,
    SipTrunk,
    SipUser,
    TenantConfig,
)
from orchestrator.store.models import (
    Account,
    Did,
    Extension,
    IvrApp,
    OutboundRoute,
    Tenant,
    Trunk,
)
from orchestrator.store.models import trunk_endpoint as _trunk_endpoint
from orchestrator.store.redirects import parse_redirect, redirect_reason
from orchestrator.store.routes import check_route_shape, route_fields
from orchestrator.store.trunks import check_credentials, trunk_fields

__all__ = [
    "DialPattern",
    "DidRoute",
    "SipTrunk",
    "SipUser",
    "TenantConfig",
    "load_all",
    "load_tenant",
    "snapshot",
]

_PASSWORD = re.compile(r"[A-Za-z0-9]{12,64}")


def _caller_id(ext: Any) -> str:
    name = validation.display_name(ext.caller_id_name or ext.name or "", field="caller_id_name")
    number = ext.caller_id_number or ext.number
    number = validation.caller_id_number(number)
    # The name passed display_name(), so it holds no quote, backslash or angle bracket.
    return f'"{name}" <{number}>' if name else f"<{number}>"


def _user(ext: Any, domain: str) -> SipUser:
    username = validation.sip_username(ext.sip_username)
    if not _PASSWORD.fullmatch(ext.sip_password or ""):
        raise ValidationError(
            f"extension {ext.number}: SIP password must be 12 to 64 letters or digits",
            field="sip_password",
        )
    return SipUser(
        number=validation.extension_number(ext.number),
        username=username,
        password=ext.sip_password,
        endpoint=f"{username}@{domain}",
        caller_id=_caller_id(ext),
    )


_TRUNK_COLUMNS = (
    "name",
    "host",
    "port",
    "transport",
    "username",
    "password",
    "from_user",
    "from_domain",
    "caller_id_number",
)
_ROUTE_COLUMNS = ("name", "prefix", "strip", "prepend", "min_length", "max_length", "priority")


def _trunk(tenant_id: int, row: Any) -> SipTrunk:
    values = trunk_fields({key: getattr(row, key) for key in _TRUNK_COLUMNS})
    check_credentials(values["username"], values["password"])
    return SipTrunk(
        endpoint=_trunk_endpoint(tenant_id, values["name"]),
        host=values["host"],
        port=values["port"],
        username=values["username"] or "",
        password=values["password"] or "",
        from_user=values["from_user"] or "",
        from_domain=values["from_domain"] or "",
        caller_id_number=values["caller_id_number"] or "",
    )


def _dial_patterns(
    tenant_id: int, trunks: Sequence[Any], routes: Sequence[Any]
) -> tuple[tuple[SipTrunk, ...], tuple[DialPattern, ...]]:
    """The enabled trunks and every route's patterns, one per number length.

    Two routes with the same prefix and an overlapping length give the same
    pattern: the lower priority (then the older route) keeps it, as in
    :func:`orchestrator.store.routes.resolve_outbound`. Between different
    prefixes the engine itself prefers the longer literal prefix.
    """
    by_id: dict[int, SipTrunk | None] = {}
    for row in trunks:
        if row.tenant_id != tenant_id:
            raise ValidationError(f"trunk {row.id} is not tenant {tenant_id}'s", field="trunk_id")
        by_id[row.id] = _trunk(tenant_id, row) if row.enabled else None
    patterns: dict[tuple[str, int], DialPattern] = {}
    for row in sorted(routes, key=lambda r: (r.priority, r.id)):
        if row.trunk_id not in by_id:
            raise ValidationError(
                f"outbound route {row.id}: trunk {row.trunk_id} is not tenant {tenant_id}'s",
                field="trunk_id",
            )
        values = route_fields({key: getattr(row, key) for key in _ROUTE_COLUMNS})
        check_route_shape(
            values["prefix"], values["strip"], values["min_length"], values["max_length"]
        )
        trunk = by_id[row.trunk_id]
        if trunk is None:
            continue  # a disabled trunk: its routes dial nothing, numbers fall through
        for length in range(values["min_length"], values["max_length"] + 1):
            patterns.setdefault(
                (values["prefix"], length),
                DialPattern(
                    prefix=values["prefix"],
                    length=length,
                    route=values["name"],
                    strip=values["strip"],
                    prepend=values["prepend"],
                    endpoint=trunk.endpoint,
                    caller_id_number=trunk.caller_id_number,
                ),
            )
    enabled = tuple(sorted((t for t in by_id.values() if t), key=lambda t: t.endpoint))
    return enabled, tuple(patterns[p] for p in sorted(patterns))


def snapshot(
    tenant: Any,
    extensions: list[Any],
    dids: list[Any],
    *,
    trunks: Sequence[Any] = (),
    routes: Sequence[Any] = (),
    ivr_apps: Sequence[Any] = (),
) -> TenantConfig:
    """Validate one tenant's rows (ORM objects or plain column rows) into a snapshot."""
    assert tenant.id is not None
    domain = validation.sip_domain(tenant.sip_domain)
    users = tuple(_user(e, domain) for e in extensions if e.enabled)
    numbers = {u.number for u in users}
    apps = {validation.ivr_name(a.name, field="name") for a in ivr_apps if a.enabled}
    did_routes = []
    for did in dids:
        number = validation.e164(did.number)
        dest = validation.parse_destination(did.destination or "hangup")
        if (dest.kind == "extension" and dest.target not in numbers) or (
            dest.kind == "ivr" and dest.target not in apps
        ):
            # The extension or IVR app is gone or disabled: the DID must fail clearly,
            # not ring nothing.
            dest = validation.Destination("hangup")
        did_routes.append(DidRoute(number=number, kind=dest.kind, target=dest.target))
    sip_trunks, patterns = _dial_patterns(tenant.id, trunks, routes)
    users = _redirected(users, [e for e in extensions if e.enabled], patterns)
    return TenantConfig(
        id=tenant.id,
        domain=domain,
        enabled=tenant.enabled,
        users=tuple(sorted(users, key=lambda u: u.number)),
        dids=tuple(sorted(did_routes, key=lambda r: r.number)),
        trunks=sip_trunks,
        dial_patterns=patterns,
    )


def _redirected(
    users: tuple[SipUser, ...], extensions: Sequence[Any], patterns: Sequence[DialPattern]
) -> tuple[SipUser, ...]:
    """The users with their standing redirects, each re-validated.

    A redirect is dropped (the phone rings) when its target is not an enabled extension
    of the tenant nor a number one of its dial patterns matches, or when it is part of
    a loop: the API refuses those, but rows can be changed by other paths.
    """
    numbers = {u.number for u in users}
    wanted: dict[str, tuple[str, str, str]] = {}
    for ext in extensions:
        stored = getattr(ext, "redirect_to", None)
        if not stored:
            continue
        kind, target = parse_redirect(stored, field="redirect_to")
        reason = redirect_reason(getattr(ext, "redirect_reason", "") or "")
        if not kind:  # a bare value (written by hand): an extension if there is one
            kind = "extension" if target in numbers else "number"
        if kind == "extension":
            routable = target in numbers and target != ext.number
        else:
            routable = any(_takes(p, target) for p in patterns)
        if routable:
            wanted[ext.number] = (kind, target, reason)
    to_extension = {n: t for n, (k, t, _r) in wanted.items() if k == "extension"}
    for number in [n for n in to_extension if _in_loop(n, to_extension)]:
        del wanted[number]
    return tuple(
        replace(u, redirect=wanted[u.number][1], redirect_reason=wanted[u.number][2])
        if u.number in wanted
        else u
        for u in users
    )


def _takes(pattern: DialPattern, number: str) -> bool:
    """Whether ``number`` is one a dial pattern (see :func:`_dial_patterns`) takes."""
    rest = number[len(pattern.prefix) :]
    return number.startswith(pattern.prefix) and len(rest) == pattern.length and rest.isdigit()


def _in_loop(start: str, to_extension: dict[str, str]) -> bool:
    seen: set[str] = set()
    current = to_extension.get(start)
    while current is not None and current not in seen:
        if current == start:
            return True
        seen.add(current)
        current = to_extension.get(current)
    return False


def load_tenant(session: Session, tenant_id: int) -> TenantConfig | None:
    """The tenant's snapshot, or None if it does not exist."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    exts = list(session.exec(select(Extension).where(Extension.tenant_id == tenant_id)))
    dids = list(session.exec(select(Did).where(Did.tenant_id == tenant_id)))
    trunks = list(session.exec(select(Trunk).where(Trunk.tenant_id == tenant_id)))
    routes = list(session.exec(select(OutboundRoute).where(OutboundRoute.tenant_id == tenant_id)))
    apps = list(session.exec(select(IvrApp).where(IvrApp.tenant_id == tenant_id)))
    config = snapshot(tenant, exts, dids, trunks=trunks, routes=routes, ivr_apps=apps)
    return replace(config, billing=_billing_modes(session, tenant_id).get(tenant_id, ""))


def _billing_modes(session: Session, tenant_id: int | None = None) -> dict[int, str]:
    """Per tenant with accounts: "prepaid" if any is prepaid, else "postpaid"."""
    statement = sa.select(Account.__table__.c.tenant_id, Account.__table__.c.kind)  # type: ignore[attr-defined]
    if tenant_id is not None:
        statement = statement.where(Account.__table__.c.tenant_id == tenant_id)  # type: ignore[attr-defined]
    modes: dict[int, str] = {}
    for row in session.execute(statement):
        if modes.get(row.tenant_id) != "prepaid":
            modes[row.tenant_id] = "prepaid" if row.kind == "prepaid" else "postpaid"
    return modes


# Table columns (not the model attributes, which type-check as plain values).
_T = Tenant.__table__.c  # type: ignore[attr-defined]
_E = Extension.__table__.c  # type: ignore[attr-defined]
_D = Did.__table__.c  # type: ignore[attr-defined]
_TR = Trunk.__table__.c  # type: ignore[attr-defined]
_R = OutboundRoute.__table__.c  # type: ignore[attr-defined]
_I = IvrApp.__table__.c  # type: ignore[attr-defined]
_EXT_COLUMNS = [
    _E[name]
    for name in (
        "tenant_id",
        "number",
        "name",
        "sip_username",
        "sip_password",
        "caller_id_name",
        "caller_id_number",
        "enabled",
        "redirect_to",
        "redirect_reason",
    )
]


def load_all(session: Session) -> list[TenantConfig]:
    """Every tenant's snapshot, in six queries whatever the number of tenants.

    Plain column rows, not ORM objects: building 100,000 ORM objects costs seconds.
    """
    tenants = session.execute(sa.select(_T.id, _T.sip_domain, _T.enabled).order_by(_T.id)).all()
    exts: dict[int, list[Any]] = {}
    for ext in session.execute(sa.select(*_EXT_COLUMNS)):
        exts.setdefault(ext.tenant_id, []).append(ext)
    dids: dict[int, list[Any]] = {}
    rows = session.execute(
        sa.select(_D.tenant_id, _D.number, _D.destination).where(_D.tenant_id.is_not(None))
    )
    for did in rows:
        dids.setdefault(did.tenant_id, []).append(did)
    trunks = _by_tenant(session, sa.select(_TR))
    routes = _by_tenant(session, sa.select(_R))
    apps = _by_tenant(session, sa.select(_I.tenant_id, _I.name, _I.enabled))
    modes = _billing_modes(session)
    return [
        replace(
            snapshot(
                t,
                exts.get(t.id, []),
                dids.get(t.id, []),
                trunks=trunks.get(t.id, []),
                routes=routes.get(t.id, []),
                ivr_apps=apps.get(t.id, []),
            ),
            billing=modes.get(t.id, ""),
        )
        for t in tenants
    ]


def _by_tenant(session: Session, statement: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for row in session.execute(statement):
        out.setdefault(row.tenant_id, []).append(row)
    return out
