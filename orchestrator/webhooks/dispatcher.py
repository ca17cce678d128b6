"""Turns what happens (CDRs written, CTI call events, queue events, uploads) into deliveries.

:class:`WebhookService` is fed by the other features and stores one pending delivery per
matching webhook before anything is sent; its :class:`~orchestrator.webhooks.worker.
DeliveryWorker` sends them. Wiring (:mod:`orchestrator.runtime`)::

    hooks = WebhookService(sessions, stream=cti.stream)
    cdr_builder.listeners.append(hooks.on_cdr)          # cdr.created
    recordings.listeners.append(hooks.on_recording)     # recording.uploaded
    await hooks.start()                                 # call.* through the CTI stream

Every event is one JSON body, the same bytes for each webhook and each attempt::

    {"id": "<32 hex>", "type": "call.answered", "created_at": "2026-11-23T10:14:00.41Z",
     "tenant_id": 1, "data": {...}}

The enabled webhooks are cached (so a burst of call events costs no query per event)
and reloaded when the API changes one (:meth:`reload`) and every ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.core.errors import ConflictError
from orchestrator.cti.stream import CtiEvent, EventStream, Subscription
from orchestrator.store import cdrs
from orchestrator.store import webhooks as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import CdrDetail, CdrLegPublic, utcnow
from orchestrator.webhooks.worker import DeliveryWorker, RetryPolicy

if TYPE_CHECKING:
    from orchestrator.settings import Settings

log = logging.getLogger("orchestrator.webhooks")

MAX_BACKLOG = 100_000


class QueueEventLike(Protocol):
    """What :meth:`WebhookService.on_queue_event` takes (an ACD event)."""

    @property
    def type(self) -> str: ...

    @property
    def tenant_id(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


def event_body(
    event_id: str, event_type: str, tenant_id: int, data: Mapping[str, Any], at: datetime
) -> str:
    """The JSON body of an event (compact, keys in a fixed order)."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": stamp,
            "tenant_id": tenant_id,
            "data": dict(data),
        },
        separators=(",", ":"),
        default=str,  # Decimal money stays exact as a string, never a float
    )


