"""The supervisor, agent and self-care user roles: the route matrix of docs/roles.md,
checked route by route, then each area with real objects (allowed, 403, another tenant's
404) and the WebSockets. The database's side (constraints, migrations 0009 and 0018) is in
test_roles_store.py; the self-care routes themselves in test_self_care.py.

Tenant A has extensions 101 (agent Ann, who has an API user), 102 (agent Bob, and Bob's
self-care user Una) and 150 (the supervisor's phone), queue ``support`` with both agents,
and a supervisor API user; tenant B has extension 201 (agent Carl, with an API user) and
queue ``sales``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.routes import ROUTERS
from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.cti import EventStream
from orchestrator.cti.install import extension_endpoint
from orchestrator.cti.supervise import SupervisionService
from orchestrator.store.db import SessionFactory
from tests.api.conftest import bearer
from tests.api.test_queues import Wired

MATRIX_DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
ROLES = ("tenant_admin", "supervisor", "agent", "user")


def read_matrix() -> dict[tuple[str, str], dict[str, str]]:
    """The "Every route" table of docs/roles.md: (method, path) -> {role: yes|no|own|...}."""
    text = MATRIX_DOC.read_text(encoding="utf-8")
    table = text.split("<!-- roles-matrix:start -->")[1].split("<!-- roles-matrix:end -->")[0]
    matrix = {}
    for line in table.strip().splitlines()[2:]:
        method, path, *cells = (c.strip() for c in line.strip("|").split("|"))
        assert (method, path) not in matrix, f"{method} {path} is listed twice"
        matrix[method, path] = dict(zip(ROLES, cells, strict=True))
    return matrix


def app_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                found |= {(method, route.path) for method in route.methods or ()}
            elif isinstance(route, APIWebSocketRoute):
                found.add(("WS", route.path))
    return found


@dataclass
class World:
    a: int
    b: int
    ext: dict[str, int]  # extension ids by number
    agent: dict[str, int]  # agent ids by extension number
    queue: dict[str, int]  # queue ids by name
    admin: dict[str, dict[str, str]]  # the tenant admins' headers, by tenant letter
    boss: dict[str, str]  # tenant A's supervisor's headers
    ann: dict[str, str]  # tenant A's agent on 101
    carl: dict[str, str]  # tenant B's agent on 201
    una: dict[str, str]  # tenant A's self-care user on 102 (Bob's extension)


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture
def world(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> World:
    ext, agent, queue = {}, {}, {}
    for tenant, numbers, name in ((tenant_a, ("101", "102", "150"), "support"),
                                  (tenant_b, ("201",), "sales")):  # fmt: skip
        tid = tenant["id"]
        body = {"tenant_id": tid, "name": name, "ring_timeout_s": 1, "retry_s": 0.05}
        queue[name] = _ok(client.post("/api/v1/queues", json=body), 201)["id"]
        for number in numbers:
            path = f"/api/v1/tenants/{tid}/extensions"
            ext[number] = _ok(client.post(path, json={"number": number}), 201)["id"]
            if number == "150":
                continue
            body = {"tenant_id": tid, "extension": number}
            agent[number] = _ok(client.post("/api/v1/agents", json=body), 201)["id"]
            path = f"/api/v1/queues/{queue[name]}/members"
            _ok(client.post(path, json={"agent_id": agent[number]}), 201)

    def user(
        name: str, role: str, tenant: dict[str, Any], number: str | None = None
    ) -> dict[str, str]:
        body = {"name": name, "role": role, "tenant_id": tenant["id"]}
        if number is not None:
            body["extension_id"] = ext[number]
        return bearer(_ok(client.post("/api/v1/users", json=body), 201)["token"])

    return World(
        a=tenant_a["id"],
        b=tenant_b["id"],
        ext=ext,
        agent=agent,
        queue=queue,
        admin={"A": bearer(tenant_a["token"]), "B": bearer(tenant_b["token"])},
        boss=user("A boss", "supervisor", tenant_a),
        ann=user("Ann", "agent", tenant_a, "101"),
        carl=user("Carl", "agent", tenant_b, "201"),
        una=user("Una", "user", tenant_a, "102"),
    )


@pytest.fixture
def api(client: TestClient, world: World) -> TestClient:
    """The app's client (its event loop runs the call center) without a default token:
    every request names its caller."""
    del client.headers["Authorization"]
    return client


@pytest.fixture
def wired(
    app: FastAPI,
    client: TestClient,
    fake_engine: FakeEngine,
    db_sessions: SessionFactory,
    world: World,
) -> Iterator[Wired]:
    """The call center and CTI over the FakeEngine, started once the world exists."""
    w = Wired(app, fake_engine, db_sessions)
    client.portal.call(w.start)  # type: ignore[union-attr]
    yield w
    client.portal.call(w.stop)  # type: ignore[union-attr]


def refused(resp: Any, role: str) -> dict[str, Any]:
    assert resp.status_code == 403, resp.text
    body: dict[str, Any] = resp.json()
    assert body["error_id"] == "permission-denied" and body["details"]["role"] == role, body
    return body


# -- the matrix ------------------------------------------------------------------------------
def test_every_route_is_in_the_matrix() -> None:
    """A route without a line in docs/roles.md (or a line for no route) fails here."""
    documented, present = set(read_matrix()), app_routes()
    assert present - documented == set(), "routes missing from docs/roles.md"
    assert documented - present == set(), "docs/roles.md lists routes that do not exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_route_refuses_what_the_matrix_says(api: TestClient, world: World, role: str) -> None:
    """Every HTTP route, with made-up ids: refused roles get 403 (or, for ``sys`` routes,
    a tenant admin 403/404), allowed ones anything but 401/403."""
    headers = {
        "tenant_admin": world.admin["A"],
        "supervisor": world.boss,
        "agent": world.ann,
        "user": world.una,
    }
    checked = 0
    for (method, path), allowed in read_matrix().items():
        cell = allowed[role]
        if method == "WS" or cell == "own":
            continue  # the WebSockets and an agent's own things have tests of their own
        url = re.sub(r"\{(\w+)\}", lambda m: str(world.a) if m[1] == "tenant_id" else "9999", path)
        body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
        resp = api.request(
            method, url, json=body, headers={} if cell == "public" else headers[role]
        )
        if cell == "no":
            assert resp.status_code == 403, (method, path, resp.text)
            assert resp.json()["error_id"] == "permission-denied"
            assert resp.json()["details"]["role"] == role, (method, path, resp.text)
        elif cell == "sys":
            assert resp.status_code in (403, 404), (method, path, resp.text)
        else:
            assert cell in ("yes", "public"), (method, path, cell)
            assert resp.status_code not in (401, 403), (method, path, resp.text)
        checked += 1
    assert checked > 100


# -- supervisors -----------------------------------------------------------------------------
def test_supervisor_reads_the_call_center_and_acts_on_agents(
    api: TestClient, world: World, wired: Wired
) -> None:
    boss, support = world.boss, world.queue["support"]
    queues = _ok(api.get("/api/v1/queues", headers=boss))
    assert [q["name"] for q in queues["items"]] == ["support"]
    status = _ok(api.get(f"/api/v1/queues/{support}/status", headers=boss))
    assert status["running"] and status["queue"] == "support"
    members = _ok(api.get(f"/api/v1/queues/{support}/members", headers=boss))
    assert sorted(m["agent_id"] for m in members) == [world.agent["101"], world.agent["102"]]
    agents = _ok(api.get("/api/v1/agents", headers=boss))["items"]
    assert sorted(a["extension"] for a in agents) == ["101", "102"]
    extensions = _ok(api.get(f"/api/v1/tenants/{world.a}/extensions", headers=boss))
    assert extensions["total"] == 3
    assert _ok(api.get("/api/v1/cdrs", headers=boss))["total"] == 0
    assert _ok(api.get("/api/v1/recordings", headers=boss))["total"] == 0
    assert _ok(api.get("/api/v1/calls", headers=boss))["total"] == 0
    # Agents of its tenant: any of them, at once in the ACD.
    ann, bob = world.agent["101"], world.agent["102"]
    for agent in (ann, bob):
        resp = api.post(f"/api/v1/agents/{agent}/login", headers=boss)
        assert _ok(resp)["logged_in"] == ["support"]
    paused = _ok(api.post(f"/api/v1/agents/{bob}/pause", json={"reason": "lunch"}, headers=boss))
    assert (paused["state"], paused["state_reason"]) == ("paused", "lunch")
    assert wired.center.acd.agents.get(world.a, str(bob)).paused
    assert _ok(api.post(f"/api/v1/agents/{bob}/unpause", headers=boss))["state"] != "paused"
    assert _ok(api.post(f"/api/v1/agents/{ann}/logout", headers=boss))["logged_in"] == []
    # Tenant B is not there at all.
    carl, sales = world.agent["201"], world.queue["sales"]
    for resp in (
        api.get(f"/api/v1/queues/{sales}", headers=boss),
        api.get(f"/api/v1/queues/{sales}/status", headers=boss),
        api.get(f"/api/v1/agents/{carl}", headers=boss),
        api.post(f"/api/v1/agents/{carl}/login", headers=boss),
        api.get("/api/v1/cdrs", params={"tenant_id": world.b}, headers=boss),
        api.get(f"/api/v1/tenants/{world.b}/extensions", headers=boss),
        api.get(f"/api/v1/tenants/{world.b}", headers=boss),
    ):
        assert resp.status_code == 404, resp.text
    assert not wired.center.acd.agents.get(world.b, str(carl)).queues


def test_supervisor_changes_no_configuration(api: TestClient, world: World) -> None:
    boss, a = world.boss, world.a
    attempts = [
        ("POST", f"/api/v1/tenants/{a}/extensions", {"number": "199"}),
        ("PATCH", f"/api/v1/tenants/{a}/extensions/{world.ext['101']}", {"name": "x"}),
        ("GET", f"/api/v1/tenants/{a}/extensions/{world.ext['101']}/sip-credentials", None),
        ("PUT", f"/api/v1/tenants/{a}/extensions/{world.ext['101']}/redirect", {"to": "102"}),
        ("PATCH", f"/api/v1/queues/{world.queue['support']}", {"name": "renamed"}),
        ("POST", "/api/v1/agents", {"tenant_id": a, "extension": "150"}),
        ("PATCH", f"/api/v1/agents/{world.agent['101']}", {"penalty": 3}),
        ("GET", "/api/v1/dids", None),
        ("POST", "/api/v1/trunks", {"tenant_id": a, "name": "t", "host": "sip.example"}),
        ("GET", "/api/v1/outbound-routes", None),
        ("GET", "/api/v1/tariffs", None),
        ("GET", "/api/v1/accounts", None),
        ("POST", "/api/v1/webhooks", {"tenant_id": a, "url": "https://x.example/h"}),
        ("GET", "/api/v1/ivr-apps", None),
        ("POST", "/api/v1/users", {"name": "x", "role": "supervisor"}),
        ("PATCH", f"/api/v1/tenants/{a}", {"name": "x"}),
        ("POST", f"/api/v1/tenants/{a}/config/apply", None),
    ]
    for method, path, body in attempts:
        error = refused(api.request(method, path, json=body, headers=boss), "supervisor")
        assert error["details"]["needs"] == "tenant_admin", (method, path)
        assert "needs a tenant admin, not a supervisor" in error["message"]
    # Nothing changed; the same requests from the tenant admin work.
    assert api.get(f"/api/v1/queues/{world.queue['support']}", headers=boss).json()["name"] == (
        "support"
    )
    admin = world.admin["A"]
    _ok(api.patch(f"/api/v1/queues/{world.queue['support']}", json={"name": "help"}, headers=admin))
    _ok(api.post(f"/api/v1/tenants/{a}/extensions", json={"number": "199"}, headers=admin), 201)
    # No call control and no calls of its own either.
    error = refused(api.post("/api/v1/calls/x/hangup", headers=boss), "supervisor")
    assert error["details"]["needs"] == "tenant_admin"
    body = {"tenant_id": a, "a": "150", "b": "101"}
    error = refused(api.post("/api/v1/click-to-call", json=body, headers=boss), "supervisor")
    assert "supervisor cannot place calls" in error["message"]


# -- agents ----------------------------------------------------------------------------------
def test_agent_acts_on_itself_only(api: TestClient, world: World, wired: Wired) -> None:
    me, ann, bob, carl = world.ann, world.agent["101"], world.agent["102"], world.agent["201"]
    who = _ok(api.get("/api/v1/users/me", headers=me))
    assert (who["role"], who["tenant_id"], who["extension_id"]) == (
        "agent",
        world.a,
        world.ext["101"],
    )
    listed = _ok(api.get("/api/v1/agents", headers=me))
    assert ([a["id"] for a in listed["items"]], listed["total"]) == ([ann], 1)
    assert api.get("/api/v1/agents", params={"tenant_id": world.b}, headers=me).status_code == 404
    assert _ok(api.get(f"/api/v1/agents/{ann}", headers=me))["extension"] == "101"
    # Itself: log in, pause, unpause, log out.
    assert _ok(api.post(f"/api/v1/agents/{ann}/login", headers=me))["logged_in"] == ["support"]
    paused = _ok(api.post(f"/api/v1/agents/{ann}/pause", json={"reason": "break"}, headers=me))
    assert (paused["state"], paused["state_reason"]) == ("paused", "break")
    assert _ok(api.post(f"/api/v1/agents/{ann}/unpause", headers=me))["state"] == "available"
    body = {"queue": "support"}
    assert _ok(api.post(f"/api/v1/agents/{ann}/logout", json=body, headers=me))["logged_in"] == []
    # Another agent of the tenant: 403, and nothing happens; another tenant's: 404.
    for action in ("login", "logout", "pause", "unpause"):
        error = refused(api.post(f"/api/v1/agents/{bob}/{action}", headers=me), "agent")
        assert "not yours" in error["message"] and error["details"]["agent_id"] == bob
        assert api.post(f"/api/v1/agents/{carl}/{action}", headers=me).status_code == 404
    refused(api.get(f"/api/v1/agents/{bob}", headers=me), "agent")
    assert api.get(f"/api/v1/agents/{carl}", headers=me).status_code == 404
    assert _ok(api.get(f"/api/v1/agents/{bob}", headers=world.admin["A"]))["logged_in"] == []
    assert not wired.center.acd.agents.get(world.b, str(carl)).queues
    # Its own configuration is still an admin's; the call center's figures a supervisor's.
    refused(api.patch(f"/api/v1/agents/{ann}", json={"penalty": 0}, headers=me), "agent")
    for path in ("/api/v1/queues", f"/api/v1/queues/{world.queue['support']}/status",
                 "/api/v1/cdrs", "/api/v1/supervision", "/api/v1/calls"):  # fmt: skip
        error = refused(api.get(path, headers=me), "agent")
        assert error["details"]["needs"] == "supervisor"
    # Its tenant, read-only.
    assert [t["id"] for t in _ok(api.get("/api/v1/tenants", headers=me))["items"]] == [world.a]
    assert api.get(f"/api/v1/tenants/{world.b}", headers=me).status_code == 404
    refused(api.patch(f"/api/v1/tenants/{world.a}", json={"name": "x"}, headers=me), "agent")


def test_agent_reads_its_extension_and_sets_its_redirect(api: TestClient, world: World) -> None:
    me, a, own, bob = world.ann, world.a, world.ext["101"], world.ext["102"]
    base = f"/api/v1/tenants/{a}/extensions"
    assert _ok(api.get(f"{base}/{own}", headers=me))["number"] == "101"
    refused(api.get(f"{base}/{bob}", headers=me), "agent")
    refused(api.get(base, headers=me), "agent")
    refused(api.get(f"{base}/{own}/sip-credentials", headers=me), "agent")
    refused(api.patch(f"{base}/{own}", json={"name": "Ann"}, headers=me), "agent")
    body = {"to": "102", "reason": "away"}
    redirected = _ok(api.put(f"{base}/{own}/redirect", json=body, headers=me))
    assert redirected["redirect_to"].endswith("102") and redirected["redirect_reason"] == "away"
    error = refused(api.put(f"{base}/{bob}/redirect", json={"to": "101"}, headers=me), "agent")
    assert "its own extension" in error["message"]
    refused(api.delete(f"{base}/{bob}/redirect", headers=me), "agent")
    assert api.get(f"{base}/{bob}", headers=world.admin["A"]).json()["redirect_to"] is None
    assert _ok(api.delete(f"{base}/{own}/redirect", headers=me))["redirect_to"] is None
    # Another tenant's path is not found, whatever the extension.
    other = f"/api/v1/tenants/{world.b}/extensions/{world.ext['201']}"
    assert api.get(other, headers=me).status_code == 404
    assert api.put(f"{other}/redirect", json={"to": "101"}, headers=me).status_code == 404


def test_agent_places_calls_from_its_own_phone(api: TestClient, world: World, wired: Wired) -> None:
    me, a = world.ann, world.a
    body = {"tenant_id": a, "extension": "101", "destination": "+442079460000"}
    call = _ok(api.post("/api/v1/calls", json=body, headers=me), 202)
    assert call["kind"] == "originate" and call["caller"] == "101"
    body = {"tenant_id": a, "a": "extension:101", "b": "102"}
    assert _ok(api.post("/api/v1/click-to-call", json=body, headers=me), 202)["caller"] == "101"
    originate = {"tenant_id": a, "extension": "101", "destination": "102"}
    click = {"tenant_id": a, "a": "101", "b": "102"}
    refusals = [
        ("/api/v1/calls", {**originate, "extension": "102"}, "own"),
        ("/api/v1/calls", {**originate, "caller_id": "+15550199"}, "caller_id"),
        ("/api/v1/calls", {**originate, "account": "acme"}, "account"),
        ("/api/v1/click-to-call", {**click, "a": "102"}, "own"),
        ("/api/v1/click-to-call", {**click, "a": "+442079460000"}, "own"),
        ("/api/v1/click-to-call", {**click, "caller_id_b": "+15550199"}, "caller_id_b"),
    ]
    for path, data, why in refusals:
        error = refused(api.post(path, json=data, headers=me), "agent")
        assert why in error["message"] or why in error["details"].get("fields", []), error
    assert len(wired.cti.list_calls(scope=a)) == 2
    # Another tenant: not found; calls it made are still an admin's to control.
    body = {"tenant_id": world.b, "a": "101", "b": "201"}
    assert api.post("/api/v1/click-to-call", json=body, headers=me).status_code == 404
    refused(api.post(f"/api/v1/calls/{call['id']}/hangup", headers=me), "agent")
    refused(api.get(f"/api/v1/calls/{call['id']}", headers=me), "agent")


# -- WebSockets and supervision -------------------------------------------------------------
class Socket:
    """A CTI WebSocket client that keeps messages it skipped while waiting for another."""

    def __init__(self, session: Any) -> None:
        self.session, self.pending = session, []  # type: ignore[var-annotated]

    def until(self, match: Any) -> dict[str, Any]:
        for i, msg in enumerate(self.pending):
            if match(msg):
                return self.pending.pop(i)  # type: ignore[no-any-return]
        while True:
            msg = self.session.receive_json()
            if match(msg):
                return msg  # type: ignore[no-any-return]
            self.pending.append(msg)

    def request(self, msg_id: str, **msg: Any) -> dict[str, Any]:
        self.session.send_json({"id": msg_id, **msg})
        return self.until(lambda m: m["type"] == "reply" and m["id"] == msg_id)


def ws_refused(reply: dict[str, Any]) -> None:
    assert reply["ok"] is False and reply["error"]["error_id"] == "permission-denied", reply


def test_cti_websocket_roles(api: TestClient, world: World, wired: Wired) -> None:
    ann, bob, carl = world.agent["101"], world.agent["102"], world.agent["201"]
    with api.websocket_connect("/api/v1/ws", headers=world.ann) as session:
        ws = Socket(session)
        hello = ws.until(lambda m: True)
        assert (hello["type"], hello["role"], hello["tenant_id"]) == ("welcome", "agent", world.a)
        ws_refused(ws.request("t", type="subscribe"))
        ws_refused(ws.request("e", type="subscribe", extension="102"))
        ws_refused(ws.request("n", type="subscribe", access_number="+15550100"))
        assert ws.request("s", type="subscribe", extension="101")["ok"]
        ws_refused(ws.request("b", type="agent_login", agent_id=bob))
        reply = ws.request("c", type="agent_login", agent_id=carl)
        assert reply["error"]["error_id"] == "not-found", reply
        assert ws.request("l", type="agent_login", agent_id=ann)["result"]["logged_in"] == [
            "support"
        ]
        state = ws.until(lambda m: m.get("event") == "agent_state")
        assert state["details"]["agent_id"] == str(ann) and state["call"]["extension"] == "101"
        ws_refused(ws.request("h", type="hangup", call_id="whatever"))
    assert not wired.center.acd.agents.get(world.a, str(bob)).queues
    with api.websocket_connect("/api/v1/ws", headers=world.boss) as session:
        ws = Socket(session)
        assert ws.until(lambda m: True)["role"] == "supervisor"
        assert ws.request("s", type="subscribe")["ok"]
        ws_refused(ws.request("h", type="hangup", call_id="whatever"))
        assert ws.request("l", type="agent_login", agent_id=bob)["ok"]
        assert ws.request("p", type="agent_pause", agent_id=bob, reason="x")["ok"]
        state = ws.until(
            lambda m: m.get("event") == "agent_state" and m["details"]["state"] == "paused"
        )
        assert state["call"]["extension"] == "102" and state["details"]["reason"] == "x"
        reply = ws.request("c", type="agent_pause", agent_id=carl)
        assert reply["error"]["error_id"] == "not-found", reply
        sub = ws.request("b", type="subscribe", tenant_id=world.b)
        assert sub["error"]["error_id"] == "not-found", sub


def test_self_care_user_has_no_cti_websocket(api: TestClient, world: World, wired: Wired) -> None:
    """A user is closed before its welcome, whatever it would ask: no events of its
    extension, no agent commands for the agent on its extension (Bob's)."""
    for url, headers in (
        ("/api/v1/ws", world.una),
        (f"/api/v1/ws?token={world.una['Authorization'][7:]}", {}),
    ):
        with (
            api.websocket_connect(url, headers=headers) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.send_json({"id": "l", "type": "agent_login", "agent_id": world.agent["102"]})
            ws.receive_json()
        assert closed.value.code == 4403 and "self-care" in closed.value.reason
    assert not wired.center.acd.agents.get(world.a, str(world.agent["102"])).queues


def test_wallboard_is_for_supervisors(api: TestClient, world: World, wired: Wired) -> None:
    # Logged-in agents put their queues on the board.
    _ok(api.post(f"/api/v1/agents/{world.agent['101']}/login", headers=world.boss))
    _ok(api.post(f"/api/v1/agents/{world.agent['201']}/login", headers=world.admin["B"]))
    with api.websocket_connect("/api/v1/wallboard/ws", headers=world.boss) as ws:
        first = ws.receive_json()
        assert first["type"] == "snapshot" and first["scope"] == world.a
        assert [q["queue"] for q in first["queues"]] == ["support"]
    url = f"/api/v1/wallboard/ws?tenant_id={world.b}"
    with (
        api.websocket_connect(url, headers=world.boss) as ws,
        pytest.raises(WebSocketDisconnect) as c,
    ):
        ws.receive_json()
    assert c.value.code == 4404
    for agent in (world.ann, world.carl, world.una):
        with (
            api.websocket_connect("/api/v1/wallboard/ws", headers=agent) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == 4403 and "supervisor" in closed.value.reason


@pytest.fixture
def supervision(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine, db_sessions: SessionFactory
) -> Iterator[SupervisionService]:
    service = SupervisionService(fake_engine, EventStream(), extension_endpoint(db_sessions))
    service.start()
    services_of(app).supervision = service
    yield service
    client.portal.call(service.stop)  # type: ignore[union-attr]


def test_supervision_is_for_supervisors(
    api: TestClient,
    world: World,
    supervision: SupervisionService,
    fake_engine: FakeEngine,
) -> None:
    agent = "101@a.example"
    api.portal.call(  # type: ignore[union-attr]
        lambda: fake_engine.dialplan_call("102@a.example", agent, hangup=False)
    )
    body = {"supervisor": "150", "agent": "101", "mode": "listen"}
    for me in (world.ann, world.carl):
        refused(api.post("/api/v1/supervision", json=body, headers=me), "agent")
        refused(api.get("/api/v1/supervision", headers=me), "agent")
    session = _ok(api.post("/api/v1/supervision", json=body, headers=world.boss), 202)
    assert (session["state"], session["tenant_id"]) == ("ringing", world.a)
    listed = _ok(api.get("/api/v1/supervision", headers=world.boss))
    assert [s["id"] for s in listed["items"]] == [session["id"]]
    path = f"/api/v1/supervision/{session['id']}"
    refused(api.patch(path, json={"mode": "barge"}, headers=world.ann), "agent")
    assert _ok(api.patch(path, json={"mode": "whisper"}, headers=world.boss))["mode"] == "whisper"
    other = {**body, "tenant_id": world.b}
    assert api.post("/api/v1/supervision", json=other, headers=world.boss).status_code == 404
    assert _ok(api.delete(path, headers=world.boss))["reason"] == "stopped"
