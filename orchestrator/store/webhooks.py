"""Data functions for webhooks: subscriptions, their deliveries and the delivery log.

A webhook belongs to a tenant and names the event types it wants (``cdr.created``,
``call.answered``, patterns like ``call.*``). Every event is stored as one delivery per
matching webhook (``pending``) *before* the first attempt, so a restart resumes it; the
worker (:mod:`orchestrator.webhooks.worker`) claims due deliveries, logs each attempt
(:class:`WebhookAttempt`) and leaves a delivery ``delivered`` or, after the last attempt,
``dead`` (a dead letter, until redelivered).

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin): webhooks
of other tenants are invisible (:class:`NotFoundError`).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import (
    commit,
    page,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import (
    DeliveryState,
    Webhook,
    WebhookAttempt,
    WebhookCreate,
    WebhookDelivery,
    WebhookUpdate,
    utcnow,
)

# Every event type a webhook may ask for. call.* come from the CTI event stream,
# queue.* from the call queues (ACD), recording.uploaded from the S3 uploader.
CALL_EVENTS = (
    "new",
    "ringing",
    "answered",
    "dtmf",
    "held",
    "unheld",
    "transferred",
    "transfer_started",
    "transfer_answered",
    "transfer_cancelled",
    "hung_up",
    "queued",
    "dequeued",
)
QUEUE_EVENTS = (
    "queued",
    "dequeued",
    "offered",
    "offer_ended",
    "completed",
    "callback_result",
    "agent_state",
)
EVENT_TYPES = frozenset(
    {"cdr.created", "recording.uploaded", "webhook.ping"}
    | {f"call.{e}" for e in CALL_EVENTS}
    | {f"queue.{e}" for e in QUEUE_EVENTS}
)
PATTERNS = frozenset({"*", "call.*", "queue.*", "cdr.*", "recording.*"})
MAX_EVENTS = 40
SECRET_BYTES = 32
_ERROR_MAX = 400


# -- validation --------------------------------------------------------------------
def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP) is a public unicast address (not loopback, private...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(value: Any, *, allow_private: bool = False, field: str = "url") -> str:
    """An ``http``/``https`` URL with a host, no credentials, at most 2000 characters.

    Unless ``allow_private``, a literal IP must be public and ``localhost`` is refused
    (the worker also refuses names that resolve to private addresses at delivery time).
    """
    if not isinstance(value, str) or not value or len(value) > 2000:
        raise ValidationError(f"{field}: an http(s) URL of at most 2000 characters", field=field)
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValidationError(f"{field}: no spaces or control characters", field=field)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"{field}: not a valid URL ({exc})", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(f"{field}: only http:// and https:// URLs", field=field)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError(f"{field}: the URL names no host", field=field)
    if parts.username is not None or parts.password is not None:
        raise ValidationError(f"{field}: no user or password in the URL", field=field)
    if port == 0:
        raise ValidationError(f"{field}: port 0", field=field)
    if not allow_private:
        literal = True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            literal = False
        if (
            (literal and not is_public_address(host))
            or host == "localhost"
            or (host.endswith(".localhost"))
        ):
            raise ValidationError(
                f"{field}: private, loopback and link-local addresses are refused", field=field
            )
    return value


def check_events(value: Any, *, field: str = "events") -> list[str]:
    """A non-empty list of known event types or patterns, without duplicates (order kept)."""
    if not isinstance(value, list) or not value or len(value) > MAX_EVENTS:
        raise ValidationError(f"{field}: 1 to {MAX_EVENTS} event types", field=field)
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in EVENT_TYPES | PATTERNS:
            raise ValidationError(
                f"{field}: unknown event type {item!r}",
                field=field,
                known=sorted(EVENT_TYPES | PATTERNS),
            )
        if item not in out:
            out.append(item)
    return out


def wants(events: Iterable[str], event_type: str) -> bool:
    """Whether a webhook subscribed to ``events`` gets ``event_type``."""
    family = event_type.split(".", 1)[0] + ".*"
    return any(e in (event_type, family, "*") for e in events)


# -- webhooks ----------------------------------------------------------------------
def _fields(values: dict[str, Any], allow_private: bool) -> dict[str, Any]:
    refuse_nulls(values, "url", "events", "description", "enabled")
    if "url" in values:
        values["url"] = check_url(values["url"], allow_private=allow_private)
    if "events" in values:
        values["events"] = check_events(values["events"])
    return values


def new_secret() -> str:
    """A signing secret: 256 random bits, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def create_webhook(
    session: Session, data: WebhookCreate, *, scope: int | None, allow_private: bool = False
) -> Webhook:
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = _fields(data.model_dump(exclude={"tenant_id"}), allow_private)
    hook = Webhook(tenant_id=tenant_id, secret=new_secret(), **values)
    session.add(hook)
    commit(session, hook, what="webhook")
    return hook


def read_webhook(session: Session, webhook_id: int, scope: int | None) -> Webhook:
    return read_scoped(session, Webhook, webhook_id, scope, what="webhook", webhook_id=webhook_id)


def list_webhooks(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[Webhook], int]:
    return page_by_tenant(
        session,
        Webhook,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=col(Webhook.id),
    )


def update_webhook(
    session: Session,
    webhook_id: int,
    data: WebhookUpdate,
    *,
    scope: int | None,
    allow_private: bool = False,
) -> Webhook:
    hook = read_webhook(session, webhook_id, scope)
    for key, value in _fields(data.model_dump(exclude_unset=True), allow_private).items():
        setattr(hook, key, value)
    hook.updated_at = utcnow()
    session.add(hook)
    commit(session, hook, what="webhook")
    return hook


def rotate_secret(session: Session, webhook_id: int, scope: int | None) -> Webhook:
    """A new signing secret; the old one stops working at once."""
    hook = read_webhook(session, webhook_id, scope)
    hook.secret, hook.updated_at = new_secret(), utcnow()
    session.add(hook)
    commit(session, hook, what="webhook")
    return hook


def delete_webhook(session: Session, webhook_id: int, scope: int | None) -> None:
    """Delete the webhook with its deliveries and their log."""
    hook = read_webhook(session, webhook_id, scope)
    session.delete(hook)
    session.commit()


@dataclass(frozen=True, slots=True)
class Subscription:
    """An enabled webhook as the dispatcher caches it."""

    webhook_id: int
    tenant_id: int
    events: tuple[str, ...]


def enabled_webhooks(session: Session) -> list[Subscription]:
    rows = session.exec(select(Webhook).where(col(Webhook.enabled).is_(True))).all()
    return [Subscription(r.id or 0, r.tenant_id, tuple(r.events)) for r in rows]


# -- deliveries --------------------------------------------------------------------
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
