"""Call park through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer).

* Through the API: a phone-to-phone call (101 calls 102) is parked (101's leg: the call
  is taken under control, 102 is hung up as a blind transfer lets it go); the slot is
  listed, ``call_parked`` reaches the CTI stream; nobody retrieves it, so after the lot's
  time ``park_timed_out`` says 102 (the parker) is rung back.
* By a phone: 101 calls 102, whose phone blind-transfers (SIP REFER) the call to ``*68``
  or ``*68<slot>``; the engine names 102 as the transferer (Asterisk: BLINDTRANSFER;
  FreeSWITCH: the transferred channel's last bridge partner, see
  orchestrator/engines/freeswitch/transfers.py), so 102 is the parker. Then 103 takes
  the call back with ``*88<slot>``, or nobody does and 102 is rung back.
* A managed extension's call (102 has PBX features, so the orchestrator's extension flow
  dialed it and connected the two): 102's phone parks it the same way. On FreeSWITCH
  the engine moves the caller's leg, which the orchestrator controls, out of the
  orchestrator's connection into the dialplan again (see
  orchestrator/engines/freeswitch/transfers.py). Or 101's phone parks 102 (it sends the
  REFER): the leg moved is then the one the orchestrator dialed to 102's phone, 101 is
  the parker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.test_pbx_ext_features import extension_id
from tests.conformance.worlds import Cti, Tenant, World

LOT = {"slots": 5, "timeout_s": 10, "ringback_s": 5, "fallback": "hangup"}


async def parked_by_transfer(world: World, tenant: Tenant) -> dict[str, Any]:
    """The one call parked after 102 transferred 101's call."""
    rows = await world.poll(f"/api/v1/tenants/{tenant.id}/park/calls", lambda d: len(d) == 1)
    row: dict[str, Any] = rows[0]
    assert row["parker"] == "102" and row["caller"] == "101", row
    return row


async def retrieved_by_103(
    world: World, tenant: Tenant, cti: Cti, slot: int, parker: str = "102"
) -> None:
    """103 takes the call ``parker`` parked in ``slot`` back (``*88<slot>``) and talks
    until it hangs up: parked, then retrieved on the CTI stream; the lot is empty."""
    await world.phone_dials(tenant, "103", f"*88{slot}", hangs_up_after=2)
    events = await cti.events_until("call_retrieved", timeout=30)
    names = [e["event"] for e in events]
    assert "call_parked" in names and names.index("call_parked") < names.index("call_retrieved"), (
        names
    )
    parked = next(e for e in events if e["event"] == "call_parked")
    assert parked["details"]["slot"] == slot and parked["details"]["parker"] == parker
    retrieved = next(e for e in events if e["event"] == "call_retrieved")
    assert retrieved["details"]["by"] == "103", retrieved
    assert world.http.get(f"/api/v1/tenants/{tenant.id}/park/calls").json() == []


async def test_a_call_parked_by_the_api_times_out_to_the_parker(
    world: World,
) -> None:
    tenant = world.tenant("101", "102")
    lot = {"slots": 5, "timeout_s": 10, "ringback_s": 5, "fallback": "hangup"}
    r = world.http.put(f"/api/v1/tenants/{tenant.id}/park", json=lot)
    assert r.status_code == 200, r.text
    async with world.cti(tenant.id) as cti, world.phone_call(tenant, "101", "102", callee_talks=60):
        calls = await world.poll(
            f"/api/v1/calls?tenant_id={tenant.id}",
            lambda d: any(
                len([leg for leg in c["legs"] if leg["state"] == "up"]) == 2 for c in d["items"]
            ),
        )
        call: dict[str, Any] = calls["items"][0]
        caller = next(leg for leg in call["legs"] if leg["number"] == "101")
        body = {"call_id": call["id"], "leg_id": caller["id"]}
        r = world.http.post(f"/api/v1/tenants/{tenant.id}/park/calls", json=body)
        assert r.status_code == 201, r.text
        parked = r.json()
        assert parked["slot"] == 1 and parked["parker"] == "102", parked
        listed = world.http.get(f"/api/v1/tenants/{tenant.id}/park/calls").json()
        assert [p["leg_id"] for p in listed] == [parked["leg_id"]]
        # The same call cannot be parked twice: it has left CTI's control.
        again = world.http.post(f"/api/v1/tenants/{tenant.id}/park/calls", json=body)
        assert again.status_code == 404, again.text
        events = await cti.events_until("park_timed_out", timeout=30)
        names = [e["event"] for e in events]
        assert "call_parked" in names and names.index("call_parked") < names.index(
            "park_timed_out"
        ), names
        parked_event = next(e for e in events if e["event"] == "call_parked")
        assert parked_event["details"]["slot"] == 1
        timed_out = next(e for e in events if e["event"] == "park_timed_out")
        assert timed_out["details"]["ringback_to"] == "102", timed_out
        assert world.http.get(f"/api/v1/tenants/{tenant.id}/park/calls").json() == []
        # The parker's phone rings back now (whether a world's phone answers it differs:
        # the fallback after an unanswered ring-back is the unit and engine tests').
        world.hang_up_everything()


