"""Data functions for feature codes (model: orchestrator/store/models/feature_codes.py).

A tenant's effective codes are the catalogue's defaults (:mod:`orchestrator.pbx.codes`)
with its stored overrides. Every change is checked whole before anything is written:
a bad code or an unknown action is 422, a code that would shadow another code or one of
the tenant's numbers 409 (``details.collisions``), and a refused request changes nothing.
Example::

    update_codes(session=s, tenant_id=1, codes={"agent_login": "*71"})
    enabled_codes(s, 1)["agent_login"]    # "*71": what the dispatcher matches
    update_codes(session=s, tenant_id=1, codes={"agent_login": None})   # back to *61
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.pbx.codes import (
    ACTIONS,
    CATALOGUE,
    Collision,
    Number,
    check_action,
    check_code,
    collisions,
)
from orchestrator.store._common import commit
from orchestrator.store.models import (
    ConferenceRoom,
    Did,
    Extension,
    FeatureCode,
    FeatureCodePublic,
    FeatureCodeTable,
    OutboundRoute,
    Tenant,
    utcnow,
)

__all__ = [
    "check_number_free",
    "enabled_codes",
    "extension_on_endpoint",
    "read_codes",
    "update_codes",
]


def _tenant(session: Session, tenant_id: int, scope: int | None) -> None:
    # Another tenant than a tenant admin's own answers like a missing one.
    if (scope is not None and scope != tenant_id) or session.get(Tenant, tenant_id) is None:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)


def _overrides(session: Session, tenant_id: int) -> dict[str, FeatureCode]:
    rows = session.exec(select(FeatureCode).where(FeatureCode.tenant_id == tenant_id)).all()
    # A row of an action the catalogue no longer has is ignored, not an error.
    return {row.action: row for row in rows if row.action in ACTIONS}


def _table(overrides: Mapping[str, FeatureCode]) -> list[FeatureCodePublic]:
    out = []
    for action in CATALOGUE:
        row = overrides.get(action.name)
        out.append(
            FeatureCodePublic(
                action=action.name,
                code=(row.code if row is not None and row.code else action.default),
                default=action.default,
                enabled=row.enabled if row is not None else True,
                argument=action.argument,
                description=action.description,
            )
        )
    return out


def read_codes(*, session: Session, tenant_id: int, scope: int | None = None) -> FeatureCodeTable:
    """Every action with its code in ``tenant_id`` (404 outside a tenant admin's scope)."""
    _tenant(session, tenant_id, scope)
    return FeatureCodeTable(tenant_id=tenant_id, codes=_table(_overrides(session, tenant_id)))


def enabled_codes(session: Session, tenant_id: int) -> dict[str, str]:
    """action -> code for the tenant's codes that are on: what the dispatcher matches."""
    return {c.action: c.code for c in _table(_overrides(session, tenant_id)) if c.enabled}


def _dialable(session: Session, tenant_id: int) -> list[Number]:
    """The tenant's numbers a code could shadow: those starting with ``*`` or ``#``.

    Extensions and rooms are digits and DIDs E.164 today, so only outbound routes'
    prefixes can start so; the others are read too, so that widening their syntax
    cannot let a code shadow them unseen."""

    def starred(column: object) -> sa.ColumnElement[bool]:
        c = col(column)
        return sa.or_(c.startswith("*"), c.startswith("#"))

    numbers: list[Number] = []
    for number in session.exec(
        select(Extension.number).where(Extension.tenant_id == tenant_id, starred(Extension.number))
    ):
        numbers.append(Number("extension", number, number))
    for number in session.exec(
        select(Did.number).where(Did.tenant_id == tenant_id, starred(Did.number))
    ):
        numbers.append(Number("did", number, number))
    for name, number in session.exec(
        select(ConferenceRoom.name, ConferenceRoom.number).where(
            ConferenceRoom.tenant_id == tenant_id, starred(ConferenceRoom.number)
        )
    ):
        numbers.append(Number("conference_room", number, name))
    for name, prefix in session.exec(
        select(OutboundRoute.name, OutboundRoute.prefix).where(
            OutboundRoute.tenant_id == tenant_id, starred(OutboundRoute.prefix)
        )
    ):
        numbers.append(Number("outbound_route", prefix, name))
    return numbers


def _refuse(found: list[Collision]) -> None:
    if found:
        raise ConflictError(
            "; ".join(c.message for c in found[:5]),
            collisions=[c.details() for c in found],
        )


def update_codes(
    *,
    session: Session,
    tenant_id: int,
    codes: Mapping[str, str | None] | None = None,
    enabled: Mapping[str, bool] | None = None,
    scope: int | None = None,
) -> FeatureCodeTable:
    """Change the codes named in ``codes`` (None: back to the default) and turn those in
    ``enabled`` on or off; the whole table is checked before anything is written."""
    _tenant(session, tenant_id, scope)
    codes, enabled = dict(codes or {}), dict(enabled or {})
    for action in [*codes, *enabled]:
        check_action(action, field=f"codes.{action}" if action in codes else f"enabled.{action}")
    for action, code in codes.items():
        if code is not None:
            check_code(code, field=f"codes.{action}")
    overrides = _overrides(session, tenant_id)
    wanted: dict[str, tuple[str | None, bool]] = {
        a: (row.code, row.enabled) for a, row in overrides.items()
    }
    for action, code in codes.items():
        old = wanted.get(action, (None, True))
        wanted[action] = (None if code == ACTIONS[action].default else code, old[1])
    for action, on in enabled.items():
        wanted[action] = (wanted.get(action, (None, True))[0], on)
    effective = {a: code or ACTIONS[a].default for a, (code, on) in wanted.items() if on} | {
        a.name: a.default for a in CATALOGUE if a.name not in wanted
    }
    _refuse(collisions(effective, _dialable(session, tenant_id)))
    _write(session, tenant_id, overrides, wanted)
    return FeatureCodeTable(tenant_id=tenant_id, codes=_table(_overrides(session, tenant_id)))


def _write(
    session: Session,
    tenant_id: int,
    overrides: Mapping[str, FeatureCode],
    wanted: Mapping[str, tuple[str | None, bool]],
) -> None:
    now = utcnow()
    for action, (code, on) in wanted.items():
        row = overrides.get(action)
        if code is None and on:
            if row is not None:
                session.delete(row)  # the default again: nothing to keep
        elif row is None:
            row = FeatureCode(tenant_id=tenant_id, action=action, code=code, enabled=on)
            session.add(row)
        elif (row.code, row.enabled) != (code, on):
            row.sqlmodel_update({"code": code, "enabled": on, "updated_at": now})
            session.add(row)
    commit(session, what="feature codes")


def check_number_free(
    session: Session, tenant_id: int, numbers: Iterable[Number], *, field: str
) -> None:
    """:class:`ConflictError` (409) if one of ``numbers`` would shadow one of the tenant's
    enabled codes or be shadowed by it: the check a new outbound route prefix (or any
    number that may start with ``*``/``#``) passes."""
    starred = [n for n in numbers if n.value.startswith(("*", "#"))]
    if not starred:
        return
    codes = enabled_codes(session, tenant_id)
    found = [c for c in collisions(codes, starred) if c.other.kind != "feature_code"]
    if found:
        raise ConflictError(
            f"{field}: " + "; ".join(c.message for c in found[:5]),
            field=field,
            collisions=[c.details() for c in found],
        )


def extension_on_endpoint(
    session: Session, tenant_id: int, endpoint: str
) -> tuple[int, str] | None:
    """(id, number) of ``tenant_id``'s extension whose SIP endpoint is ``endpoint``
    (``<sip_username>@<tenant sip_domain>``), or None (a trunk, another tenant's phone)."""
    user, _, domain = endpoint.partition("@")
    row = session.exec(
        select(Extension.id, Extension.number)
        .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
        .where(
            Extension.tenant_id == tenant_id,
            Tenant.sip_domain == domain,
            Extension.sip_username == user,
        )
    ).first()
    return None if row is None or row[0] is None else (row[0], row[1])
