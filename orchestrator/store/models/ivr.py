"""IVR applications and the DIDs routed to them (data functions: orchestrator/store/ivr_apps.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created

# -- IVR applications ------------------------------------------------------
IvrSettings = dict[str, str | int | float]


class IvrAppBase(SQLModel):
    name: str = Field(max_length=40, description="what DIDs name: destination 'ivr:<name>'")
    app: str = Field(max_length=64, description="the key of the Python flow, e.g. visa_status")
    description: str = Field(default="", max_length=200)
    fallback: str = Field(
        default="hangup",
        max_length=60,
        description="where a failing flow sends the caller: 'extension:<number>' or 'hangup'",
    )
    max_duration_s: StoreInt = Field(
        default=3600, description="10 to 14400: the flow never holds a call longer"
    )
    settings: IvrSettings = Field(
        default_factory=dict,
        sa_type=sa.JSON,
        description="strings and numbers for the flow, at most 4 KB as JSON",
    )
    enabled: bool = True


class IvrApp(IvrAppBase, table=True):
    __tablename__ = "ivr_apps"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class IvrAppCreate(IvrAppBase):
    tenant_id: StoreInt
    # Any JSON object here, so that a boolean or a nested value is refused with a clear
    # message by the store instead of being coerced (True -> 1) by pydantic.
    settings: dict[str, Any] = Field(default_factory=dict)


class IvrAppUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    app: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=200)
    fallback: str | None = Field(default=None, max_length=60)
    max_duration_s: StoreInt | None = None
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class IvrAppPublic(IvrAppBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime


class IvrNumber(SQLModel):
    """A DID to route to an IVR app (``POST /api/v1/ivr-apps/{id}/numbers``)."""

    number: str = Field(max_length=16, description="E.164, e.g. +12065552453")
