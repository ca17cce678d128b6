"""API fixtures: an app over a FakeEngine and a RecordingProvisioner, and its callers.

``client`` calls as the system admin; ``as_user(token)`` gives headers for
another caller. ``tenant_a``/``tenant_b`` are two tenants with a tenant admin
each (``tenant_a["token"]``).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its test client; httpx (a dev dependency) still works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth import ensure_admin
from api.main import create_app
from orchestrator.core import FakeEngine
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory

ADMIN_TOKEN = "test-admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(db_url: str, tmp_path: Any) -> Settings:
    return Settings(engine="fake", database_url=db_url, state_dir=tmp_path, admin_token=ADMIN_TOKEN)


@pytest.fixture
def fake_engine() -> FakeEngine:
    engine = FakeEngine()
    asyncio.run(engine.start())
    return engine


@pytest.fixture
def provisioner() -> RecordingProvisioner:
    return RecordingProvisioner()


# The app of the first test, reused by the next ones of the process with their own
# services: FastAPI builds every route's dependants (a pydantic schema per parameter) at
# an app's first request, which was ~40% of an API test's time when each test made its
# own app (py-spy, 2026-12-07). The API reads its services only through app.state
# (api.services.services_of), and no test changes an app's routes or middleware.
_FIRST_APP: list[FastAPI] = []


@pytest.fixture
def app(
    settings: Settings,
    fake_engine: FakeEngine,
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> FastAPI:
    with db_sessions() as session:
        assert ensure_admin(session, settings) is None
    made = create_app(
        settings=settings,
        engine=fake_engine,
        provisioner=provisioner,
        session_factory=db_sessions,
    )
    if not _FIRST_APP:
        _FIRST_APP.append(made)
        return made
    shared = _FIRST_APP[0]
    assert not shared.dependency_overrides and len(shared.routes) == len(made.routes)
    shared.state.services = made.state.services  # this test's, as create_app made them
    return shared


@pytest.fixture(scope="session")
def openapi_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``GET /openapi.json`` of an app as ``app`` makes it, fetched once a session: the
    document depends on no database and takes seconds to generate (~3 s on CI), so the
    tests that read it share one instead of generating it for each test and database."""
    state = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        engine="fake", database_url=f"sqlite:///{state / 'unused.db'}", state_dir=state,
        admin_token=ADMIN_TOKEN,
    )  # fmt: skip
    app = create_app(settings=settings, engine=FakeEngine(), provisioner=RecordingProvisioner())
    with TestClient(app) as client:
        resp = client.get("/openapi.json")
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    """A client without credentials."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client authenticated as the system admin."""
    with TestClient(app, headers=bearer(ADMIN_TOKEN)) as client:
        yield client


def make_tenant(client: TestClient, name: str, domain: str) -> dict[str, Any]:
    """Create a tenant and a tenant admin for it; returns the tenant plus ``token``."""
    resp = client.post("/api/v1/tenants", json={"name": name, "sip_domain": domain})
    assert resp.status_code == 201, resp.text
    tenant = resp.json()
    resp = client.post(
        "/api/v1/users",
        json={"name": f"{name} admin", "role": "tenant_admin", "tenant_id": tenant["id"]},
    )
    assert resp.status_code == 201, resp.text
    return {**tenant, "token": resp.json()["token"]}


@pytest.fixture
def tenant_a(client: TestClient) -> dict[str, Any]:
    return make_tenant(client, "Tenant A", "a.example")


@pytest.fixture
def tenant_b(client: TestClient) -> dict[str, Any]:
    return make_tenant(client, "Tenant B", "b.example")
