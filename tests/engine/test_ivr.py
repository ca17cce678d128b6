"""The example IVR flows answering real calls on access numbers of a tenant.

A SIPp phone of the tenant dials the access number and sends its keys as RFC 2833
events; the flow (ivr_apps/visa_status.py, ivr_apps/parcel_tracking.py) runs in the
orchestrator over ARI. What the flow collected and concluded comes back through
``GET /api/v1/ivr-apps/{id}/recent-calls``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "ivr.example"
VISA_NUMBER = "+17333557000"
PARCEL_NUMBER = "+17333557001"
CALLER_PORT = phone_ports("test_ivr", "caller")["caller"]


@pytest.fixture(scope="module")
def ivr_tenant(service: Service) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Visa center", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tenant = out["tenant"] = r.json()
        r = http.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": "101"})
        assert r.status_code == 201, r.text
        out["password"] = r.json()["sip_password"]
        for name, app, number in (
            ("visa", "visa_status", VISA_NUMBER),
            ("parcels", "parcel_tracking", PARCEL_NUMBER),
        ):
            did = {"number": number, "pricing_batch": "ivr", "tenant_id": tenant["id"]}
            r = http.post("/api/v1/dids", json=did)
            assert r.status_code == 201, r.text
            r = http.post(
                "/api/v1/ivr-apps",
                json={"tenant_id": tenant["id"], "name": name, "app": app, "max_duration_s": 120},
            )
            assert r.status_code == 201, r.text
            out[name] = r.json()
            r = http.post(f"/api/v1/ivr-apps/{out[name]['id']}/numbers", json={"number": number})
            assert r.status_code in (200, 201), r.text
        r = http.get(f"/api/v1/tenants/{tenant['id']}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


def recent_call(http: httpx.Client, app_id: int, timeout: float = 15) -> dict[str, Any]:
    """The summary of the app's last finished call (waits for the flow to end)."""
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(f"/api/v1/ivr-apps/{app_id}/recent-calls")
        assert r.status_code == 200, r.text
        calls = r.json()
        if calls:
            return dict(calls[-1])
        assert time.monotonic() < deadline, "the flow did not finish"
        time.sleep(0.2)


async def dial(service: Service, ivr: dict[str, Any], number: str, **kw: Any) -> sipp.CallResult:
    return await sipp.call(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username="101",
        password=ivr["password"],
        domain=DOMAIN,
        local_port=CALLER_PORT,
        target=number,
        **kw,
    )


async def test_visa_status_answers_a_real_call(service: Service, ivr_tenant: dict) -> None:
    # Keys go right after the answer: the flow takes them as type-ahead over its prompts.
    result = await dial(service, ivr_tenant, VISA_NUMBER, dtmf="20241234", hold_ms=40_000,
                        timeout=60)  # fmt: skip
    assert result.answered, result.log
    assert result.far_end_hangup, "the flow said goodbye and hung up"
    with service.client() as http:
        summary = recent_call(http, ivr_tenant["visa"]["id"])
    assert summary["collected"][0] == "20241234"
    assert summary["variables"] == {"visa_registration": "20241234", "visa_status": "approved"}
    assert summary["outcome"] == "flow_hung_up"
    assert summary["called"] == VISA_NUMBER


async def test_parcel_tracking_caller_hangs_up(service: Service, ivr_tenant: dict) -> None:
    result = await dial(service, ivr_tenant, PARCEL_NUMBER, dtmf="11234567890", hold_ms=6000)
    assert result.answered and not result.far_end_hangup, result.log
    with service.client() as http:
        summary = recent_call(http, ivr_tenant["parcels"]["id"])
    assert summary["collected"][:2] == ["1", "1234567890"]
    assert summary["variables"] == {"parcel": "1234567890"}
    assert summary["outcome"] == "caller_hung_up"