class WebhookService:
    """Feeds, the subscription cache and the delivery worker (see the module doc)."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        stream: EventStream | None = None,
        worker: DeliveryWorker | None = None,
        refresh_s: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.stream = stream
        self.worker = worker or DeliveryWorker(sessions)
        self.refresh_s = refresh_s
        self.queued = 0
        self._subs: dict[int, list[store.Subscription]] = {}
        self._cti: dict[int, Subscription] = {}
        self._backlog: asyncio.Queue[tuple[int, str, str, str, list[int]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(
        cls, sessions: SessionFactory, settings: Settings, stream: EventStream | None
    ) -> WebhookService:
        """The service with the retry policy and limits of ``ORCH_WEBHOOK_*``."""
        policy = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_s=settings.webhook_backoff_base_s,
            factor=settings.webhook_backoff_factor,
            max_s=settings.webhook_backoff_max_s,
        )
        worker = DeliveryWorker(
            sessions,
            policy=policy,
            timeout_s=settings.webhook_timeout_s,
            poll_s=settings.webhook_poll_s,
            allow_private=settings.webhook_allow_private,
        )
        return cls(sessions, stream=stream, worker=worker)

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        await self.reload()
        self._tasks = [
            asyncio.create_task(self._writer(), name="webhook-enqueue"),
            asyncio.create_task(self._refresher(), name="webhook-refresh"),
        ]
        self.worker.start()

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await self.flush(5.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for sub in self._cti.values():
            if self.stream is not None:
                self.stream.unsubscribe(sub)
        self._cti.clear()
        await self.worker.stop()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every event so far is stored as deliveries."""
        async with asyncio.timeout(timeout):
            await self._backlog.join()

    async def reload(self) -> None:
        """Re-read the enabled webhooks (after the API changed one)."""
        subs = await asyncio.to_thread(self._load)
        by_tenant: dict[int, list[store.Subscription]] = {}
        for sub in subs:
            by_tenant.setdefault(sub.tenant_id, []).append(sub)
        self._subs = by_tenant
        self._follow_cti()

    def _load(self) -> list[store.Subscription]:
        with self.sessions() as session:
            return store.enabled_webhooks(session)

    async def _refresher(self) -> None:
        # Another replica's API may have changed a webhook: pick it up within refresh_s.
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.reload()
            except Exception:
                log.exception("could not reload the webhooks")

    def _follow_cti(self) -> None:
        """Subscribe to the CTI stream of every tenant with a webhook for call events."""
        if self.stream is None:
            return
        wanted = {
            tenant
            for tenant, subs in self._subs.items()
            if any(e == "*" or e.startswith("call.") for s in subs for e in s.events)
        }
        for tenant in set(self._cti) - wanted:
            self.stream.unsubscribe(self._cti.pop(tenant))
        for tenant in wanted - set(self._cti):
            sub, _ = self.stream.subscribe(tenant, self._on_cti)
            self._cti[tenant] = sub

    # -- feeds ---------------------------------------------------------------------------
    def publish(
        self,
        tenant_id: int | None,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Queue ``event_type`` for the tenant's webhooks that want it; False if none do.

        Never blocks: the deliveries are stored by a writer task. A stable ``event_id``
        (e.g. the CDR's uuid) makes a repeated event a no-op.
        """
        if tenant_id is None:
            return False
        targets = [
            s.webhook_id for s in self._subs.get(tenant_id, ()) if store.wants(s.events, event_type)
        ]
        if not targets:
            return False
        if self._backlog.qsize() >= MAX_BACKLOG:
            log.error("webhook backlog full; %s for tenant %s dropped", event_type, tenant_id)
            return False
        event_id = event_id or uuid.uuid4().hex
        body = event_body(event_id, event_type, tenant_id, data, at or utcnow())
        self._backlog.put_nowait((tenant_id, event_id, event_type, body, targets))
        return True

    def _on_cti(self, _sub: Subscription, event: CtiEvent) -> None:
        data = {"seq": event.seq, "call": dict(event.call), "details": dict(event.details)}
        at = datetime.fromtimestamp(event.timestamp, UTC)
        self.publish(event.tenant_id, f"call.{event.event}", data, at=at)

    def on_queue_event(self, event: QueueEventLike) -> None:
        """An ACD listener: ``queue.<type>`` with the event's fields as data."""
        self.publish(event.tenant_id, f"queue.{event.type}", event.to_dict())

    def on_recording(self, tenant_id: int, recording: Mapping[str, Any]) -> None:
        """A recordings listener: ``recording.uploaded``."""
        # The recording's uuid (32 hex) names the event: one per upload.
        event_id = str(recording.get("uuid", "")) or None
        self.publish(tenant_id, "recording.uploaded", recording, event_id=event_id)

    async def on_cdr(self, cdr_id: int) -> None:
        """A CDR builder listener: ``cdr.created`` with the CDR and its legs."""
        detail = await asyncio.to_thread(self._cdr, cdr_id)
        if detail is not None:
            self.publish(
                detail.tenant_id, "cdr.created", detail.model_dump(mode="json"),
                event_id=detail.uuid, at=detail.created_at,
            )  # fmt: skip

    def _cdr(self, cdr_id: int) -> CdrDetail | None:
        with self.sessions() as session:
            cdr, legs = cdrs.get_cdr(session, cdr_id, None)
        if cdr.tenant_id is None or not self._subs.get(cdr.tenant_id):
            return None
        detail = CdrDetail.model_validate(cdr, from_attributes=True)
        detail.legs = [CdrLegPublic.model_validate(leg, from_attributes=True) for leg in legs]
        return detail

    async def ping(self, webhook_id: int, tenant_id: int) -> str:
        """Store a ``webhook.ping`` delivery to one webhook now; returns the event id."""
        event_id = uuid.uuid4().hex
        body = event_body(event_id, "webhook.ping", tenant_id, {"webhook_id": webhook_id}, utcnow())
        await asyncio.to_thread(
            self._store, tenant_id, event_id, "webhook.ping", body, [webhook_id]
        )
        self.worker.wake()
        return event_id

    # -- the writer ----------------------------------------------------------------------
    async def _writer(self) -> None:
        while True:
            item = await self._backlog.get()
            try:
                await asyncio.to_thread(self._store, *item)
                self.queued += 1
                self.worker.wake()
            except ConflictError:
                pass  # already stored (a repeated event)
            except Exception:
                log.exception("could not store the deliveries of %s; retrying", item[2])
                await asyncio.sleep(1.0)
                self._backlog.put_nowait(item)
            finally:
                self._backlog.task_done()

    def _store(
        self, tenant_id: int, event_id: str, event_type: str, body: str, targets: list[int]
    ) -> None:
        with self.sessions() as session:
            store.enqueue(
                session, targets, tenant_id=tenant_id, event_id=event_id,
                event_type=event_type, body=body,
            )  # fmt: skip
