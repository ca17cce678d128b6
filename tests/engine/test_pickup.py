"""Call pickup on the real Asterisk with SIPp phones: 7501 calls 7502, whose phone rings
and never answers; a member of 7502's pickup group dials *98 (or anyone *977502) and
talks with the caller instead: the ringing phone gets its CANCEL, the caller its 200,
and when one side hangs up the other gets a BYE. Two pickers dialing *98 at once: one
talks with the caller, the other hears "no call to pick up" and is hung up. What the
pickers heard is read from the IVR runner; call_picked_up from the tenant's stream.
A simultaneous ring group (7600: 7502 and 7504) is picked up likewise by 7503: the caller
talks with the picker, both members get their CANCEL at once, and the group's fallback
never runs; the CDR holds the picker's leg as ``picked_up``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.cti.stream import CtiEvent, Subscription
from orchestrator.ivr import IvrCall
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import (
    RINGING_SCENARIO,
    TenantPhones,
    api,
    create_tenant,
    phone_ports,
    uas_phone,
)

pytestmark = pytest.mark.engine

DOMAIN = "pickup.example"
PORT = phone_ports("test_pickup", "7501", "7502", "7503", "7504", "7505")


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    """7501 calls, 7502 rings; 7503 and 7504 share 7502's pickup group, 7505 is in none."""
    phones = create_tenant(service, "Pickup", DOMAIN, dict(PORT))
    with service.client() as http:
        r = http.post(
            f"/api/v1/tenants/{phones.id}/pickup-groups",
            json={"name": "floor", "members": ["7502", "7503", "7504"]},
        )
        assert r.status_code == 201, r.text
        # The fallback (7505, which never answers here) must not run after a pickup.
        group = {"name": "sales", "number": "7600", "strategy": "simultaneous",
                 "fallback": "extension:7505",
                 "members": [{"destination": "7502", "ring_s": 30},
                             {"destination": "7504", "ring_s": 30}]}  # fmt: skip
        r = http.post(f"/api/v1/tenants/{phones.id}/ring-groups", json=group)
        assert r.status_code == 201, r.text
        r = http.get(f"/api/v1/tenants/{phones.id}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return phones


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        yield client


class Watch:
    """The tenant's flows as they run: what each picker heard (by its phone's number),
    when a call started ringing at an extension, and the call_picked_up events."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant = str(tenant_id)
        self.heard: dict[str, list[str]] = {}
        self.ringing: list[str] = []
        self.events: list[CtiEvent] = []

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        routing = call.routing
        if call.tenant != self.tenant or routing is None:
            return
        dialed = routing.get("dialed") or ""
        phone = (routing.get("endpoint") or "").split("@")[0]
        code = dialed.startswith("*")  # a picker (pbx_code), else a call to an extension
        if code and action == "answered":
            self.heard.setdefault(phone, [])
        elif code and action == "play":
            self.heard.setdefault(phone, []).extend(details["media"])
        elif not code and action == "dial":
            self.ringing.append(dialed)

    def sink(self, _sub: Subscription, event: CtiEvent) -> None:
        if event.event in ("call_picked_up", "ring_group_unanswered"):
            self.events.append(event)

    async def wait_ringing(self, number: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while number not in self.ringing:
            assert time.monotonic() < deadline, f"{number} never rang"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the phone's 180 is on its way: it rings now


@pytest.fixture
def watch(service: Service, tenant: TenantPhones) -> Iterator[Watch]:
    assert service.app is not None
    services = services_of(service.app)
    seen = Watch(tenant.id)
    services.ivr_runner.observers.append(seen.observe)
    assert services.cti is not None
    sub, _replay = services.cti.stream.subscribe(tenant.id, seen.sink)
    yield seen
    services.ivr_runner.observers.remove(seen.observe)
    services.cti.stream.unsubscribe(sub)


async def picked_up(
    tenant: TenantPhones, watch: Watch, *, picker: str, code: str, caller_hold_ms: int,
    picker_hold_ms: int,
) -> tuple[sipp.CallResult, sipp.CallResult]:  # fmt: skip
    """7501 calls 7502 (ringing, never answering); ``picker`` dials ``code`` once it rings."""
    async with uas_phone(RINGING_SCENARIO, PORT["7502"]):
        caller = asyncio.create_task(
            tenant.call("7501", "7502", hold_ms=caller_hold_ms, timeout=40)
        )
        await watch.wait_ringing("7502")
        taker = await tenant.call(picker, code, hold_ms=picker_hold_ms, timeout=40)
        return await caller, taker


async def test_group_pickup_then_the_picker_hangs_up(tenant: TenantPhones, watch: Watch) -> None:
    await tenant.register("7501", "7502", "7503")
    caller, taker = await picked_up(
        tenant, watch, picker="7503", code="*98", caller_hold_ms=30_000, picker_hold_ms=2_000
    )
    assert taker.answered and taker.completed and not taker.far_end_hangup, taker.log
    # The caller was answered by the pickup and got the BYE when the picker hung up.
    assert caller.answered and caller.far_end_hangup, caller.log
    assert watch.heard["7503"] == []
    (event,) = watch.events
    assert event.details["extension"] == "7502"
    assert (event.details["picked_up_by"], event.details["kind"]) == ("7503", "group")
    assert sorted(event.call["extensions"]) == ["7502", "7503"]


async def test_directed_pickup_then_the_caller_hangs_up(tenant: TenantPhones, watch: Watch) -> None:
    await tenant.register("7501", "7502", "7505")
    # 7505 is in no group: its *98 finds nothing...
    refused = await tenant.call("7505", "*98", hold_ms=10_000, timeout=30)
    assert refused.answered and refused.far_end_hangup, refused.log
    assert watch.heard["7505"] == [Prompt.PICKUP_NONE]
    watch.heard.clear()
    # ...but it may take 7502's call by its number.
    caller, taker = await picked_up(
        tenant, watch, picker="7505", code="*977502", caller_hold_ms=2_000,
        picker_hold_ms=30_000,
    )  # fmt: skip
    assert caller.answered and caller.completed and not caller.far_end_hangup, caller.log
    assert taker.answered and taker.far_end_hangup, taker.log
    assert watch.heard["7505"] == []
    (event,) = watch.events
    assert (event.details["picked_up_by"], event.details["kind"]) == ("7505", "directed")


async def test_two_pickers_racing_one_wins(tenant: TenantPhones, watch: Watch) -> None:
    await tenant.register("7501", "7502", "7503", "7504")
    async with uas_phone(RINGING_SCENARIO, PORT["7502"]):
        caller = asyncio.create_task(tenant.call("7501", "7502", hold_ms=4_000, timeout=40))
        await watch.wait_ringing("7502")
        first, second = await asyncio.gather(
            tenant.call("7503", "*98", hold_ms=30_000, timeout=40),
            tenant.call("7504", "*98", hold_ms=30_000, timeout=40),
        )
        called = await caller
    # Both pickers were answered (the feature-code flow answers); each got a BYE: the
    # loser after "no call to pick up", the winner when the caller hung up.
    for result in (first, second):
        assert result.answered and result.far_end_hangup, result.log
    assert called.answered and called.completed and not called.far_end_hangup, called.log
    heard = sorted([watch.heard["7503"], watch.heard["7504"]])
    assert heard == [[], [Prompt.PICKUP_NONE]], watch.heard
    (event,) = watch.events
    winner = "7503" if watch.heard["7503"] == [] else "7504"
    assert event.details["picked_up_by"] == winner


async def test_a_ring_group_call_is_picked_up_and_both_members_stop_ringing(
    tenant: TenantPhones, watch: Watch, http: httpx.AsyncClient
) -> None:
    await tenant.register("7501", "7502", "7503", "7504")
    async with uas_phone(RINGING_SCENARIO, PORT["7502"]), uas_phone(RINGING_SCENARIO, PORT["7504"]):
        caller = asyncio.create_task(tenant.call("7501", "7600", hold_ms=30_000, timeout=40))
        await watch.wait_ringing("7600")
        taker = await tenant.call("7503", "*98", hold_ms=3_000, timeout=40)
        called = await caller
    # The picker talked with the caller and hung up; the caller got the BYE then (no
    # fallback to 7505 afterwards).
    assert taker.answered and taker.completed and not taker.far_end_hangup, taker.log
    assert called.answered and called.far_end_hangup, called.log
    assert watch.heard["7503"] == []
    (event,) = watch.events  # and no ring_group_unanswered
    assert event.event == "call_picked_up"
    assert (event.details["ring_group"], event.details["ring_group_name"]) == ("7600", "sales")
    assert event.details["extension"] in ("7502", "7504")
    assert (event.details["picked_up_by"], event.details["kind"]) == ("7503", "group")
    # The CDR: both members rang, unanswered, and stopped when the picker took the call
    # (not when the call ended, 3 s later); the picker's leg is picked_up.
    deadline = time.monotonic() + 30
    while True:
        r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant.id})
        cdr = next((c for c in r.json()["items"] if c["called_number"] == "7600"), None)
        if cdr is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert cdr is not None, r.text
    legs = (await http.get(f"/api/v1/cdrs/{cdr['id']}")).json()["legs"]
    (picker,) = [g for g in legs if g["role"] == "picked_up"]
    assert (picker["extension"], picker["detail"]) == ("7503", event.details["extension"])
    assert picker["disposition"] == "answered", legs
    members = {g["extension"]: g for g in legs if g["extension"] in ("7502", "7504")}
    assert sorted(members) == ["7502", "7504"], legs
    picked_at = datetime.fromisoformat(picker["answered_at"])
    for member in members.values():
        assert member["disposition"] != "answered", legs
        assert datetime.fromisoformat(member["ended_at"]) < picked_at + timedelta(seconds=2), legs
    assert cdr["answered_by"] == "7503", cdr
