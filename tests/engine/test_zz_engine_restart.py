"""After an engine restart the orchestrator reconnects by itself and /health says so.

Named to run last: it restarts the shared test instance."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.engine.conftest import Service

pytestmark = [pytest.mark.engine, pytest.mark.alone]


def _engine_health(service: Service) -> tuple[int, dict]:
    r = httpx.get(f"{service.url}/health", timeout=5)
    return r.status_code, r.json()["engine"]


def _wait(service: Service, connected: bool, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, engine = _engine_health(service)
        if engine["connected"] is connected and (status == 200) is connected:
            return engine
        if time.monotonic() > deadline:
            raise AssertionError(f"engine connected={engine['connected']} after {timeout} s")
        time.sleep(0.2)


def test_health_follows_engine_restart(service: Service) -> None:
    _wait(service, True, 10)
    service.instance.stop()
    down = _wait(service, False, 10)
    assert down["links"]["ari"] is False
    service.instance.start()
    up = _wait(service, True, 30)
    assert up["links"] == {"ari": True, "ami": True}
    assert up["version"].startswith("22.")
    # The tenants' dialplan is still there after the restart.
    assert "orchestrator-stasis" in service.instance.cli("dialplan show orchestrator-stasis")
