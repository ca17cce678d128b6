"""An extension's speed dials and blacklist through the service on every engine (fake,
Asterisk, FreeSWITCH's fake peer): a phone programs a speed dial with ``*74`` (and
clears it; a number it could not dial is refused) and calls it with ``*0``, which
reaches the other extension's phone through the tenant's dialplan; and a call from
outside for an extension with a blacklist (an access number whose app is the
``pbx_extension`` flow) is refused or prompted by the orchestrator while another caller
reaches the phone; the entry ``anonymous`` refuses a caller without a number."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.drivers import FarEnd
from tests.conformance.test_pbx_forwarding import dial_code, extension_number
from tests.conformance.worlds import Tenant, World


def extension_id(world: World, tenant: Tenant, number: str) -> int:
    r = world.http.get(f"/api/v1/tenants/{tenant.id}/extensions?number_prefix={number}")
    assert r.status_code == 200, r.text
    return int(next(e["id"] for e in r.json()["items"] if e["number"] == number))


def speed_dials(world: World, ext_id: int) -> list[dict[str, str]]:
    r = world.http.get(f"/api/v1/extensions/{ext_id}/speed-dials")
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


async def test_speed_dial_programmed_and_cleared_by_code(world: World) -> None:
    tenant = world.tenant("101", "102")
    ext_id = extension_id(world, tenant, "101")
    await dial_code(world, tenant, "*7405102")
    assert speed_dials(world, ext_id) == [{"slot": "05", "number": "102"}]
    await dial_code(world, tenant, "*7406999")  # no extension 999, no route: refused
    assert speed_dials(world, ext_id) == [{"slot": "05", "number": "102"}]
    await dial_code(world, tenant, "*7405")
    assert speed_dials(world, ext_id) == []


async def test_a_speed_dial_reaches_its_number_through_the_dial_plan(world: World) -> None:
    tenant = world.tenant("101", "102")
    await dial_code(world, tenant, "*7405102")
    # 101 dials *005: the flow hands the call to the tenant's dialplan as 102, whose
    # phone answers; 102 hangs up, which ends 101's call (checked by phone_call).
    async with world.phone_call(tenant, "101", "102", callee_talks=3, dialed="*005") as call:
        await asyncio.sleep(1)
        await call.callee_hangs_up()
    # One CDR: 101 dialed *005, 102 answered it.
    found = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: any(c["called_number"] == "*005" and c["ended_at"] for c in d["items"]),
        timeout=30,
    )
    [cdr] = [c for c in found["items"] if c["called_number"] == "*005"]
    legs = world.http.get(f"/api/v1/cdrs/{cdr['id']}").json()["legs"]
    answered = [(leg["extension"], leg["disposition"]) for leg in legs]
    assert ("102", "answered") in answered, answered
    assert cdr["caller_number"] == "101", cdr


async def ended_calls(world: World, app_id: int, count: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = await world.poll(
        f"/api/v1/ivr-apps/{app_id}/recent-calls",
        lambda d: len([c for c in d if c["outcome"]]) >= count,
        timeout=30,
    )
    return [c for c in calls if c["outcome"]]


async def test_a_blacklisted_caller_never_reaches_the_phone(world: World) -> None:
    tenant = world.tenant("101")
    ext_id = extension_id(world, tenant, "101")
    r = world.http.put(f"/api/v1/extensions/{ext_id}/blacklist", json={"entries": [
        {"number": "+15550001", "action": "prompt"},
        {"number": "+1555000", "match": "prefix", "action": "reject"},
    ]})  # fmt: skip
    assert r.status_code == 200 and r.json()["managed"], r.text
    world.tenant_ready(tenant.id)
    app_id, number = extension_number(world, tenant, "101")
    async with world.answering(tenant, "101"):
        # The exact entry first: "not in service", then the orchestrator hangs up.
        world.call_in(number, caller="+15550001")
        (prompted,) = await ended_calls(world, app_id, 1)
        # The prefix takes +15550002: refused without an answer.
        world.call_in(number, caller="+15550002")
        calls = await ended_calls(world, app_id, 2)
        # +15550100 is not on the list: the phone answers, the caller hangs up.
        world.call_in(number, caller="+15550100", far=FarEnd.hangs_up(after=2))
        calls = await ended_calls(world, app_id, 3)
    by_caller = {c["caller"]: c for c in calls}
    assert (prompted["answered"], prompted["played"], prompted["outcome"]) == (
        True, 1, "flow_hung_up",
    ), prompted  # fmt: skip
    rejected = by_caller["+15550002"]
    assert (rejected["answered"], rejected["played"], rejected["outcome"]) == (
        False, 0, "flow_hung_up",
    ), rejected  # fmt: skip
    allowed = by_caller["+15550100"]
    assert allowed["answered"] and allowed["outcome"] == "caller_hung_up", allowed


async def test_an_anonymous_caller_is_refused_by_the_entry_anonymous(world: World) -> None:
    tenant = world.tenant("101")
    ext_id = extension_id(world, tenant, "101")
    r = world.http.put(f"/api/v1/extensions/{ext_id}/blacklist",
                       json={"entries": [{"number": "anonymous"}]})  # fmt: skip
    assert r.status_code == 200 and r.json()["managed"], r.text
    world.tenant_ready(tenant.id)
    app_id, number = extension_number(world, tenant, "101")
    async with world.answering(tenant, "101"):
        # Caller ID withheld: refused without an answer, the phone never rings.
        world.call_in(number, caller="anonymous")
        (refused,) = await ended_calls(world, app_id, 1)
        # A caller with a number reaches the phone.
        world.call_in(number, caller="+15550100", far=FarEnd.hangs_up(after=2))
        calls = await ended_calls(world, app_id, 2)
    assert (refused["answered"], refused["outcome"]) == (False, "flow_hung_up"), refused
    allowed = next(c for c in calls if c["caller"] == "+15550100")
    assert allowed["answered"] and allowed["outcome"] == "caller_hung_up", allowed
