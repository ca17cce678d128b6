"""``/api/v1/webhooks``: CRUD, validation, the secret shown once, tenant scoping, and the
delivery log with dead letters and redelivery (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from orchestrator.store import webhooks as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import utcnow
from orchestrator.webhooks import event_body
from tests.api.conftest import bearer

URL = "https://hooks.example.com/orchestrator"


def create(client: TestClient, tenant_id: int, **extra: Any) -> Any:
    body = {"tenant_id": tenant_id, "url": URL, "events": ["cdr.created", "call.*"], **extra}
    return client.post("/api/v1/webhooks", json=body)


def test_create_shows_the_secret_once(client: TestClient, tenant_a: dict) -> None:
    r = create(client, tenant_a["id"], description="billing system")
    assert r.status_code == 201, r.text
    hook = r.json()
    assert len(hook["secret"]) >= 40 and hook["enabled"] is True
    assert hook["events"] == ["cdr.created", "call.*"]
    again = client.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert "secret" not in again and again["url"] == URL
    listed = client.get("/api/v1/webhooks").json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]
    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret").json()
    assert rotated["secret"] != hook["secret"]


def test_update_and_delete(client: TestClient, tenant_a: dict) -> None:
    hook = create(client, tenant_a["id"]).json()
    r = client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"enabled": False, "events": ["call.hung_up"]}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["enabled"], r.json()["events"]) == (False, ["call.hung_up"])
    assert client.patch(f"/api/v1/webhooks/{hook['id']}", json={"url": None}).status_code == 422
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404


def test_validation(client: TestClient, tenant_a: dict) -> None:
    tid = tenant_a["id"]
    for url in (
        "ftp://hooks.example.com/",
        "javascript:alert(1)",
        "https://u:p@hooks.example.com/",
        "http://127.0.0.1:8088/ari/channels",  # private targets are refused by default
        "http://localhost/",
    ):
        r = create(client, tid, url=url)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error_id"] == "invalid-input"
    assert create(client, tid, events=[]).status_code == 422
    assert create(client, tid, events=["call.exploded"]).status_code == 422
    assert create(client, 999_999).status_code == 422
    types = client.get("/api/v1/webhooks/event-types").json()
    assert "cdr.created" in types["types"] and "call.*" in types["patterns"]


def test_tenant_scoping(client: TestClient, tenant_a: dict, tenant_b: dict) -> None:
    a_hook = create(client, tenant_a["id"]).json()
    b_admin = bearer(tenant_b["token"])
    assert client.get(f"/api/v1/webhooks/{a_hook['id']}", headers=b_admin).status_code == 404
    r = client.patch(f"/api/v1/webhooks/{a_hook['id']}", json={"enabled": False}, headers=b_admin)
    assert r.status_code == 404
    assert client.delete(f"/api/v1/webhooks/{a_hook['id']}", headers=b_admin).status_code == 404
    r = client.get(f"/api/v1/webhooks/{a_hook['id']}/deliveries", headers=b_admin)
    assert r.status_code == 404
    r = client.post(
        "/api/v1/webhooks",
        json={"tenant_id": tenant_a["id"], "url": URL, "events": ["*"]},
        headers=b_admin,
    )
    assert r.status_code == 404
    r = client.post(
        "/api/v1/webhooks",
        json={"tenant_id": tenant_b["id"], "url": URL, "events": ["*"]},
        headers=b_admin,
    )
    assert r.status_code == 201, r.text
    mine = client.get("/api/v1/webhooks", headers=b_admin).json()
    assert [h["tenant_id"] for h in mine["items"]] == [tenant_b["id"]]
    r = client.get(f"/api/v1/webhooks?tenant_id={tenant_a['id']}", headers=b_admin)
    assert r.status_code == 404


def test_delivery_log_dead_letters_and_redeliver(
    client: TestClient, tenant_a: dict, db_sessions: SessionFactory
) -> None:
    hook = create(client, tenant_a["id"]).json()
    tid, now = tenant_a["id"], utcnow()
    with db_sessions() as session:
        ok, dead = (
            store.enqueue(
                session, [hook["id"]], tenant_id=tid, event_id=eid, event_type="call.new",
                body=event_body(eid, "call.new", tid, {"n": eid}, now),
            )[0]
            for eid in ("e" * 32, "f" * 32)
        )  # fmt: skip
        store.record_attempt(
            session, ok, at=now, status_code=200, latency_ms=12, error=None, delivered=True,
            retry_at=None,
        )  # fmt: skip
        for n in range(2):
            store.record_attempt(
                session, dead, at=now + timedelta(seconds=n), status_code=500, latency_ms=30,
                error="HTTP 500", delivered=False, retry_at=None if n else now,
            )  # fmt: skip
    base = f"/api/v1/webhooks/{hook['id']}/deliveries"
    everything = client.get(base).json()
    assert everything["total"] == 2
    letters = client.get(f"{base}?state=dead").json()
    assert [d["id"] for d in letters["items"]] == [dead]
    assert letters["items"][0]["attempts"] == 2 and letters["items"][0]["last_status"] == 500
    detail = client.get(f"{base}/{dead}").json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500]
    assert detail["payload"]["id"] == "f" * 32 and detail["payload"]["data"] == {"n": "f" * 32}
    assert client.get(f"{base}?state=bogus").status_code == 422

    r = client.post(f"{base}/{dead}/redeliver")
    assert r.status_code == 202, r.text
    assert (r.json()["state"], r.json()["attempts"]) == ("pending", 0)
    assert client.post(f"{base}/{dead}/redeliver").status_code == 409  # already pending
    assert client.get(f"{base}?state=dead").json()["total"] == 0
    b_admin = bearer(tenant_a["token"])
    assert client.get(f"{base}/{ok}", headers=b_admin).json()["state"] == "delivered"
    assert client.get(f"{base}/999999").status_code == 404


def test_ping_needs_the_delivery_service(client: TestClient, tenant_a: dict) -> None:
    # create_app alone runs no delivery worker (build_app does): 503, not a silent no-op.
    hook = create(client, tenant_a["id"]).json()
    assert client.post(f"/api/v1/webhooks/{hook['id']}/ping").status_code == 503
