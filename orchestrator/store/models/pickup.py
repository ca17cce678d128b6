"""Pickup groups: extensions of a tenant that may answer each other's ringing calls
(data functions: orchestrator/store/pickup.py; the feature: orchestrator/pbx/pickup.py).

A group has a name (unique in the tenant) and member extensions. Members are stored by
extension id, so renumbering an extension keeps it in its groups, and deleting one
removes it from them (``ON DELETE CASCADE``). The API shows and takes members by number.
An extension in any group is *managed*: its calls run through the ``pbx_extension`` flow,
which registers every ringing so that ``*98`` / ``*97<ext>`` can claim it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import _created

# Strict: "101" must be a string, 101 is refused, and an unknown field is refused.
_STRICT: Any = {"extra": "forbid", "strict": True}
MAX_MEMBERS = 100


class PickupGroup(SQLModel, table=True):
    __tablename__ = "pickup_groups"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class PickupGroupMember(SQLModel, table=True):
    __tablename__ = "pickup_group_members"

    group_id: StoreInt = Field(foreign_key="pickup_groups.id", ondelete="CASCADE", primary_key=True)
    extension_id: StoreInt = Field(
        foreign_key="extensions.id", ondelete="CASCADE", primary_key=True, index=True
    )


class PickupGroupWrite(SQLModel):
    """``POST`` and ``PUT``: the whole group (a ``PUT`` replaces the member list)."""

    model_config = _STRICT

    name: str = Field(
        max_length=40,
        description="a-z, 0-9, '_', '-' (1 to 40, starting with a letter or digit); "
        "unique in the tenant",
    )
    members: list[str] = Field(
        default_factory=list,
        max_length=MAX_MEMBERS,
        description="extension numbers of the tenant, each at most once",
    )


class PickupGroupPublic(SQLModel):
    id: StoreInt
    tenant_id: StoreInt
    name: str
    members: list[str] = Field(description="the members' extension numbers, sorted")
    created_at: datetime
    updated_at: datetime


def pickup_members(session: Session, tenant_id: int | None) -> Collection[int]:
    """The extensions (ids) in any pickup group, in one tenant or (None) all: their calls
    run through the orchestrator, which registers their ringing for pickup."""
    stmt = select(PickupGroupMember.extension_id).join(
        PickupGroup,
        PickupGroup.id == PickupGroupMember.group_id,  # type: ignore[arg-type]
    )
    if tenant_id is not None:
        stmt = stmt.where(PickupGroup.tenant_id == tenant_id)
    return {int(ext_id) for ext_id in session.exec(stmt)}
