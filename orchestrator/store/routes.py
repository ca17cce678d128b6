"""Outbound routes: which trunk a number a tenant's user dials leaves through.

A route matches a dialed number that starts with its ``prefix`` and continues
with ``min_length`` to ``max_length`` digits (0-9 only). The number sent to the
trunk is ``prepend`` + the dialed number without its first ``strip`` digits.
When several routes match, the longest prefix wins, then the lowest
``priority``, then the oldest route: the same choice the engine's dialplan makes
(see ``dialplan_templates/asterisk/tenant/extensions.conf.j2``), so a call placed
through the REST API leaves by the same trunk as one dialed from a phone::

    target = resolve_outbound(session, tenant_id, "90044207946000")
    # OutboundTarget(trunk_endpoint="trunk-t1-carrier", number="0044207946000",
    #                caller_id_number="+442079460000")

Routes through a disabled trunk are skipped. ``scope`` is the tenant a tenant
admin acts for (``None`` for a system admin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.pbx.codes import Number
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.feature_codes import check_number_free
from orchestrator.store.models import (
    OutboundRoute,
    OutboundRouteCreate,
    OutboundRouteUpdate,
    Tenant,
    Trunk,
    utcnow,
)

__all__ = [
    "MAX_NUMBER_LENGTH",
    "OutboundTarget",
    "check_route_shape",
    "create_route",
    "delete_route",
    "list_routes",
    "read_route",
    "resolve_outbound",
    "route_fields",
    "route_matches",
    "update_route",
]

# Digits after the prefix; E.164 has at most 15, plus an international prefix.
MAX_NUMBER_LENGTH = 24
MAX_PRIORITY = 1000


@dataclass(frozen=True, slots=True)
class OutboundTarget:
    """Where to send an outbound call: ``number`` through the trunk ``trunk_endpoint``
    (a :class:`~orchestrator.core.targets.TrunkNumber` target).

    ``caller_id_number`` is the trunk's caller ID, or ``""`` when it has none
    (keep the caller's own).
    """

    trunk_endpoint: str
    number: str
    caller_id_number: str


def route_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate a route's own fields (those present); the trunk is checked by the caller."""
    refuse_nulls(values, *values)
    checks = {"name": v.slug, "prefix": v.dial_prefix, "prepend": v.dial_prepend}
    for key, check in checks.items():
        if key in values:
            values[key] = check(values[key], field=key)
    bounds = {
        "strip": (0, 8),
        "min_length": (1, MAX_NUMBER_LENGTH),
        "max_length": (1, MAX_NUMBER_LENGTH),
        "priority": (0, MAX_PRIORITY),
    }
    for key, (low, high) in bounds.items():
        if key in values:
            values[key] = v.bounded_int(values[key], low, high, field=key)
    return values


def check_route_shape(prefix: str, strip: int, min_length: int, max_length: int) -> None:
    """Cross-field rules: only prefix digits may be stripped; min_length <= max_length."""
    if strip > len(prefix):
        raise ValidationError(
            f"strip: at most the prefix's length ({len(prefix)})", field="strip", strip=strip
        )
    if min_length > max_length:
        raise ValidationError(
            "min_length: must not exceed max_length",
            field="min_length",
            min_length=min_length,
            max_length=max_length,
        )


def route_matches(prefix: str, min_length: int, max_length: int, number: str) -> bool:
    """True if ``number`` is ``prefix`` then ``min_length`` to ``max_length`` digits 0-9."""
    rest = number[len(prefix) :]
    return (
        number.startswith(prefix)
        and min_length <= len(rest) <= max_length
        and rest.isascii()
        and rest.isdigit()
    )


def _check_trunk(session: Session, tenant_id: int, trunk_id: int) -> None:
    trunk = session.get(Trunk, trunk_id)
    if trunk is None or trunk.tenant_id != tenant_id:
        raise ValidationError(f"trunk_id: no trunk {trunk_id} in this tenant", field="trunk_id")


def _check_name_free(
    session: Session, tenant_id: int, name: str, route_id: int | None = None
) -> None:
    stmt = select(OutboundRoute.id).where(
        OutboundRoute.tenant_id == tenant_id,
        OutboundRoute.name == name,
        OutboundRoute.id != route_id,
    )
    if exists(session, stmt):
        raise ConflictError(f"outbound route {name} already exists in this tenant", field="name")


def _check_codes_free(session: Session, tenant_id: int, prefix: str, name: str) -> None:
    """A prefix starting with ``*`` or ``#`` must not shadow a feature code (``*7`` would
    take ``*72``) nor be shadowed by one: 409 (orchestrator/pbx/codes.py)."""
    check_number_free(session, tenant_id, [Number("outbound_route", prefix, name)], field="prefix")


def create_route(
    *, session: Session, data: OutboundRouteCreate, scope: int | None = None
) -> OutboundRoute:
    """Create an outbound route in ``data.tenant_id`` through one of its trunks."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = route_fields(data.model_dump(exclude={"tenant_id"}))
    check_route_shape(values["prefix"], values["strip"], values["min_length"], values["max_length"])
    _check_trunk(session, tenant_id, values["trunk_id"])
    _check_name_free(session, tenant_id, values["name"])
    _check_codes_free(session, tenant_id, values["prefix"], values["name"])
    route = OutboundRoute(**values, tenant_id=tenant_id)
    session.add(route)
    bump_config(session, tenant_id)
    commit(session, route, what="outbound route")
    return route


def read_route(*, session: Session, route_id: int, scope: int | None = None) -> OutboundRoute:
    """The route ``route_id`` (if visible in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(
        session, OutboundRoute, route_id, scope, what="outbound route", route_id=route_id
    )


def list_routes(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[OutboundRoute], int]:
    """One page of outbound routes, by tenant, priority and name."""
    order = (OutboundRoute.tenant_id, OutboundRoute.priority, OutboundRoute.name)
    return page_by_tenant(
        session,
        OutboundRoute,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=order,
    )


def update_route(
    *, session: Session, route_id: int, data: OutboundRouteUpdate, scope: int | None = None
) -> OutboundRoute:
    """Change a route (only the fields given); the result must still be consistent."""
    route = read_route(session=session, route_id=route_id, scope=scope)
    values = route_fields(data.model_dump(exclude_unset=True))
    merged = {**route.model_dump(), **values}
    check_route_shape(merged["prefix"], merged["strip"], merged["min_length"], merged["max_length"])
    if "trunk_id" in values:
        _check_trunk(session, route.tenant_id, values["trunk_id"])
    if "name" in values:
        _check_name_free(session, route.tenant_id, values["name"], route_id)
    if "prefix" in values:
        _check_codes_free(session, route.tenant_id, merged["prefix"], merged["name"])
    route.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(route)
    bump_config(session, route.tenant_id)
    commit(session, route, what="outbound route")
    return route


def delete_route(*, session: Session, route_id: int, scope: int | None = None) -> OutboundRoute:
    """Delete a route; returns it (for its tenant)."""
    route = read_route(session=session, route_id=route_id, scope=scope)
    session.delete(route)
    bump_config(session, route.tenant_id)
    commit(session, what="outbound route")
    return route


def resolve_outbound(session: Session, tenant_id: int, number: str) -> OutboundTarget:
    """The trunk and number for a call from ``tenant_id`` to the dialed ``number``.

    Raises :class:`ValidationError` for a number that is not 1 to 40 of
    ``0-9*#+``, and :class:`NotFoundError` when no route of an enabled trunk
    matches (or the tenant is missing or disabled).
    """
    number = v.dialed_number(number)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or not tenant.enabled:
        raise NotFoundError(
            f"no outbound route for {number}: tenant {tenant_id} is missing or disabled",
            tenant_id=tenant_id,
            number=number,
        )
    stmt = (
        select(OutboundRoute, Trunk)
        .join(Trunk, Trunk.id == OutboundRoute.trunk_id)  # type: ignore[arg-type]
        .where(
            OutboundRoute.tenant_id == tenant_id,
            Trunk.tenant_id == tenant_id,
            Trunk.enabled == True,  # noqa: E712  (SQL, not Python)
        )
    )
    candidates = [
        (route, trunk)
        for route, trunk in session.exec(stmt).all()
        if route_matches(route.prefix, route.min_length, route.max_length, number)
    ]
    if not candidates:
        raise NotFoundError(f"no outbound route for {number}", tenant_id=tenant_id, number=number)
    route, trunk = min(candidates, key=lambda rt: (-len(rt[0].prefix), rt[0].priority, rt[0].id))
    return OutboundTarget(
        trunk_endpoint=trunk.endpoint,
        number=route.prepend + number[route.strip :],
        caller_id_number=trunk.caller_id_number or "",
    )
