"""Conferences and their participants (orchestrator/conferences). Migration 0013.

A conference's row lives from its creation to its end; each participant's row is one
stay in it (invited, joined, left): someone dialed again after leaving is a new row,
so the ledger of who was there when has no overlap and no gap.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from orchestrator.store.models.columns import UtcDateTime, utcnow


class Conference(SQLModel, table=True):
    """One conference (``uuid`` is its public id and the engine's conference id)."""

    __tablename__ = "conferences"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=32, unique=True, index=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    node: str = Field(default="", max_length=64, description="the engine node of its legs")
    name: str = Field(default="", max_length=80)
    owner_extension: str | None = Field(default=None, max_length=10)
    account: str | None = Field(default=None, max_length=64, description="who pays")
    created_by: int | None = Field(default=None, description="the API user id")
    room_id: int | None = Field(default=None)
    state: str = Field(default="active", max_length=16, index=True)
    locked: bool = False
    max_participants: int = 50
    recording: str | None = Field(default=None, max_length=128)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    end_reason: str | None = Field(default=None, max_length=32)
    # When the service last knew it alive: a restart closes what left while it was down
    # at the engine's journal time, or at this one.
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


class ConferenceParticipant(SQLModel, table=True):
    """One stay of one party in a conference (see the module doc)."""

    __tablename__ = "conference_participants"

    id: int | None = Field(default=None, primary_key=True)
    conference_id: int = Field(foreign_key="conferences.id", ondelete="CASCADE", index=True)
    uuid: str = Field(max_length=32, unique=True, index=True)
    leg_id: str = Field(max_length=64, index=True)
    role: str = Field(default="participant", max_length=16)
    number: str = Field(default="", max_length=32)
    extension: str | None = Field(default=None, max_length=10)
    caller_id: str = Field(default="", max_length=32)
    via: str = Field(default="call", max_length=16)
    state: str = Field(default="ringing", max_length=16)
    muted: bool = False
    deaf: bool = False
    held: bool = False
    moderator: bool = False
    coaching: str | None = Field(default=None, max_length=32)
    invited_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)
    joined_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    left_reason: str | None = Field(default=None, max_length=16)
