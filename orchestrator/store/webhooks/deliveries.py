"""Deliveries: one per event and matching webhook, stored before the first attempt; what
the worker claims, the attempt log, the API's reads and redelivery.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.store._common import commit, page
from orchestrator.store.models import (
    DeliveryState,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from orchestrator.store.webhooks.subscriptions import read_webhook

_ERROR_MAX = 400


def enqueue(
    session: Session,
    webhook_ids: Sequence[int],
    *,
    tenant_id: int,
    event_id: str,
    event_type: str,
    body: str,
    now: datetime | None = None,
) -> list[int]:
    """Store a pending delivery of one event per webhook (once: a repeat is skipped)."""
    now = now or utcnow()
    existing = set(
        session.exec(
            select(WebhookDelivery.webhook_id).where(
                WebhookDelivery.event_id == event_id,
                col(WebhookDelivery.webhook_id).in_(list(webhook_ids)),
            )
        ).all()
    )
    rows = [
        WebhookDelivery(
            uuid=uuid.uuid4().hex,
            webhook_id=hook_id,
            tenant_id=tenant_id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            state=DeliveryState.PENDING,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for hook_id in dict.fromkeys(webhook_ids)
        if hook_id not in existing
    ]
    session.add_all(rows)
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # The same event from two feeds at once (or a webhook deleted meanwhile).
        session.rollback()
        raise ConflictError("deliveries already stored", event_id=event_id) from None
    return [r.id for r in rows if r.id is not None]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """What the worker needs to attempt one delivery."""

    id: int
    uuid: str
    webhook_id: int
    url: str
    secret: str
    event_type: str
    body: str
    attempts: int


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[DueDelivery]:
    """Pending deliveries due by ``now`` of enabled webhooks, leased to this worker.

    The lease moves ``next_attempt_at`` to ``lease_until`` with a compare-and-set on
    the old value, so two workers (replicas) never attempt the same delivery at once,
    and a worker that dies mid-attempt leaves it due again when the lease ends.
    """
    rows = session.exec(
        select(WebhookDelivery, Webhook)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(
            col(WebhookDelivery.state) == DeliveryState.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            col(Webhook.enabled).is_(True),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    ).all()
    claimed: list[DueDelivery] = []
    for delivery, hook in rows:
        result = session.execute(
            sa.update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery.id,
                col(WebhookDelivery.state) == DeliveryState.PENDING,
                col(WebhookDelivery.next_attempt_at).is_not_distinct_from(delivery.next_attempt_at),
            )
            .values(next_attempt_at=lease_until)
        )
        if getattr(result, "rowcount", 0) == 1:
            assert delivery.id is not None
            claimed.append(
                DueDelivery(
                    delivery.id,
                    delivery.uuid,
                    delivery.webhook_id,
                    hook.url,
                    hook.secret,
                    delivery.event_type,
                    delivery.body,
                    delivery.attempts,
                )
            )
    session.commit()
    return claimed


def record_attempt(
    session: Session,
    delivery_id: int,
    *,
    at: datetime,
    status_code: int | None,
    latency_ms: int,
    error: str | None,
    delivered: bool,
    retry_at: datetime | None,
) -> DeliveryState:
    """Log one attempt; the delivery becomes delivered, pending until ``retry_at``, or dead."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # the webhook was deleted meanwhile
        return DeliveryState.DEAD
    error = error[:_ERROR_MAX] if error else None
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id, at=at, status_code=status_code, latency_ms=latency_ms,
            error=error,
        )
    )  # fmt: skip
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = status_code, error
    delivery.last_latency_ms, delivery.updated_at = latency_ms, at
    if delivered:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryState.DELIVERED, at, None
        )  # fmt: skip
    elif retry_at is not None:
        delivery.state, delivery.next_attempt_at = DeliveryState.PENDING, retry_at
    else:
        delivery.state, delivery.next_attempt_at = DeliveryState.DEAD, None
    session.add(delivery)
    session.commit()
    return delivery.state


def list_deliveries(
    session: Session,
    webhook_id: int,
    *,
    scope: int | None,
    state: DeliveryState | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[WebhookDelivery], int]:
    """One page of a webhook's deliveries, newest first (``state``: only those)."""
    read_webhook(session, webhook_id, scope)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if state is not None:
        stmt = stmt.where(col(WebhookDelivery.state) == state)
    return page(
        session,
        stmt,
        offset=offset,
        limit=limit,
        order_by=(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()),
    )


def read_delivery(
    session: Session, webhook_id: int, delivery_id: int, scope: int | None
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """A delivery of the webhook with its attempts, oldest first."""
    read_webhook(session, webhook_id, scope)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook_id:
        raise NotFoundError(f"delivery {delivery_id} not found", delivery_id=delivery_id)
    attempts = session.exec(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(col(WebhookAttempt.id))
    ).all()
    return delivery, list(attempts)


def redeliver(
    session: Session, webhook_id: int, delivery_id: int, scope: int | None
) -> WebhookDelivery:
    """Queue a dead (or delivered) delivery again with a fresh set of attempts.

    The body and the event id stay the same, so a receiver that already has the event
    can tell; the attempt log keeps the earlier attempts.
    """
    delivery, _ = read_delivery(session, webhook_id, delivery_id, scope)
    if delivery.state == DeliveryState.PENDING:
        raise ConflictError("the delivery is still pending", delivery_id=delivery_id)
    now = utcnow()
    delivery.state, delivery.attempts = DeliveryState.PENDING, 0
    delivery.next_attempt_at, delivery.updated_at = now, now
    session.add(delivery)
    commit(session, delivery, what="delivery")
    return delivery


def payload_of(delivery: WebhookDelivery) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(delivery.body)
    return data
