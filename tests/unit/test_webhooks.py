"""Webhooks end to end on a SQLite store, against a real local HTTP receiver.

The receiver (an aiohttp server on 127.0.0.1) answers with the statuses a test scripts
and keeps every request, so the tests check the signature, the retries with backoff,
dead letters and redelivery, resuming after a restart, and the feeds (CTI events, CDRs).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from orchestrator.core.errors import ValidationError
from orchestrator.cti.stream import EventStream
from orchestrator.store import webhooks as store
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory, make_engine, session_factory, upgrade
from orchestrator.store.models import (
    Cdr,
    DeliveryState,
    Tenant,
    WebhookCreate,
    WebhookDelivery,
)
from orchestrator.webhooks import DeliveryWorker, RetryPolicy, WebhookService, signature, verify
from orchestrator.webhooks.signing import (
    ATTEMPT_HEADER,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)

FAST = RetryPolicy(max_attempts=3, base_s=0.02, factor=2.0, max_s=0.1)


# -- pure parts -------------------------------------------------------------------------
def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"id":"x"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, body) == f"v1={expected}"


def test_verify_refuses_tampering_wrong_secret_and_old_timestamps() -> None:
    body = b'{"a":1}'
    headers = {TIMESTAMP_HEADER: "1700000000", SIGNATURE_HEADER: signature("k", 1700000000, body)}
    assert verify("k", headers, body, now=1700000010)
    assert not verify("k", headers, b'{"a":2}', now=1700000010)
    assert not verify("other", headers, body, now=1700000010)
    assert not verify("k", headers, body, now=1700000000 + 301)
    assert not verify("k", {TIMESTAMP_HEADER: "x", SIGNATURE_HEADER: "v1=0"}, body)
    # During a key change several signatures may be listed.
    both = {**headers, SIGNATURE_HEADER: "v1=00, " + headers[SIGNATURE_HEADER]}
    assert verify("k", both, body, now=1700000000)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=6, base_s=10, factor=3, max_s=200, jitter=0.5)
    rand = random.Random(1)
    for attempt, full in ((1, 10), (2, 30), (3, 90), (4, 200), (5, 200)):
        for _ in range(50):
            assert full / 2 <= policy.delay(attempt, rand) <= full
    no_jitter = RetryPolicy(base_s=1, factor=2, jitter=0)
    assert [no_jitter.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https:///path",
        "https://hooks.example.com/a b",
        "http://127.0.0.1:8088/ari",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8000/",
        "https://example.com/" + "x" * 2000,
    ],
)
def test_urls_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        store.check_url(url)


def test_urls_accepted() -> None:
    assert store.check_url("https://hooks.example.com/cdr?x=1")
    assert store.check_url("http://8.8.8.8:8080/")
    assert store.check_url("http://127.0.0.1:9/x", allow_private=True)


def test_events_and_patterns() -> None:
    assert store.check_events(["call.*", "cdr.created", "call.*"]) == ["call.*", "cdr.created"]
    for bad in ([], ["call.exploded"], ["cdr"], "cdr.created", [1]):
        with pytest.raises(ValidationError):
            store.check_events(bad)
    assert store.wants(["call.*"], "call.answered")
    assert store.wants(["*"], "queue.offered")
    assert store.wants(["cdr.created"], "cdr.created")
    assert not store.wants(["call.hung_up"], "call.answered")
    assert not store.wants(["cdr.created"], "call.new")


# -- a receiver ---------------------------------------------------------------------------
@dataclass
class Receiver:
    """An HTTP server answering ``statuses`` in turn (then ``then``), keeping each request."""

    statuses: list[int] = field(default_factory=list)
    then: int = 200
    delay_s: float = 0.0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        self.got.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = self.statuses.pop(0) if self.statuses else self.then
        return web.Response(status=status, text="nope" if status >= 300 else "ok")

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.got.clear()
                await self.got.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        session.add(Tenant(name="A", sip_domain="a.example"))
        session.add(Tenant(name="B", sip_domain="b.example"))
        session.commit()
    yield factory
    engine.dispose()


def add_hook(sessions: SessionFactory, url: str, events: list[str], tenant_id: int = 1) -> Any:
    with sessions() as session:
        return store.create_webhook(
            session,
            WebhookCreate(tenant_id=tenant_id, url=url, events=events),
            scope=None,
            allow_private=True,
        )


def make_service(
    sessions: SessionFactory, stream: EventStream | None = None, policy: RetryPolicy = FAST
) -> WebhookService:
    worker = DeliveryWorker(sessions, policy=policy, poll_s=0.02, timeout_s=2, allow_private=True)
    return WebhookService(sessions, stream=stream or EventStream(), worker=worker)


def deliveries(sessions: SessionFactory) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all())


async def wait_state(
    sessions: SessionFactory, state: DeliveryState, timeout: float = 5.0
) -> WebhookDelivery:
    async with asyncio.timeout(timeout):
        while True:
            rows = await asyncio.to_thread(deliveries, sessions)
            if rows and rows[-1].state == state:
                return rows[-1]
            await asyncio.sleep(0.02)


CALL = {"id": "leg-1", "tenant_id": 1, "state": "answered", "caller": "101", "extensions": []}


# -- delivery ---------------------------------------------------------------------------------
async def test_signed_call_event_retried_on_500_until_success(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    hook = add_hook(sessions, receiver.url, ["call.*"])
    receiver.statuses = [500, 503]
    stream = EventStream()
    service = make_service(sessions, stream)
    await service.start()
    try:
        stream.publish("answered", 1, CALL, {"leg": "leg-1"})
        stream.publish("answered", 2, {**CALL, "tenant_id": 2})  # another tenant: not sent
        await receiver.wait_for(3)
        row = await wait_state(sessions, DeliveryState.DELIVERED)
    finally:
        await service.stop()
    assert len(receiver.requests) == 3
    ids, attempts, delivery_ids = set(), [], set()
    for headers, body in receiver.requests:
        assert verify(hook.secret, headers, body), headers
        assert headers["Content-Type"] == "application/json"
        event = json.loads(body)
        ids.add(event["id"])
        attempts.append(headers[ATTEMPT_HEADER])
        delivery_ids.add(headers[DELIVERY_HEADER])
    assert attempts == ["1", "2", "3"]
    assert len(ids) == 1 and len(delivery_ids) == 1 == len({row.uuid} & delivery_ids)
    assert event["type"] == "call.answered" and event["tenant_id"] == 1
    assert event["data"]["call"]["id"] == "leg-1" and event["data"]["details"] == {"leg": "leg-1"}
    assert event["created_at"].endswith("Z")
    assert (row.attempts, row.last_status, row.last_error) == (3, 200, None)
    with sessions() as session:
        _, log = store.read_delivery(session, hook.id, row.id, None)
    assert [a.status_code for a in log] == [500, 503, 200]
    assert log[0].error == "HTTP 500: nope" and all(a.latency_ms >= 0 for a in log)


async def test_dead_letter_after_the_last_attempt_then_redeliver(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    hook = add_hook(sessions, receiver.url, ["call.hung_up"])
    receiver.then = 500
    stream = EventStream()
    service = make_service(sessions, stream)
    await service.start()
    try:
        stream.publish("answered", 1, CALL)  # not subscribed
        stream.publish("hung_up", 1, CALL)
        dead = await wait_state(sessions, DeliveryState.DEAD)
        assert len(receiver.requests) == FAST.max_attempts
        with sessions() as session:
            rows, total = store.list_deliveries(
                session, hook.id, scope=None, state=DeliveryState.DEAD, offset=0, limit=10
            )
            assert total == 1 and rows[0].event_type == "call.hung_up"
            receiver.then = 204
            store.redeliver(session, hook.id, dead.id, None)
        service.worker.wake()
        done = await wait_state(sessions, DeliveryState.DELIVERED)
    finally:
        await service.stop()
    assert done.id == dead.id and done.attempts == 1
    first, last = json.loads(receiver.requests[0][1]), json.loads(receiver.requests[-1][1])
    assert first == last  # the same event, byte for byte
    with sessions() as session:
        _, log = store.read_delivery(session, hook.id, done.id, None)
    assert [a.status_code for a in log] == [500, 500, 500, 204]


async def test_timeouts_and_refused_connections_are_retried(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    add_hook(sessions, receiver.url.replace("/hook", "/missing"), ["*"])  # 404 from aiohttp
    add_hook(sessions, "http://127.0.0.1:9/hook", ["*"])  # nothing listens: refused
    slow = add_hook(sessions, receiver.url, ["*"])
    receiver.delay_s = 0.5
    worker = DeliveryWorker(sessions, policy=FAST, poll_s=0.02, timeout_s=0.2, allow_private=True)
    service = WebhookService(sessions, worker=worker)
    await service.start()
    try:
        assert service.publish(1, "queue.offered", {"queue": "sales"})
        await service.flush()
        assert len(deliveries(sessions)) == 3
        for _ in range(200):
            if all(d.state == DeliveryState.DEAD for d in deliveries(sessions)):
                break
            await asyncio.sleep(0.05)
    finally:
        await service.stop()
    errors = {d.webhook_id: d.last_error or "" for d in deliveries(sessions)}
    assert "no answer within 0.2 s" in errors[slow.id]
    assert any(e.startswith("HTTP 404") for e in errors.values())
    assert any("ClientConnectorError" in e or "Connect" in e for e in errors.values()), errors


async def test_private_addresses_refused_at_send_time_unless_allowed(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    add_hook(sessions, receiver.url, ["*"])
    worker = DeliveryWorker(
        sessions, policy=RetryPolicy(max_attempts=1), poll_s=0.02, allow_private=False
    )
    service = WebhookService(sessions, worker=worker)
    await service.start()
    try:
        service.publish(1, "call.new", {})
        dead = await wait_state(sessions, DeliveryState.DEAD)
    finally:
        await service.stop()
    assert receiver.requests == []
    assert "private" in (dead.last_error or "")


async def test_pending_deliveries_resume_after_a_restart(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    hook = add_hook(sessions, receiver.url, ["cdr.created", "call.*"])
    receiver.statuses = [500]
    slow_retry = RetryPolicy(max_attempts=5, base_s=0.6, factor=1, jitter=0)
    first = make_service(sessions, policy=slow_retry)
    await first.start()
    first.publish(1, "call.new", {"n": 1})
    await receiver.wait_for(1)
    await asyncio.sleep(0.1)  # the failed attempt is logged
    await first.stop()  # "crash": the delivery is pending, due in 0.6 s
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == (DeliveryState.PENDING, 1)

    second = make_service(sessions, policy=slow_retry)
    await second.start()
    try:
        done = await wait_state(sessions, DeliveryState.DELIVERED)
    finally:
        await second.stop()
    assert done.id == row.id and done.attempts == 2 and len(receiver.requests) == 2
    assert verify(hook.secret, *receiver.requests[1])


async def test_cdr_created_carries_the_cdr_once(
    sessions: SessionFactory, receiver: Receiver
) -> None:
    hook = add_hook(sessions, receiver.url, ["cdr.created"])
    now = datetime.now(UTC)
    cdr = Cdr(
        uuid="ab" * 16, node="n1", call_id="c-1", tenant_id=1, direction="internal",
        caller_number="101", started_at=now, ended_at=now, duration_s=3, billsec=2,
        disposition="answered", hangup_cause=16, recordings=["ivr/x"],
    )  # fmt: skip
    with sessions() as session:
        cdr_id = write_cdr(session, cdr, [])
    assert cdr_id is not None
    service = make_service(sessions)
    await service.start()
    try:
        await service.on_cdr(cdr_id)
        await service.on_cdr(cdr_id)  # a repeat is one event
        await service.flush()
        await wait_state(sessions, DeliveryState.DELIVERED)
    finally:
        await service.stop()
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify(hook.secret, headers, body)
    event = json.loads(body)
    assert event["id"] == cdr.uuid and event["type"] == "cdr.created"
    assert event["data"]["call_id"] == "c-1" and event["data"]["recordings"] == ["ivr/x"]
    assert event["data"]["legs"] == [] and event["data"]["billsec"] == 2


async def test_reload_follows_webhook_changes(sessions: SessionFactory, receiver: Receiver) -> None:
    stream = EventStream()
    service = make_service(sessions, stream)
    await service.start()
    try:
        assert not service.publish(1, "call.new", {})
        hook = add_hook(sessions, receiver.url, ["call.new"])
        await service.reload()
        assert stream.subscription_count() == 1
        stream.publish("new", 1, CALL)
        await wait_state(sessions, DeliveryState.DELIVERED)
        with sessions() as session:
            store.delete_webhook(session, hook.id, None)
        await service.reload()
        assert stream.subscription_count() == 0
    finally:
        await service.stop()
