"""Forwarding and DND on the real Asterisk with SIPp phones: settings changed over REST
re-render the extension into the orchestrator (``pbx.ext``), whose ``pbx_extension``
flow then rings the right phone: unconditional (CFU), busy (CFB: the phone answers 486),
no answer (CFNA after the ring time), not reachable (never registered), a loop
A->B->A that ends at B, DND busy (the caller gets 486 and no phone rings), and a
forward to a number through the tenant's trunk (a SIPp "carrier"), whose xDR is a
forwarded leg of the forwarding extension."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import (
    RINGING_SCENARIO,
    TenantPhones,
    api,
    create_tenant,
    phone_ports,
    refusing_scenario,
    uas_phone,
)

pytestmark = pytest.mark.engine

DOMAIN = "forwarding.example"
PORT = phone_ports("test_call_forwarding", "7401", "7402", "7403", "7404", "carrier")
PHONES = ("7401", "7402", "7403", "7404")
MOBILE = "00447700900555"  # through the tenant's route "00" to the carrier


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    """7401 (the forwarded phone), 7402 (the target), 7403 (the caller) and 7404 (never
    registered)."""
    phones = create_tenant(service, "Forwarding", DOMAIN, {n: PORT[n] for n in PHONES})
    with service.client() as http:
        r = http.post(
            "/api/v1/trunks",
            json={"tenant_id": phones.id, "name": "carrier", "host": "127.0.0.1",
                  "port": PORT["carrier"]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        route = {"tenant_id": phones.id, "name": "intl", "prefix": "00", "trunk_id": r.json()["id"]}
        r = http.post("/api/v1/outbound-routes", json=route)
        assert r.status_code == 201, r.text
    return phones


@pytest.fixture
async def http(service: Service, tenant: TenantPhones) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        yield client
        # Every test starts from no settings: PUT {} turns them all off (and re-applies).
        for number in ("7401", "7402", "7404"):
            r = await client.put(settings_url(tenant, number), json={})
            assert r.status_code == 200, r.text


def settings_url(tenant: TenantPhones, number: str) -> str:
    return f"/api/v1/extensions/{tenant.extension_ids[number]}/call-settings"


async def patch(http: httpx.AsyncClient, tenant: TenantPhones, number: str, **body: Any) -> None:
    r = await http.patch(settings_url(tenant, number), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["managed"] is True
    r = await http.get(f"/api/v1/tenants/{tenant.id}/config")
    assert r.json()["last_apply"]["ok"], r.text


async def test_unconditional_forward(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    await tenant.register("7401", "7402", "7403")
    await patch(http, tenant, "7401", forward_all="7402")
    async with tenant.answerer("7401") as first, tenant.answerer("7402", calls=1) as target:
        result = await tenant.call("7403", "7401", hold_ms=500)
        assert result.ok, result.log
        await target.wait_completed(1)
        assert first.answered == 0


async def test_forward_on_busy(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    await tenant.register("7401", "7402", "7403")
    await patch(http, tenant, "7401", forward_busy="extension:7402")
    async with (
        uas_phone(refusing_scenario("486 Busy Here"), PORT["7401"]),
        tenant.answerer("7402", calls=1) as target,
    ):
        result = await tenant.call("7403", "7401", hold_ms=500)
        assert result.ok, result.log
        await target.wait_completed(1)


async def test_forward_on_no_answer_after_the_ring_time(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    await tenant.register("7401", "7402", "7403")
    await patch(http, tenant, "7401", forward_no_answer="7402", no_answer_ring_s=5)
    async with (
        uas_phone(RINGING_SCENARIO, PORT["7401"]),
        tenant.answerer("7402", calls=1) as target,
    ):
        start = time.monotonic()
        result = await tenant.call("7403", "7401", hold_ms=500, timeout=40)
        took = time.monotonic() - start
        assert result.ok, result.log
        await target.wait_completed(1)
    # Rang 5 s first (and not much longer: the answer and the 0.5 s talk follow at once).
    assert 5 <= took < 12, took


async def test_forward_when_not_reachable(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    await tenant.register("7402", "7403")
    await patch(http, tenant, "7404", forward_unreachable="7402")
    async with tenant.answerer("7402", calls=1) as target:
        result = await tenant.call("7403", "7404", hold_ms=500)
        assert result.ok, result.log
        await target.wait_completed(1)


async def test_a_forwarding_loop_ends_cleanly(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    """A->B->A: B's forward back to A is ignored, so B rings and answers; one call each."""
    await tenant.register("7401", "7402", "7403")
    await patch(http, tenant, "7401", forward_all="7402")
    await patch(http, tenant, "7402", forward_all="7401")
    async with tenant.answerer("7401") as first, tenant.answerer("7402", calls=1) as target:
        result = await tenant.call("7403", "7401", hold_ms=500)
        assert result.ok, result.log
        await target.wait_completed(1)
        assert first.answered == 0 and target.answered == 1


async def test_dnd_is_busy_and_rings_nothing(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    await tenant.register("7401", "7403")
    await patch(http, tenant, "7401", dnd=True, forward_no_answer="7402")
    async with tenant.answerer("7401") as phone:
        result = await tenant.call("7403", "7401", expect=486)
        assert result.ok, result.log
        assert phone.answered == 0


async def test_a_forward_to_a_number_is_a_forwarded_xdr_of_the_extension(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    await tenant.register("7401", "7403")
    await patch(http, tenant, "7401", forward_all=f"number:{MOBILE}")
    async with sipp.Answerer(local_port=PORT["carrier"], calls=1) as mobile:
        result = await tenant.call("7403", "7401", hold_ms=2000)
        assert result.ok, result.log
        await mobile.wait_completed(1)
    deadline = time.monotonic() + 20
    while (forwarded := await _forwarded_xdr(http, tenant)) is None:
        assert time.monotonic() < deadline, "no forwarded xDR in 20 s"
        await asyncio.sleep(0.3)
    # The leg through the trunk, on 7401's behalf: what rating books on 7401's account.
    assert forwarded["trunk"] == "carrier" and forwarded["detail"] == "7401", forwarded
    assert forwarded["service"] == "forwarded" and forwarded["billsec"] >= 1, forwarded


async def _forwarded_xdr(http: httpx.AsyncClient, tenant: TenantPhones) -> dict[str, Any] | None:
    r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant.id})
    assert r.status_code == 200, r.text
    for cdr in r.json()["items"]:
        legs = (await http.get(f"/api/v1/cdrs/{cdr['id']}")).json()["legs"]
        for leg in legs:
            if leg["role"] == "forwarded" and leg["trunk"]:
                return dict(leg)
    return None
