"""What CTI keeps across a restart: the connected click-to-calls the next run adopts
(orchestrator/cti/kept.py, orchestrator/store/kept_calls.py). Migration 0010.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.store.models.columns import UtcDateTime


class KeptCallRecord(SQLModel, table=True):
    """A connected click-to-call the next run adopts (orchestrator/cti/kept.py)."""

    __tablename__ = "cti_kept_calls"

    call_id: str = Field(primary_key=True, max_length=64, description="the CTI call id")
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    node: str = Field(default="", max_length=64, description="the engine node of the legs")
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    kept_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
