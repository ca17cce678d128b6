"""CDRs and their xDRs (legs and services).

Built by orchestrator/cdr from the engine's events; read by orchestrator/store/cdrs.py.
Charge columns are left empty here: the rating layer fills them. Money columns are
:class:`~orchestrator.store.models.columns.ExactDecimal`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import ExactDecimal, UtcDateTime, _created, _moment


class CdrBase(SQLModel):
    uuid: str = Field(max_length=32, description="stable public id (hex)")
    call_id: str = Field(max_length=64, description="the engine's call id (Asterisk linkedid)")
    tenant_id: StoreInt | None = Field(default=None, description="null: no tenant could be told")
    direction: str = Field(max_length=10, description="internal, outbound or inbound")
    caller_number: str = Field(default="", max_length=64)
    caller_name: str = Field(default="", max_length=80)
    caller_extension: str | None = Field(default=None, max_length=10)
    called_number: str = Field(default="", max_length=64, description="what the caller dialed")
    called_extension: str | None = Field(default=None, max_length=10)
    answered_by: str | None = Field(default=None, max_length=64, description="extension/number")
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime
    duration_s: StoreInt = Field(description="start to end, whole seconds (started ones count)")
    billsec: StoreInt = Field(description="answer to end (talk time), whole seconds")
    disposition: str = Field(max_length=12, description="answered, busy, no_answer, ...")
    hangup_cause: StoreInt = Field(description="Q.850 cause")
    account: str | None = Field(default=None, max_length=64, description="who pays; null: tenant")
    recordings: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    leg_count: StoreInt = 0
    note: str | None = Field(default=None, max_length=400)
    charge: Decimal | None = Field(default=None, sa_type=ExactDecimal, description="rating")
    currency: str | None = Field(default=None, max_length=3)


class Cdr(CdrBase, table=True):
    __tablename__ = "cdrs"
    __table_args__ = (
        # One CDR per call and engine node: a restart can never write a call twice.
        sa.UniqueConstraint("node", "call_id"),
        sa.UniqueConstraint("uuid"),
        sa.Index("ix_cdrs_tenant_id_started_at", "tenant_id", "started_at"),
        sa.Index("ix_cdrs_started_at", "started_at"),
        sa.Index("ix_cdrs_disposition_started_at", "disposition", "started_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    node: str = Field(max_length=64, description="the engine node the call ran on")
    tenant_id: StoreInt | None = Field(default=None, foreign_key="tenants.id", ondelete="SET NULL")
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    answered_at: datetime | None = _moment(nullable=True)
    ended_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    created_at: datetime = _created()


class CdrLegBase(SQLModel):
    seq: StoreInt = Field(description="order of the leg within the call")
    channel_id: str = Field(max_length=64)
    role: str = Field(max_length=24, description="caller, callee, forwarded, transferred, ...")
    service: str = Field(max_length=20, description="voice, forwarded, click_to_call, ivr, ...")
    endpoint: str = Field(default="", max_length=120)
    tenant_id: StoreInt | None = None
    extension: str | None = Field(default=None, max_length=10)
    trunk: str | None = Field(default=None, max_length=40)
    number: str = Field(default="", max_length=64)
    detail: str | None = Field(default=None, max_length=80, description="e.g. the IVR app")
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime
    billsec: StoreInt = 0
    disposition: str = Field(max_length=12)
    hangup_cause: StoreInt | None = None
    account: str | None = Field(default=None, max_length=64)
    # Filled by the rating layer.
    charge: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    currency: str | None = Field(default=None, max_length=3)
    tariff_id: StoreInt | None = None
    rate_id: StoreInt | None = None
    rated_at: datetime | None = None


class CdrLeg(CdrLegBase, table=True):
    __tablename__ = "cdr_legs"
    __table_args__ = (sa.Index("ix_cdr_legs_extension", "extension"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    # Set by the writer once the CDR row has its id.
    cdr_id: StoreInt | None = Field(
        default=None, foreign_key="cdrs.id", ondelete="CASCADE", index=True, nullable=False
    )
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    answered_at: datetime | None = _moment(nullable=True)
    ended_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    rated_at: datetime | None = _moment(nullable=True)


class CdrOpenCall(SQLModel, table=True):
    """A live call's builder state (JSON), so a restart of the orchestrator loses nothing."""

    __tablename__ = "cdr_open_calls"

    node: str = Field(max_length=64, primary_key=True)
    call_id: str = Field(max_length=64, primary_key=True)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    last_seen: datetime = Field(sa_type=UtcDateTime, nullable=False)


class CdrLegPublic(CdrLegBase):
    id: StoreInt
    cdr_id: StoreInt


class CdrPublic(CdrBase):
    id: StoreInt
    created_at: datetime


class CdrDetail(CdrPublic):
    """A CDR with its xDRs (legs and services), in order."""

    legs: list[CdrLegPublic] = []
