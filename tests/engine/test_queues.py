"""Call queues on the real Asterisk: SIPp callers dial access numbers whose IVR app is the
builtin flow ``queue``; SIPp agents (registered extensions answering as UAS) take the calls.

Covered: round-robin distribution over two agents, a VIP caller served before a normal
one waiting longer (with the music stopped and restarted around periodic announcements),
overflow by ``max_wait_s`` to an extension, a callback (the caller presses ``*``; the
agent is called, then the caller's number), agent login by the feature code ``*91``,
and the CTI WebSocket subscriber seeing ``queued``/``dequeued``/``agent_state``.

A phone's registered contact (where the ACD rings it) and the port it calls from are
different SIPp processes, so a phone can dial while its answerer runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from orchestrator.testing import sipp
from tests.engine.conftest import SLOT, TEST_API_PORT, Service

pytestmark = pytest.mark.engine

DOMAIN = "queues.example"
SUPPORT, OVERFLOW, CALLBACK = "+17333559100", "+17333559101", "+17333559102"
# Registered contacts (answerers) and the ports phones call from, per slot.
CONTACT = {"601": 16070, "602": 16071, "603": 16072, "611": 16073, "621": 16074}
CONTACT = {k: v + 100 * SLOT for k, v in CONTACT.items()}
DIAL_FROM = {"603": 16075 + 100 * SLOT, "611": 16076 + 100 * SLOT, "612": 16077 + 100 * SLOT}
QUEUES = {
    "support": {
        "strategy": "round_robin",
        "ring_timeout_s": 8,
        "retry_s": 0.5,
        "announce_every_s": 2,
        "priority_rules": [{"match": "612", "priority": 10}],
    },
    "overflow": {"max_wait_s": 3, "overflow": "extension:621"},
    "callback": {"callback_enabled": True, "callback_key": "*", "ring_timeout_s": 8},
}


@pytest.fixture(scope="module")
def qc(service: Service) -> dict[str, Any]:
    """A tenant with agents 601-603, callers 611/612, 621 (overflow) and three queues."""
    out: dict[str, Any] = {"passwords": {}, "agents": {}, "queues": {}}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Queues", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        out["tenant_id"] = tid
        for number in ("601", "602", "603", "611", "612", "621"):
            r = http.post(f"/api/v1/tenants/{tid}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            out["passwords"][number] = r.json()["sip_password"]
        for number in ("601", "602", "603"):
            r = http.post("/api/v1/agents", json={"tenant_id": tid, "extension": number})
            assert r.status_code == 201, r.text
            out["agents"][number] = r.json()["id"]
        for (name, settings), access in zip(
            QUEUES.items(), (SUPPORT, OVERFLOW, CALLBACK), strict=True
        ):
            r = http.post("/api/v1/queues", json={"tenant_id": tid, "name": name, **settings})
            assert r.status_code == 201, r.text
            out["queues"][name] = r.json()["id"]
            r = http.post(
                "/api/v1/dids", json={"number": access, "tenant_id": tid, "pricing_batch": "q"}
            )
            assert r.status_code == 201, r.text
            app = {"tenant_id": tid, "name": name, "app": "queue", "settings": {"queue": name}}
            r = http.post("/api/v1/ivr-apps", json={**app, "max_duration_s": 120})
            assert r.status_code == 201, r.text
            r = http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": access})
            assert r.status_code in (200, 201), r.text
        for queue, agents in (("support", ("601", "602")), ("callback", ("603",))):
            for number in agents:
                r = http.post(
                    f"/api/v1/queues/{out['queues'][queue]}/members",
                    json={"agent_id": out["agents"][number]},
                )
                assert r.status_code == 201, r.text
        r = http.get(f"/api/v1/tenants/{tid}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


async def register(service: Service, qc: dict[str, Any], *numbers: str) -> None:
    for number in numbers:
        result = await sipp.register(
            server=f"127.0.0.1:{service.instance.ports.sip}",
            username=number,
            password=qc["passwords"][number],
            domain=DOMAIN,
            local_port=CONTACT[number],
        )
        assert result.status == 200, result.log


async def dial(
    service: Service, qc: dict[str, Any], number: str, target: str, **kw: Any
) -> sipp.CallResult:
    return await sipp.call(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username=number,
        password=qc["passwords"][number],
        domain=DOMAIN,
        local_port=DIAL_FROM[number],
        target=target,
        **kw,
    )


class Events:
    """The tenant's CTI WebSocket stream, kept as it arrives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def pump(self) -> None:
        async for raw in self.ws:
            self.seen.append(json.loads(raw))

    def summary(self) -> list[tuple[Any, ...]]:
        return [(m.get("event"), m.get("call", {}).get("id"), m.get("details")) for m in self.seen]

    def of(self, name: str, **details: Any) -> list[dict[str, Any]]:
        return [
            m
            for m in self.seen
            if m.get("event") == name and all(m["details"].get(k) == v for k, v in details.items())
        ]

    async def until(self, name: str, count: int = 1, timeout: float = 20, **details: Any) -> list:
        deadline = time.monotonic() + timeout
        while len(self.of(name, **details)) < count:
            assert time.monotonic() < deadline, (name, details, self.summary())
            await asyncio.sleep(0.05)
        return self.of(name, **details)


