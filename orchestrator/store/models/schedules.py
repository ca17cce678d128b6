"""Inbound routing of a tenant's DIDs: office-hours schedules, the night mode and the
tenant blacklist (data functions: orchestrator/store/schedules.py; the evaluation:
orchestrator/pbx/schedule.py; the call flow: orchestrator/pbx/inbound.py).

A DID whose destination is ``schedule:<name>`` is routed by the schedule at the call's
time; a tenant with any blacklist entry routes every DID through the orchestrator, which
checks the caller first. Weekly intervals and holidays are JSON, stored only in their
checked form (:func:`orchestrator.pbx.schedule.check_weekly` / ``check_holidays``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import _created

_STRICT: Any = {"extra": "forbid", "strict": True}

_DESTINATION = (
    "'extension:<number>', 'ivr:<name>', 'ring_group:<number>', 'voicemail:<number>' (the "
    "mailbox of that extension) or 'hangup' (of the tenant)"
)
WEEKLY_HELP = (
    'open intervals: [{"days": ["mon", "tue", ...], "open": "09:00", "close": "17:00"}]; '
    "close after open on the same day ('24:00' = end of day); at most 70"
)
HOLIDAYS_HELP = (
    '[{"name": "Christmas", "start": "2026-12-25", "end": "2026-12-26", "yearly": true, '
    '"destination": null}]: end, yearly and destination are optional; at most 200'
)


class ScheduleFields(SQLModel):
    timezone: str = Field(
        max_length=64, description="IANA time zone the hours are in, e.g. 'Europe/Berlin'"
    )
    weekly: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=sa.JSON, description=WEEKLY_HELP
    )
    holidays: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=sa.JSON, description=HOLIDAYS_HELP
    )
    open_destination: str = Field(max_length=60, description=f"when open: {_DESTINATION}")
    closed_destination: str = Field(max_length=60, description=f"when closed: {_DESTINATION}")
    holiday_destination: str | None = Field(
        default=None,
        max_length=60,
        description=f"on a holiday without its own destination: {_DESTINATION}; "
        "null: the closed destination",
    )


class Schedule(ScheduleFields, table=True):
    __tablename__ = "schedules"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ScheduleCreate(ScheduleFields):
    model_config = _STRICT

    name: str = Field(
        max_length=40, description="a-z, 0-9, '_', '-'; what DIDs name: 'schedule:<name>'"
    )


class SchedulePut(ScheduleFields):
    """``PUT``: the whole schedule but its name (a DID names it)."""

    model_config = _STRICT


class SchedulePublic(ScheduleFields):
    id: StoreInt
    tenant_id: StoreInt
    name: str
    created_at: datetime
    updated_at: datetime


class ScheduleState(SQLModel):
    """What a call at ``at`` would get (``GET .../schedules/{name}/state``)."""

    schedule: str
    at: datetime
    local_time: str = Field(description="the moment in the schedule's time zone")
    state: str = Field(description="'open', 'closed', 'holiday' or 'night' (night mode on)")
    destination: str
    holiday: str = Field(default="", description="the holiday's name, if one")


# -- night mode ----------------------------------------------------------------------------
class NightMode(SQLModel, table=True):
    """A tenant's night mode; a tenant without a row has it off."""

    __tablename__ = "night_modes"

    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    enabled: bool = Field(default=False)
    updated_at: datetime = _created()


class NightModePut(SQLModel):
    model_config = _STRICT

    enabled: bool = Field(description="true: every schedule of the tenant is closed")


class NightModePublic(SQLModel):
    tenant_id: StoreInt
    enabled: bool
    updated_at: datetime | None = Field(description="last change; null: never changed")


# -- blacklist -----------------------------------------------------------------------------
class TenantBlacklistFields(SQLModel):
    number: str = Field(
        max_length=21,
        description="E.164 ('+4930...') or digits, 1 to 20 digits; a '+' and the same digits "
        "are the same number; or 'anonymous': every caller without a number (withheld, "
        "anonymous, unknown; exact only)",
    )
    match: str = Field(
        default="exact",
        max_length=10,
        description="'exact': that caller number; 'prefix': every caller number starting so",
    )
    action: str = Field(
        default="reject",
        max_length=10,
        description="'reject': refused unanswered (Q.850 21, call rejected); 'prompt': "
        "answered, told the call cannot be taken, hung up",
    )
    note: str = Field(default="", max_length=80, description="free text for the admin")


class TenantBlacklistEntry(TenantBlacklistFields, table=True):
    __tablename__ = "blacklist_entries"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number", "match"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()


class TenantBlacklistCreate(TenantBlacklistFields):
    model_config = _STRICT


class TenantBlacklistPublic(TenantBlacklistFields):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
