"""Ring groups on the real Asterisk: SIPp phones dial a group's number through the
tenant's dialplan (Stasis to the ``pbx_ring_group`` flow), each strategy with its ring
times and total timeout, and the fallbacks.

Phones: SIPp answerers, a phone that only rings (until CANCELed), and 601 placing the
calls. What the flow did comes back through the runner's observers; the CDR of the
caller's call lists every leg the group rang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from api.services import services_of
from orchestrator.ivr import IvrCall
from tests.engine.conftest import Service
from tests.engine.phones import (
    RINGING_SCENARIO,
    TenantPhones,
    api,
    create_tenant,
    phone_ports,
    uas_phone,
)
from tests.engine.queue_helpers import end_calls

pytestmark = pytest.mark.engine

DOMAIN = "ring-groups.example"
PORT = phone_ports("test_ring_groups", "601", "602", "603", "605", "call")
# What each group's calls reported: (group number, action, details).
ACTIONS: list[tuple[str, str, dict[str, Any]]] = []


def _observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
    if call.app == "pbx.rg" and call.routing is not None:
        ACTIONS.append((call.routing.get("dialed") or "", action, dict(details)))


@pytest.fixture(scope="module")
def rg(service: Service) -> Iterator[TenantPhones]:
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    assert runner is not None
    runner.observers.append(_observe)
    tenant = create_tenant(
        service, "Ring groups", DOMAIN, {n: PORT[n] for n in ("601", "602", "603", "605")},
        dial_from={"601": PORT["call"]},
    )  # fmt: skip
    groups = [
        {"name": "both", "number": "650", "strategy": "simultaneous",
         "members": [{"destination": "602", "ring_s": 30}, {"destination": "603", "ring_s": 30}]},
        {"name": "inturn", "number": "651", "strategy": "sequential",
         "members": [{"destination": "602", "ring_s": 5}, {"destination": "603", "ring_s": 30}]},
        {"name": "fair", "number": "652", "strategy": "round_robin",
         "members": [{"destination": "602", "ring_s": 10}, {"destination": "603", "ring_s": 10}]},
        {"name": "desk", "number": "653", "strategy": "sequential", "timeout_s": 6,
         "fallback": "extension:605", "members": [{"destination": "602", "ring_s": 30}]},
        {"name": "nobody", "number": "654", "strategy": "simultaneous", "timeout_s": 5,
         "members": [{"destination": "602", "ring_s": 30}, {"destination": "603", "ring_s": 30}]},
    ]  # fmt: skip
    with service.client() as http:
        for group in groups:
            r = http.post(f"/api/v1/tenants/{tenant.id}/ring-groups", json=group)
            assert r.status_code == 201, r.text
        r = http.get(f"/api/v1/tenants/{tenant.id}/config")
        assert r.json()["last_apply"]["ok"], r.text
    yield tenant
    runner.observers.remove(_observe)


@pytest.fixture(autouse=True)
async def no_calls_left(service: Service, rg: TenantPhones) -> AsyncIterator[None]:
    ACTIONS.clear()
    yield
    async with api(service) as http:
        await end_calls(http, rg.id)


async def until(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return value


def dialed(group: str) -> list[str]:
    return [d["destination"] for g, a, d in ACTIONS if g == group and a == "dial"]


def connected(group: str) -> list[str]:
    legs = {d["leg_id"]: d["destination"] for g, a, d in ACTIONS if g == group and a == "dial"}
    return [legs[d["leg_id"]] for g, a, d in ACTIONS if g == group and a == "connected"]


async def test_simultaneous_rings_both_and_the_cdr_ties_every_leg(
    service: Service, rg: TenantPhones
) -> None:
    await rg.register("602", "603")
    async with api(service) as http:
        before = {c["id"] for c in (await http.get("/api/v1/cdrs", params={"tenant_id": rg.id}))
                  .json()["items"]}  # fmt: skip
        async with rg.answerer("603", calls=1) as desk, uas_phone(RINGING_SCENARIO, PORT["602"]):
            result = await rg.call("601", "650", hold_ms=2000, timeout=40)
            assert result.answered, result.log
            assert await desk.wait_completed(1, timeout=15) == 1
        assert sorted(dialed("650")) == ["extension:602", "extension:603"]
        assert connected("650") == ["extension:603"]
        # One CDR for the caller's call, with the leg of each member the group rang.
        deadline = time.monotonic() + 20
        while True:
            items = (await http.get("/api/v1/cdrs", params={"tenant_id": rg.id})).json()["items"]
            fresh = [c for c in items if c["id"] not in before]
            if fresh or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        items = (await http.get("/api/v1/cdrs", params={"tenant_id": rg.id})).json()["items"]
        fresh = [c for c in items if c["id"] not in before]
        assert len(fresh) == 1, fresh
        cdr = (await http.get(f"/api/v1/cdrs/{fresh[0]['id']}")).json()
    extensions = [leg["extension"] for leg in cdr["legs"]]
    assert {"601", "602", "603"} <= set(extensions), cdr
    answered = [leg["extension"] for leg in cdr["legs"] if leg["disposition"] == "answered"]
    assert "603" in answered and "602" not in answered, cdr


async def test_sequential_rings_the_next_member_after_the_first_rang_out(rg: TenantPhones) -> None:
    await rg.register("602", "603")
    started = time.monotonic()
    async with rg.answerer("603", calls=1) as desk, uas_phone(RINGING_SCENARIO, PORT["602"]):
        result = await rg.call("601", "651", hold_ms=1000, timeout=40)
        assert result.answered, result.log
        await desk.wait_completed(1, timeout=15)
    elapsed = time.monotonic() - started
    assert dialed("651") == ["extension:602", "extension:603"]
    assert connected("651") == ["extension:603"]
    assert elapsed >= 5, elapsed  # 602 rang its 5 s first


async def test_round_robin_starts_after_the_member_that_took_the_last_call(
    rg: TenantPhones,
) -> None:
    await rg.register("602", "603")
    async with rg.answerer("602") as a, rg.answerer("603") as b:
        for _ in range(3):
            result = await rg.call("601", "652", hold_ms=500, timeout=30)
            assert result.answered, result.log
            await until(lambda: [x for g, x, _ in ACTIONS if g == "652" and x == "ended"])
            ACTIONS.append(("done", "", {}))
    calls: list[list[str]] = [[]]
    for group, action, details in ACTIONS:
        if group == "done":
            calls.append([])
        elif action == "dial":
            calls[-1].append(details["destination"])
    assert calls[:3] == [["extension:602"], ["extension:603"], ["extension:602"]], calls
    assert (a.answered, b.answered) == (2, 1)


async def test_total_timeout_then_the_fallback_extension(rg: TenantPhones) -> None:
    await rg.register("602", "605")
    started = time.monotonic()
    async with rg.answerer("605", calls=1) as desk, uas_phone(RINGING_SCENARIO, PORT["602"]):
        result = await rg.call("601", "653", hold_ms=1000, timeout=40)
        assert result.answered, result.log
        assert await desk.wait_completed(1, timeout=15) == 1
    elapsed = time.monotonic() - started
    assert dialed("653") == ["extension:602"]
    transferred = [d for g, a, d in ACTIONS if g == "653" and a == "transferred"]
    assert transferred == [{"destination": "extension:605", "kind": "extension"}]
    # The group rang 6 s (its total timeout), not the member's 30 s.
    assert 6 <= elapsed < 20, elapsed


async def test_nobody_answers_and_the_caller_is_hung_up(rg: TenantPhones) -> None:
    await rg.register("602", "603")
    started = time.monotonic()
    async with uas_phone(RINGING_SCENARIO, PORT["602"]), uas_phone(RINGING_SCENARIO, PORT["603"]):
        # Q.850 19 (no answer): SIP 480.
        result = await rg.call("601", "654", hold_ms=1000, expect=480, timeout=40)
        assert not result.answered, result.log
    elapsed = time.monotonic() - started
    assert sorted(dialed("654")) == ["extension:602", "extension:603"]
    assert connected("654") == []
    assert 5 <= elapsed < 20, elapsed