@pytest.fixture
async def events(service: Service, qc: dict[str, Any]) -> AsyncIterator[Events]:
    url = f"ws://127.0.0.1:{TEST_API_PORT}/api/v1/ws"
    async with connect(url, additional_headers=service.headers) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "tenant_id": qc["tenant_id"]}))
        assert json.loads(await ws.recv())["ok"]
        stream = Events(ws)
        task = asyncio.create_task(stream.pump())
        yield stream
        task.cancel()


async def agent(
    http: httpx.AsyncClient, qc: dict[str, Any], number: str, action: str, **body: Any
) -> dict:
    r = await http.post(f"/api/v1/agents/{qc['agents'][number]}/{action}", json=body or None)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def wait_figures(
    http: httpx.AsyncClient, qc: dict[str, Any], queue: str, counter: str, timeout: float = 10
) -> dict[str, Any]:
    """The queue's figures once ``counter`` is not 0."""
    deadline = time.monotonic() + timeout
    while True:
        status = (await http.get(f"/api/v1/queues/{qc['queues'][queue]}/status")).json()
        if status["figures"].get(counter) or time.monotonic() > deadline:
            assert status["figures"].get(counter), status
            return dict(status["figures"])
        await asyncio.sleep(0.1)


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


async def test_round_robin_over_two_agents(
    service: Service, qc: dict, events: Events, http: httpx.AsyncClient
) -> None:
    await register(service, qc, "601", "602")
    for number in ("601", "602"):
        state = await agent(http, qc, number, "login", queue="support")
        assert state["state"] == "available", state
    await events.until("agent_state", 2, state="available")
    async with (
        sipp.Answerer(local_port=CONTACT["601"]) as a601,
        sipp.Answerer(local_port=CONTACT["602"]) as a602,
    ):
        for i in range(4):
            result = await dial(service, qc, "611", SUPPORT, hold_ms=1200)
            assert result.answered and result.completed, result.log
            # Each call: ringing, on_call, then available again.
            await events.until("agent_state", 3 + i, state="available")
        assert (a601.answered, a602.answered) == (2, 2)
    answered = events.of("dequeued", reason="answered", queue="support")
    agents = [m["details"]["agent_id"] for m in answered]
    assert len(agents) == 4 and agents[0] != agents[1] and agents[:2] == agents[2:], agents
    queued = events.of("queued", queue="support")
    assert [m["call"]["access_number"] for m in queued] == [SUPPORT] * 4
    assert all(m["call"]["kind"] == "ivr" and m["details"]["position"] == 1 for m in queued)
    states = [m["details"]["state"] for m in events.of("agent_state")]
    assert {"ringing", "on_call", "available"} <= set(states)