@pytest.mark.parametrize(("code", "slot"), [("*68", 1), ("*683", 3)])
async def test_a_phone_parks_its_caller_by_transfer_and_another_phone_retrieves(
    world: World, code: str, slot: int
) -> None:
    tenant = world.tenant("101", "102", "103")
    r = world.http.put(f"/api/v1/tenants/{tenant.id}/park", json=LOT | {"timeout_s": 120})
    assert r.status_code == 200, r.text
    async with world.cti(tenant.id) as cti, world.transferred_call(tenant, "101", "102", code):
        row = await parked_by_transfer(world, tenant)
        assert row["slot"] == slot, row
        await retrieved_by_103(world, tenant, cti, slot)
        world.hang_up_everything()


async def test_a_call_parked_by_transfer_times_out_to_the_parker(world: World) -> None:
    tenant = world.tenant("101", "102")
    r = world.http.put(f"/api/v1/tenants/{tenant.id}/park", json=LOT)
    assert r.status_code == 200, r.text
    async with world.cti(tenant.id) as cti, world.transferred_call(tenant, "101", "102", "*68"):
        row = await parked_by_transfer(world, tenant)
        assert row["slot"] == 1, row
        events = await cti.events_until("park_timed_out", timeout=30)
        timed_out = next(e for e in events if e["event"] == "park_timed_out")
        assert timed_out["details"]["ringback_to"] == "102", timed_out
        assert timed_out["details"]["slot"] == 1, timed_out
        assert world.http.get(f"/api/v1/tenants/{tenant.id}/park/calls").json() == []
        world.hang_up_everything()


def managed_tenant(world: World) -> Tenant:
    """Phones 101-103, 102 managed; a park lot that does not time out in a test."""
    tenant = world.tenant("101", "102", "103")
    # A blacklist makes 102 managed: its calls are dialed and connected by the
    # orchestrator's extension flow, not by the tenant dialplan.
    r = world.http.put(
        f"/api/v1/extensions/{extension_id(world, tenant, '102')}/blacklist",
        json={"entries": [{"number": "+15559999"}]},
    )
    assert r.status_code == 200 and r.json()["managed"], r.text
    world.tenant_ready(tenant.id)
    r = world.http.put(f"/api/v1/tenants/{tenant.id}/park", json=LOT | {"timeout_s": 120})
    assert r.status_code == 200, r.text
    return tenant


async def test_a_managed_extensions_call_is_parked_by_transfer_and_retrieved(
    world: World,
) -> None:
    tenant = managed_tenant(world)
    async with world.cti(tenant.id) as cti, world.transferred_call(tenant, "101", "102", "*68"):
        rows = await world.poll(f"/api/v1/tenants/{tenant.id}/park/calls", lambda d: len(d) == 1)
        assert (rows[0]["slot"], rows[0]["parker"]) == (1, "102"), rows
        await retrieved_by_103(world, tenant, cti, 1)
        # The caller's name as the parked call shows it (checked last: on Asterisk it
        # was "" for a managed extension's call).
        assert rows[0]["caller"] == "101", rows
        world.hang_up_everything()


async def test_the_caller_parks_a_managed_extensions_call_by_transfer(world: World) -> None:
    """The caller's phone (101) sends the REFER once 102 answered: the leg the
    orchestrator dialed to 102's phone is the one parked (on FreeSWITCH it goes on in
    its tenant's context, orchestrator/engines/freeswitch/transfers.py), and the
    extension flow that dialed it lets it go; 103 takes it back."""
    tenant = managed_tenant(world)
    transferred = world.transferred_call(tenant, "101", "102", "*68", by_caller=True)
    async with world.cti(tenant.id) as cti, transferred:
        rows = await world.poll(f"/api/v1/tenants/{tenant.id}/park/calls", lambda d: len(d) == 1)
        assert (rows[0]["slot"], rows[0]["parker"]) == (1, "101"), rows
        await retrieved_by_103(world, tenant, cti, 1, parker="101")
        world.hang_up_everything()
