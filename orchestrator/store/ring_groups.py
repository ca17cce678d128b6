"""Data functions for ring groups (model: orchestrator/store/models/ring_groups.py; rules:
orchestrator/pbx/ring_group_rules.py; the call flow: orchestrator/pbx/ring_groups.py).

Every write is checked whole before anything changes: the name and number are the
tenant's own (no extension, conference room or other group has the number, and no
feature code shadows it), the members are extensions of the tenant or external
numbers, the fallback names an extension (or its mailbox) or an IVR app of the tenant.
``scope`` is the tenant a tenant admin acts for (None: a system admin)::

    group = create_group(session=s, tenant_id=1, data=RingGroupCreate(
        name="sales", number="600", strategy="round_robin",
        members=[{"destination": "101"}, {"destination": "102", "ring_s": 15}],
        timeout_s=45, fallback="voicemail:101"))
    next_start(s, group.id, start=1)   # a round-robin call stopped after member 0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.pbx import ring_group_rules as rules
from orchestrator.pbx.codes import Number
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.feature_codes import check_number_free
from orchestrator.store.models import (
    ConferenceRoom,
    Did,
    Extension,
    IvrApp,
    RingGroup,
    RingGroupCreate,
    RingGroupUpdate,
    utcnow,
)
from orchestrator.store.park import check_not_park_fallback

__all__ = [
    "check_not_in_groups",
    "create_group",
    "delete_group",
    "group_by_number",
    "list_groups",
    "next_start",
    "number_is_group",
    "read_group",
    "update_group",
]

_FIELDS = ("name", "number", "strategy", "members", "timeout_s", "fallback")


def _fields(session: Session, tenant_id: int, values: dict[str, Any]) -> dict[str, Any]:
    refuse_nulls(values, *_FIELDS)
    out: dict[str, Any] = {}
    if "name" in values:
        out["name"] = v.ivr_name(values["name"], field="name")
    if "number" in values:
        out["number"] = v.extension_number(values["number"], field="number")
    if "strategy" in values:
        out["strategy"] = rules.strategy(values["strategy"])
    if "timeout_s" in values:
        out["timeout_s"] = rules.timeout_s(values["timeout_s"])
    if "members" in values:
        members = rules.parse_members(values["members"])
        for i, m in enumerate(members):
            kind, _, number = m.destination.partition(":")
            if kind == "extension" and not _extension_exists(session, tenant_id, number):
                raise ValidationError(
                    f"members[{i}].destination: tenant {tenant_id} has no extension {number}",
                    field=f"members[{i}].destination",
                )
        out["members"] = [m.to_json() for m in members]
    if "fallback" in values:
        kind, target = rules.parse_fallback(values["fallback"])
        if kind in ("extension", "voicemail") and not _extension_exists(session, tenant_id, target):
            raise ValidationError(
                f"fallback: tenant {tenant_id} has no extension {target}", field="fallback"
            )
        if kind == "ivr" and not exists(
            session, select(IvrApp.id).where(IvrApp.tenant_id == tenant_id, IvrApp.name == target)
        ):
            raise ValidationError(
                f"fallback: tenant {tenant_id} has no IVR app {target}", field="fallback"
            )
        out["fallback"] = f"{kind}:{target}" if target else kind
    return out


def _extension_exists(session: Session, tenant_id: int, number: str) -> bool:
    stmt = select(Extension.id).where(Extension.tenant_id == tenant_id, Extension.number == number)
    return exists(session, stmt)


def _check_free(session: Session, group: RingGroup) -> None:
    for field in ("name", "number"):
        stmt = select(RingGroup.id).where(
            RingGroup.tenant_id == group.tenant_id,
            getattr(RingGroup, field) == getattr(group, field),
            RingGroup.id != group.id,
        )
        if exists(session, stmt):
            raise ConflictError(
                f"{field}: a ring group with {field} {getattr(group, field)} already exists",
                field=field,
            )
    if _extension_exists(session, group.tenant_id, group.number):
        raise ConflictError(
            f"number: {group.number} is an extension of this tenant", field="number"
        )
    stmt = select(ConferenceRoom.id).where(
        ConferenceRoom.tenant_id == group.tenant_id, ConferenceRoom.number == group.number
    )
    if exists(session, stmt):
        raise ConflictError(
            f"number: {group.number} is a conference room of this tenant", field="number"
        )
    check_number_free(
        session, group.tenant_id, [Number("ring_group", group.number, group.name)], field="number"
    )


def number_is_group(session: Session, tenant_id: int, number: str) -> bool:
    """Whether ``number`` is one of the tenant's ring groups (extensions and rooms refuse
    such a number)."""
    stmt = select(RingGroup.id).where(RingGroup.tenant_id == tenant_id, RingGroup.number == number)
    return exists(session, stmt)


def groups_naming(session: Session, tenant_id: int, destination: str) -> list[str]:
    """The names of the tenant's groups that ring ``destination`` (``extension:<n>``) or
    fall back to it (``extension:<n>`` also covers ``voicemail:<n>``; ``ivr:<name>``)."""
    kind, _, target = destination.partition(":")
    fallbacks = {destination} | ({f"voicemail:{target}"} if kind == "extension" else set())
    names = []
    for group in session.exec(select(RingGroup).where(RingGroup.tenant_id == tenant_id)):
        members = {m.get("destination") for m in group.members if isinstance(m, dict)}
        if group.fallback in fallbacks or destination in members:
            names.append(group.name)
    return sorted(names)


def check_not_in_groups(session: Session, tenant_id: int, destination: str, doing: str) -> None:
    """:class:`ConflictError` (409) while ring groups ring or fall back to ``destination``
    (an extension deleted or renumbered, an IVR app deleted or renamed)."""
    names = groups_naming(session, tenant_id, destination)
    if names:
        raise ConflictError(
            f"{destination} is in ring groups {', '.join(names)}; change them {doing}",
            ring_groups=names,
        )


def _dids_routed_to(session: Session, group: RingGroup) -> list[str]:
    stmt = select(Did.number).where(
        Did.tenant_id == group.tenant_id, Did.destination == f"ring_group:{group.number}"
    )
    return sorted(session.exec(stmt).all())


def create_group(
    *, session: Session, tenant_id: int, data: RingGroupCreate, scope: int | None = None
) -> RingGroup:
    """Create a ring group in ``tenant_id`` (its number joins the tenant's dialplan)."""
    tenant_id = tenant_for_write(session, tenant_id, scope)
    values = _fields(session, tenant_id, data.model_dump())
    group = RingGroup(**values, tenant_id=tenant_id)
    _check_free(session, group)
    session.add(group)
    bump_config(session, tenant_id)
    commit(session, group, what="ring group")
    return group


def read_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None = None
) -> RingGroup:
    """The group ``group_id`` of ``tenant_id`` (if visible in ``scope``), or 404."""
    if scope is not None and scope != tenant_id:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    group = session.get(RingGroup, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise NotFoundError(f"ring group {group_id} not found", ring_group_id=group_id)
    return group


def group_by_number(session: Session, tenant_id: int, number: str) -> RingGroup | None:
    """The tenant's ring group dialed as ``number``, or None: the call flow's lookup."""
    stmt = select(RingGroup).where(RingGroup.tenant_id == tenant_id, RingGroup.number == number)
    return session.exec(stmt).first()


def list_groups(
    *, session: Session, tenant_id: int, offset: int = 0, limit: int = 100, scope: int | None = None
) -> tuple[Sequence[RingGroup], int]:
    """One page of the tenant's ring groups, by number."""
    if scope is not None and scope != tenant_id:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    stmt = select(RingGroup).where(RingGroup.tenant_id == tenant_id)
    return page(session, stmt, offset=offset, limit=limit, order_by=RingGroup.number)


def update_group(
    *,
    session: Session,
    tenant_id: int,
    group_id: int,
    data: RingGroupUpdate,
    scope: int | None = None,
) -> RingGroup:
    """Change the fields given; a new number is refused while DIDs route to the old one."""
    group = read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=scope)
    values = _fields(session, tenant_id, data.model_dump(exclude_unset=True))
    if values.get("number", group.number) != group.number:
        dids = _dids_routed_to(session, group)
        if dids:
            raise ConflictError(
                f"DIDs {', '.join(dids)} route to ring group {group.number}; "
                "route them elsewhere first",
                dids=dids,
            )
        check_not_park_fallback(
            session, tenant_id, f"ring_group:{group.number}", "before renumbering"
        )
    # Checked on a copy, so a refused change leaves the session's row untouched.
    candidate = RingGroup.model_validate({**group.model_dump(), **values})
    _check_free(session, candidate)
    if "members" in values or "strategy" in values:
        values["rr_next"] = 0  # another list: round robin starts over
    group.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(group)
    if "number" in values:
        bump_config(session, tenant_id)
    commit(session, group, what="ring group")
    return group


def delete_group(
    *, session: Session, tenant_id: int, group_id: int, scope: int | None = None
) -> RingGroup:
    """Delete a ring group; refused (409) while DIDs route to it or the park lot falls
    back to it."""
    group = read_group(session=session, tenant_id=tenant_id, group_id=group_id, scope=scope)
    dids = _dids_routed_to(session, group)
    if dids:
        raise ConflictError(
            f"DIDs {', '.join(dids)} route to ring group {group.number}; route them elsewhere "
            "first",
            dids=dids,
        )
    check_not_park_fallback(session, tenant_id, f"ring_group:{group.number}", "first")
    session.delete(group)
    bump_config(session, tenant_id)
    commit(session, what="ring group")
    return group


def next_start(session: Session, group_id: int, *, start: int) -> None:
    """Remember where a round-robin group's next call starts (one UPDATE: two calls at
    once each write their own stop; the later one wins)."""
    session.execute(
        sa.update(RingGroup)
        .where(RingGroup.id == group_id)  # type: ignore[arg-type]
        .values(rr_next=start)
    )
    session.commit()
