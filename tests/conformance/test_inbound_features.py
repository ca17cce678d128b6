"""Inbound routing through the service on every engine (fake, Asterisk, FreeSWITCH's
fake peer): a DID whose destination is a schedule reaches the tenant's dialplan's
``pbx.in`` flow, which sends it to the open destination (102 answers); night mode on
(published as ``night_mode_changed``) sends the next call to the closed destination
(103 answers); a blacklisted caller is then rejected (Q.850 21) before anything rings.
The tenant's entry ``anonymous`` rejects a caller without a number the same way."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.drivers import FarEnd
from tests.conformance.worlds import Tenant, World, unique_number

CALLER = "+15550001"  # World.call_in's default caller


def always_open(tenant: Tenant) -> dict[str, Any]:
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        "name": "always",
        "timezone": "UTC",
        "weekly": [{"days": every_day, "open": "00:00", "close": "24:00"}],
        "open_destination": "extension:102",
        "closed_destination": "extension:103",
    }


async def cdrs_of(world: World, tenant: Tenant, number: str, count: int) -> list[dict[str, Any]]:
    """The ``count`` CDRs of calls to ``number``, oldest first, with their legs."""
    found = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: len([c for c in d["items"] if c["called_number"] == number]) >= count,
        timeout=30,
    )
    ids = sorted(c["id"] for c in found["items"] if c["called_number"] == number)
    return [world.http.get(f"/api/v1/cdrs/{i}").json() for i in ids]


async def talk(world: World, number: str) -> None:
    """A call to ``number`` that the flow sends on to a phone, which answers; then
    everything hangs up (the caller's leg is not answered on every engine's dialplan
    alike, so the far end does not hang up by itself)."""
    world.call_in(number)
    await asyncio.sleep(3)
    world.hang_up_everything()


def answered_by(cdr: dict[str, Any]) -> list[str]:
    return [leg["extension"] for leg in cdr["legs"] if leg["disposition"] == "answered"
            and leg["extension"]]  # fmt: skip


async def test_schedule_night_mode_and_blacklist(world: World) -> None:
    tenant = world.tenant("101", "102", "103")
    base = f"/api/v1/tenants/{tenant.id}"
    r = world.http.post(f"{base}/schedules", json=always_open(tenant))
    assert r.status_code == 201, r.text
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id,
           "destination": "schedule:always"}  # fmt: skip
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    world.tenant_ready(tenant.id)

    async with world.answering(tenant, "102"), world.answering(tenant, "103"):
        await talk(world, number)
        first = (await cdrs_of(world, tenant, number, 1))[-1]
        assert answered_by(first) == ["102"], first

        async with world.cti(tenant.id) as cti:
            r = world.http.put(f"{base}/night-mode", json={"enabled": True})
            assert r.status_code == 200 and r.json()["enabled"] is True, r.text
            events = await cti.events_until("night_mode_changed")
        assert events[-1]["details"] == {"enabled": True, "by": "api"}, events[-1]
        await talk(world, number)
        second = (await cdrs_of(world, tenant, number, 2))[-1]
        assert answered_by(second) == ["103"], second

        r = world.http.post(f"{base}/blacklist", json={"number": CALLER, "action": "reject"})
        assert r.status_code == 201, r.text
        world.tenant_ready(tenant.id)
        world.call_in(number, far=FarEnd.hangs_up(after=2))
        third = (await cdrs_of(world, tenant, number, 3))[-1]
    assert answered_by(third) == [] and third["answered_at"] is None, third
    # Rejected at once, not after ringing anything.
    assert third["duration_s"] <= 2 and third["billsec"] == 0, third
    # Q.850 21. Asterisk's world calls in through a Local channel, whose CDR cause is the
    # originate's own outcome; tests/engine/test_inbound.py checks the SIP answer (403)
    # a real trunk call gets there.
    assert third["hangup_cause"] == 21 or world.kind == "asterisk", third
    assert not [leg for leg in third["legs"] if leg["extension"] in ("102", "103")], third


async def test_an_anonymous_caller_blacklisted_by_the_tenant(world: World) -> None:
    tenant = world.tenant("101", "102")
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id,
           "destination": "extension:102"}  # fmt: skip
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(f"/api/v1/tenants/{tenant.id}/blacklist", json={"number": "anonymous"})
    assert r.status_code == 201, r.text
    world.tenant_ready(tenant.id)
    async with world.answering(tenant, "102"):
        world.call_in(number, caller="anonymous", far=FarEnd.hangs_up(after=2))
        refused = (await cdrs_of(world, tenant, number, 1))[-1]
        await talk(world, number)  # the default caller has a number: 102 answers
        allowed = (await cdrs_of(world, tenant, number, 2))[-1]
    assert answered_by(refused) == [] and refused["answered_at"] is None, refused
    assert refused["billsec"] == 0, refused
    assert answered_by(allowed) == ["102"], allowed
