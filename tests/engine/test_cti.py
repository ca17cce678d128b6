"""CTI on the real Asterisk: a WebSocket client drives a remote IVR app's call end to end
(answer, play, collect RFC 2833 keys, hang up), and click-to-call bridges two SIP phones.

The caller of the remote app is a Local channel into the DID context whose other half
dials a SIPp phone of the tenant; that phone answers and sends its keys as RFC 2833
events, which reach the call in the orchestrator through the Local channel.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.engine.conftest import Service
from tests.engine.cti_client import Client, open_cti
from tests.engine.phones import (
    TenantPhones,
    add_ivr_app,
    api,
    assert_applied,
    create_tenant,
    phone_ports,
    wait_call,
)

pytestmark = pytest.mark.engine

DOMAIN = "cti.example"
ACCESS = "+17333550700"
PHONE_PORT = phone_ports("test_cti", "201", "202")


@pytest.fixture(scope="module")
def cti_tenant(service: Service) -> TenantPhones:
    """A tenant with phones 201 and 202 and a remote IVR app on ``ACCESS``."""
    tenant = create_tenant(service, "CTI tenant", DOMAIN, PHONE_PORT)
    with service.client() as http:
        add_ivr_app(
            http,
            tenant.id,
            ACCESS,
            pricing_batch="cti",
            name="visa-remote",
            app="remote",
            max_duration_s=120,
            settings={"wait_s": 20},
        )
        assert_applied(http, tenant.id)
    return tenant


@pytest.fixture
async def cti(service: Service) -> AsyncIterator[Client]:
    async with open_cti(service) as client:
        yield client


async def test_websocket_client_drives_a_remote_app_call(
    service: Service, cti_tenant: TenantPhones, cti: Client
) -> None:
    tid = cti_tenant.id
    sub = await cti.request(
        {"type": "subscribe", "id": "sub", "tenant_id": tid, "access_number": ACCESS}
    )
    assert sub["ok"], sub
    await cti_tenant.register("201")
    async with cti_tenant.answerer("201", calls=1, dtmf="4711") as phone:
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
        async with api(service) as http:
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


async def test_click_to_call_bridges_two_phones_and_rest_hangs_up(
    service: Service, cti_tenant: TenantPhones, cti: Client
) -> None:
    tid = cti_tenant.id
    assert (await cti.request({"type": "subscribe", "id": "s", "tenant_id": tid}))["ok"]
    await cti_tenant.register("201", "202")
    async with (
        cti_tenant.answerer("201", calls=1) as a,
        cti_tenant.answerer("202", calls=1) as b,
    ):
        async with api(service) as http:
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
