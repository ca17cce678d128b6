"""``POST /api/v1/calls/{id}/record`` and ``/stop-record`` over a FakeEngine: any answered
call's conversation is recorded (``Engine.record_call``); what cannot be recorded gets a
4xx with a reason, never a 5xx or a 202 that records nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.core.errors import CallError
from orchestrator.cti import CtiService
from orchestrator.ivr import IvrRunner
from orchestrator.recordings.calls import CallRecorder
from orchestrator.store.db import SessionFactory
from tests.api import cti_helpers
from tests.api.conftest import TestClient, bearer


@pytest.fixture
def wired(
    app: FastAPI,
    client: TestClient,
    fake_engine: FakeEngine,
    db_sessions: SessionFactory,
    tenant_a: dict[str, Any],
) -> Iterator[tuple[CtiService, IvrRunner]]:
    cti, runner = cti_helpers.wire(app, fake_engine)
    domain = tenant_a["sip_domain"]

    async def owners(endpoint: str) -> tuple[int, str | None] | None:
        user, _, at = endpoint.partition("@")
        return (tenant_a["id"], user) if at == domain else None

    cti.calls.endpoints = owners
    cti.calls.start()  # (again: now it follows dialplan calls too)
    recorder = CallRecorder(fake_engine, cti.calls, db_sessions)
    recorder.start()
    services_of(app).call_recorder = recorder
    yield cti, runner
    recorder.stop_following()
    client.portal.call(cti_helpers.stop, cti, runner)  # type: ignore[union-attr]


def run(client: TestClient, fn: Any) -> Any:
    return client.portal.call(fn)  # type: ignore[union-attr]


def dialplan_call(client: TestClient, engine: FakeEngine, domain: str) -> tuple[str, str]:
    """Phone 102 calls phone 101 in the engine's dialplan; answered. (caller, callee)."""
    a, b = run(
        client,
        lambda: engine.dialplan_call(
            f"102@{domain}", f"101@{domain}", caller="102", called="101", hangup=False
        ),
    )
    return str(a), str(b)


def test_a_dialplan_call_is_recorded_stopped_and_recorded_again(
    client: TestClient, wired: Any, fake_engine: FakeEngine, tenant_a: dict[str, Any]
) -> None:
    caller, _callee = dialplan_call(client, fake_engine, tenant_a["sip_domain"])
    r = client.post(f"/api/v1/calls/{caller}/record", json={"max_duration_s": 60})
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["leg_id"] == caller and first["recording"].startswith("rec/")
    [cmd] = [c for c in fake_engine.commands if c[0] == "record_call"]
    assert cmd[1:3] == (caller, first["recording"]) and cmd[4] == 60
    # A second start while it records: refused, and the engine is not asked again.
    r = client.post(f"/api/v1/calls/{caller}/record", json={})
    assert r.status_code == 409 and r.json()["error_id"] == "already-recording", r.text
    assert len([c for c in fake_engine.commands if c[0] == "record_call"]) == 1
    r = client.post(f"/api/v1/calls/{caller}/stop-record")
    assert r.status_code == 200 and r.json()["stopped"] == [first["recording"]], r.text
    assert first["recording"] in fake_engine.recordings  # kept
    # Stopped: it can be recorded again, under a new name.
    r = client.post(f"/api/v1/calls/{caller}/record", json={})
    assert r.status_code == 202 and r.json()["recording"] != first["recording"], r.text
    second = r.json()["recording"]
    # The call ends: so does its recording (kept), and the call is gone for both routes.
    run(client, lambda: fake_engine.hangup_channel(caller))
    assert second in fake_engine.recordings
    assert client.post(f"/api/v1/calls/{caller}/record", json={}).status_code == 404
    assert client.post(f"/api/v1/calls/{caller}/stop-record").status_code == 404


def test_another_tenants_admin_cannot_record_it(
    client: TestClient,
    wired: Any,
    fake_engine: FakeEngine,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
) -> None:
    caller, _ = dialplan_call(client, fake_engine, tenant_a["sip_domain"])
    other = bearer(tenant_b["token"])
    r = client.post(f"/api/v1/calls/{caller}/record", json={}, headers=other)
    assert r.status_code == 404, r.text
    r = client.post(f"/api/v1/calls/{caller}/record", json={}, headers=bearer(tenant_a["token"]))
    assert r.status_code == 202, r.text


def test_an_unanswered_call_is_refused_with_a_reason(
    client: TestClient, wired: Any, fake_engine: FakeEngine, tenant_a: dict[str, Any]
) -> None:
    # A remote-app call waits for its CTI client to answer it.
    call_id = run(client, lambda: cti_helpers.incoming(fake_engine, wired[1], tenant_a["id"]))
    r = client.post(f"/api/v1/calls/{call_id}/record", json={})
    assert r.status_code == 409 and r.json()["error_id"] == "call-not-answered", r.text
    assert not [c for c in fake_engine.commands if c[0] == "record_call"]
    assert client.post("/api/v1/calls/no-such-call/record", json={}).status_code == 404


def test_the_engine_refusing_is_a_409_not_a_500(
    client: TestClient,
    wired: Any,
    fake_engine: FakeEngine,
    tenant_a: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caller, _ = dialplan_call(client, fake_engine, tenant_a["sip_domain"])

    async def refuse(*_args: Any, **_kw: Any) -> str:
        # What ARI said when the old route recorded a dialplan call's channel itself.
        raise CallError("ARI POST /channels/x/record: 409 Channel not in Stasis application")

    monkeypatch.setattr(fake_engine, "record_call", refuse)
    r = client.post(f"/api/v1/calls/{caller}/record", json={})
    assert r.status_code == 409 and r.json()["error_id"] == "call-error", r.text
    # Refused: not counted as recording.
    monkeypatch.undo()
    assert client.post(f"/api/v1/calls/{caller}/record", json={}).status_code == 202


def test_a_leg_gone_meanwhile_is_a_410(
    client: TestClient, wired: Any, fake_engine: FakeEngine, tenant_a: dict[str, Any]
) -> None:
    caller, callee = dialplan_call(client, fake_engine, tenant_a["sip_domain"])
    # The engine lost both channels; the registry has not heard yet.
    fake_engine.channels.pop(caller)
    fake_engine.channels.pop(callee)
    r = client.post(f"/api/v1/calls/{caller}/record", json={})
    assert r.status_code == 410 and r.json()["error_id"] == "leg-gone", r.text
