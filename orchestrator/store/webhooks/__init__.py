"""Data functions for webhooks: subscriptions, their deliveries and the delivery log.

A webhook belongs to a tenant and names the event types it wants (``cdr.created``,
``call.answered``, patterns like ``call.*``). Every event is stored as one delivery per
matching webhook (``pending``) *before* the first attempt, so a restart resumes it; the
worker (:mod:`orchestrator.webhooks.worker`) claims due deliveries, logs each attempt
(:class:`WebhookAttempt`) and leaves a delivery ``delivered`` or, after the last attempt,
``dead`` (a dead letter, until redelivered).

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin): webhooks
of other tenants are invisible (:class:`NotFoundError`).

Two modules, re-exported here: :mod:`.subscriptions` (event types, URL rules, the
webhooks) and :mod:`.deliveries` (deliveries, attempts, redelivery).
"""

from __future__ import annotations

from orchestrator.store.webhooks.deliveries import (
    DueDelivery,
    claim_due,
    enqueue,
    list_deliveries,
    payload_of,
    read_delivery,
    record_attempt,
    redeliver,
)
from orchestrator.store.webhooks.subscriptions import (
    CALL_EVENTS,
    EVENT_TYPES,
    MAX_EVENTS,
    PATTERNS,
    QUEUE_EVENTS,
    SECRET_BYTES,
    Subscription,
    check_events,
    check_url,
    create_webhook,
    delete_webhook,
    enabled_webhooks,
    is_public_address,
    list_webhooks,
    new_secret,
    read_webhook,
    rotate_secret,
    update_webhook,
    wants,
)

__all__ = [
    "CALL_EVENTS",
    "EVENT_TYPES",
    "MAX_EVENTS",
    "PATTERNS",
    "QUEUE_EVENTS",
    "SECRET_BYTES",
    "DueDelivery",
    "Subscription",
    "check_events",
    "check_url",
    "claim_due",
    "create_webhook",
    "delete_webhook",
    "enabled_webhooks",
    "enqueue",
    "is_public_address",
    "list_deliveries",
    "list_webhooks",
    "new_secret",
    "payload_of",
    "read_delivery",
    "read_webhook",
    "record_attempt",
    "redeliver",
    "rotate_secret",
    "update_webhook",
    "wants",
]
