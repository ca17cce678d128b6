"""The CTI WebSocket over a FakeEngine: auth and tenant scoping, subscribe and events,
commands with replies, replay after a reconnect, heartbeat, ping and idle timeout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from api.errors import WS_IDLE_TIMEOUT, WS_UNAUTHENTICATED
from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.cti import CtiService
from orchestrator.ivr import IvrRunner
from tests.api import cti_helpers
from tests.api.conftest import ADMIN_TOKEN, TestClient, bearer

WS = "/api/v1/ws"


@pytest.fixture
def cti(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine
) -> Iterator[tuple[CtiService, IvrRunner]]:
    wired = cti_helpers.wire(app, fake_engine, ws_heartbeat_s=30, ws_idle_timeout_s=30)
    yield wired
    client.portal.call(cti_helpers.stop, *wired)  # type: ignore[union-attr]


def call_in(
    client: TestClient, engine: FakeEngine, runner: IvrRunner, tenant: int, **kw: Any
) -> str:
    return client.portal.call(  # type: ignore[union-attr]
        lambda: cti_helpers.incoming(engine, runner, tenant, **kw)
    )


class Ws:
    """A test WebSocket client that keeps messages it skipped while waiting for another."""

    def __init__(self, session: WebSocketTestSession) -> None:
        self.session = session
        self.pending: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        self.session.send_json(msg)

    def until(self, match: Any) -> dict[str, Any]:
        for i, msg in enumerate(self.pending):
            if match(msg):
                return self.pending.pop(i)
        while True:
            msg = self.session.receive_json()
            if match(msg):
                return msg
            self.pending.append(msg)

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.send(msg)
        return self.until(lambda m: m["type"] == "reply" and m["id"] == msg["id"])

    def event(self, name: str) -> dict[str, Any]:
        return self.until(lambda m: m["type"] == "event" and m["event"] == name)


@contextlib.contextmanager
def connect(client: TestClient, token: str = ADMIN_TOKEN) -> Iterator[Ws]:
    with client.websocket_connect(WS, headers=bearer(token)) as session:
        ws = Ws(session)
        assert ws.until(lambda m: True)["type"] == "welcome"
        yield ws


def test_no_token_closes_with_4401(anon: TestClient, cti: Any) -> None:
    with anon.websocket_connect(WS) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == WS_UNAUTHENTICATED


def test_bad_token_in_query_closes_with_4401(anon: TestClient, cti: Any) -> None:
    with anon.websocket_connect(f"{WS}?token=nope") as ws, pytest.raises(WebSocketDisconnect) as c:
        ws.receive_json()
    assert c.value.code == WS_UNAUTHENTICATED


def test_token_in_query_is_accepted(anon: TestClient, cti: Any, tenant_a: dict) -> None:
    with anon.websocket_connect(f"{WS}?token={tenant_a['token']}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "welcome" and hello["tenant_id"] == tenant_a["id"]
        ws.send_json({"type": "ping", "id": 1})
        assert ws.receive_json() == {"type": "pong", "id": 1, "time": pytest.approx(0, abs=1e10)}


def test_ping_pong_echoes_the_id(client: TestClient, cti: Any) -> None:
    with connect(client) as ws:
        ws.send({"type": "ping", "id": "p1"})
        pong = ws.until(lambda m: True)
    assert pong["type"] == "pong" and pong["id"] == "p1"


def test_bad_messages_get_error_replies_and_the_connection_stays(
    client: TestClient, cti: Any
) -> None:
    with connect(client) as ws:
        ws.session.send_text("not json")
        assert ws.until(lambda m: True)["error"]["error_id"] == "invalid-input"
        reply = ws.request({"type": "dance", "id": 2})
        assert not reply["ok"] and reply["error"]["details"]["field"] == "type"
        reply = ws.request({"type": "subscribe", "id": 3})  # system admin: tenant needed
        assert reply["error"]["details"]["field"] == "tenant_id"
        reply = ws.request({"type": "answer", "id": 4, "call_id": "nope"})
        assert reply["error"]["error_id"] == "not-found"


def test_tenant_admin_cannot_subscribe_to_another_tenant(
    client: TestClient, cti: Any, tenant_a: dict, tenant_b: dict
) -> None:
    with connect(client, tenant_a["token"]) as ws:
        reply = ws.request({"type": "subscribe", "id": 1, "tenant_id": tenant_b["id"]})
        assert reply["error"]["error_id"] == "not-found"
        reply = ws.request({"type": "subscribe", "id": 2})  # its own tenant by default
        assert reply["ok"] and reply["result"]["tenant_id"] == tenant_a["id"]


def test_system_admin_subscribing_to_a_missing_tenant_is_not_found(
    client: TestClient, cti: Any
) -> None:
    with connect(client) as ws:
        reply = ws.request({"type": "subscribe", "id": 1, "tenant_id": 999})
    assert reply["error"]["error_id"] == "not-found"


def test_remote_app_call_driven_over_the_websocket(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict, tenant_b: dict
) -> None:
    service, runner = cti
    tid = tenant_a["id"]
    with connect(client, tenant_a["token"]) as ws, connect(client, tenant_b["token"]) as other:
        sub = ws.request({"type": "subscribe", "id": "s", "access_number": cti_helpers.ACCESS})
        assert sub["ok"] and sub["result"]["calls"] == [] and sub["result"]["last_seq"] == 0
        assert other.request({"type": "subscribe", "id": "s"})["ok"]
        call_id = call_in(client, fake_engine, runner, tid)
        new = ws.event("new")
        assert new["call"]["id"] == call_id and new["seq"] == 1 and new["tenant_id"] == tid
        assert ws.event("ringing")["seq"] == 2
        assert ws.request({"type": "answer", "id": "a", "call_id": call_id})["ok"]
        assert ws.event("answered")["call"]["state"] == "answered"
        reply = ws.request({"type": "play", "id": "p", "call_id": call_id, "media": ["beep"]})
        assert reply == {"type": "reply", "id": "p", "ok": True, "result": {"call_id": call_id}}
        ws.send({"type": "collect", "id": "c", "call_id": call_id, "max_digits": 3})
        client.portal.call(fake_engine.dtmf, call_id, "789")  # type: ignore[union-attr]
        digits = [ws.event("dtmf")["details"]["digit"] for _ in range(3)]
        assert digits == ["7", "8", "9"]
        assert ws.until(lambda m: m.get("id") == "c")["result"]["digits"] == "789"
        reply = ws.request({"type": "hangup", "id": "h", "call_id": call_id})
        assert reply["ok"]
        ended = ws.event("hung_up")
        assert ended["call"]["state"] == "hung_up"
        # Another tenant's client saw nothing and cannot touch the call.
        reply = other.request({"type": "hangup", "id": "x", "call_id": call_id})
        assert reply["error"]["error_id"] == "not-found"
        other.send({"type": "ping", "id": "last"})
        assert other.until(lambda m: True)["type"] == "pong"
        assert other.pending == []
    assert service.stream.subscription_count() == 0


def test_python_flow_call_refuses_play_with_409_error(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    _service, runner = cti
    with connect(client, tenant_a["token"]) as ws:
        call_id = call_in(client, fake_engine, runner, tenant_a["id"], app="menu")
        reply = ws.request({"type": "play", "id": 1, "call_id": call_id, "media": ["beep"]})
        assert reply["error"]["error_id"] == "call-not-remote"
        assert ws.request({"type": "hangup", "id": 2, "call_id": call_id})["ok"]


def test_reconnect_replays_after_last_seq_or_says_missed(
    client: TestClient, cti: Any, fake_engine: FakeEngine, tenant_a: dict
) -> None:
    service, runner = cti
    tid = tenant_a["id"]
    call_id = call_in(client, fake_engine, runner, tid)
    with connect(client, tenant_a["token"]) as ws:
        reply = ws.request({"type": "subscribe", "id": 1, "after_seq": 1})
        result = reply["result"]
        assert result["missed"] is False and result["replayed"] == 1 and result["last_seq"] == 2
        assert [c["id"] for c in result["calls"]] == [call_id]
        replayed = ws.event("ringing")
        assert replayed["seq"] == 2
    service.stream.replay_size = 1  # (only affects new tenants' buffers)
    with connect(client, tenant_a["token"]) as ws:
        reply = ws.request({"type": "subscribe", "id": 1, "after_seq": 99})
        assert reply["result"]["missed"] is True and reply["result"]["calls"][0]["id"] == call_id


def test_heartbeat_is_sent_periodically(app: FastAPI, client: TestClient, cti: Any) -> None:
    services_of(app).settings = services_of(app).settings.model_copy(
        update={"ws_heartbeat_s": 0.05}
    )
    with connect(client) as ws:
        first, second = ws.until(lambda m: True), ws.until(lambda m: True)
    assert first["type"] == second["type"] == "heartbeat"
    assert second["time"] >= first["time"]


def test_idle_client_is_closed_with_4408(app: FastAPI, client: TestClient, cti: Any) -> None:
    services_of(app).settings = services_of(app).settings.model_copy(
        update={"ws_idle_timeout_s": 0.2}
    )
    with connect(client) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.until(lambda m: False)
    assert closed.value.code == WS_IDLE_TIMEOUT
