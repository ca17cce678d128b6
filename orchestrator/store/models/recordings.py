"""Call recordings and their upload to S3.

orchestrator/recordings and orchestrator/store/recordings.py (docs/recordings.md).
Migration 0006.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import UtcDateTime, _created, _moment


class RecordingState(StrEnum):
    RECORDING = "recording"  # the engine is recording
    LOCAL = "local"  # finished, on the engine only, waiting for its upload
    UPLOADING = "uploading"  # an upload is running
    UPLOADED = "uploaded"  # in S3 (key, etag); the engine's copy is deleted
    FAILED = "failed"  # the last upload failed; retried at next_attempt_at, kept locally
    MISSING = "missing"  # the engine had no such file: nothing to upload


class RecordingBase(SQLModel):
    name: str = Field(max_length=120, description="the engine's recording name")
    tenant_id: StoreInt
    call_id: str | None = Field(
        default=None, max_length=64, description="the CDR's call id once the call has a CDR"
    )
    cdr_id: StoreInt | None = None
    leg_id: str = Field(max_length=64, description="the recorded leg (channel id)")
    format: str = Field(default="wav", max_length=8)
    state: RecordingState = Field(sa_type=sa.String(12))
    duration_s: float | None = None
    size_bytes: StoreInt | None = None
    s3_bucket: str | None = Field(default=None, max_length=63)
    s3_key: str | None = Field(default=None, max_length=400)
    etag: str | None = Field(default=None, max_length=80)
    attempts: StoreInt = 0
    last_error: str | None = Field(default=None, max_length=400)
    started_at: datetime
    finished_at: datetime | None = None
    uploaded_at: datetime | None = None


class Recording(RecordingBase, table=True):
    __tablename__ = "recordings"
    __table_args__ = (
        sa.UniqueConstraint("node", "name"),
        sa.UniqueConstraint("uuid"),
        sa.Index("ix_recordings_tenant_id_started_at", "tenant_id", "started_at"),
        sa.Index("ix_recordings_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_recordings_leg_id", "leg_id"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=32)
    node: str = Field(max_length=64, description="the engine node that holds the local copy")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    cdr_id: StoreInt | None = Field(default=None, foreign_key="cdrs.id", ondelete="SET NULL")
    next_attempt_at: datetime | None = _moment(nullable=True)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    finished_at: datetime | None = _moment(nullable=True)
    uploaded_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class RecordingPublic(RecordingBase):
    id: StoreInt
    uuid: str
    created_at: datetime
    updated_at: datetime
