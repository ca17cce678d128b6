"""``/api/v1/webhooks``: a tenant's webhooks, their deliveries and dead letters.

The secret that signs deliveries is returned by create and ``rotate-secret`` only. A
tenant admin sees and changes only its tenant's webhooks (others answer 404). The
delivery log (``/deliveries``, ``?state=dead`` for dead letters) shows each delivery's
attempts, status codes, latencies and errors; ``redeliver`` queues one again. See
docs/webhooks.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page, page_of
from api.services import services_of
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import EngineUnavailableError
from orchestrator.store import webhooks
from orchestrator.store.models import (
    DeliveryState,
    WebhookAttemptPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryDetail,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookUpdate,
)
from orchestrator.webhooks import WebhookService

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], dependencies=[RequireAdmin])


class EventTypes(BaseModel):
    """What ``events`` may name: event types and patterns."""

    types: list[str]
    patterns: list[str]


class PingResult(BaseModel):
    event_id: str


def _allow_private(request: Request) -> bool:
    return services_of(request.app).settings.webhook_allow_private


def _service(request: Request) -> WebhookService | None:
    return services_of(request.app).webhooks


async def _changed(request: Request) -> None:
    # The dispatcher caches the enabled webhooks; have it re-read them now.
    service = _service(request)
    if service is not None:
        await service.reload()


@router.get("/event-types")
def event_types(_user: CurrentUser) -> EventTypes:
    return EventTypes(types=sorted(webhooks.EVENT_TYPES), patterns=sorted(webhooks.PATTERNS))


@router.get("")
def list_webhooks(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[WebhookPublic]:
    rows, total = webhooks.list_webhooks(
        session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    return page_of(WebhookPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_webhook(
    request: Request, session: SessionDep, user: CurrentUser, data: WebhookCreate
) -> WebhookCreated:
    """Create a webhook; the answer holds its signing ``secret``, shown this once."""
    hook = await run_in_threadpool(
        webhooks.create_webhook,
        session,
        data,
        scope=user.scope,
        allow_private=_allow_private(request),
    )
    await _changed(request)
    return WebhookCreated.model_validate(hook)


@router.get("/{webhook_id}")
def read_webhook(session: SessionDep, user: CurrentUser, webhook_id: StoreInt) -> WebhookPublic:
    return WebhookPublic.model_validate(webhooks.read_webhook(session, webhook_id, user.scope))


@router.patch("/{webhook_id}")
async def update_webhook(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    webhook_id: StoreInt,
    data: WebhookUpdate,
) -> WebhookPublic:
    hook = await run_in_threadpool(
        webhooks.update_webhook,
        session,
        webhook_id,
        data,
        scope=user.scope,
        allow_private=_allow_private(request),
    )
    await _changed(request)
    return WebhookPublic.model_validate(hook)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    request: Request, session: SessionDep, user: CurrentUser, webhook_id: StoreInt
) -> None:
    """Delete the webhook, its pending deliveries and its delivery log."""
    await run_in_threadpool(webhooks.delete_webhook, session, webhook_id, user.scope)
    await _changed(request)


@router.post("/{webhook_id}/rotate-secret")
def rotate_secret(session: SessionDep, user: CurrentUser, webhook_id: StoreInt) -> WebhookCreated:
    """A new signing secret, shown this once; the old one stops signing at once."""
    return WebhookCreated.model_validate(webhooks.rotate_secret(session, webhook_id, user.scope))


@router.post("/{webhook_id}/ping", status_code=status.HTTP_202_ACCEPTED)
async def ping_webhook(
    request: Request, session: SessionDep, user: CurrentUser, webhook_id: StoreInt
) -> PingResult:
    """Queue a ``webhook.ping`` event to this webhook (a test delivery, logged as any)."""
    hook = webhooks.read_webhook(session, webhook_id, user.scope)
    service = _service(request)
    if service is None:
        raise EngineUnavailableError("webhook delivery is not running in this service")
    event_id = await service.ping(webhook_id, hook.tenant_id)
    return PingResult(event_id=event_id)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    webhook_id: StoreInt,
    state: Annotated[DeliveryState | None, Query(description="dead: the dead letters")] = None,
) -> Page[WebhookDeliveryPublic]:
    """The webhook's deliveries, newest first."""
    rows, total = webhooks.list_deliveries(
        session, webhook_id, scope=user.scope, state=state, offset=page.offset, limit=page.limit
    )
    return page_of(WebhookDeliveryPublic, rows, total, offset=page.offset, limit=page.limit)


@router.get("/{webhook_id}/deliveries/{delivery_id}")
def read_delivery(
    session: SessionDep, user: CurrentUser, webhook_id: StoreInt, delivery_id: StoreInt
) -> WebhookDeliveryDetail:
    """One delivery with the event it carries and every attempt."""
    delivery, attempts = webhooks.read_delivery(session, webhook_id, delivery_id, user.scope)
    detail = WebhookDeliveryDetail.model_validate(delivery, from_attributes=True)
    detail.payload = webhooks.payload_of(delivery)
    detail.attempt_log = [WebhookAttemptPublic.model_validate(a) for a in attempts]
    return detail


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED
)
async def redeliver(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    webhook_id: StoreInt,
    delivery_id: StoreInt,
) -> WebhookDeliveryPublic:
    """Queue a dead (or delivered) delivery again: same event, a fresh set of attempts."""
    delivery = await run_in_threadpool(
        webhooks.redeliver, session, webhook_id, delivery_id, user.scope
    )
    service = _service(request)
    if service is not None:
        service.worker.wake()
    return WebhookDeliveryPublic.model_validate(delivery)
