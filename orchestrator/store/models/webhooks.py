"""Webhooks, their deliveries and attempts.

orchestrator/webhooks and orchestrator/store/webhooks/ (docs/webhooks.md). Migration 0006.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created, _moment


class WebhookBase(SQLModel):
    url: str = Field(max_length=2000, description="http(s) URL the events are POSTed to")
    events: list[str] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        description="event types (cdr.created, call.answered...) or patterns (call.*, *)",
    )
    description: str = Field(default="", max_length=200)
    enabled: bool = True


class Webhook(WebhookBase, table=True):
    __tablename__ = "webhooks"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    # The HMAC key: needed in clear to sign, so stored; shown once (create, rotate).
    secret: str = Field(max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookCreate(WebhookBase):
    tenant_id: StoreInt


class WebhookUpdate(SQLModel):
    model_config = refuses_null("url", "events", "description", "enabled")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = None
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class WebhookPublic(WebhookBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    """Returned by create and rotate-secret only: the signing secret in clear."""

    secret: str


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # a 2xx answer
    DEAD = "dead"  # every attempt failed: a dead letter, until redelivered


class WebhookDeliveryBase(SQLModel):
    uuid: str = Field(max_length=32, description="the delivery id (X-Orchestrator-Delivery)")
    webhook_id: StoreInt
    tenant_id: StoreInt
    event_id: str = Field(max_length=32, description="the event's id (the body's id)")
    event_type: str = Field(max_length=40)
    state: DeliveryState = Field(sa_type=sa.String(12))
    attempts: StoreInt = Field(default=0, description="attempts since it was (re)queued")
    next_attempt_at: datetime | None = None
    last_status: StoreInt | None = Field(
        default=None, description="HTTP status of the last attempt"
    )
    last_error: str | None = Field(default=None, max_length=400)
    last_latency_ms: StoreInt | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class WebhookDelivery(WebhookDeliveryBase, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An event is queued once per webhook, whatever feeds it twice.
        sa.UniqueConstraint("webhook_id", "event_id"),
        sa.UniqueConstraint("uuid"),
        # The worker's query: due pending deliveries.
        sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    webhook_id: StoreInt = Field(foreign_key="webhooks.id", ondelete="CASCADE")
    # The exact JSON body: every attempt (and a redelivery) sends the same bytes.
    body: str = Field(sa_type=sa.Text)
    next_attempt_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    delivered_at: datetime | None = _moment(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: its answer (or error) and latency."""

    __tablename__ = "webhook_attempts"

    id: StoreInt | None = Field(default=None, primary_key=True)
    delivery_id: StoreInt = Field(
        foreign_key="webhook_deliveries.id", ondelete="CASCADE", index=True
    )
    at: datetime = _created()
    status_code: StoreInt | None = None
    latency_ms: StoreInt = 0
    error: str | None = Field(default=None, max_length=400)


class WebhookAttemptPublic(SQLModel):
    at: datetime
    status_code: StoreInt | None
    latency_ms: StoreInt
    error: str | None


class WebhookDeliveryPublic(WebhookDeliveryBase):
    id: StoreInt


class WebhookDeliveryDetail(WebhookDeliveryPublic):
    """A delivery with the event it carries and every attempt, oldest first."""

    payload: dict[str, Any] = {}
    attempt_log: list[WebhookAttemptPublic] = []
