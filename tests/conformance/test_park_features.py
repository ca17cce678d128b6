"""Call park through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer): a phone-to-phone call (101 calls 102) is parked through the API (101's leg: the
call is taken under control, 102 is hung up as a blind transfer lets it go); the slot is
listed, ``call_parked`` reaches the CTI stream; nobody retrieves it, so after the lot's
time ``park_timed_out`` says 102 (the parker) is rung back."""

from __future__ import annotations

from typing import Any

from tests.conformance.worlds import World


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
