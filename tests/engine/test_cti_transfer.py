"""Attended transfer and the standing per-extension redirect on the real Asterisk.

Three SIPp phones of one tenant (301, 302, 303): a click-to-call connects 301 and 302,
302 consults 303 and completes (301 and 303 end up in one bridge) or cancels over the
WebSocket (301 and 302 talk again). Then 302 redirects its calls to 303: 301 dialing
302 rings 303's phone, and after the redirect is deleted 302's own phone again.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.cti_client import Client, open_cti
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports, wait_call

pytestmark = pytest.mark.engine

DOMAIN = "xfer.example"
PORT = phone_ports("test_cti_transfer", "301", "302", "303", "call")
PHONES = ("301", "302", "303")


@pytest.fixture(scope="module")
def xfer_tenant(service: Service) -> TenantPhones:
    """A tenant with phones 301, 302 and 303; 301 places its calls from its own port."""
    return create_tenant(
        service,
        "Transfer tenant",
        DOMAIN,
        {number: PORT[number] for number in PHONES},
        dial_from={"301": PORT["call"]},
    )


@pytest.fixture
async def cti(service: Service, xfer_tenant: TenantPhones) -> AsyncIterator[Client]:
    async with open_cti(service) as client:
        tid = xfer_tenant.id
        assert (await client.request({"type": "subscribe", "id": "s", "tenant_id": tid}))["ok"]
        yield client


def legs(call: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(leg["role"], leg["number"], leg["state"]) for leg in call["legs"]}


def bridged_endpoints(service: Service) -> list[set[str]]:
    """For each Stasis bridge of the engine, the SIP users whose channels are in it."""
    out = []
    for bridge_id in re.findall(
        r"^((?:orch-)?[0-9a-f-]{20,})\s", service.instance.cli("bridge show all"), re.M
    ):
        text = service.instance.cli(f"bridge show {bridge_id}")
        out.append(set(re.findall(r"PJSIP/(\d+)@", text)))
    return out


async def connect_301_302(http: httpx.AsyncClient, tid: int) -> str:
    r = await http.post("/api/v1/click-to-call", json={"tenant_id": tid, "a": "301", "b": "302"})
    assert r.status_code == 202, r.text
    call_id = str(r.json()["id"])
    await wait_call(http, call_id, lambda c: [leg["state"] for leg in c["legs"]] == ["up", "up"])
    return call_id


@contextlib.asynccontextmanager
async def connected_301_302(
    service: Service, tenant: TenantPhones
) -> AsyncIterator[tuple[httpx.AsyncClient, str, tuple[sipp.Answerer, ...]]]:
    """301 and 302 in a click-to-call, and the three phones answering one call each."""
    await tenant.register(*PHONES)
    async with (
        tenant.answerer("301", calls=1) as p301,
        tenant.answerer("302", calls=1) as p302,
        tenant.answerer("303", calls=1) as p303,
        api(service) as http,
    ):
        yield http, await connect_301_302(http, tenant.id), (p301, p302, p303)


async def test_attended_transfer_completes_to_a_third_phone(
    service: Service, xfer_tenant: TenantPhones, cti: Client
) -> None:
    async with connected_301_302(service, xfer_tenant) as (http, call_id, (p301, p302, p303)):
        # 301 (leg a) stays; 302 consults 303.
        r = await http.post(
            f"/api/v1/calls/{call_id}/attended-transfer", json={"leg": "a", "to": "303"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["transfer"]["state"] == "ringing"
        r = await http.post(
            f"/api/v1/calls/{call_id}/attended-transfer", json={"leg": "a", "to": "303"}
        )
        assert r.status_code == 409 and r.json()["error_id"] == "transfer-state", r.text
        assert await p303.wait_answered(1) == 1
        await wait_call(http, call_id, lambda c: (c["transfer"] or {}).get("state") == "talking")
        assert {"302", "303"} in bridged_endpoints(service)

        r = await http.post(f"/api/v1/calls/{call_id}/attended-transfer/complete")
        assert r.status_code == 200, r.text
        assert await p302.wait_completed(1) == 1  # the transferer was hung up
        call = await wait_call(http, call_id, lambda c: c["transfer"] is None)
        assert legs(call) == {("a", "301", "up"), ("b", "303", "up")}
        assert call["state"] == "answered" and "303" in call["extensions"]
        assert bridged_endpoints(service) == [{"301", "303"}]
        r = await http.post(f"/api/v1/calls/{call_id}/attended-transfer/complete")
        assert r.status_code == 409 and r.json()["error_id"] == "transfer-state", r.text

        r = await http.post(f"/api/v1/calls/{call_id}/hangup")
        assert r.status_code == 200, r.text
        assert await p301.wait_completed(1) == 1
        assert await p303.wait_completed(1) == 1
    done = await cti.event("transferred")
    assert done["details"]["attended"] is True and done["details"]["number"] == "303"
    await cti.event("hung_up")
    names = [m["event"] for m in cti.seen if m["type"] == "event"]
    assert names.index("transfer_started") < names.index("transfer_answered")


async def test_attended_transfer_cancelled_over_the_websocket(
    service: Service, xfer_tenant: TenantPhones, cti: Client
) -> None:
    async with connected_301_302(service, xfer_tenant) as (http, call_id, (p301, p302, p303)):
        reply = await cti.request(
            {"type": "attended_transfer", "id": "x", "call_id": call_id, "leg": "b", "to": "303"}
        )
        assert reply["ok"], reply
        assert reply["result"]["transfer"]["held_leg"] != call_id  # leg b waits
        assert await p303.wait_answered(1) == 1
        await cti.event("transfer_answered")
        reply = await cti.request({"type": "cancel_transfer", "id": "c", "call_id": call_id})
        assert reply["ok"], reply
        assert (await cti.event("transfer_cancelled"))["details"]["reason"] == "cancelled"
        assert await p303.wait_completed(1) == 1  # the target was hung up
        call = await wait_call(http, call_id, lambda c: len(c["legs"]) == 2)
        assert legs(call) == {("a", "301", "up"), ("b", "302", "up")}
        assert bridged_endpoints(service) == [{"301", "302"}]
        reply = await cti.request({"type": "complete_transfer", "id": "d", "call_id": call_id})
        assert not reply["ok"] and reply["error"]["error_id"] == "transfer-state"
        r = await http.post(f"/api/v1/calls/{call_id}/hangup")
        assert r.status_code == 200, r.text
        assert await p301.wait_completed(1) == 1
        assert await p302.wait_completed(1) == 1


async def call_302(tenant: TenantPhones) -> sipp.CallResult:
    return await tenant.call("301", "302", hold_ms=500)


async def test_standing_redirect_sends_calls_to_another_extension(
    service: Service, xfer_tenant: TenantPhones
) -> None:
    tid, x = xfer_tenant.id, xfer_tenant.extension_ids["302"]
    redirect = f"/api/v1/tenants/{tid}/extensions/{x}/redirect"
    await xfer_tenant.register(*PHONES)
    async with api(service) as http:
        r = await http.put(redirect, json={"to": "303", "reason": "away"})
        assert r.status_code == 200, r.text
        assert (await http.get(f"/api/v1/tenants/{tid}/config")).json()["last_apply"]["ok"]
        async with (
            xfer_tenant.answerer("301") as p301,
            xfer_tenant.answerer("302") as p302,
            xfer_tenant.answerer("303") as p303,
        ):
            # A phone dialing 302 (the engine's dialplan).
            result = await call_302(xfer_tenant)
            assert result.answered, result.log
            assert await p303.wait_completed(1) == 1
            assert p302.answered == 0  # 302's phone never rang
            # A click-to-call to 302 (the orchestrator's directory) reaches 303 too.
            r = await http.post(
                "/api/v1/click-to-call", json={"tenant_id": tid, "a": "301", "b": "302"}
            )
            assert r.status_code == 202 and r.json()["called"] == "303", r.text
            call = await wait_call(
                http, r.json()["id"], lambda c: [g["state"] for g in c["legs"]] == ["up", "up"]
            )
            assert legs(call) == {("a", "301", "up"), ("b", "303", "up")}
            assert (await http.post(f"/api/v1/calls/{call['id']}/hangup")).status_code == 200
            assert await p303.wait_completed(2) == 2
            assert await p301.wait_completed(1) == 1
            assert p302.answered == 0

            r = await http.delete(redirect)
            assert r.status_code == 200 and r.json()["redirect_to"] is None, r.text
            result = await call_302(xfer_tenant)
            assert result.answered, result.log
            assert await p302.wait_completed(1) == 1
            assert p303.answered == 2
