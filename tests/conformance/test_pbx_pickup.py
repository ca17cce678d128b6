"""Call pickup through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer): 101 and 102 share a pickup group, so a call for 101 (an access number whose app
is the ``pbx_extension`` flow for it) rings 101's phone through the orchestrator; 102
dials *98 and talks with the caller instead, until the caller hangs up. 101's phone
stops ringing, ``call_picked_up`` reaches the tenant's WebSocket, and the call's CDR
holds the picker's leg (role ``picked_up``). The same for a call to a simultaneous ring
group (101 and 103 ring): 102's *98 takes it, both members stop ringing, the event names
the group and the group's fallback never runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.services import services_of
from orchestrator.ivr.call import IvrCall
from tests.conformance.drivers import FarEnd
from tests.conformance.test_pbx_forwarding import extension_number
from tests.conformance.test_ring_groups import group_with_did
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
    # The picker's own call (to *98) became a picked_up leg of the caller's call.
    picker = [g for g in legs if g["role"] == "picked_up" and g["number"] == "*98"]
    assert [(g["disposition"], g["detail"]) for g in picker] == [("answered", "101")], legs
    assert picker[0]["extension"] in ("102", None), legs  # the fake knows no endpoints
    rung_legs = [g for g in legs if g["extension"] == "101"]
    assert rung_legs and all(g["disposition"] != "answered" for g in rung_legs), legs


async def test_group_pickup_takes_a_ring_group_call(world: World) -> None:
    tenant = world.tenant("101", "102", "103", "104")
    r = world.http.post(
        f"/api/v1/tenants/{tenant.id}/pickup-groups",
        json={"name": "desk", "members": ["101", "102", "103"]},
    )
    assert r.status_code == 201, r.text
    # After a pickup the fallback (104) must not get the call. (The world has three
    # phone ports: 101 and 103 ring, 102 picks up; 104 has no phone.)
    number = group_with_did(world, tenant, strategy="simultaneous", fallback="extension:104",
                            members=[{"destination": "101", "ring_s": 30},
                                     {"destination": "103", "ring_s": 30}])  # fmt: skip
    rung: dict[str, str] = {}  # member -> its leg
    connected: list[str] = []
    caller_leg: list[str] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if call.tenant != str(tenant.id) or call.app != "pbx.rg":
            return
        caller_leg[:] = [call.id]
        if action == "dial" and not details.get("picked_up"):
            rung[details["destination"].removeprefix("extension:")] = details["leg_id"]
        elif action == "connected":
            connected.append(details["leg_id"])

    runner = services_of(world.app).ivr_runner
    runner.observers.append(observe)
    try:
        async with (
            world.cti(tenant.id) as cti,
            world.ringing(tenant, "101"),
            world.ringing(tenant, "103"),
        ):
            world.call_in(number, far=FarEnd.hangs_up(after=3))
            deadline = time.monotonic() + 20
            while sorted(rung) != ["101", "103"]:
                assert time.monotonic() < deadline, f"the members never rang: {rung}"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the phones' ringing is on its way
            await world.phone_dials(tenant, "102", "*98")
            events = await cti.events_until("call_picked_up", timeout=20)
            await asyncio.sleep(1.0)  # a fallback would have started by now
    finally:
        runner.observers.remove(observe)
    picked = events[-1]
    assert picked["details"]["picked_up_by"] == "102", picked
    assert picked["details"]["extension"] in ("101", "103"), picked
    assert (picked["details"]["ring_group"], picked["details"]["ring_group_name"]) == (
        "600",
        "sales",
    )
    assert not any(e.get("event") == "ring_group_unanswered" for e in events), events
    # One connect (to the picker's leg), never to a member's.
    assert len(connected) == 1 and connected[0] not in rung.values(), connected
    # The CDR: the picker's leg is picked_up, naming the member it took the call from;
    # neither member answered, and 104 (the fallback) was never rung.
    cdrs = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: any(c["called_number"] == number for c in d["items"]),
        timeout=30,
    )
    cdr = next(c for c in cdrs["items"] if c["called_number"] == number)
    legs = world.http.get(f"/api/v1/cdrs/{cdr['id']}").json()["legs"]
    picker = [g for g in legs if g["role"] == "picked_up"]
    assert [(g["disposition"], g["detail"]) for g in picker] == [
        ("answered", picked["details"]["extension"])
    ], legs
    members = [g for g in legs if g["channel_id"] in rung.values()]
    assert members and all(g["disposition"] != "answered" for g in members), legs
    assert not any(g["extension"] == "104" for g in legs), legs
