"""CTI sees phones calling each other in dialplan, on the real Asterisk.

Phone 501 calls 502 through the tenant's dialplan (the orchestrator controls nothing of
it); a WebSocket client subscribed to extension 502 gets new, answered and hung_up, and
``GET /api/v1/calls?extension=502`` lists the call while it lasts. A REST hangup of
such a call hangs up both phones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.cti_client import Client, open_cti
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "cti-observed.example"
PHONE_PORT = phone_ports("test_cti_observed", "501", "502")


@pytest.fixture(scope="module")
def phones(service: Service) -> TenantPhones:
    return create_tenant(service, "CTI observed", DOMAIN, PHONE_PORT)


@pytest.fixture
async def cti(service: Service) -> AsyncIterator[Client]:
    async with open_cti(service) as client:
        yield client


async def call_502(phones: TenantPhones, hold_ms: int) -> sipp.CallResult:
    return await phones.call("501", "502", hold_ms=hold_ms, timeout=30)


async def listed(http: httpx.AsyncClient, tenant_id: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get("/api/v1/calls", params={"tenant_id": tenant_id, "extension": "502"})
        assert r.status_code == 200, r.text
        if r.json()["items"] or time.monotonic() > deadline:
            return list(r.json()["items"])
        await asyncio.sleep(0.1)


async def test_extension_subscriber_sees_a_dialplan_call(
    service: Service,
    phones: TenantPhones,
    cti: Client,
) -> None:
    tid = phones.id
    sub = await cti.request({"type": "subscribe", "id": "s", "tenant_id": tid, "extension": "502"})
    assert sub["ok"], sub
    await phones.register()
    async with (
        phones.answerer("502", calls=1) as phone,
        api(service) as http,
    ):
        placed = asyncio.create_task(call_502(phones, hold_ms=3000))
        new = await cti.event("new")
        call_id = new["call"]["id"]
        assert new["call"]["kind"] == "dialplan" and new["call"]["caller"] == "501"
        assert new["call"]["extensions"] == ["501", "502"]
        answered = await cti.event("answered")
        assert answered["call"]["id"] == call_id and answered["call"]["state"] == "answered"
        items = await listed(http, tid)
        assert [c["id"] for c in items] == [call_id]
        assert {leg["role"] for leg in items[0]["legs"]} == {"caller", "dialed"}
        result = await placed
        assert result.answered, result.log
        ended = await cti.event("hung_up")
        assert ended["call"]["id"] == call_id and ended["details"]["cause"] == 16
        await phone.wait_completed(1)
        r = await http.get("/api/v1/calls", params={"tenant_id": tid, "extension": "502"})
        assert r.json()["items"] == []
    names = [m["event"] for m in cti.seen if m["type"] == "event"]
    assert names == ["new", "ringing", "answered", "hung_up"], names


async def test_rest_hangup_of_a_dialplan_call(service: Service, phones: TenantPhones) -> None:
    tid = phones.id
    await phones.register()
    async with (
        phones.answerer("502", calls=1) as phone,
        api(service) as http,
    ):
        placed = asyncio.create_task(call_502(phones, hold_ms=20000))
        await phone.wait_answered(1)
        items = await listed(http, tid)
        assert len(items) == 1, items
        r = await http.post(f"/api/v1/calls/{items[0]['id']}/hangup", json={})
        assert r.status_code in (200, 202, 204), r.text
        result = await placed
        assert result.answered and result.far_end_hangup, result.log
        await phone.wait_completed(1)
        r = await http.post(f"/api/v1/calls/{items[0]['id']}/hold", json={})
        assert r.status_code == 404, r.text  # gone
