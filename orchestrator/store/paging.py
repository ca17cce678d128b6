"""Data functions for paging groups (model: orchestrator/store/models/paging.py).

A group is paged by ``*46<number>`` from a phone of its tenant
(:mod:`orchestrator.pbx.paging`); ``*46<extension>`` is an intercom call to one phone.
So a group's number must not be an extension's number of the tenant (409), and the
call's lookup (:func:`page_targets`) reads a group first, then an extension. ``scope``
is the tenant a tenant admin acts for (``None``: a system admin); the API's paths name
the tenant, and a group of another tenant answers 404. Example::

    group = create_group(session=s, tenant_id=1, data=PagingGroupCreate(
        name="warehouse", number="700", members=["101", "102"]))
    page_targets(s, 1, "700")  # -> ("group", "warehouse", [("101", "alice@a.example"), ...])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import commit, exists, page, refuse_nulls, tenant_filter
from orchestrator.store.models import (
    Extension,
    PagingGroup,
    PagingGroupCreate,
    PagingGroupUpdate,
    Tenant,
    utcnow,
)
from orchestrator.store.models.paging import MAX_MEMBERS

__all__ = [
    "Paged",
    "create_group",
    "delete_group",
    "list_groups",
    "page_targets",
    "read_group",
    "update_group",
]


def _members(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MEMBERS:
        raise ValidationError(
            f"members: a list of 1 to {MAX_MEMBERS} extension numbers", field="members"
        )
    numbers = [v.extension_number(n, field="members") for n in value]
    if len(set(numbers)) != len(numbers):
        raise ValidationError("members: an extension is listed twice", field="members")
    return numbers


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    refuse_nulls(values, "name", "number", "members")
    out: dict[str, Any] = {}
    if "name" in values:
        out["name"] = v.ivr_name(values["name"], field="name")
    if "number" in values:
        out["number"] = v.extension_number(values["number"], field="number")
    if "members" in values:
        out["members"] = _members(values["members"])
    return out


def _tenant(session: Session, tenant_id: int, scope: int | None) -> int:
    only = tenant_filter(tenant_id, scope)
    assert only is not None
    if session.get(Tenant, only) is None:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    return only


def _check(session: Session, group: PagingGroup) -> None:
    """Name and number free in the tenant, the number no extension's, members extensions."""
    for field in ("name", "number"):
        column = getattr(PagingGroup, field)
        stmt = select(PagingGroup.id).where(
            PagingGroup.tenant_id == group.tenant_id,
            column == getattr(group, field),
            PagingGroup.id != group.id,
        )
        if exists(session, stmt):
            raise ConflictError(
                f"a paging group with {field} {getattr(group, field)} already exists",
                field=field,
            )
    stmt = select(Extension.id).where(
        Extension.tenant_id == group.tenant_id, Extension.number == group.number
    )
    if exists(session, stmt):
        raise ConflictError(
            f"number: {group.number} is an extension of this tenant (*46<number> would "
            "not tell the group from the extension)",
            field="number",
        )
    number_column: Any = Extension.number
    known = set(
        session.exec(
            select(Extension.number).where(
                Extension.tenant_id == group.tenant_id, number_column.in_(group.members)
            )
        ).all()
    )
    missing = [n for n in group.members if n not in known]
    if missing:
        raise ValidationError(
            f"members: no extension {', '.join(missing)} in this tenant",
            field="members",
            missing=missing,
        )


def create_group(
    *, session: Session, tenant_id: int, data: PagingGroupCreate, scope: int | None = None
) -> PagingGroup:
    """Create a paging group in ``tenant_id``."""
    tenant_id = _tenant(session, tenant_id, scope)
    raw = data.model_dump()
    for required in ("name", "number", "members"):
        raw.setdefault(required, None)
    if raw["members"] == []:
        _members([])  # the error says why
    group = PagingGroup(**_fields(raw), tenant_id=tenant_id)
    _check(session, group)
    session.add(group)
    commit(session, group, what="paging group")
    return group


def read_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None = None
) -> PagingGroup:
    """The group ``group_id`` of ``tenant_id``, or :class:`NotFoundError`."""
    tenant_id = _tenant(session, tenant_id, scope)
    group = session.get(PagingGroup, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise NotFoundError(f"paging group {group_id} not found", group_id=group_id)
    return group


def list_groups(
    *, session: Session, tenant_id: int, offset: int = 0, limit: int = 100,
    scope: int | None = None,
) -> tuple[Sequence[PagingGroup], int]:  # fmt: skip
    """One page of the tenant's groups, by name."""
    tenant_id = _tenant(session, tenant_id, scope)
    stmt = select(PagingGroup).where(PagingGroup.tenant_id == tenant_id)
    return page(session, stmt, offset=offset, limit=limit, order_by=PagingGroup.name)


def update_group(
    *,
    session: Session,
    tenant_id: int,
    group_id: int,
    data: PagingGroupUpdate,
    scope: int | None = None,
) -> PagingGroup:
    """Change the fields given; checked as a whole first, so a refusal changes nothing."""
    group = read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=scope)
    values = _fields(data.model_dump(exclude_unset=True))
    candidate = PagingGroup.model_validate({**group.model_dump(), **values})
    _check(session, candidate)
    group.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(group)
    commit(session, group, what="paging group")
    return group


def delete_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None = None
) -> PagingGroup:
    group = read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=scope)
    session.delete(group)
    commit(session, what="paging group")
    return group


# What *46<number> reaches: ("group" | "intercom", the group's name or the extension
# number, [(extension number, SIP endpoint), ...]).
Paged = tuple[str, str, list[tuple[str, str]]]


def page_targets(session: Session, tenant_id: int, number: str) -> Paged | None:
    """The phones ``*46<number>`` pages in ``tenant_id``: a group's enabled members, or
    the enabled extension ``number``; None when it is neither."""
    try:
        number = v.extension_number(number)
    except ValidationError:
        return None
    group = session.exec(
        select(PagingGroup).where(PagingGroup.tenant_id == tenant_id, PagingGroup.number == number)
    ).first()
    numbers = list(group.members) if group is not None else [number]
    domain = session.exec(select(Tenant.sip_domain).where(Tenant.id == tenant_id)).first()
    if domain is None:
        return None
    column: Any = Extension.number
    rows = session.exec(
        select(Extension.number, Extension.sip_username).where(
            Extension.tenant_id == tenant_id,
            column.in_(numbers),
            Extension.enabled == True,  # noqa: E712  (SQL, not Python)
        )
    ).all()
    endpoints = {n: f"{user}@{domain}" for n, user in rows}
    targets = [(n, endpoints[n]) for n in numbers if n in endpoints]
    if group is not None:
        return ("group", group.name, targets)
    return ("intercom", number, targets) if targets else None
