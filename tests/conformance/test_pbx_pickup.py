"""Call pickup through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer): 101 and 102 share a pickup group, so a call for 101 (an access number whose app
is the ``pbx_extension`` flow for it) rings 101's phone through the orchestrator; 102
dials *98 and talks with the caller instead, until the caller hangs up. 101's phone
stops ringing, ``call_picked_up`` reaches the tenant's WebSocket, and the call's CDR
holds the picker's leg."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.services import services_of
from orchestrator.ivr.call import IvrCall
from tests.conformance.drivers import FarEnd
from tests.conformance.test_pbx_forwarding import extension_number
from tests.conformance.worlds import World


async def test_group_pickup_takes_the_ringing_call(world: World) -> None:
    tenant = world.tenant("101", "102")
    r = world.http.post(
        f"/api/v1/tenants/{tenant.id}/pickup-groups",
        json={"name": "desk", "members": ["101", "102"]},
    )
    assert r.status_code == 201, r.text
    world.tenant_ready(tenant.id)
    app_id, number = extension_number(world, tenant, "101")
    rung: list[str] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if call.tenant == str(tenant.id) and action == "dial":
            rung.append(details["destination"])

    runner = services_of(world.app).ivr_runner
    runner.observers.append(observe)
    try:
        async with world.cti(tenant.id) as cti, world.ringing(tenant, "101"):
            world.call_in(number, far=FarEnd.hangs_up(after=3))
            deadline = time.monotonic() + 20
            while "extension:101" not in rung:
                assert time.monotonic() < deadline, "101 never rang"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the phone's ringing is on its way
            # Returns once the service hung the picker up: after the caller did.
            await world.phone_dials(tenant, "102", "*98")
            events = await cti.events_until("call_picked_up", timeout=20)
    finally:
        runner.observers.remove(observe)
    picked = events[-1]
    assert picked["details"]["picked_up_by"] == "102", picked
    assert (picked["details"]["extension"], picked["details"]["kind"]) == ("101", "group")
    # The caller talked with 102 (answered, then it hung up itself).
    calls = await world.poll(f"/api/v1/ivr-apps/{app_id}/recent-calls", bool, timeout=30)
    summary = calls[-1]
    assert summary["answered"] and summary["outcome"] == "caller_hung_up", summary
    # The caller's CDR ties the picker's leg; 101's phone never answered.
    cdrs = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: any(c["called_number"] == number for c in d["items"]),
        timeout=30,
    )
    cdr = next(c for c in cdrs["items"] if c["called_number"] == number)
    legs = world.http.get(f"/api/v1/cdrs/{cdr['id']}").json()["legs"]
    # The picker's own call (to *98) became a callee leg of the caller's call.
    picker = [g for g in legs if g["role"] == "callee" and g["number"] == "*98"]
    assert [g["disposition"] for g in picker] == ["answered"], legs
    assert picker[0]["extension"] in ("102", None), legs  # the fake knows no endpoints
    rung_legs = [g for g in legs if g["extension"] == "101"]
    assert rung_legs and all(g["disposition"] != "answered" for g in rung_legs), legs
