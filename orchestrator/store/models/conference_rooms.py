"""Conference rooms: a tenant's standing conferences reached by PIN (data functions:
orchestrator/store/conference_rooms.py; the call flow: orchestrator/conferences/room_flow.py).

PINs are never stored or shown: the row holds a salted scrypt hash of each
(``pin_hash``, ``moderator_pin_hash``) and the API shows only ``has_pin`` /
``has_moderator_pin``. A PIN is 4 to 12 digits, so an unsalted fast hash would be
reversed by trying them all; scrypt with a per-PIN salt makes each guess cost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created


def _strict(config: Any) -> Any:
    """``config`` that also refuses coerced values and unknown fields (typed Any like
    :func:`refuses_null`: SQLModel's config type is private)."""
    return {**config, "strict": True, "extra": "forbid"}


class ConferenceRoomBase(SQLModel):
    name: str = Field(
        max_length=40,
        description="a-z, 0-9, '_', '-'; unique within the tenant; what the IVR flow "
        'conference_room names in its settings ({"room": "<name>"})',
    )
    number: str = Field(
        max_length=10, description="the room number, 2-10 digits, unique within the tenant"
    )
    wait_for_moderator: bool = Field(
        default=False, description="participants hear music until a moderator joins"
    )
    end_when_moderator_leaves: bool = Field(
        default=False, description="the conference ends when its last moderator leaves"
    )
    announce_join_leave: bool = Field(
        default=False, description="the conference hears who joins and who leaves"
    )
    join_sound: str | None = Field(
        default=None, max_length=80, description="media played to all on a join (a sound name)"
    )
    leave_sound: str | None = Field(
        default=None, max_length=80, description="media played to all on a leave (a sound name)"
    )
    max_participants: StoreInt = Field(default=50, description="2 to 200: then callers are refused")
    record: bool = Field(default=False, description="record the room's conferences")
    locked: bool = Field(default=False, description="callers are refused")
    muted_on_join: bool = Field(
        default=False, description="participants (not moderators) join muted"
    )


class ConferenceRoom(ConferenceRoomBase, table=True):
    __tablename__ = "conference_rooms"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.UniqueConstraint("tenant_id", "number"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    pin_hash: str | None = Field(default=None, max_length=200)
    moderator_pin_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ConferenceRoomCreate(ConferenceRoomBase):
    # Strict: "10" is not 10 nor "yes" true, and an unknown field (a mistyped "pin_code")
    # is refused rather than ignored, which would leave a room open without a PIN.
    model_config = _strict({})

    tenant_id: StoreInt
    pin: str | None = Field(
        default=None, max_length=12, description="4-12 digits; null: no participant PIN"
    )
    moderator_pin: str | None = Field(
        default=None, max_length=12, description="4-12 digits; null: no moderator"
    )


class ConferenceRoomUpdate(SQLModel):
    # pin / moderator_pin / join_sound / leave_sound may be set to null (removed).
    model_config = _strict(
        refuses_null(
            "name",
            "number",
            "wait_for_moderator",
            "end_when_moderator_leaves",
            "announce_join_leave",
            "max_participants",
            "record",
            "locked",
            "muted_on_join",
        )
    )

    name: str | None = Field(default=None, max_length=40)
    number: str | None = Field(default=None, max_length=10)
    pin: str | None = Field(default=None, max_length=12)
    moderator_pin: str | None = Field(default=None, max_length=12)
    wait_for_moderator: bool | None = None
    end_when_moderator_leaves: bool | None = None
    announce_join_leave: bool | None = None
    join_sound: str | None = Field(default=None, max_length=80)
    leave_sound: str | None = Field(default=None, max_length=80)
    max_participants: StoreInt | None = None
    record: bool | None = None
    locked: bool | None = None
    muted_on_join: bool | None = None


class ConferenceRoomPublic(ConferenceRoomBase):
    id: StoreInt
    tenant_id: StoreInt
    has_pin: bool
    has_moderator_pin: bool
    created_at: datetime
    updated_at: datetime
