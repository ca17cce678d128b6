"""CTI on the real Asterisk: a WebSocket client drives a remote IVR app's call end to end
(answer, play, collect RFC 2833 keys, hang up), and click-to-call bridges two SIP phones.

The caller of the remote app is a Local channel into the DID context whose other half
dials a SIPp phone of the tenant; that phone answers and sends its keys as RFC 2833
events, which reach the call in the orchestrator through the Local channel.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from orchestrator.testing import sipp
from tests.engine.conftest import SLOT, TEST_API_PORT, Service

pytestmark = pytest.mark.engine

DOMAIN = "cti.example"
ACCESS = "+17333550700"
# SIPp ports of this module's phones (per slot, so parallel runs do not collide).
PHONE_PORT = {"201": 16050 + 100 * SLOT, "202": 16051 + 100 * SLOT}


@pytest.fixture(scope="module")
def cti_tenant(service: Service) -> dict[str, Any]:
    """A tenant with phones 201 and 202 and a remote IVR app on ``ACCESS``."""
    out: dict[str, Any] = {"passwords": {}}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "CTI tenant", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tenant = out["tenant"] = r.json()
        for number in PHONE_PORT:
            r = http.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            out["passwords"][number] = r.json()["sip_password"]
        r = http.post(
            "/api/v1/dids",
            json={"number": ACCESS, "tenant_id": tenant["id"], "pricing_batch": "cti"},
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/ivr-apps",
            json={
                "tenant_id": tenant["id"],
                "name": "visa-remote",
                "app": "remote",
                "max_duration_s": 120,
                "settings": {"wait_s": 20},
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": ACCESS})
        assert r.status_code in (200, 201), r.text
        r = http.get(f"/api/v1/tenants/{tenant['id']}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


async def register(service: Service, tenant: dict[str, Any], number: str) -> None:
    result = await sipp.register(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username=number,
        password=tenant["passwords"][number],
        domain=DOMAIN,
        local_port=PHONE_PORT[number],
    )
    assert result.status == 200, result.log


class Client:
    """A CTI WebSocket client that keeps messages it skipped while waiting for another."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    async def until(self, match: Any, timeout: float = 20) -> dict[str, Any]:
        for i, msg in enumerate(self.pending):
            if match(msg):
                return self.pending.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await self.ws.recv())
                self.seen.append(msg)
                if match(msg):
                    return msg
                self.pending.append(msg)

    async def request(self, msg: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        await self.ws.send(json.dumps(msg))
        return await self.until(lambda m: m["type"] == "reply" and m["id"] == msg["id"], timeout)

    async def event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        return await self.until(lambda m: m["type"] == "event" and m["event"] == name, timeout)


@pytest.fixture
async def cti(service: Service) -> AsyncIterator[Client]:
    url = f"ws://127.0.0.1:{TEST_API_PORT}/api/v1/ws"
    async with connect(url, additional_headers=service.headers) as ws:
        client = Client(ws)
        assert (await client.until(lambda m: True))["type"] == "welcome"
        yield client


async def test_websocket_client_drives_a_remote_app_call(
    service: Service, cti_tenant: dict, cti: Client
) -> None:
    tid = cti_tenant["tenant"]["id"]
    sub = await cti.request(
        {"type": "subscribe", "id": "sub", "tenant_id": tid, "access_number": ACCESS}
    )
    assert sub["ok"], sub
    await register(service, cti_tenant, "201")
    async with sipp.Answerer(local_port=PHONE_PORT["201"], calls=1, dtmf="4711") as phone:
        service.instance.cli(
            f"channel originate Local/{ACCESS}@orchestrator-dids extension 201@t{tid}"
        )
        new = await cti.event("new")
        call_id = new["call"]["id"]
        assert new["call"]["access_number"] == ACCESS and new["call"]["kind"] == "remote"
        ringing = await cti.event("ringing")
        assert ringing["seq"] == new["seq"] + 1 and ringing["call"]["answered_at"] is None
        reply = await cti.request({"type": "answer", "id": "a", "call_id": call_id})
        assert reply["ok"], reply
        await cti.event("answered")
        reply = await cti.request(
            {"type": "play", "id": "p", "call_id": call_id, "media": ["sound:beep"]}
        )
        assert reply["ok"], reply
        reply = await cti.request(
            {
                "type": "collect",
                "id": "c",
                "call_id": call_id,
                "max_digits": 4,
                "first_timeout": 15,
            }
        )
        assert reply["ok"] and reply["result"]["digits"] == "4711", reply
        dtmf = [m["details"]["digit"] for m in cti.seen if m.get("event") == "dtmf"]
        assert dtmf == list("4711")
        async with httpx.AsyncClient(base_url=service.url, headers=service.headers) as http:
            listed = (await http.get("/api/v1/calls", params={"access_number": ACCESS})).json()
        assert [c["id"] for c in listed["items"]] == [call_id]
        assert listed["items"][0]["state"] == "answered"
        reply = await cti.request({"type": "hangup", "id": "h", "call_id": call_id})
        assert reply["ok"], reply
        ended = await cti.event("hung_up")
        assert ended["call"]["id"] == call_id and ended["details"]["cause"] == 16
        assert await phone.wait_completed(1, timeout=10) == 1
    seqs = [m["seq"] for m in cti.seen if m["type"] == "event"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def wait_call(http: httpx.AsyncClient, call_id: str, ready: Any, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"/api/v1/calls/{call_id}")
        assert r.status_code == 200, r.text
        if ready(r.json()):
            return dict(r.json())
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.2)


async def test_click_to_call_bridges_two_phones_and_rest_hangs_up(
    service: Service, cti_tenant: dict, cti: Client
) -> None:
    tid = cti_tenant["tenant"]["id"]
    assert (await cti.request({"type": "subscribe", "id": "s", "tenant_id": tid}))["ok"]
    for number in ("201", "202"):
        await register(service, cti_tenant, number)
    async with (
        sipp.Answerer(local_port=PHONE_PORT["201"], calls=1) as a,
        sipp.Answerer(local_port=PHONE_PORT["202"], calls=1) as b,
    ):
        async with httpx.AsyncClient(
            base_url=service.url, headers=service.headers, timeout=30
        ) as http:
            r = await http.post(
                "/api/v1/click-to-call",
                json={
                    "tenant_id": tid,
                    "a": "201",
                    "b": "202",
                    "caller_id_a": "+15550100",
                    "account": "bistro",
                },
            )
            assert r.status_code == 202, r.text
            call_id = r.json()["id"]
            assert await a.wait_answered(1) == 1
            assert await b.wait_answered(1) == 1
            call = await wait_call(
                http, call_id, lambda c: [leg["state"] for leg in c["legs"]] == ["up", "up"]
            )
            assert call["state"] == "answered" and call["account"] == "bistro"
            assert call["kind"] == "click_to_call"
            # The engine's own view: one bridge holding both phones' channels.
            bridges = service.instance.cli("bridge show all")
            assert re.search(r"\s2\s+stasis\s", bridges), bridges
            listed = (await http.get("/api/v1/calls", params={"extension": "202"})).json()
            assert [c["id"] for c in listed["items"]] == [call_id]
            r = await http.post(f"/api/v1/calls/{call_id}/hangup")
            assert r.status_code == 200, r.text
        assert await a.wait_completed(1) == 1
        assert await b.wait_completed(1) == 1
    ended = await cti.event("hung_up")
    assert ended["call"]["id"] == call_id
    answered = [m["details"]["role"] for m in cti.seen if m.get("event") == "answered"]
    assert answered == ["a", "b"]
