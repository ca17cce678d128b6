"""Webhooks: the event types a tenant may subscribe to, the URL rules, and the webhooks
themselves (create, read, update, rotate the secret, delete; the dispatcher's
:class:`Subscription` cache).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from orchestrator.core.errors import ValidationError
from orchestrator.store._common import (
    commit,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import Webhook, WebhookCreate, WebhookUpdate, utcnow

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
    # An extension's forwarding/DND/call waiting changed (orchestrator.pbx.settings).
    "call_settings_changed",
    # A ring group's call nobody took (orchestrator.pbx.ring_groups).
    "ring_group_unanswered",
    # Call park (orchestrator.pbx.park): the call is the parked leg.
    "call_parked",
    "call_retrieved",
    "park_timed_out",
    "park_abandoned",
    # A ringing call was picked up by another phone (orchestrator.pbx.pickup).
    "call_picked_up",
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
