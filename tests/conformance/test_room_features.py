"""Conference rooms through the service on every engine (fake, Asterisk, FreeSWITCH's
fake peer): callers from outside dial a room's access number and key their PIN; the
``conference_room`` flow puts them into the room's conference (see worlds.py)."""

from __future__ import annotations

from typing import Any

from tests.conformance.drivers import FarEnd
from tests.conformance.worlds import World, unique_number

PIN, MOD_PIN = "1234", "9876"


def room_number(world: World, **fields: Any) -> dict[str, Any]:
    """A tenant with the room ``board`` and an access number to it; returns both."""
    tenant = world.tenant()
    body = {"tenant_id": tenant.id, "name": "board", "number": "800", "pin": PIN,
            "moderator_pin": MOD_PIN, **fields}  # fmt: skip
    r = world.http.post("/api/v1/conference-rooms", json=body)
    assert r.status_code == 201, r.text
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": "board-line", "app": "conference_room",
              "settings": {"room": "board"}, "max_duration_s": 60},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = world.http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)
    return {"tenant_id": tenant.id, "number": number}


def present(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The joined participants of the tenant's one active conference, by number."""
    if len(data["items"]) != 1:
        return {}
    participants = data["items"][0]["participants"]
    return {p["number"]: p for p in participants if p["state"] == "joined"}


async def test_pin_room_waits_for_its_moderator(world: World) -> None:
    room = room_number(world, wait_for_moderator=True)
    path = f"/api/v1/conferences?tenant_id={room['tenant_id']}"
    # A wrong PIN, then the right one.
    world.call_in(room["number"], caller="+15550001", far=FarEnd.dtmf(f"1111#{PIN}#", after=1))
    data = await world.poll(path, lambda d: present(d).get("+15550001", {}).get("held", False))
    ann = present(data)["+15550001"]
    assert (ann["via"], ann["moderator"]) == ("room", False)

    world.call_in(room["number"], caller="+15550002", far=FarEnd.dtmf(f"{MOD_PIN}#", after=1))
    data = await world.poll(
        path, lambda d: "+15550002" in present(d) and not present(d)["+15550001"]["held"]
    )
    boss = present(data)["+15550002"]
    assert boss["moderator"] and not boss["held"]
    world.hang_up_everything()
    await world.poll(path, lambda d: d["items"] == [])


async def test_locked_room_hangs_up(world: World) -> None:
    room = room_number(world, locked=True)
    world.call_in(room["number"], caller="+15550003", far=FarEnd.dtmf(f"{PIN}#", after=1))
    apps = world.http.get(f"/api/v1/ivr-apps?tenant_id={room['tenant_id']}").json()["items"]
    calls = await world.poll(f"/api/v1/ivr-apps/{apps[0]['id']}/recent-calls", bool)
    assert (calls[-1]["outcome"], calls[-1]["collected"]) == ("flow_hung_up", [])
    r = world.http.get(f"/api/v1/conferences?tenant_id={room['tenant_id']}&state=all")
    assert r.json()["items"] == []
