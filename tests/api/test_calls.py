"""REST call control over a FakeEngine: list and read active calls with tenant scoping,
hang up, transfer, redirect, hold, originate and click-to-call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from orchestrator.core import FakeEngine
from orchestrator.core.call import LegState
from orchestrator.core.targets import Extension
from orchestrator.cti import CtiService
from orchestrator.ivr import IvrRunner
from tests.api import cti_helpers
from tests.api.conftest import TestClient, bearer


@pytest.fixture
def cti(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine
) -> Iterator[tuple[CtiService, IvrRunner]]:
    wired = cti_helpers.wire(app, fake_engine)
    yield wired
    client.portal.call(cti_helpers.stop, *wired)  # type: ignore[union-attr]


def run(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


def call_in(client: TestClient, cti: Any, engine: FakeEngine, tenant: int, **kw: Any) -> str:
    return str(run(client, lambda: cti_helpers.incoming(engine, cti[1], tenant, cti=cti[0], **kw)))


async def answer_originated(engine: FakeEngine, count: int) -> list[str]:
    """Every leg the service originates answers (the far ends' part)."""
    answered: list[str] = []
    for _ in range(2000):
        for cmd in list(engine.commands):
            if cmd[0] == "originate" and cmd[2] not in answered:
                answered.append(cmd[2])
                await engine.remote_answer(cmd[2])
        if len(answered) >= count:
            await asyncio.sleep(0.01)  # the two are connected
            return answered
        await asyncio.sleep(0.001)
    raise AssertionError(f"{len(answered)} of {count} legs originated")


def test_list_and_read_calls_with_tenant_scoping(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict, tenant_b: dict
) -> None:
    a_call = call_in(client, cti, fake_engine, tenant_a["id"])
    b_call = call_in(client, cti, fake_engine, tenant_b["id"], app="menu")
    everything = client.get("/api/v1/calls").json()
    assert everything["total"] == 2
    assert {c["id"] for c in everything["items"]} == {a_call, b_call}
    as_a = bearer(tenant_a["token"])
    mine = client.get("/api/v1/calls", headers=as_a).json()
    assert [c["id"] for c in mine["items"]] == [a_call]
    assert mine["items"][0]["state"] == "ringing" and mine["items"][0]["kind"] == "remote"
    r = client.get(f"/api/v1/calls?tenant_id={tenant_b['id']}", headers=as_a)
    assert r.status_code == 404
    assert client.get(f"/api/v1/calls/{b_call}", headers=as_a).status_code == 404
    r = client.get(f"/api/v1/calls/{a_call}", headers=as_a)
    assert r.status_code == 200 and r.json()["access_number"] == cti_helpers.ACCESS
    by_number = client.get("/api/v1/calls", params={"access_number": cti_helpers.ACCESS})
    assert by_number.json()["total"] == 2
    assert client.get("/api/v1/calls?extension=1;2").status_code == 422


def test_hangup_ends_the_call(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    call_id = call_in(client, cti, fake_engine, tenant_a["id"], app="menu")
    r = client.post(f"/api/v1/calls/{call_id}/hangup", json={"cause": 17})
    assert r.status_code == 200 and r.json() == {"call_id": call_id, "ok": True}
    assert ("hangup", call_id, 17) in fake_engine.commands
    assert client.get(f"/api/v1/calls/{call_id}").status_code == 404
    assert client.post(f"/api/v1/calls/{call_id}/hangup").status_code == 404


def test_redirect_ringing_call_then_transfer_refused_once_gone(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    call_id = call_in(client, cti, fake_engine, tenant_a["id"])
    r = client.post(f"/api/v1/calls/{call_id}/redirect", json={"destination": "102"})
    assert r.status_code == 200, r.text
    assert ("transfer", call_id, Extension(str(tenant_a["id"]), "102")) in fake_engine.commands
    r = client.post(f"/api/v1/calls/{call_id}/transfer", json={"destination": "103"})
    assert r.status_code == 404


def test_redirect_of_an_answered_call_is_a_conflict(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    call_id = call_in(client, cti, fake_engine, tenant_a["id"], app="menu")
    r = client.post(f"/api/v1/calls/{call_id}/redirect", json={"destination": "102"})
    assert r.status_code == 409 and r.json()["error_id"] == "call-state"
    r = client.post(f"/api/v1/calls/{call_id}/transfer", json={"destination": "extension:102"})
    assert r.status_code == 200
    assert ("transfer", call_id, Extension(str(tenant_a["id"]), "102")) in fake_engine.commands


def test_transfer_destination_is_validated(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    call_id = call_in(client, cti, fake_engine, tenant_a["id"], app="menu")
    r = client.post(f"/api/v1/calls/{call_id}/transfer", json={"destination": "10&2"})
    assert r.status_code == 422
    assert not any(c[0] == "transfer" for c in fake_engine.commands)


def test_click_to_call_connects_and_hangs_up_both_legs(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    body = {
        "tenant_id": tenant_a["id"],
        "a": "101",
        "b": "+442079460000",
        "caller_id_a": "+15550100",
        "caller_id_b": "+15550101",
        "account": "bistro-7",
    }
    r = client.post("/api/v1/click-to-call", json=body, headers=bearer(tenant_a["token"]))
    assert r.status_code == 202, r.text
    call = r.json()
    assert call["kind"] == "click_to_call" and call["account"] == "bistro-7"
    a, b = run(client, answer_originated, fake_engine, 2)
    assert a == call["id"]
    now = client.get(f"/api/v1/calls/{a}").json()
    assert now["state"] == "answered"
    assert [(leg["role"], leg["state"]) for leg in now["legs"]] == [("a", "up"), ("b", "up")]
    assert [c[1:] for c in fake_engine.commands if c[0] == "connect"] == [(a, b)]
    assert client.post(f"/api/v1/calls/{a}/hold").status_code == 200
    assert ("hold", b, "") in fake_engine.commands
    assert client.get(f"/api/v1/calls/{a}").json()["state"] == "held"
    assert client.post(f"/api/v1/calls/{a}/hangup").status_code == 200
    assert fake_engine.legs[a].state is LegState.HUNG_UP
    assert fake_engine.legs[b].state is LegState.HUNG_UP
    assert client.get("/api/v1/calls").json()["total"] == 0


def test_click_to_call_checks_tenant_and_caller_ids(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict, tenant_b: dict
) -> None:
    body = {"tenant_id": tenant_b["id"], "a": "101", "b": "102"}
    r = client.post("/api/v1/click-to-call", json=body, headers=bearer(tenant_a["token"]))
    assert r.status_code == 404
    body = {"tenant_id": tenant_a["id"], "a": "101", "b": "102", "caller_id_a": "12;34"}
    assert client.post("/api/v1/click-to-call", json=body).status_code == 422
    assert fake_engine.commands == []


def test_originate_from_an_extension(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    body = {"tenant_id": tenant_a["id"], "extension": "101", "destination": "102"}
    r = client.post("/api/v1/calls", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "originate" and r.json()["extensions"] == ["101", "102"]
    run(client, answer_originated, fake_engine, 2)
    listed = client.get(f"/api/v1/calls?extension=101&tenant_id={tenant_a['id']}").json()
    assert listed["total"] == 1 and listed["items"][0]["state"] == "answered"
    r = client.post(f"/api/v1/calls/{r.json()['id']}/transfer", json={"destination": "103"})
    assert r.status_code == 200
    assert client.get("/api/v1/calls").json()["total"] == 0


def test_calls_need_a_token(anon: TestClient, cti: Any) -> None:
    assert anon.get("/api/v1/calls").status_code == 401
