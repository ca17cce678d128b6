"""DIDs: public numbers, unassigned inventory or routed to a tenant's destination (data
functions: orchestrator/store/dids.py, orchestrator/store/did_import.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created
from orchestrator.validation import schema_pattern


# -- DIDs ------------------------------------------------------------------
class DidBase(SQLModel):
    number: str = Field(
        max_length=16, description="E.164, e.g. +12065552453", schema_extra=schema_pattern("e164")
    )
    pricing_batch: str = Field(max_length=40, schema_extra=schema_pattern("pricing_batch"))
    tenant_id: StoreInt | None = Field(default=None, description="null: unassigned inventory")
    destination: str | None = Field(
        default=None,
        max_length=60,
        description=(
            "'extension:<number>', 'ivr:<name>', 'ring_group:<number>', 'schedule:<name>' "
            "or 'hangup'"
        ),
    )


class Did(DidBase, table=True):
    __tablename__ = "dids"
    __table_args__ = (sa.UniqueConstraint("number"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = _created()
    updated_at: datetime = _created()


class DidCreate(DidBase):
    pass


class DidUpdate(SQLModel):
    model_config = refuses_null("pricing_batch")

    pricing_batch: str | None = Field(
        default=None, max_length=40, schema_extra=schema_pattern("pricing_batch")
    )
    tenant_id: StoreInt | None = None
    destination: str | None = Field(default=None, max_length=60)


class DidPublic(DidBase):
    id: StoreInt
    created_at: datetime
    updated_at: datetime
