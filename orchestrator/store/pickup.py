"""Data functions for pickup groups (model: orchestrator/store/models/pickup.py).

``scope`` is the tenant a tenant admin acts for (None for a system admin): another
tenant's groups answer 404. Members come and go as extension numbers and are checked
against the tenant's extensions, so a group never names what is not there. Example::

    group = create_group(session=s, tenant_id=1,
                         data=PickupGroupWrite(name="sales", members=["101", "102"]))
    groups_of(s, 1, "101")   # ("102",): whose calls 101's *98 may take
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import bump_config, commit, exists
from orchestrator.store.models import Extension, Tenant, utcnow
from orchestrator.store.models.pickup import (
    PickupGroup,
    PickupGroupMember,
    PickupGroupPublic,
    PickupGroupWrite,
)

__all__ = [
    "create_group",
    "delete_group",
    "list_groups",
    "pickable_numbers",
    "read_group",
    "update_group",
]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def _name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValidationError(
            "name: 1 to 40 of a-z, 0-9, '_', '-', starting with a letter or digit",
            field="name",
        )
    return value


def _member_ids(session: Session, tenant_id: int, numbers: Sequence[str]) -> dict[int, str]:
    """extension id -> number for ``numbers``, each an extension of the tenant, once."""
    for i, number in enumerate(numbers):
        v.extension_number(number, field=f"members[{i}]")
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise ValidationError(f"members: {dup} is named twice", field="members")
    rows = session.exec(
        select(Extension.id, Extension.number).where(
            Extension.tenant_id == tenant_id, col(Extension.number).in_(list(numbers))
        )
    ).all()
    found = {number: int(ext_id) for ext_id, number in rows if ext_id is not None}
    for i, number in enumerate(numbers):
        if number not in found:
            raise ValidationError(
                f"members[{i}]: no extension {number} in the tenant", field=f"members[{i}]"
            )
    return {ext_id: number for number, ext_id in found.items()}


def _members(session: Session, group_id: int) -> list[str]:
    rows = session.exec(
        select(Extension.number)
        .join(PickupGroupMember, PickupGroupMember.extension_id == Extension.id)  # type: ignore[arg-type]
        .where(PickupGroupMember.group_id == group_id)
    ).all()
    return sorted(rows)


def _public(session: Session, group: PickupGroup) -> PickupGroupPublic:
    assert group.id is not None
    return PickupGroupPublic(
        id=group.id,
        tenant_id=group.tenant_id,
        name=group.name,
        members=_members(session, group.id),
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


def _scoped(session: Session, tenant_id: int, group_id: int) -> PickupGroup:
    group = session.get(PickupGroup, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise NotFoundError(f"pickup group {group_id} not found", group_id=group_id)
    return group


def _check_free(session: Session, tenant_id: int, name: str, group_id: int | None) -> None:
    stmt = select(PickupGroup.id).where(
        PickupGroup.tenant_id == tenant_id, PickupGroup.name == name
    )
    if group_id is not None:
        stmt = stmt.where(PickupGroup.id != group_id)
    if exists(session, stmt):
        raise ConflictError(f"a pickup group named {name} exists already", field="name")


def _tenant(session: Session, tenant_id: int, scope: int | None) -> None:
    if scope is not None and scope != tenant_id:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    if session.get(Tenant, tenant_id) is None:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)


def _drop_members(session: Session, group_id: int) -> None:
    session.execute(sa.delete(PickupGroupMember).where(col(PickupGroupMember.group_id) == group_id))


def list_groups(*, session: Session, tenant_id: int, scope: int | None) -> list[PickupGroupPublic]:
    """The tenant's groups, by name."""
    _tenant(session, tenant_id, scope)
    rows = session.exec(
        select(PickupGroup).where(PickupGroup.tenant_id == tenant_id).order_by(PickupGroup.name)
    ).all()
    return [_public(session, g) for g in rows]


def read_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None
) -> PickupGroupPublic:
    _tenant(session, tenant_id, scope)
    return _public(session, _scoped(session, tenant_id, group_id))


def create_group(
    *, session: Session, tenant_id: int, data: PickupGroupWrite, scope: int | None = None
) -> PickupGroupPublic:
    """A new group; 422 for a bad name or member, 409 for a name taken."""
    _tenant(session, tenant_id, scope)
    name = _name(data.name)
    members = _member_ids(session, tenant_id, data.members)
    _check_free(session, tenant_id, name, None)
    group = PickupGroup(tenant_id=tenant_id, name=name)
    session.add(group)
    session.flush()
    assert group.id is not None
    session.add_all(PickupGroupMember(group_id=group.id, extension_id=e) for e in members)
    bump_config(session, tenant_id)
    commit(session, group, what="pickup group")
    return _public(session, group)


def update_group(
    *,
    session: Session,
    tenant_id: int,
    group_id: int,
    data: PickupGroupWrite,
    scope: int | None = None,
) -> PickupGroupPublic:
    """Replace the group's name and members (all checked first: nothing changes on 4xx)."""
    _tenant(session, tenant_id, scope)
    group = _scoped(session, tenant_id, group_id)
    name = _name(data.name)
    members = _member_ids(session, tenant_id, data.members)
    _check_free(session, tenant_id, name, group_id)
    _drop_members(session, group_id)
    session.flush()
    session.add_all(PickupGroupMember(group_id=group_id, extension_id=e) for e in members)
    group.name, group.updated_at = name, utcnow()
    session.add(group)
    bump_config(session, tenant_id)
    commit(session, group, what="pickup group")
    return _public(session, group)


def delete_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None = None
) -> None:
    _tenant(session, tenant_id, scope)
    group = _scoped(session, tenant_id, group_id)
    _drop_members(session, group_id)
    session.delete(group)
    bump_config(session, tenant_id)
    commit(session, what="pickup group")


def pickable_numbers(session: Session, tenant_id: int, number: str) -> list[str]:
    """The other members of every group ``number`` (an extension of the tenant) is in:
    whose ringing calls its group pickup may take, sorted."""
    mine = (
        select(PickupGroupMember.group_id)
        .join(Extension, Extension.id == PickupGroupMember.extension_id)  # type: ignore[arg-type]
        .where(Extension.tenant_id == tenant_id, Extension.number == number)
    )
    rows = session.exec(
        select(Extension.number)
        .join(PickupGroupMember, PickupGroupMember.extension_id == Extension.id)  # type: ignore[arg-type]
        .where(col(PickupGroupMember.group_id).in_(mine), Extension.number != number)
        .distinct()
    ).all()
    return sorted(rows)
