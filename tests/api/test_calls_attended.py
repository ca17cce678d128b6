"""Attended transfer over REST and the WebSocket, on a FakeEngine: start, complete,
cancel, the 409s for wrong states, validation and tenant scoping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from orchestrator.core import FakeEngine
from orchestrator.core.call import LegState
from orchestrator.cti import CtiService
from orchestrator.ivr import IvrRunner
from tests.api import cti_helpers
from tests.api.conftest import TestClient, bearer
from tests.api.test_calls import answer_originated, call_in, run
from tests.api.test_cti_ws import connect


@pytest.fixture
def cti(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine
) -> Iterator[tuple[CtiService, IvrRunner]]:
    wired = cti_helpers.wire(app, fake_engine, ws_heartbeat_s=30, ws_idle_timeout_s=30)
    yield wired
    client.portal.call(cti_helpers.stop, *wired)  # type: ignore[union-attr]


def connected(client: TestClient, engine: FakeEngine, tenant: dict, **headers: Any) -> str:
    """A click-to-call 101 -> 102 of ``tenant``, both legs answered and connected."""
    body = {"tenant_id": tenant["id"], "a": "101", "b": "102"}
    r = client.post("/api/v1/click-to-call", json=body, **headers)
    assert r.status_code == 202, r.text
    run(client, answer_originated, engine, 2)
    return str(r.json()["id"])


def test_consult_complete_over_rest(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    as_a = {"headers": bearer(tenant_a["token"])}
    call_id = connected(client, fake_engine, tenant_a, **as_a)
    url = f"/api/v1/calls/{call_id}/attended-transfer"
    r = client.post(url, json={"leg": "b", "to": "103"}, **as_a)
    assert r.status_code == 200, r.text
    transfer = r.json()["transfer"]
    assert transfer["state"] == "ringing" and transfer["to"] == "103"
    assert transfer["transferer_leg"] == call_id  # leg a consults
    assert client.get(f"/api/v1/calls/{call_id}").json()["transfer"] == transfer
    r = client.post(url, json={"leg": "a", "to": "104"}, **as_a)
    assert r.status_code == 409 and r.json()["error_id"] == "transfer-state", r.text
    r = client.post(f"/api/v1/calls/{call_id}/hold", **as_a)
    assert r.status_code == 409 and r.json()["error_id"] == "transfer-state"
    run(client, answer_originated, fake_engine, 3)  # the target answers
    assert client.get(f"/api/v1/calls/{call_id}").json()["transfer"]["state"] == "talking"

    r = client.post(f"{url}/complete", **as_a)
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == call_id and r.json()["transfer"]["state"] == "talking"
    call = client.get(f"/api/v1/calls/{call_id}").json()
    assert call["transfer"] is None and call["state"] == "answered"
    held, target = transfer["held_leg"], transfer["target_leg"]
    assert [(g["id"], g["role"], g["number"]) for g in call["legs"]] == [
        (held, "b", "102"),
        (target, "a", "103"),
    ]
    assert fake_engine.legs[call_id].state is LegState.HUNG_UP
    r = client.post(f"{url}/complete", **as_a)
    assert r.status_code == 409 and r.json()["error_id"] == "transfer-state"
    assert client.post(f"/api/v1/calls/{call_id}/hangup", **as_a).status_code == 200
    assert fake_engine.legs[target].state is LegState.HUNG_UP


def test_cancel_over_rest_and_wrong_states(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    call_id = connected(client, fake_engine, tenant_a)
    url = f"/api/v1/calls/{call_id}/attended-transfer"
    r = client.post(f"{url}/cancel")
    assert r.status_code == 409 and r.json()["error_id"] == "transfer-state"
    assert "no attended transfer" in r.json()["message"]
    r = client.post(url, json={"leg": "a", "to": "103", "timeout": 10})
    assert r.status_code == 200, r.text
    r = client.post(f"{url}/cancel")
    assert r.status_code == 200, r.text
    target = r.json()["transfer"]["target_leg"]
    assert fake_engine.legs[target].state is LegState.HUNG_UP
    call = client.get(f"/api/v1/calls/{call_id}").json()
    assert [(g["role"], g["state"]) for g in call["legs"]] == [("a", "up"), ("b", "up")]
    assert call["transfer"] is None
    # A call a Python flow runs: blind transfer only.
    flow_call = call_in(client, cti, fake_engine, tenant_a["id"], app="menu")
    r = client.post(f"/api/v1/calls/{flow_call}/attended-transfer", json={"leg": "a", "to": "103"})
    assert r.status_code == 409 and r.json()["error_id"] == "call-state"


@pytest.mark.parametrize(
    "body",
    [
        {"leg": "c", "to": "103"},
        {"leg": "a", "to": "10&3"},
        {"leg": "a", "to": "103,1"},
        {"leg": "a"},
        {"leg": "a", "to": "103", "timeout": 1},
        {"leg": "a", "to": "103", "extra": 1},
    ],
)
def test_attended_transfer_input_is_validated(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict, body: dict
) -> None:
    call_id = connected(client, fake_engine, tenant_a)
    before = len(fake_engine.commands)
    r = client.post(f"/api/v1/calls/{call_id}/attended-transfer", json=body)
    assert r.status_code == 422, r.text
    assert len(fake_engine.commands) == before


def test_another_tenants_call_is_not_found(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict, tenant_b: dict
) -> None:
    call_id = connected(client, fake_engine, tenant_a)
    as_b = bearer(tenant_b["token"])
    url = f"/api/v1/calls/{call_id}/attended-transfer"
    assert client.post(url, json={"leg": "a", "to": "103"}, headers=as_b).status_code == 404
    assert client.post(f"{url}/complete", headers=as_b).status_code == 404
    assert client.post(f"{url}/cancel", headers=as_b).status_code == 404


def test_websocket_commands_and_events(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    with connect(client, tenant_a["token"]) as ws:
        assert ws.request({"type": "subscribe", "id": 1})["ok"]
        call_id = connected(client, fake_engine, tenant_a)
        reply = ws.request(
            {"type": "attended_transfer", "id": 2, "call_id": call_id, "leg": "b", "to": "103"}
        )
        assert reply["ok"], reply
        assert reply["result"]["transfer"]["state"] == "ringing"
        started = ws.event("transfer_started")
        assert started["details"]["to"] == "103"
        assert started["call"]["transfer"]["held_leg"] == reply["result"]["transfer"]["held_leg"]
        reply = ws.request({"type": "attended_transfer", "id": 3, "call_id": call_id, "leg": "x"})
        assert not reply["ok"] and reply["error"]["error_id"] == "invalid-input"
        run(client, answer_originated, fake_engine, 3)
        ws.event("transfer_answered")
        reply = ws.request({"type": "complete_transfer", "id": 4, "call_id": call_id})
        assert reply["ok"], reply
        done = ws.event("transferred")
        assert done["details"]["attended"] is True and done["details"]["number"] == "103"
        assert done["call"]["state"] == "answered"
        reply = ws.request({"type": "cancel_transfer", "id": 5, "call_id": call_id})
        assert not reply["ok"] and reply["error"]["error_id"] == "transfer-state"