async def test_vip_caller_is_served_first_music_and_announcements(
    service: Service, qc: dict, events: Events, http: httpx.AsyncClient
) -> None:
    await register(service, qc, "601")
    await agent(http, qc, "601", "login", queue="support")
    await agent(http, qc, "602", "logout")
    await agent(http, qc, "601", "pause", reason="briefing")
    async with sipp.Answerer(local_port=CONTACT["601"]) as a601:
        normal = asyncio.create_task(dial(service, qc, "611", SUPPORT, hold_ms=14000, timeout=40))
        await events.until("queued", 1, caller="611")
        vip = asyncio.create_task(dial(service, qc, "612", SUPPORT, hold_ms=4000, timeout=40))
        await events.until("queued", 1, caller="612")
        # Both wait through announcements (music stops, prompt, music again).
        await asyncio.sleep(2.5)
        status = (await http.get(f"/api/v1/queues/{qc['queues']['support']}/status")).json()
        assert [w["caller"] for w in status["waiting"]] == ["612", "611"], status
        assert status["waiting"][0]["priority"] == 10
        await agent(http, qc, "601", "unpause")
        first = (await events.until("dequeued", 1, reason="answered", caller="612"))[0]
        assert first["details"]["agent_id"] == str(qc["agents"]["601"])
        assert not events.of("dequeued", caller="611")
        assert (await vip).answered
        # The agent is free again after the VIP hung up: the normal caller is next.
        await events.until("dequeued", 1, reason="answered", caller="611")
        assert (await normal).answered
        await a601.wait_completed(2)


async def test_overflow_by_max_wait_to_an_extension(
    service: Service, qc: dict, events: Events
) -> None:
    await register(service, qc, "621")
    async with sipp.Answerer(local_port=CONTACT["621"], calls=1) as a621:
        result = await dial(service, qc, "612", OVERFLOW, hold_ms=6000, timeout=30)
        assert result.answered, result.log
        assert await a621.wait_answered(1) == 1
    timeout = (await events.until("dequeued", 1, queue="overflow"))[0]
    assert timeout["details"]["reason"] == "timeout" and timeout["details"]["wait_s"] >= 3


async def test_callback_and_feature_code_login(
    service: Service, qc: dict, events: Events, http: httpx.AsyncClient
) -> None:
    await register(service, qc, "603", "611")
    await agent(http, qc, "603", "logout")
    async with (
        sipp.Answerer(local_port=CONTACT["603"], calls=1) as a603,
        sipp.Answerer(local_port=CONTACT["611"], calls=1) as a611,
    ):
        # Nobody is logged in: the caller presses * and hangs up after the thank-you.
        left = await dial(service, qc, "611", CALLBACK, dtmf="*", hold_ms=8000, timeout=30)
        assert left.answered and left.far_end_hangup, left.log
        await events.until("dequeued", 1, queue="callback", reason="callback")
        # The agent logs in from their phone: *91.
        login = await dial(service, qc, "603", "*91", hold_ms=5000)
        assert login.answered and login.far_end_hangup, login.log
        state = await agent(http, qc, "603", "login", queue="callback")  # already in
        assert state["logged_in"] == ["callback"]
        # The callback: the agent is called first, then the customer; both answer.
        assert await a603.wait_answered(1, timeout=20) == 1
        assert await a611.wait_answered(1, timeout=20) == 1
        figures = await wait_figures(http, qc, "callback", "callbacks_connected")
        assert figures["callbacks_requested"] == 1
        # The test ends the call the agent and the customer would still be on.
        service.instance.cli("channel request hangup all")
        await events.until("agent_state", 1, extension="603", state="available", timeout=10)
    # *92 logs the agent out again.
    logout = await dial(service, qc, "603", "*92", hold_ms=5000)
    assert logout.answered and logout.far_end_hangup, logout.log
    r = await http.get(f"/api/v1/agents/{qc['agents']['603']}")
    assert r.json()["logged_in"] == [], r.json()
    assert events.of("agent_state", extension="603", state="logged_out")
