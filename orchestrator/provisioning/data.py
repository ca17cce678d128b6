"""A validated snapshot of what one tenant's engine configuration is made from.

The snapshot is read from the store in one go and re-validated here, so that a
row written by any path (API, CSV import, a hand-edited database) cannot reach a
template unchecked. The composition root hands :func:`load_tenant` and
:func:`load_all` to the engine's kit; the snapshot's types are
:mod:`orchestrator.provisioning.tenant` (re-exported here).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from orchestrator import validation
from orchestrator.core.errors import ValidationError
from orchestrator.provisioning.tenant import (
    DialPattern,
    DidRoute,
    RingGroupRoute,
    RoomRoute,
    SipTrunk,
    SipUser,
    TenantConfig,
)
from orchestrator.store.models import (
    Account,
    CallSettings,
    ConferenceRoom,
    Did,
    Extension,
    IvrApp,
    OutboundRoute,
    RingGroup,
    Schedule,
    Tenant,
    TenantBlacklistEntry,
    Trunk,
)
from orchestrator.store.models import trunk_endpoint as _trunk_endpoint
from orchestrator.store.models.call_settings import MailboxOwners, is_managed, managed_owners
from orchestrator.store.redirects import parse_redirect, redirect_reason
from orchestrator.store.routes import check_route_shape, route_fields
from orchestrator.store.trunks import check_credentials, trunk_fields

__all__ = [
    "DialPattern",
    "DidRoute",
    "RingGroupRoute",
    "RoomRoute",
    "SipTrunk",
    "SipUser",
    "TenantConfig",
    "load_all",
    "load_tenant",
    "snapshot",
]

_PASSWORD = re.compile(r"[A-Za-z0-9]{12,64}")


# Values that recur across tenants (numbers 100-199 in each, names such as "Reception")
# are validated once per process rather than once per row: each validator is a pure
# function of its value and only a value that passed is remembered (typed: 1 and True
# and "1" are different keys), so a hostile value is refused every time it is read.
# Bounded, so unique values (passwords are not cached) cost a lookup and no memory.
_number = functools.lru_cache(maxsize=4096, typed=True)(validation.extension_number)
_username = functools.lru_cache(maxsize=4096, typed=True)(validation.sip_username)


@functools.lru_cache(maxsize=4096, typed=True)
def _caller_id_of(name: Any, number: Any) -> str:
    name = validation.display_name(name, field="caller_id_name")
    number = validation.caller_id_number(number)
    # The name passed display_name(), so it holds no quote, backslash or angle bracket.
    return f'"{name}" <{number}>' if name else f"<{number}>"


def _caller_id(ext: Any) -> str:
    return _caller_id_of(ext.caller_id_name or ext.name or "", ext.caller_id_number or ext.number)


def _user(ext: Any, domain: str) -> SipUser:
    username = _username(ext.sip_username)
    password = ext.sip_password
    if type(password) is not str or not _PASSWORD.fullmatch(password):
        raise ValidationError(
            f"extension {ext.number}: SIP password must be 12 to 64 letters or digits",
            field="sip_password",
        )
    return SipUser(
        number=_number(ext.number),
        username=username,
        password=password,
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
    rooms: Sequence[Any] = (),
    call_settings: Sequence[Any] = (),
    mailboxes: Collection[int] = (),
    ring_groups: Sequence[Any] = (),
    schedules: Collection[str] = (),
    blacklist: bool = False,
) -> TenantConfig:
    """Validate one tenant's rows (ORM objects or plain column rows) into a snapshot.

    ``call_settings`` (rows) and ``mailboxes`` (ids of extensions with a mailbox) decide
    which extensions are *managed* (see :func:`_managed`). ``schedules``: the names of
    the tenant's schedules; ``blacklist``: the tenant has blacklist entries. A DID to a
    schedule, and with a blacklist every DID that reaches something, is of the kind
    ``inbound``: the orchestrator's ``pbx_inbound`` flow takes its calls."""
    assert tenant.id is not None
    domain = validation.sip_domain(tenant.sip_domain)
    users = tuple(_user(e, domain) for e in extensions if e.enabled)
    numbers = {u.number for u in users}
    apps = {validation.ivr_name(a.name, field="name") for a in ivr_apps if a.enabled}
    # A group's number an extension or a room took since (the API refuses that, a row
    # written around it may not): the extension or room wins.
    taken = numbers | {r.number for r in rooms}
    group_routes = [
        RingGroupRoute(validation.extension_number(g.number), validation.ivr_name(g.name))
        for g in ring_groups
        if g.number not in taken
    ]
    groups = {g.number for g in group_routes}
    did_routes = []
    for did in dids:
        number = validation.e164(did.number)
        dest = validation.parse_destination(did.destination or "hangup")
        if (
            (dest.kind == "extension" and dest.target not in numbers)
            or (dest.kind == "ivr" and dest.target not in apps)
            or (dest.kind == "ring_group" and dest.target not in groups)
        ):
            # The extension, IVR app or ring group is gone or disabled: the DID must fail
            # clearly, not ring nothing.
            dest = validation.Destination("hangup")
        if dest.kind == "schedule" and dest.target not in schedules:
            dest = validation.Destination("hangup")  # not created yet, or gone
        kind = dest.kind
        if kind == "schedule" or (blacklist and kind in ("extension", "ivr", "ring_group")):
            kind = "inbound"
        did_routes.append(DidRoute(number=number, kind=kind, target=dest.target))
    # A room's number an extension took since (extensions refuse rooms' numbers, but
    # not a row written around the API): the extension wins.
    room_routes = [
        RoomRoute(validation.extension_number(r.number), validation.ivr_name(r.name))
        for r in rooms
        if r.number not in numbers
    ]
    sip_trunks, patterns = _dial_patterns(tenant.id, trunks, routes)
    users = _redirected(users, [e for e in extensions if e.enabled], patterns)
    users = _managed(users, extensions, call_settings, mailboxes)
    return TenantConfig(
        id=tenant.id,
        domain=domain,
        enabled=tenant.enabled,
        users=tuple(sorted(users, key=lambda u: u.number)),
        dids=tuple(sorted(did_routes, key=lambda r: r.number)),
        trunks=sip_trunks,
        dial_patterns=patterns,
        rooms=tuple(sorted(room_routes, key=lambda r: r.number)),
        ring_groups=tuple(sorted(group_routes, key=lambda g: g.number)),
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
    if not wanted:
        return users
    return tuple(
        replace(u, redirect=wanted[u.number][1], redirect_reason=wanted[u.number][2])
        if u.number in wanted
        else u
        for u in users
    )


def _managed(
    users: tuple[SipUser, ...],
    extensions: Sequence[Any],
    call_settings: Sequence[Any],
    mailboxes: Collection[int],
) -> tuple[SipUser, ...]:
    """The users whose calls must run through the orchestrator's ``pbx_extension`` flow:
    DND, a forward, follow-me on, call waiting off or a mailbox
    (:func:`~orchestrator.store.models.call_settings.is_managed`). A standing redirect
    still wins in the dialplan (the agent's busy/away comes first)."""
    by_extension = {row.extension_id: row for row in call_settings}
    managed = set()
    for ext in extensions:
        ext_id = getattr(ext, "id", None)  # rows built by hand (tests) may have none
        settings = by_extension.get(ext_id)
        has_mailbox = ext_id in mailboxes
        # Without settings or a mailbox an extension is not managed: asked only then.
        if (settings is not None or has_mailbox) and is_managed(settings, has_mailbox):
            managed.add(ext.number)
    if not managed:
        return users
    return tuple(replace(u, managed=True) if u.number in managed else u for u in users)


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


def load_tenant(
    session: Session, tenant_id: int, *, mailboxes: MailboxOwners = managed_owners
) -> TenantConfig | None:
    """The tenant's snapshot, or None if it does not exist. ``mailboxes``: the voicemail
    package's query of the extensions with a mailbox (none without it)."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    exts = list(session.exec(select(Extension).where(Extension.tenant_id == tenant_id)))
    dids = list(session.exec(select(Did).where(Did.tenant_id == tenant_id)))
    trunks = list(session.exec(select(Trunk).where(Trunk.tenant_id == tenant_id)))
    routes = list(session.exec(select(OutboundRoute).where(OutboundRoute.tenant_id == tenant_id)))
    apps = list(session.exec(select(IvrApp).where(IvrApp.tenant_id == tenant_id)))
    rooms = list(session.exec(select(ConferenceRoom).where(ConferenceRoom.tenant_id == tenant_id)))
    settings = list(session.exec(select(CallSettings).where(CallSettings.tenant_id == tenant_id)))
    groups = list(session.exec(select(RingGroup).where(RingGroup.tenant_id == tenant_id)))
    schedules = set(session.exec(select(Schedule.name).where(Schedule.tenant_id == tenant_id)))
    blacklist = session.exec(
        select(TenantBlacklistEntry.id).where(TenantBlacklistEntry.tenant_id == tenant_id).limit(1)
    ).first()
    config = snapshot(
        tenant, exts, dids, trunks=trunks, routes=routes, ivr_apps=apps, rooms=rooms,
        call_settings=settings, mailboxes=set(mailboxes(session, tenant_id)),
        ring_groups=groups, schedules=schedules, blacklist=blacklist is not None,
    )  # fmt: skip
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
_CR = ConferenceRoom.__table__.c  # type: ignore[attr-defined]
_CS = CallSettings.__table__.c  # type: ignore[attr-defined]
_RG = RingGroup.__table__.c  # type: ignore[attr-defined]
_S = Schedule.__table__.c  # type: ignore[attr-defined]
_B = TenantBlacklistEntry.__table__.c  # type: ignore[attr-defined]


class _ExtRow(NamedTuple):
    """An extension's columns :func:`load_all` reads. A named tuple: reading a field
    of it costs a tenth of reading one of SQLAlchemy's rows (0.3 us), which, at eight
    fields a user, was 0.2 s of a full apply at 100,000 users."""

    id: int
    tenant_id: int
    number: Any
    name: Any
    sip_username: Any
    sip_password: Any
    caller_id_name: Any
    caller_id_number: Any
    enabled: bool
    redirect_to: Any
    redirect_reason: Any


_EXT_COLUMNS = [_E[name] for name in _ExtRow._fields]


def load_all(session: Session, *, mailboxes: MailboxOwners = managed_owners) -> list[TenantConfig]:
    """Every tenant's snapshot, in fifteen queries whatever the number of tenants.

    Plain column rows, not ORM objects: building 100,000 ORM objects costs seconds.
    """
    tenants = session.execute(sa.select(_T.id, _T.sip_domain, _T.enabled).order_by(_T.id)).all()
    exts: dict[int, list[Any]] = {}
    for ext in map(_ExtRow._make, session.execute(sa.select(*_EXT_COLUMNS)).all()):
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
    rooms = _by_tenant(session, sa.select(_CR.tenant_id, _CR.number, _CR.name))
    settings = _by_tenant(session, sa.select(_CS))
    groups = _by_tenant(session, sa.select(_RG.tenant_id, _RG.number, _RG.name))
    schedules = _by_tenant(session, sa.select(_S.tenant_id, _S.name))
    blacklisted = {row.tenant_id for row in session.execute(sa.select(_B.tenant_id).distinct())}
    with_mailbox = set(mailboxes(session, None))
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
                rooms=rooms.get(t.id, []),
                call_settings=settings.get(t.id, []),
                mailboxes=with_mailbox,
                ring_groups=groups.get(t.id, []),
                schedules={s.name for s in schedules.get(t.id, [])},
                blacklist=t.id in blacklisted,
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
