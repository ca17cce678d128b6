"""``/api/v1/supervision`` over a FakeEngine: start, switch, stop, tenant scoping and errors,
with the store's extensions behind it (the composition root's ``extension_endpoint``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.cti import EventStream
from orchestrator.cti.install import extension_endpoint
from orchestrator.cti.supervise import SupervisionService
from orchestrator.store.db import SessionFactory
from tests.api.conftest import TestClient, bearer


@pytest.fixture
def supervision(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine, db_sessions: SessionFactory
) -> Iterator[SupervisionService]:
    service = SupervisionService(fake_engine, EventStream(), extension_endpoint(db_sessions))
    service.start()
    services_of(app).supervision = service
    yield service
    client.portal.call(service.stop)  # type: ignore[union-attr]


def run(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


def extensions(client: TestClient, tenant: dict[str, Any], *numbers: str) -> dict[str, str]:
    """Create the extensions; their SIP endpoints by number."""
    out = {}
    for number in numbers:
        r = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
        assert r.status_code == 201, r.text
        out[number] = f"{r.json()['sip_username']}@{tenant['sip_domain']}"
    return out


async def settle() -> None:
    await asyncio.sleep(0.02)


def test_start_switch_and_stop(
    client: TestClient,
    supervision: Any,
    fake_engine: FakeEngine,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
) -> None:
    ep = extensions(client, tenant_a, "101", "102", "150")
    _customer, agent = run(
        client, lambda: fake_engine.dialplan_call(ep["102"], ep["101"], hangup=False)
    )
    admin = bearer(tenant_a["token"])
    body = {"supervisor": "150", "agent": "101", "mode": "listen"}
    r = client.post("/api/v1/supervision", json=body, headers=admin)
    assert r.status_code == 202, r.text
    session = r.json()
    assert session["state"] == "ringing" and session["agent_channel"] == agent
    assert session["tenant_id"] == tenant_a["id"]
    leg = next(c[2] for c in fake_engine.commands if c[0] == "originate")
    run(client, lambda: fake_engine.remote_answer(leg))
    run(client, settle)
    r = client.get(f"/api/v1/supervision/{session['id']}", headers=admin)
    assert r.json()["state"] == "active"
    r = client.patch(f"/api/v1/supervision/{session['id']}", json={"mode": "barge"}, headers=admin)
    assert r.status_code == 200 and r.json()["mode"] == "barge", r.text
    assert [c[3] for c in fake_engine.commands if c[0] == "supervise"] == ["listen", "barge"]
    # Another tenant's admin sees nothing of it.
    other = bearer(tenant_b["token"])
    assert client.get(f"/api/v1/supervision/{session['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/supervision", headers=other).json()["total"] == 0
    assert client.delete(f"/api/v1/supervision/{session['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/supervision", headers=admin).json()["total"] == 1
    r = client.delete(f"/api/v1/supervision/{session['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["reason"] == "stopped", r.text
    assert client.get("/api/v1/supervision", headers=admin).json()["total"] == 0
    assert not fake_engine.legs[leg].alive and fake_engine.peer(leg) is None
    assert not fake_engine.supervisions


def test_errors(
    client: TestClient,
    supervision: Any,
    fake_engine: FakeEngine,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
) -> None:
    ep = extensions(client, tenant_a, "101", "102", "150")
    extensions(client, tenant_b, "201")
    admin = bearer(tenant_a["token"])

    def start(**body: Any) -> Any:
        payload = {"supervisor": "150", "agent": "101", "mode": "listen", **body}
        return client.post("/api/v1/supervision", json=payload, headers=admin)

    r = start()
    assert r.status_code == 404 and r.json()["error_id"] == "agent-not-on-call", r.text
    r = start(agent="201")  # tenant B's extension
    assert r.status_code == 404 and r.json()["error_id"] == "not-found", r.text
    r = start(tenant_id=tenant_b["id"])
    assert r.status_code == 404, r.text
    assert start(mode="shout").status_code == 422
    assert start(agent="1; DROP").status_code == 422
    # The system admin names the tenant.
    r = client.post("/api/v1/supervision", json={"supervisor": "150", "agent": "101"})
    assert r.status_code == 422 and r.json()["details"]["field"] == "tenant_id", r.text
    run(client, lambda: fake_engine.dialplan_call(ep["102"], ep["101"], hangup=False))
    r = client.post(
        "/api/v1/supervision",
        json={"supervisor": "150", "agent": "101", "tenant_id": tenant_a["id"]},
    )
    assert r.status_code == 202, r.text
    r = start(mode="whisper")
    assert r.status_code == 409 and r.json()["error_id"] == "supervisor-busy", r.text
    assert client.patch("/api/v1/supervision/nope", json={"mode": "barge"}).status_code == 404


def test_not_running(app: FastAPI, client: TestClient) -> None:
    r = client.get("/api/v1/supervision")
    assert r.status_code == 503, r.text
