"""Property-based run of every OpenAPI operation (schemathesis) against the app.

The whole service (``runtime.build_app``: calls, queues, supervision, recordings,
rating...) runs on SQLite over a FakeEngine, called as the system admin, with one
tenant and some of its objects seeded so that generated ids sometimes name a real
object and reach the code behind the 404. Each operation gets a bounded, derandomised number
of examples, so the run is repeatable and takes a few minutes on two cores.

A case fails on a 5xx, on a status code the OpenAPI does not list for the
operation, on a response body that its schema does not describe, and on a content
type the operation does not declare.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.config_state import ConfigState
from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, bearer, make_tenant

#: Examples per operation: enough to hit each parameter's edges, small enough for CI.
EXAMPLES = 30

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


def _seed(client: TestClient) -> dict[str, int]:
    """One tenant with some of its objects; their ids by the path parameter that takes them."""
    tid = make_tenant(client, "Fuzz", "fuzz.example")["id"]
    ids: dict[str, int] = {"tenant_id": tid}

    def created(name: str, url: str, body: dict[str, Any]) -> None:
        resp = client.post(url, json=body)
        assert resp.status_code == 201, (url, resp.text)
        ids[name] = int(resp.json()["id"])

    created("extension_id", f"/api/v1/tenants/{tid}/extensions", {"number": "101", "name": "Desk"})
    created("trunk_id", "/api/v1/trunks", {"tenant_id": tid, "name": "out", "host": "sip.example"})
    created("did_id", "/api/v1/dids", {"number": "+12065550100", "pricing_batch": "b"})
    created("queue_id", "/api/v1/queues", {"tenant_id": tid, "name": "sales"})
    created("agent_id", "/api/v1/agents", {"tenant_id": tid, "extension": "101"})
    created("app_id", "/api/v1/ivr-apps", {"tenant_id": tid, "name": "main", "app": "queue"})
    created(
        "webhook_id",
        "/api/v1/webhooks",
        {"tenant_id": tid, "url": "https://h.example/x", "events": ["call.*"]},
    )
    created("tariff_id", "/api/v1/tariffs", {"tenant_id": tid, "name": "t", "currency": "EUR"})
    return ids


class _StartOnce:
    """The app, whose start-up runs once for the whole module.

    Schemathesis starts an ASGI app's lifespan with each operation's test and stops it
    after; the service is started once per process, like the real one, so this answers
    those lifespan messages itself and runs the app's own lifespan only the first time.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.running: contextlib.AbstractAsyncContextManager[Any] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        await receive()  # lifespan.startup
        if self.running is None:
            self.running = self.app.router.lifespan_context(self.app)
            await self.running.__aenter__()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.__aexit__(None, None, None)


# The schema is read from the app when the module loads (schemathesis makes one test per
# operation from it); the database behind the app is seeded by ``seeded_store``.
_DIR = Path(tempfile.mkdtemp(prefix="orch-schemathesis-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # also when the tests are deselected
_SETTINGS = Settings(
    engine="fake",
    database_url=f"sqlite:///{_DIR / 'fuzz.db'}",
    state_dir=_DIR,
    admin_token=ADMIN_TOKEN,
)
_APP = build_app(_SETTINGS, engine=FakeEngine())
# Configuration changes are recorded, not rendered for an Asterisk the FakeEngine is not.
services_of(_APP).config_state = ConfigState(RecordingProvisioner())
_SERVICE = _StartOnce(_APP)
#: The seeded objects' ids, by the name of the path parameter that takes them.
SEEDED: dict[str, int] = {}

# From the document itself: loading it over ASGI would start the service at import.
schema = schemathesis.openapi.from_dict(_APP.openapi())
schema.app, schema.location = _SERVICE, "/openapi.json"


@schema.hook
def flatmap_path_parameters(_ctx: Any, path_parameters: dict[str, Any]) -> Any:
    # Half the cases name the seeded objects, so the code past the lookup runs too.
    if not path_parameters:
        return st.just(path_parameters)
    known = {k: SEEDED[k] for k in path_parameters if k in SEEDED}
    if not known:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **known}])


@pytest.fixture(scope="module", autouse=True)
def seeded_store() -> Iterator[None]:
    # Without its context the client does not start the service: the run does, once.
    client = TestClient(_APP, headers=bearer(ADMIN_TOKEN))
    SEEDED.update(_seed(client))
    yield
    asgi._get_portal().call(_SERVICE.stop)  # the loop the service was started in


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(case: Any) -> None:
    # Replaces whatever the security scheme made schemathesis put there.
    case.headers = {**(case.headers or {}), **bearer(ADMIN_TOKEN)}
    case.call_and_validate(checks=CHECKS)
