"""Call queues through the API: queues, agents, members, agent actions (REST, WebSocket,
feature codes), queue events on the CTI stream, the IVR flow ``queue`` and statistics
rebuilt after a restart, over a FakeEngine with scripted agent phones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import ROUTING_VALUE, Routing
from orchestrator.cti import CtiService
from orchestrator.ivr import AppRegistry, AppSpec, IvrRunner, StaticDirectory
from orchestrator.pbx.codes_install import store_flow
from orchestrator.pbx.dispatch import PBX_CODE_FLOW, FeatureHandlers
from orchestrator.queues.acd import QueueStats
from orchestrator.queues.acd.places import Place
from orchestrator.queues.acd.testing import AgentPhones, Answer
from orchestrator.queues.flow import queue_flow
from orchestrator.queues.service import CallCenter
from orchestrator.queues.store import runtime as store
from orchestrator.queues.store.runtime import events_since
from orchestrator.store.db import SessionFactory
from tests.api.conftest import bearer
from tests.api.fields import error_field

QUEUES, AGENTS = "/api/v1/queues", "/api/v1/agents"
FAST = {"ring_timeout_s": 1, "retry_s": 0.05}


def support(tid: int) -> Routing:
    """What the dialplan gives a call to the tenant's "support" IVR access number."""
    return Routing("ivr", {"flow": "support", "tenant": str(tid)})


def feature(dialed: str, tid: int, endpoint: str) -> Routing:
    """What the dialplan gives a feature code (*61...) call. Garbage no routing can carry
    (``x;y``) reaches the flow as a missing value: the engine leaves it out."""
    data = {"flow": "pbx.code", "tenant": str(tid), "endpoint": endpoint, "dialed": dialed}
    return Routing("ivr", {k: v for k, v in data.items() if ROUTING_VALUE.fullmatch(v)})


class Wired:
    """The call center of the composition root, on the test app's FakeEngine."""

    def __init__(self, app: FastAPI, engine: FakeEngine, sessions: SessionFactory) -> None:
        self.app = app
        self.engine = engine
        self.sessions = sessions
        self.make_parts()
        self.phones: AgentPhones | None = None

    def make_parts(self) -> None:
        """A new IVR runner, CTI service and call center (as a new run of the service)."""
        directory = StaticDirectory(self.engine)
        self.cti = CtiService(self.engine, directory)
        self.codes = FeatureHandlers()
        registry = AppRegistry(
            builtins={"queue": queue_flow, PBX_CODE_FLOW: store_flow(self.sessions, self.codes)},
            entry_point_group=None,
        )

        async def lookup(tenant: str, name: str) -> AppSpec | None:
            if name == "pbx.code":
                return AppSpec(name, PBX_CODE_FLOW, tenant)
            return AppSpec(name, "queue", tenant, settings={"queue": name})

        self.runner = IvrRunner(self.engine, registry, lookup, directory)
        self.center = self.make_center()
        self.codes.update(self.center.codes.handlers())
        self.runner.queues = self.center.acd
        app = self.app
        services_of(app).cti, services_of(app).ivr_runner = self.cti, self.runner
        services_of(app).callcenter, services_of(app).acd = self.center, self.center.acd
        services_of(app).acd_stats = self.center.stats

    def make_center(self) -> CallCenter:
        return CallCenter(
            self.engine,
            StaticDirectory(self.engine),
            self.sessions,
            cti=self.cti,
            stats=QueueStats(),
            flush_s=0.02,
        )

    async def start(self) -> None:
        self.runner.start()
        self.cti.start(self.runner)
        await self.center.start()
        self.phones = self.phones or AgentPhones(self.engine)

    async def stop(self) -> None:
        if self.phones is not None:
            await self.phones.close()
        await self._stop_parts()

    async def _stop_parts(self) -> None:
        # In the composition root's order: the call center before the IVR runner.
        await self.center.stop()
        await self.cti.stop()
        await self.runner.stop()

    async def restart(self) -> None:
        """The service stops and a new run starts (the engine and its calls stay)."""
        await self._stop_parts()
        self.make_parts()
        await self.start()


