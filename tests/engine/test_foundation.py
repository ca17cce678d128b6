"""The foundation end to end on the real Asterisk: tenants and extensions created through
the REST API, SIP phones (SIPp) registering and calling, tenants isolated, DIDs routed,
changes applied without dropping calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import ask_lookup, phone_ports, register_retrying

pytestmark = pytest.mark.engine

A, B = "a.example", "b.example"
# Each phone's UAS port (its registered contact) and the port it places calls from.
_PHONES = [(t, n) for t in "ab" for n in ("101", "102")]
_PORT = phone_ports("test_foundation", *(f"{t}{n}{use}" for use in "uc" for t, n in _PHONES))
PORTS = {(t, n): _PORT[f"{t}{n}u"] for t, n in _PHONES}
CALL_PORTS = {(t, n): _PORT[f"{t}{n}c"] for t, n in _PHONES}


@pytest.fixture(scope="module")
def pbx(service: Service) -> dict[str, Any]:
    """Tenants A and B, each with extensions 101 and 102, made through the API."""
    out: dict[str, Any] = {"tenants": {}, "passwords": {}}
    with service.client() as http:
        for key, domain in (("a", A), ("b", B)):
            r = http.post("/api/v1/tenants", json={"name": f"Tenant {key}", "sip_domain": domain})
            assert r.status_code == 201, r.text
            tenant = r.json()
            out["tenants"][key] = tenant
            for number in ("101", "102"):
                r = http.post(
                    f"/api/v1/tenants/{tenant['id']}/extensions",
                    json={"number": number, "name": f"{key.upper()} {number}"},
                )
                assert r.status_code == 201, r.text
                out["passwords"][(key, number)] = r.json()["sip_password"]
            r = http.get(f"/api/v1/tenants/{tenant['id']}/config")
            assert r.status_code == 200 and r.json()["last_apply"]["ok"], r.text
    return out


def server(service: Service) -> str:
    return f"127.0.0.1:{service.instance.ports.sip}"


async def register(service: Service, pbx: dict[str, Any], tenant: str, number: str) -> None:
    result = await register_retrying(
        server=server(service),
        username=number,
        password=pbx["passwords"][(tenant, number)],
        domain=A if tenant == "a" else B,
        local_port=PORTS[(tenant, number)],
    )
    assert result.status == 200, result.log


async def place(
    service: Service, pbx: dict[str, Any], tenant: str, number: str, target: str, **kw: Any
) -> sipp.CallResult:
    return await sipp.call(
        server=server(service),
        username=number,
        password=kw.pop("password", None) or pbx["passwords"][(tenant, number)],
        domain=A if tenant == "a" else B,
        local_port=CALL_PORTS[(tenant, number)],
        target=target,
        **kw,
    )


def test_health_reports_database_and_engine(service: Service) -> None:
    with service.client() as http:
        body = http.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["engine"]["connected"] is True
    assert body["engine"]["links"] == {"ari": True, "ami": True}
    assert body["engine"]["version"].startswith("22.")


async def test_extension_calls_extension_within_tenant(service: Service, pbx: dict) -> None:
    await register(service, pbx, "a", "102")
    async with sipp.Answerer(local_port=PORTS[("a", "102")], calls=1) as phone:
        result = await place(service, pbx, "a", "101", "102", hold_ms=1000)
        assert result.status == 200 and result.completed, result.log
        assert await phone.wait_answered(1) == 1


async def test_same_number_in_two_tenants_reaches_own_tenant(service: Service, pbx: dict) -> None:
    for key in (("a", "101"), ("b", "101")):
        await register(service, pbx, *key)
    async with (
        sipp.Answerer(local_port=PORTS[("a", "101")]) as a101,
        sipp.Answerer(local_port=PORTS[("b", "101")]) as b101,
    ):
        result = await place(service, pbx, "b", "102", "101")
        assert result.status == 200 and result.completed, result.log
        assert await b101.wait_answered(1) == 1
        await asyncio.sleep(0.5)
        assert a101.answered == 0


async def test_unknown_number_fails_clearly(service: Service, pbx: dict) -> None:
    result = await place(service, pbx, "a", "101", "999", expect=404)
    assert result.status == 404, result.log
    # Another tenant's domain in the request URI does not open that tenant's numbers.
    result = await sipp.call(
        server=server(service),
        username="101",
        password=pbx["passwords"][("a", "101")],
        domain=A,
        local_port=CALL_PORTS[("a", "101")],
        target="5551234",
        expect=404,
    )
    assert result.status == 404, result.log


async def test_wrong_password_is_refused(service: Service, pbx: dict) -> None:
    bad = await sipp.register(
        server=server(service),
        username="102",
        password="WrongPassword1234567890",
        domain=B,
        local_port=PORTS[("b", "102")],
    )
    assert bad.status in (401, 403)
    contacts = service.instance.cli("pjsip show contacts")
    assert "102@b.example/" not in contacts
    result = await place(service, pbx, "b", "102", "101", password="WrongPassword1234567890")
    assert result.status in (401, 403) and not result.answered


async def test_did_routes_to_extension(service: Service, pbx: dict) -> None:
    tenant = pbx["tenants"]["a"]
    with service.client() as http:
        r = http.post(
            "/api/v1/dids",
            json={
                "number": "+12065550100",
                "pricing_batch": "seattle",
                "tenant_id": tenant["id"],
                "destination": "extension:102",
            },
        )
        assert r.status_code == 201, r.text
    await register(service, pbx, "a", "102")
    async with sipp.Answerer(local_port=PORTS[("a", "102")], calls=1) as phone:
        service.instance.cli(
            "channel originate Local/+12065550100@orchestrator-dids application Wait 1"
        )
        assert await phone.wait_answered(1, timeout=10) == 1


async def test_change_to_one_tenant_keeps_calls_and_other_tenants(
    service: Service, pbx: dict
) -> None:
    other = service.instance.tenants_dir / f"t{pbx['tenants']['b']['id']}.conf"
    before = other.read_text()
    await register(service, pbx, "a", "102")
    async with sipp.Answerer(local_port=PORTS[("a", "102")], calls=1) as phone:
        call = asyncio.create_task(place(service, pbx, "a", "101", "102", hold_ms=4000))
        await phone.wait_answered(1, timeout=10)
        with service.client() as http:
            tid = pbx["tenants"]["a"]["id"]
            r = http.post(f"/api/v1/tenants/{tid}/extensions", json={"number": "103"})
            assert r.status_code == 201, r.text
            state = http.get(f"/api/v1/tenants/{tid}/config").json()["last_apply"]
        assert state["ok"] and "dialplan" in state["changed"], state
        result = await call
        # The call outlived the change and ended with our BYE, answered by 200.
        assert result.status == 200 and result.completed, result.log
    assert other.read_text() == before
    # 103 is the tenant's now: the engine's lookup answers it (no reload needed).
    asked = ask_lookup(service, f"dial/{tid}/103")
    assert asked == "ring/103/103@a.example/10", asked
