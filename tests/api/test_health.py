"""GET /health: database and engine state, no authentication."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from orchestrator.core import FakeEngine


def test_ok_when_engine_connected(anon: TestClient) -> None:
    resp = anon.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "database": {"ok": True},
        "engine": {
            "name": "fake",
            "connected": True,
            "version": "fake-1.0",
            "links": {"fake": True},
        },
    }


def test_degraded_when_engine_stopped(anon: TestClient, fake_engine: FakeEngine) -> None:
    asyncio.run(fake_engine.stop())
    resp = anon.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["database"] == {"ok": True}
    assert body["engine"]["connected"] is False


def test_openapi_is_served(anon: TestClient) -> None:
    assert anon.get("/docs").status_code == 200
    paths = anon.get("/openapi.json").json()["paths"]
    assert "/api/v1/dids/bulk" in paths
    assert "/api/v1/tenants/{tenant_id}/extensions/{extension_id}/sip-credentials" in paths


def test_unknown_route_has_the_error_body(anon: TestClient) -> None:
    resp = anon.get("/api/v1/nothing")
    assert resp.status_code == 404
    assert resp.json()["error_id"] == "http-404"