@pytest.fixture
def wired(
    app: FastAPI, client: TestClient, fake_engine: FakeEngine, db_sessions: SessionFactory
) -> Iterator[Wired]:
    w = Wired(app, fake_engine, db_sessions)
    client.portal.call(w.start)  # type: ignore[union-attr]
    yield w
    client.portal.call(w.stop)  # type: ignore[union-attr]


def call(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


def until(client: TestClient, predicate: Any, timeout: float = 3.0) -> None:
    async def wait() -> None:
        for _ in range(int(timeout / 0.005)):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"not true within {timeout} s")

    call(client, wait)


def add_queue(client: TestClient, tenant: dict[str, Any], name: str = "support", **fields: Any):
    resp = client.post(QUEUES, json={"tenant_id": tenant["id"], "name": name, **FAST, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def add_agent(client: TestClient, tenant: dict[str, Any], number: str, **fields: Any):
    resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
    assert resp.status_code == 201, resp.text
    resp = client.post(AGENTS, json={"tenant_id": tenant["id"], "extension": number, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def member(client: TestClient, queue: dict[str, Any], agent: dict[str, Any], **fields: Any):
    body = {"agent_id": agent["id"], **fields}
    resp = client.post(f"{QUEUES}/{queue['id']}/members", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


# -- configuration ----------------------------------------------------------------------
def test_queue_crud_and_tenant_scope(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    queue = add_queue(
        client,
        tenant_a,
        strategy="round_robin",
        wrapup_s=5,
        overflow="extension:200",
        priority_rules=[{"match": "+44207946*", "priority": 5}],
        required_skills={"french": 3},
    )
    assert (queue["strategy"], queue["wrapup_s"], queue["overflow"]) == (
        "round_robin",
        5,
        "extension:200",
    )
    assert queue["priority_rules"] == [{"match": "+44207946*", "priority": 5}]
    assert (
        client.post(QUEUES, json={"tenant_id": tenant_a["id"], "name": "support"}).status_code
        == 409
    )
    resp = client.patch(f"{QUEUES}/{queue['id']}", json={"strategy": "ring_all", "max_len": 3})
    assert resp.status_code == 200 and resp.json()["strategy"] == "ring_all", resp.text
    assert [q["name"] for q in client.get(QUEUES).json()["items"]] == ["support"]
    other = bearer(tenant_b["token"])
    assert client.get(f"{QUEUES}/{queue['id']}", headers=other).status_code == 404
    assert client.get(QUEUES, headers=other).json()["total"] == 0
    assert client.delete(f"{QUEUES}/{queue['id']}", headers=other).status_code == 404
    assert client.delete(f"{QUEUES}/{queue['id']}").status_code == 204
    assert client.get(f"{QUEUES}/{queue['id']}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Support"}, "name"),
        ({"strategy": "loudest"}, "strategy"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
        ({"max_wait_s": -1}, "max_wait_s"),
        ({"overflow": "extension:1;x"}, "overflow"),
        ({"overflow": "voicemail"}, "overflow"),
        ({"callback_key": "x"}, "callback_key"),
        ({"moh_class": "a b"}, "moh_class"),
        ({"required_skills": {"french": 11}}, "required_skills.french"),
        ({"required_skills": {"French!": 1}}, "required_skills"),
        ({"priority_rules": [{"match": "44*7", "priority": 1}]}, "priority_rules.match"),
        ({"priority_rules": [{"match": "+44*", "priority": 101}]}, "priority_rules.priority"),
        ({"weight": 101}, "weight"),
    ],
)
def test_queue_fields_are_checked_by_the_acd_rules(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    body = {"tenant_id": tenant_a["id"], "name": "support", **fields}
    resp = client.post(QUEUES, json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    queue = add_queue(client, tenant_a)
    resp = client.patch(f"{QUEUES}/{queue['id']}", json=fields)
    assert resp.status_code == 422, resp.text


def test_agents_and_members(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    agent = add_agent(client, tenant_a, "101", skills={"french": 5}, penalty=2, name="Ann")
    assert agent["endpoint"] == "101@a.example" and agent["extension"] == "101"
    assert agent["skills"] == {"french": 5} and agent["state"] is None  # no ACD running here
    body = {"tenant_id": tenant_a["id"], "extension": "101"}
    assert client.post(AGENTS, json=body).status_code == 409
    resp = client.post(AGENTS, json={**body, "extension": "999"})
    assert resp.status_code == 422 and error_field(resp.json()) == "extension"
    resp = client.patch(f"{AGENTS}/{agent['id']}", json={"skills": {"french": 0}})
    assert resp.status_code == 422 and error_field(resp.json()) == "skills.french"
    resp = client.patch(f"{AGENTS}/{agent['id']}", json={"penalty": 7})
    assert resp.status_code == 200 and resp.json()["penalty"] == 7
    queue = add_queue(client, tenant_a)
    assert member(client, queue, agent, penalty=3)["penalty"] == 3
    assert member(client, queue, agent)["penalty"] is None  # again: changes the penalty
    members = client.get(f"{QUEUES}/{queue['id']}/members").json()
    assert [(m["extension"], m["logged_in"]) for m in members] == [("101", False)]
    # Agents of another tenant cannot join, nor be seen.
    foreign = add_agent(client, tenant_b, "101")
    resp = client.post(f"{QUEUES}/{queue['id']}/members", json={"agent_id": foreign["id"]})
    assert resp.status_code == 422
    assert (
        client.get(f"{AGENTS}/{agent['id']}", headers=bearer(tenant_b["token"])).status_code == 404
    )
    assert client.post(f"{AGENTS}/{agent['id']}/login").status_code == 503  # no ACD here
    assert client.delete(f"{QUEUES}/{queue['id']}/members/{agent['id']}").status_code == 204
    assert client.get(f"{QUEUES}/{queue['id']}/members").json() == []
    assert client.delete(f"{AGENTS}/{agent['id']}").status_code == 204


# -- live: actions, calls, events ------------------------------------------------------------
def test_login_pause_status_over_rest(
    client: TestClient, tenant_a: dict[str, Any], wired: Wired
) -> None:
    support, sales = add_queue(client, tenant_a), add_queue(client, tenant_a, "sales")
    ann = add_agent(client, tenant_a, "101")
    member(client, support, ann)
    member(client, sales, ann, penalty=4)
    resp = client.post(f"{AGENTS}/{ann['id']}/login", json={"queue": "support"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["state"], resp.json()["logged_in"]) == ("available", ["support"])
    resp = client.post(f"{AGENTS}/{ann['id']}/login")
    assert resp.json()["logged_in"] == ["sales", "support"]
    resp = client.post(f"{AGENTS}/{ann['id']}/pause", json={"reason": "lunch"})
    assert (resp.json()["state"], resp.json()["state_reason"]) == ("paused", "lunch")
    status = client.get(f"{QUEUES}/{sales['id']}/status").json()
    assert status["running"] and status["waiting"] == []
    assert [(a["agent_id"], a["state"], a["penalty"]) for a in status["agents"]] == [
        (str(ann["id"]), "paused", 4)
    ]
    assert status["figures"]["agents"] == {"paused": 1}
    assert client.post(f"{AGENTS}/{ann['id']}/unpause").json()["state"] == "available"
    resp = client.post(f"{AGENTS}/{ann['id']}/logout", json={"queue": "sales"})
    assert resp.json()["logged_in"] == ["support"]
    # The store keeps logins and pauses: the agent's list says so too.
    listed = client.get(AGENTS).json()["items"][0]
    assert (listed["state"], listed["logged_in"], listed["paused"]) == (
        "available",
        ["support"],
        False,
    )
    members = client.get(f"{QUEUES}/{support['id']}/members").json()
    assert members[0]["logged_in"] is True
    # Not a member / unknown queue: 409.
    resp = client.post(f"{AGENTS}/{ann['id']}/login", json={"queue": "billing"})
    assert resp.status_code == 409, resp.text
    # A queue callers wait in cannot be deleted; one without can.
    assert client.delete(f"{QUEUES}/{sales['id']}").status_code == 204
    assert wired.center.acd.queues(tenant_a["id"])[0].name == "support"


def test_call_to_the_queue_flow_reaches_an_agent_and_events_go_out(
    client: TestClient, tenant_a: dict[str, Any], wired: Wired
) -> None:
    tid = tenant_a["id"]
    queue = add_queue(client, tenant_a)
    ann = add_agent(client, tenant_a, "101")
    member(client, queue, ann)
    with client.websocket_connect("/api/v1/ws", headers=bearer(tenant_a["token"])) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "subscribe", "id": "s"})
        assert ws.receive_json()["ok"]
        ws.send_json({"type": "agent_login", "id": "l", "agent_id": ann["id"]})
        events: list[dict[str, Any]] = []

        def next_of(kind: str) -> dict[str, Any]:
            while True:
                msg = ws.receive_json()
                events.append(msg)
                if msg.get("event") == kind or (msg["type"] == "reply" and kind == "reply"):
                    return msg

        state = next_of("agent_state")
        assert state["details"]["state"] == "available" and state["call"]["extension"] == "101"
        reply = next_of("reply")
        assert reply["ok"] and reply["result"]["logged_in"] == ["support"], reply
        assert wired.phones is not None
        wired.phones.default("101", Answer(0.01))
        leg = call(client, lambda: wired.engine.incoming_call(
            caller="+447700900001", called="+15550100", routing=support(tid)
        ))  # fmt: skip
        queued = next_of("queued")
        assert queued["call"]["id"] == leg.id and queued["call"]["access_number"] == "+15550100"
        assert queued["details"]["queue"] == "support" and queued["details"]["position"] == 1
        dequeued = next_of("dequeued")
        assert dequeued["details"]["reason"] == "answered"
        assert dequeued["details"]["agent_id"] == str(ann["id"])
        call(client, wired.engine.remote_hangup, leg.id)
        while next_of("agent_state")["details"]["state"] != "available":
            pass
        states = [e["details"]["state"] for e in events if e.get("event") == "agent_state"]
        assert states == ["available", "ringing", "on_call", "available"]
        ws.send_json({"type": "agent_pause", "id": "p", "agent_id": ann["id"], "reason": "x" * 41})
        assert next_of("reply")["ok"] is False
    until(client, lambda: wired.center.stats.figures(tid, "support").completed == 1)
    figures = client.get(f"{QUEUES}/{queue['id']}/status").json()["figures"]
    assert (figures["answered"], figures["abandoned"], figures["completed"]) == (1, 0, 1)


def test_callers_and_statistics_survive_a_restart(
    client: TestClient, tenant_a: dict[str, Any], wired: Wired
) -> None:
    tid = tenant_a["id"]
    queue = add_queue(client, tenant_a, last_agent_s=60)
    ann = add_agent(client, tenant_a, "101")
    member(client, queue, ann)
    assert client.post(f"{AGENTS}/{ann['id']}/login").status_code == 200
    assert client.post(f"{AGENTS}/{ann['id']}/pause", json={"reason": "coffee"}).status_code == 200
    figures = lambda: wired.center.stats.figures(tid, "support")  # noqa: E731
    # A caller abandons while nobody is free, another waits through the restart.
    gone = call(client, lambda: wired.engine.incoming_call(
        caller="+447700900001", called="+15550100", routing=support(tid)
    ))  # fmt: skip
    until(client, lambda: figures().waiting == 1)
    call(client, wired.engine.remote_hangup, gone.id)
    until(client, lambda: figures().abandoned == 1)
    leg = call(client, lambda: wired.engine.incoming_call(
        caller="+447700900002", called="+15550100", routing=support(tid)
    ))  # fmt: skip
    until(client, lambda: figures().waiting == 1)
    [before] = wired.center.acd.waiting(tid, "support")
    commands = len(wired.engine.commands)

    call(client, wired.restart)
    # The caller was neither hung up nor told anything: it stays, music on.
    assert wired.engine.legs[leg.id].alive
    assert not [c for c in wired.engine.commands[commands:] if c[0] == "hangup"]
    [after] = wired.center.acd.waiting(tid, "support")
    assert after["call_id"] == before["call_id"] and after["wait_s"] >= before["wait_s"]
    figures_after = figures()
    assert (figures_after.abandoned, figures_after.answered, figures_after.waiting) == (1, 0, 1)
    assert figures_after.longest_wait_s >= before["wait_s"]
    # The agent's login and pause came back from the store.
    agent = wired.center.acd.agents.get(tid, str(ann["id"]))
    assert agent.state() == ("paused", "coffee") and list(agent.queues) == ["support"]
    assert figures_after.agents == {"paused": 1}

    # Served like any caller: the agent answers, the caller is connected with them.
    assert wired.phones is not None
    wired.phones.default("101", Answer())
    assert client.post(f"{AGENTS}/{ann['id']}/unpause").status_code == 200
    until(client, lambda: figures().answered == 1)
    agent_leg = wired.phones.live_leg("101")
    assert agent_leg is not None
    until(client, lambda: wired.engine.peer(leg.id) is not None)
    assert wired.engine.peer(leg.id) == agent_leg
    # The agent hangs up first: no flow waits for this caller any more, it is hung up.
    call(client, wired.phones.hangup, "101")
    until(client, lambda: not wired.engine.legs[leg.id].alive)
    until(client, lambda: figures().completed == 1)
    calls = ("queued", "dequeued", "completed")

    def stored() -> list[dict[str, Any]]:
        return [
            e
            for e in _stored_events(wired)
            if e["call_id"] == after["call_id"] and e["type"] in calls
        ]

    until(client, lambda: len(stored()) == 4)  # written in batches
    assert [(e["type"], e["reason"]) for e in stored()] == [
        ("queued", ""),
        ("queued", "resumed"),
        ("dequeued", "answered"),
        ("completed", ""),
    ]
    assert stored()[2]["wait_s"] >= before["wait_s"]

    # The last agent is remembered across the next restart too; no place is left.
    call(client, wired.restart)
    assert wired.center.acd.last_agent_of(tid, "+447700900002") == str(ann["id"])
    assert wired.center.acd.waiting(tid, "support") == []
    assert figures().waiting == 0 and figures().answered == 1


def _stored_events(wired: Wired) -> list[dict[str, Any]]:
    with wired.sessions() as session:
        return events_since(session, datetime.fromtimestamp(0, UTC))


def test_feature_codes_log_in_and_pause_an_agent(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any], wired: Wired
) -> None:
    """The agents' handlers on the feature-code flow, at the default codes and at a code
    the tenant changed through the API (the old one then refused)."""
    tid = tenant_a["id"]
    queue = add_queue(client, tenant_a)
    ann = add_agent(client, tenant_a, "101")
    member(client, queue, ann)
    add_agent(client, tenant_a, "102")  # an agent of no queue
    engine = wired.engine

    def dial(dialed: str, endpoint: str) -> str:
        leg = call(client, lambda: engine.incoming_call(
            caller="101", called=dialed, routing=feature(dialed, tid, endpoint)
        ))  # fmt: skip
        until(client, lambda: any(c[:2] == ("hangup", leg.id) for c in engine.commands))
        played = [c[2] for c in engine.commands if c[0] == "play" and c[1] == leg.id]
        assert len(played) == 1, played
        return str(played[0])

    agent = lambda: wired.center.acd.agents.get(tid, str(ann["id"]))  # noqa: E731
    assert Prompt.AGENT_LOGGED_IN in dial("*61", "101@a.example")
    assert list(agent().queues) == ["support"]
    assert "paused" in dial("*63", "101@a.example")
    assert agent().paused
    assert Prompt.AGENT_LOGGED_IN in dial("*63", "101@a.example")
    assert not agent().paused
    assert Prompt.AGENT_LOGGED_OUT in dial("*62", "101@a.example")
    assert not agent().queues
    # Not an agent, an agent of no queue: refused by the handler. Another tenant's
    # domain, a phone that is no extension, garbage: refused by the flow itself.
    for endpoint in ("102@a.example",):
        assert Prompt.AGENT_REFUSED in dial("*61", endpoint)
    for endpoint in ("555@a.example", "101@b.example", "x;y", ""):
        assert Prompt.FEATURE_NOT_AVAILABLE in dial("*61", endpoint)
    assert not agent().queues
    # The old codes are forwarding codes now (no handler yet: "not available"); an
    # unknown code is invalid.
    assert Prompt.FEATURE_NOT_AVAILABLE in dial("*91", "101@a.example")
    assert Prompt.FEATURE_INVALID in dial("*99", "101@a.example")
    # The tenant moves agent_login to *71: the next call follows, *61 is refused.
    resp = client.put(
        f"/api/v1/tenants/{tid}/feature-codes", json={"codes": {"agent_login": "*71"}}
    )
    assert resp.status_code == 200, resp.text
    assert Prompt.FEATURE_INVALID in dial("*61", "101@a.example")
    assert not agent().queues
    assert Prompt.AGENT_LOGGED_IN in dial("*71", "101@a.example")
    assert list(agent().queues) == ["support"]
    assert wired.center.codes.handled == 6


def test_places_and_last_agents_in_the_store(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    tid = tenant_a["id"]
    add_queue(client, tenant_a)
    off = add_queue(client, tenant_a, name="off")
    assert client.patch(f"{QUEUES}/{off['id']}", json={"enabled": False}).status_code == 200
    ann = add_agent(client, tenant_a, "101")
    live = Place(
        call_id="c1", tenant_id=tid, queue="support", enqueued_at=100.5, leg_id="orch-1",
        caller="+447700900001", priority=5, seq=2, skills={"french": 3},
    )  # fmt: skip
    callback = Place(
        call_id="c2", tenant_id=tid, queue="support", enqueued_at=100.5, kind="callback",
        caller="+447700900002", callback_number="+447700900009", seq=1, callback_at=200.25,
    )  # fmt: skip
    elsewhere = replace(live, call_id="c3", queue="off")
    with db_sessions() as session:
        store.save_places(session, {"c1": live, "c2": callback, "c3": elsewhere, "c0": None})
        # The last change of a call wins; a row of a tenant gone meanwhile holds up nothing.
        orphan = replace(live, call_id="c4", tenant_id=987654)
        store.save_places(session, {"c4": orphan, "c1": replace(live, priority=7)})
        # A place in a queue disabled meanwhile is dropped at load.
        assert store.load_places(session) == [callback, replace(live, priority=7)]
        assert store.load_places(session) == [callback, replace(live, priority=7)]
        store.save_places(session, {"c2": None})
        assert [p.call_id for p in store.load_places(session)] == ["c1"]
        # Each engine node takes back its own callers.
        store.save_places(session, {"c5": replace(live, call_id="c5")}, node="pbx2")
        assert [p.call_id for p in store.load_places(session, "pbx2")] == ["c5"]
        assert [p.call_id for p in store.load_places(session)] == ["c1"]

        agent = str(ann["id"])
        store.remember_agents(
            session,
            {(tid, "+447700900001"): (agent, 10.0), (tid, "+447700900002"): (agent, 20.0)},
        )
        # An agent deleted meanwhile (no such row) or not a stored agent: skipped.
        store.remember_agents(
            session, {(tid, "+447700900003"): ("987654", 30.0), (tid, "+4477"): ("x", 5.0)}
        )
        store.remember_agents(session, {(tid, "+447700900001"): (agent, 25.0)})
        assert store.load_last_agents(session, 10) == [
            (tid, "+447700900002", agent),
            (tid, "+447700900001", agent),
        ]
        # Only the newest are kept.
        assert store.load_last_agents(session, 1) == [(tid, "+447700900001", agent)]
        assert store.load_last_agents(session, 10) == [(tid, "+447700900001", agent)]
