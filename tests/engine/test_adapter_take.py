"""``Engine.take`` on the real Asterisk: a phone-to-phone call switched by a tenant's
dialplan comes under control with both parties still talking, and stays one call.

Phone 601 (SIPp, echoing every RTP packet it gets) calls 602 (a media phone sending a
400 Hz tone) through the tenant's dialplan; the service observes it as a dialplan call.
An adapter of the test's own (its own Stasis app) takes both channels: AMI Redirect
into ``orchestrator-take``, then a bridge of its own. 602 hears its tone come back
through 601 before and after the take (the two still hear each other), the channel
ids do not change, and the service writes one CDR for the call, with both legs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.core.errors import ConflictError, ValidationError
from orchestrator.core.events import LegConnected, LegCreated, LegHungUp
from orchestrator.engines.asterisk.instance import AsteriskInstance
from tests.engine.conftest import Service
from tests.engine.media_phone import MediaPhone
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports
from tests.engine.test_adapter import Factory, engine_factory

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

DOMAIN = "take.example"
PHONE_PORT = phone_ports("test_adapter_take", "601", "602")
TONE_HZ = 400
# A tone counts as heard above this amplitude (sent at 6000).
HEARD = 1500.0


@pytest.fixture(scope="module")
def phones(service: Service) -> TenantPhones:
    return create_tenant(service, "Take", DOMAIN, PHONE_PORT)


@pytest.fixture
async def make_engine(asterisk: AsteriskInstance) -> AsyncIterator[Factory]:
    async with engine_factory(asterisk, "adaptertake", "adt-") as make:
        yield make


async def dialplan_call(service: Service, tid: int, timeout: float = 15) -> dict[str, Any]:
    """The call 601 -> 602 as the service lists it once both legs are up."""
    deadline = time.monotonic() + timeout
    async with api(service) as http:
        while True:
            r = await http.get("/api/v1/calls", params={"tenant_id": tid, "extension": "602"})
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            if items and [leg["state"] for leg in items[0]["legs"]] == ["up", "up"]:
                return dict(items[0])
            assert time.monotonic() < deadline, items
            await asyncio.sleep(0.1)


async def one_cdr(service: Service, tid: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    async with api(service) as http:
        while True:
            r = await http.get("/api/v1/cdrs", params={"tenant_id": tid})
            assert r.status_code == 200, r.text
            if r.json()["items"]:
                await asyncio.sleep(1.0)  # a second CDR for the same call would show by now
                r = await http.get("/api/v1/cdrs", params={"tenant_id": tid})
                return [
                    (await http.get(f"/api/v1/cdrs/{c['id']}")).json() for c in r.json()["items"]
                ]
            assert time.monotonic() < deadline, "no CDR was written"
            await asyncio.sleep(0.2)


async def heard_own_tone(phone: MediaPhone, seconds: float = 1.2) -> float:
    since = time.monotonic()
    await asyncio.sleep(seconds)
    return phone.level(TONE_HZ, since=since, until=time.monotonic())


async def test_take_a_phone_to_phone_call(
    service: Service, phones: TenantPhones, make_engine: Factory
) -> None:
    tid = phones.id
    await phones.register()
    engine, rec = await make_engine()
    async with MediaPhone(local_port=PHONE_PORT["602"], tone_hz=TONE_HZ) as callee_phone:
        placed = asyncio.create_task(
            phones.call("601", "602", hold_ms=20000, timeout=40, rtp_echo=True)
        )
        call = await dialplan_call(service, tid)
        assert call["kind"] == "dialplan"
        legs = {leg["role"]: leg["id"] for leg in call["legs"]}
        caller, callee = legs["caller"], legs["dialed"]
        await asyncio.sleep(0.5)
        before = await heard_own_tone(callee_phone)
        assert before > HEARD, before  # 601 echoes what 602 says: they talk

        with pytest.raises(ValidationError):
            await engine.take([caller, caller])
        assert await engine.take([caller, callee]) == [caller, callee]
        for channel_id in (caller, callee):
            created = await rec.wait_for(
                lambda e, i=channel_id: isinstance(e, LegCreated) and e.leg_id == i
            )
            assert created.state == "up" and created.routing.service == "taken"
        assert {(e.leg_id, e.peer_id) for e in rec.events if isinstance(e, LegConnected)} == {
            (caller, callee),
            (callee, caller),
        }
        await asyncio.sleep(0.3)
        after = await heard_own_tone(callee_phone)
        print("602 heard its tone through 601: before", before, "after the take", after)
        assert after > HEARD, after
        with pytest.raises(ValidationError):  # ours now
            await engine.take([callee])

        # The service still lists the one call; a hangup of ours ends it for both phones.
        again = await dialplan_call(service, tid)
        assert again["id"] == call["id"]
        await engine.hangup(callee)
        await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == callee)
        # The caller stays up (a connection ends with either leg; it does not hang up the
        # other): ours to hang up too, rather than wait for 601's own hangup.
        await engine.hangup(caller)
        result = await placed
        assert result.answered and result.far_end_hangup, result.log
        await callee_phone.wait_for("completed")
    [cdr] = await one_cdr(service, tid)
    assert (cdr["caller_extension"], cdr["called_extension"], cdr["disposition"]) == (
        "601",
        "602",
        "answered",
    ), cdr
    assert [(leg["role"], leg["extension"]) for leg in cdr["legs"]] == [
        ("caller", "601"),
        ("callee", "602"),
    ], cdr
    assert cdr["billsec"] >= 2, cdr


async def test_take_refuses_a_ringing_call(
    service: Service, phones: TenantPhones, make_engine: Factory
) -> None:
    """A dialplan call still ringing is not taken (nothing changes: it goes on ringing)."""
    engine, _ = await make_engine()
    await phones.register()
    async with api(service) as http:
        placed = asyncio.create_task(phones.call("601", "602", expect=480, timeout=30))
        deadline = time.monotonic() + 15
        while True:
            r = await http.get("/api/v1/calls", params={"tenant_id": phones.id, "extension": "602"})
            items = r.json()["items"]
            if items and len(items[0]["legs"]) == 2:
                break
            assert time.monotonic() < deadline, items
            await asyncio.sleep(0.1)
        ids = [leg["id"] for leg in items[0]["legs"]]
        with pytest.raises(ConflictError):
            await engine.take(ids)
        assert not engine.legs
        r = await http.post(f"/api/v1/calls/{items[0]['id']}/hangup", json={})
        assert r.status_code in (200, 202, 204), r.text
        await placed
