"""``/api/v1/conferences`` over a FakeEngine: every route, roles (another tenant's is 404,
a supervisor's control 403, an agent's own only), bad input 4xx with nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from api.services import services_of
from orchestrator.conferences import ConferenceLedger, ConferenceService
from orchestrator.core import FakeEngine
from orchestrator.cti import CtiService
from orchestrator.ivr import IvrRunner
from orchestrator.store.db import SessionFactory
from tests.api import cti_helpers
from tests.api.conftest import TestClient, bearer
from tests.api.test_cti_ws import Ws

CONFS = "/api/v1/conferences"


@dataclass
class Wired:
    engine: FakeEngine
    cti: CtiService
    runner: IvrRunner
    service: ConferenceService
    a: int
    b: int
    admin_a: dict[str, str]
    admin_b: dict[str, str]
    boss: dict[str, str]
    ann: dict[str, str]

    def run(self, client: TestClient, fn: Any, *args: Any) -> Any:
        return client.portal.call(fn, *args)  # type: ignore[union-attr]


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture
def w(
    app: FastAPI,
    client: TestClient,
    fake_engine: FakeEngine,
    db_sessions: SessionFactory,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
) -> Iterator[Wired]:
    tid = tenant_a["id"]
    ext = {}
    for number in ("101", "102", "103"):
        path = f"/api/v1/tenants/{tid}/extensions"
        ext[number] = _ok(client.post(path, json={"number": number}), 201)["id"]

    def user(name: str, role: str, number: str | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"name": name, "role": role, "tenant_id": tid}
        if number is not None:
            body["extension_id"] = ext[number]
        return bearer(_ok(client.post("/api/v1/users", json=body), 201)["token"])

    cti, runner = cti_helpers.wire(app, fake_engine)
    service = ConferenceService(fake_engine, cti, ConferenceLedger(db_sessions, node="n1"))
    services_of(app).conferences = service
    client.portal.call(service.start)  # type: ignore[union-attr]
    wired = Wired(
        fake_engine, cti, runner, service, tid, tenant_b["id"], bearer(tenant_a["token"]),
        bearer(tenant_b["token"]), user("Boss", "supervisor"), user("Ann", "agent", "101"),
    )  # fmt: skip
    yield wired
    client.portal.call(service.stop)  # type: ignore[union-attr]
    client.portal.call(cti_helpers.stop, cti, runner)  # type: ignore[union-attr]


async def _answer_new(engine: FakeEngine, seen: set[str], count: int) -> list[str]:
    """The far ends of the next ``count`` originated legs answer."""
    answered: list[str] = []
    for _ in range(2000):
        for cmd in list(engine.commands):
            if cmd[0] == "originate" and cmd[2] not in seen:
                seen.add(cmd[2])
                answered.append(cmd[2])
                await engine.remote_answer(cmd[2])
        if len(answered) >= count:
            await asyncio.sleep(0.01)
            return answered
        await asyncio.sleep(0.001)
    raise AssertionError("not originated")


def connected_call(client: TestClient, w: Wired, headers: dict[str, str], a: str = "101") -> str:
    body: dict[str, Any] = {"tenant_id": w.a, "a": a, "b": "102"}
    seen = {c[2] for c in w.engine.commands if c[0] == "originate"}
    call = _ok(client.post("/api/v1/click-to-call", json=body, headers=headers), 202)
    w.run(client, _answer_new, w.engine, seen, 2)
    return str(call["id"])


def conference(client: TestClient, w: Wired, headers: dict[str, str] | None = None) -> dict:
    headers = headers or w.admin_a
    call_id = connected_call(client, w, headers)
    return _ok(client.post(CONFS, json={"call_id": call_id, "name": "Team"}, headers=headers), 201)


def test_every_route_as_a_tenant_admin(client: TestClient, w: Wired) -> None:
    conf = conference(client, w)
    cid = conf["id"]
    assert conf["state"] == "active" and conf["owner_extension"] == "101"
    owner, other = conf["participants"]
    assert owner["role"] == "owner" and owner["state"] == "joined"
    url = f"{CONFS}/{cid}"
    assert _ok(client.get(url, headers=w.admin_a))["name"] == "Team"
    listed = _ok(client.get(CONFS, headers=w.admin_a))
    assert [c["id"] for c in listed["items"]] == [cid] and listed["total"] == 1
    # Dial out to 103; it joins when it answers.
    seen = {c[2] for c in w.engine.commands if c[0] == "originate"}
    body = {"destination": "103", "caller_id": "+15550100", "deaf": True}
    carol = _ok(client.post(f"{url}/participants", json=body, headers=w.admin_a), 202)
    assert carol["state"] == "ringing" and carol["caller_id"] == "+15550100"
    w.run(client, _answer_new, w.engine, seen, 1)
    room = w.engine.conferences.rooms[cid]
    assert room[carol["leg_id"]].deaf
    pid = other["id"]
    for action, flag, value in (("mute", "muted", True), ("unmute", "muted", False),
                                ("deafen", "deaf", True), ("undeafen", "deaf", False),
                                ("hold", "held", True), ("unhold", "held", False)):  # fmt: skip
        got = _ok(client.post(f"{url}/participants/{pid}/{action}", headers=w.admin_a))
        assert got[flag] is value, action
        assert getattr(room[other["leg_id"]], flag) is value, action
    assert _ok(client.post(f"{url}/lock", headers=w.admin_a))["locked"] is True
    r = client.post(f"{url}/participants", json={"destination": "103"}, headers=w.admin_a)
    assert r.status_code == 409 and r.json()["error_id"] == "conference-locked"
    assert _ok(client.post(f"{url}/unlock", headers=w.admin_a))["locked"] is False
    assert _ok(client.post(f"{url}/record", headers=w.admin_a))["recording"]
    assert _ok(client.post(f"{url}/stop-record", headers=w.admin_a))["recording"] is None
    body = {"extension": "102", "account": "acme"}
    moved = _ok(client.put(f"{url}/owner", json=body, headers=w.admin_a))
    assert moved["owner_extension"] == "102" and moved["account"] == "acme"
    gone = _ok(client.delete(f"{url}/participants/{carol['id']}", headers=w.admin_a))
    assert gone["state"] == "left" and gone["left_reason"] == "removed"
    assert not w.engine.legs[carol["leg_id"]].alive
    ended = _ok(client.post(f"{url}/end", headers=w.admin_a))
    assert ended["state"] == "ended" and ended["end_reason"] == "ended"
    assert {p["state"] for p in ended["participants"]} == {"left"}
    w.run(client, w.service.flush)
    old = _ok(client.get(CONFS, params={"state": "ended"}, headers=w.admin_a))
    assert [c["id"] for c in old["items"]] == [cid]
    assert all(p["joined_at"] and p["left_at"] for p in old["items"][0]["participants"])
    r = client.post(f"{url}/lock", headers=w.admin_a)
    assert r.status_code == 409 and r.json()["error_id"] == "conference-state"


def test_roles_other_tenant_supervisor_and_agent(client: TestClient, w: Wired) -> None:
    conf = conference(client, w)
    url, pid = f"{CONFS}/{conf['id']}", conf["participants"][1]["id"]
    # Another tenant: not found, whatever it tries.
    assert client.get(url, headers=w.admin_b).status_code == 404
    r = client.post(f"{url}/participants/{pid}/mute", headers=w.admin_b)
    assert r.status_code == 404
    assert _ok(client.get(CONFS, headers=w.admin_b))["total"] == 0
    # A supervisor reads and controls nothing.
    assert _ok(client.get(url, headers=w.boss))["id"] == conf["id"]
    for path in (f"{url}/participants/{pid}/mute", f"{url}/end", f"{url}/lock"):
        r = client.post(path, headers=w.boss)
        assert r.status_code == 403 and r.json()["error_id"] == "permission-denied", path
    r = client.post(CONFS, json={"call_id": "x"}, headers=w.boss)
    assert r.status_code == 403
    assert not w.engine.conferences.rooms[conf["id"]][conf["participants"][1]["leg_id"]].muted
    # An agent: not the admin's conference; its own call's, yes, and it owns it.
    assert client.get(url, headers=w.ann).status_code == 404
    assert client.post(f"{url}/end", headers=w.ann).status_code == 404
    assert _ok(client.get(CONFS, headers=w.ann))["total"] == 0
    call_id = connected_call(client, w, w.ann)
    r = client.post(CONFS, json={"call_id": call_id, "account": "other"}, headers=w.ann)
    assert r.status_code == 403
    mine = _ok(client.post(CONFS, json={"call_id": call_id}, headers=w.ann), 201)
    assert mine["owner_extension"] == "101"
    body = {"destination": "103", "caller_id": "+15550199"}
    r = client.post(f"{CONFS}/{mine['id']}/participants", json=body, headers=w.ann)
    assert r.status_code == 403
    assert [c["id"] for c in _ok(client.get(CONFS, headers=w.ann))["items"]] == [mine["id"]]
    assert _ok(client.post(f"{CONFS}/{mine['id']}/lock", headers=w.ann))["locked"]


def test_bad_input_is_4xx_and_changes_nothing(client: TestClient, w: Wired) -> None:
    conf = conference(client, w)
    url = f"{CONFS}/{conf['id']}"
    before = list(w.engine.commands)
    bad_adds: list[Any] = [
        {"destination": "103;Dial(PJSIP/evil)"},
        {"destination": "103", "caller_id": "1\r\nX-Evil: 1"},
        {"destination": "103", "timeout": 0},
        {"destination": "103", "extra": 1},
        {},
        [],
    ]
    for body in bad_adds:
        r = client.post(f"{url}/participants", json=body, headers=w.admin_a)
        assert r.status_code == 422, (body, r.text)
    for path in (f"{url}/explode", f"{url}/participants/{'0' * 32}/explode"):
        assert client.post(path, headers=w.admin_a).status_code == 422, path
    assert client.get(f"{CONFS}/not-an-id", headers=w.admin_a).status_code == 422
    assert client.get(f"{CONFS}/{'0' * 32}", headers=w.admin_a).status_code == 404
    r = client.post(f"{url}/participants/{'0' * 32}/mute", headers=w.admin_a)
    assert r.status_code == 404
    assert client.get(CONFS, params={"state": "gone"}, headers=w.admin_a).status_code == 422
    r = client.put(f"{url}/owner", json={"extension": "1;2"}, headers=w.admin_a)
    assert r.status_code == 422
    assert client.put(f"{url}/owner", json={}, headers=w.admin_a).status_code == 422
    for body in ({"call_id": "nope"}, {"name": "x" * 81}, {"max_participants": 500},
                 {"owner_extension": "abc"}):  # fmt: skip
        r = client.post(CONFS, json=body, headers=w.admin_a)
        assert r.status_code in (404, 422), (body, r.text)
    r = client.post(CONFS, json={"call_id": "x"})  # the system admin names the tenant
    assert r.status_code == 422
    assert w.engine.commands == before
    again = _ok(client.get(url, headers=w.admin_a))
    assert again["participants"] == conf["participants"] and not again["locked"]


def test_a_remote_app_call_becomes_a_conference(client: TestClient, w: Wired) -> None:
    call_id = str(w.run(client, lambda: cti_helpers.incoming(w.engine, w.runner, w.a)))
    _ok(client.post(f"/api/v1/calls/{call_id}/hangup", json={"cause": 16}))  # sanity below
    assert client.post(CONFS, json={"call_id": call_id}, headers=w.admin_a).status_code == 404
    call_id = str(w.run(client, lambda: cti_helpers.incoming(w.engine, w.runner, w.a)))
    # A client answers it, then makes it a conference with 103 as the owner.
    w.run(client, lambda: w.cti.command("answer", call_id, {}, scope=w.a, who="rest"))
    body = {"call_id": call_id, "owner_extension": "103"}
    conf = _ok(client.post(CONFS, json=body, headers=w.admin_a), 201)
    [caller] = conf["participants"]
    assert caller["number"] == "+447700900123" and caller["role"] == "participant"
    assert w.engine.is_kept(call_id) and w.engine.legs[call_id].alive
    w.run(client, asyncio.sleep, 0.05)  # the remote flow ends without hanging up
    assert w.engine.legs[call_id].alive
    assert conf["owner_extension"] == "103"


def test_coach_and_uncoach(client: TestClient, w: Wired) -> None:
    conf = conference(client, w)
    url = f"{CONFS}/{conf['id']}/participants"
    a, b = (p["id"] for p in conf["participants"])
    got = _ok(client.post(f"{url}/{a}/coach", json={"target": b}, headers=w.admin_a))
    assert got["coaching"] == b
    assert _ok(client.post(f"{url}/{a}/uncoach", headers=w.admin_a))["coaching"] is None


# -- the WebSocket ---------------------------------------------------------------------
def _ws(client: TestClient, headers: dict[str, str]) -> Any:
    return client.websocket_connect("/api/v1/ws", headers=headers)


def test_websocket_commands_and_events(client: TestClient, w: Wired) -> None:
    call_id = connected_call(client, w, w.admin_a)
    with _ws(client, w.admin_a) as session:
        ws = Ws(session)
        assert ws.until(lambda m: True)["type"] == "welcome"
        sub = ws.request({"type": "subscribe", "id": 1})
        assert sub["ok"], sub
        made = ws.request({"type": "conference_create", "id": 2, "call_id": call_id})
        assert made["ok"], made
        conf = made["result"]["conference"]
        cid, (owner, other) = conf["id"], conf["participants"]
        started = ws.event("conference_started")
        assert started["call"]["kind"] == "conference" and started["call"]["id"] == cid
        assert ws.event("participant_joined")["call"]["id"] == cid
        muted = ws.request({"type": "conference_mute", "id": 3, "conference_id": cid,
                            "participant_id": other["id"]})  # fmt: skip
        assert muted["ok"] and muted["result"]["participant"]["muted"] is True
        updated = ws.event("participant_updated")
        assert updated["details"]["muted"] is True
        assert updated["details"]["participant"]["id"] == other["id"]
        flags = ("conference_unmute", "conference_hold", "conference_unhold",
                 "conference_deafen", "conference_undeafen")  # fmt: skip
        for n, kind in enumerate(flags, start=10):
            reply = ws.request({"type": kind, "id": n, "conference_id": cid,
                                "participant_id": other["id"]})  # fmt: skip
            assert reply["ok"], (kind, reply)
        whole = ("conference_lock", "conference_unlock", "conference_record",
                 "conference_stop_record")  # fmt: skip
        for n, kind in enumerate(whole, start=20):
            reply = ws.request({"type": kind, "id": n, "conference_id": cid})
            assert reply["ok"], (kind, reply)
        assert ws.event("conference_locked")["call"]["id"] == cid
        assert ws.event("conference_recording")["details"]["state"] == "started"
        seen = {c[2] for c in w.engine.commands if c[0] == "originate"}
        added = ws.request({"type": "conference_add", "id": 30, "conference_id": cid,
                            "destination": "103"})  # fmt: skip
        assert added["ok"] and ws.event("participant_invited")
        w.run(client, _answer_new, w.engine, seen, 1)
        joined = ws.until(
            lambda m: (
                m.get("event") == "participant_joined"
                and m["details"]["participant"]["number"] == "103"
            )
        )
        assert joined["details"]["participant"]["via"] == "dial_out"
        owner_reply = ws.request({"type": "conference_owner", "id": 31, "conference_id": cid,
                                  "extension": "102"})  # fmt: skip
        assert owner_reply["result"]["conference"]["owner_extension"] == "102"
        assert ws.event("conference_owner")["details"]["extension"] == "102"
        removed = ws.request({"type": "conference_remove", "id": 32, "conference_id": cid,
                              "participant_id": added["result"]["participant"]["id"]})  # fmt: skip
        assert removed["result"]["participant"]["left_reason"] == "removed"
        listed = ws.request({"type": "conference_list", "id": 33})
        assert [c["id"] for c in listed["result"]["items"]] == [cid]
        got = ws.request({"type": "conference_get", "id": 34, "conference_id": cid})
        assert len(got["result"]["conference"]["participants"]) == 3
        # Bad input: a reply with the error, nothing changed, the connection stays.
        bad = ws.request({"type": "conference_add", "id": 35, "conference_id": cid,
                          "destination": "1;Dial(x)"})  # fmt: skip
        assert not bad["ok"] and bad["error"]["error_id"] == "invalid-input"
        bad = ws.request({"type": "conference_mute", "id": 36, "conference_id": "x"})
        assert not bad["ok"] and bad["error"]["error_id"] == "invalid-input"
        ended = ws.request({"type": "conference_end", "id": 37, "conference_id": cid})
        assert ended["result"]["conference"]["state"] == "ended"
        assert ws.event("conference_ended")["details"]["reason"] == "ended"
        assert owner["role"] == "owner"


def test_websocket_roles(client: TestClient, w: Wired) -> None:
    conf = conference(client, w)
    cid, pid = conf["id"], conf["participants"][1]["id"]
    with _ws(client, w.boss) as session:
        ws = Ws(session)
        ws.until(lambda m: True)
        got = ws.request({"type": "conference_get", "id": 1, "conference_id": cid})
        assert got["ok"] and got["result"]["conference"]["id"] == cid
        refused = ws.request({"type": "conference_mute", "id": 2, "conference_id": cid,
                              "participant_id": pid})  # fmt: skip
        assert refused["error"]["error_id"] == "permission-denied"
    with _ws(client, w.admin_b) as session:
        ws = Ws(session)
        ws.until(lambda m: True)
        other = ws.request({"type": "conference_end", "id": 1, "conference_id": cid})
        assert other["error"]["error_id"] == "not-found"
    with _ws(client, w.ann) as session:
        ws = Ws(session)
        ws.until(lambda m: True)
        other = ws.request({"type": "conference_end", "id": 1, "conference_id": cid})
        assert other["error"]["error_id"] == "not-found"
        chosen = ws.request({"type": "conference_create", "id": 2, "call_id": "x",
                             "account": "other"})  # fmt: skip
        assert chosen["error"]["error_id"] == "permission-denied"
    assert _ok(client.get(f"{CONFS}/{cid}", headers=w.admin_a))["state"] == "active"
    assert not w.engine.conferences.rooms[cid][conf["participants"][1]["leg_id"]].muted
