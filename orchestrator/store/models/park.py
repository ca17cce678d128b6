"""Call park: each tenant's park lot and the calls parked in it now (data functions:
orchestrator/store/park.py; the feature: orchestrator/pbx/park.py). Migration 0024_park.

A parked call is one row of ``parked_calls``; the unique (tenant, slot) pair is what
makes a slot's claim race-free (two parkers: one insert wins), and deleting the row is
how a retrieve, a timeout or the caller's hangup takes the call out (one ``DELETE`` wins:
exactly one retriever gets the call).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import UtcDateTime


class ParkLotBase(SQLModel):
    slots: StoreInt = Field(default=10, description="1 to 99: slots 1..slots")
    timeout_s: StoreInt = Field(
        default=120, description="10 to 3600: then the parked call rings the parker back"
    )
    ringback_s: StoreInt = Field(
        default=20, description="5 to 120: how long the parker's phone rings back"
    )
    fallback: str = Field(
        default="hangup",
        max_length=80,
        description="where a call nobody took goes after the ring-back: "
        "extension:<n>, voicemail:<n>, ivr:<name>, ring_group:<n> or hangup",
    )


class ParkLot(ParkLotBase, table=True):
    """A tenant's park lot (none stored: the defaults)."""

    __tablename__ = "park_lots"

    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)


class ParkLotPut(SQLModel):
    model_config = {"strict": True, "extra": "forbid"}

    slots: StoreInt = 10
    timeout_s: StoreInt = 120
    ringback_s: StoreInt = 20
    fallback: str = Field(default="hangup", max_length=80)


class ParkLotPublic(ParkLotBase):
    tenant_id: StoreInt


class ParkedCall(SQLModel, table=True):
    """A call parked now (the row goes when it is retrieved, times out or hangs up)."""

    __tablename__ = "parked_calls"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "slot"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    slot: StoreInt
    leg_id: str = Field(max_length=128, unique=True, description="the parked caller's leg")
    node: str = Field(default="", max_length=64, description="the engine node of the leg")
    caller: str = Field(default="", max_length=64, description="the parked caller's number")
    parker: str = Field(default="", max_length=20, description="the parker's extension")
    parked_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    timeout_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class ParkedCallPublic(SQLModel):
    slot: int
    leg_id: str
    caller: str
    parker: str
    parked_at: datetime
    timeout_at: datetime
