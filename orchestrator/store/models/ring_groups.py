"""Ring groups: a number of the tenant's dial plan that rings several phones (data
functions: orchestrator/store/ring_groups.py; the call flow: orchestrator/pbx/ring_groups.py).

``members`` is a JSON list in its checked form only
(``[{"destination": "extension:101", "ring_s": 20, "confirm": false}, ...]``), so a row
never holds what an admin typed. ``rr_next`` is where a ``round_robin`` group's next
call starts (the member after the last one the previous call rang).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created

# Strict: "30" is not 30 nor "yes" true, and an unknown field is refused, not ignored.
_STRICT: Any = {"extra": "forbid", "strict": True}

MEMBERS_HELP = (
    '[{"destination": "extension:101" | "number:+442079460000", "ring_s": 5..120 '
    '(default 20), "confirm": true|false (default: true for numbers)}], 1 to 20 members'
)
FALLBACK_HELP = (
    "where an unanswered call goes: 'extension:<n>', 'voicemail:<n>' (extension n's "
    "mailbox), 'ivr:<name>' or 'hangup' (the default)"
)


class RingGroupBase(SQLModel):
    name: str = Field(max_length=40, description="a-z, 0-9, '_', '-'; unique within the tenant")
    number: str = Field(
        max_length=10,
        description="2-10 digits the tenant's phones dial (and DIDs reach as "
        "'ring_group:<number>'); no extension, room or other group may have it",
    )
    strategy: str = Field(
        default="simultaneous",
        max_length=16,
        description="'simultaneous' (all at once), 'sequential' (in order) or "
        "'round_robin' (in order, starting after where the previous call stopped)",
    )
    members: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=sa.JSON, description=MEMBERS_HELP
    )
    timeout_s: StoreInt = Field(
        default=60, description="5 to 600: the most the whole group rings, then the fallback"
    )
    fallback: str = Field(default="hangup", max_length=50, description=FALLBACK_HELP)


class RingGroup(RingGroupBase, table=True):
    __tablename__ = "ring_groups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.UniqueConstraint("tenant_id", "number"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    rr_next: StoreInt = Field(default=0)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class RingGroupCreate(RingGroupBase):
    model_config = _STRICT


_NOT_NULL: Any = {
    **refuses_null("name", "number", "strategy", "members", "timeout_s", "fallback"),
    **_STRICT,
}


class RingGroupUpdate(SQLModel):
    """``PATCH``: only the fields given change (none may be null)."""

    model_config = _NOT_NULL

    name: str | None = Field(default=None, max_length=40)
    number: str | None = Field(default=None, max_length=10)
    strategy: str | None = Field(default=None, max_length=16)
    members: list[dict[str, Any]] | None = None
    timeout_s: StoreInt | None = None
    fallback: str | None = Field(default=None, max_length=50)


class RingGroupPublic(RingGroupBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime
