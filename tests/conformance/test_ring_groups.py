"""Ring groups on every engine (fake, Asterisk, FreeSWITCH's fake peer): a DID routed
``ring_group:<number>`` reaches the group through the tenant's dialplan (the renderers'
routing), the ``pbx_ring_group`` flow rings the members, the first to answer gets the
caller; round robin starts after the member that took the previous call; nobody
answering within the total timeout sends the call to the fallback extension (and
``ring_group_unanswered`` reaches the tenant's WebSocket)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.services import services_of
from orchestrator.ivr import IvrCall
from tests.conformance.worlds import Tenant, World, unique_number

Actions = list[tuple[str, dict[str, Any]]]


async def until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
def actions(world: World) -> Iterator[dict[int, Actions]]:
    """What each ring-group call reported, by tenant (one list per tenant)."""
    seen: dict[int, Actions] = {}

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if call.app == "pbx.rg" and call.tenant.isdigit():
            seen.setdefault(int(call.tenant), []).append((action, dict(details)))

    runner = services_of(world.app).ivr_runner
    assert runner is not None
    runner.observers.append(observe)
    yield seen
    runner.observers.remove(observe)


def group_with_did(world: World, tenant: Tenant, **group: Any) -> str:
    """A ring group (600) and a DID routed to it; the DID's number."""
    r = world.http.post(f"/api/v1/tenants/{tenant.id}/ring-groups",
                        json={"name": "sales", "number": "600", **group})  # fmt: skip
    assert r.status_code == 201, r.text
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id,
           "destination": "ring_group:600"}  # fmt: skip
    r = world.http.post("/api/v1/dids", json=did)
    assert r.status_code == 201, r.text
    world.tenant_ready(tenant.id)
    return number


def dialed(seen: Actions) -> list[str]:
    return [d["destination"] for a, d in seen if a == "dial"]


def connected_to(seen: Actions) -> list[str]:
    legs = {d["leg_id"]: d["destination"] for a, d in seen if a == "dial"}
    return [legs[d["leg_id"]] for a, d in seen if a == "connected"]


async def test_simultaneous_group_connects_the_member_that_answers(
    world: World, actions: dict[int, Actions]
) -> None:
    tenant = world.tenant("551", "552")
    number = group_with_did(world, tenant, strategy="simultaneous", members=[
        {"destination": "551", "ring_s": 30}, {"destination": "552", "ring_s": 30}])  # fmt: skip
    async with world.answering(tenant, "552"):
        world.call_in(number)
        await until(lambda: connected_to(actions.get(tenant.id, [])))
        seen = actions[tenant.id]
        assert sorted(dialed(seen)) == ["extension:551", "extension:552"]
        assert connected_to(seen) == ["extension:552"]
        world.hang_up_everything()
        await until(lambda: ("ended", {}) in actions[tenant.id])


async def test_round_robin_starts_after_the_member_that_took_the_last_call(
    world: World, actions: dict[int, Actions]
) -> None:
    tenant = world.tenant("551", "552")
    number = group_with_did(world, tenant, strategy="round_robin", members=[
        {"destination": "551", "ring_s": 5}, {"destination": "552", "ring_s": 5}])  # fmt: skip
    async with world.answering(tenant, "551"):
        world.call_in(number)
        await until(lambda: connected_to(actions.get(tenant.id, [])))
        assert dialed(actions[tenant.id]) == ["extension:551"]
        world.hang_up_everything()
        await until(lambda: ("ended", {}) in actions[tenant.id])
        actions[tenant.id].clear()
        # 551 took the last call: this one starts with 552 (no phone: it does not answer).
        world.call_in(number)
        await until(lambda: connected_to(actions.get(tenant.id, [])))
        assert dialed(actions[tenant.id]) == ["extension:552", "extension:551"]
        assert connected_to(actions[tenant.id]) == ["extension:551"]
        world.hang_up_everything()
        await until(lambda: ("ended", {}) in actions[tenant.id])


async def test_unanswered_group_goes_to_its_fallback_extension(
    world: World, actions: dict[int, Actions]
) -> None:
    tenant = world.tenant("551", "553")
    number = group_with_did(world, tenant, strategy="sequential", timeout_s=5,
                            fallback="extension:553",
                            members=[{"destination": "551", "ring_s": 30}])  # fmt: skip
    async with world.answering(tenant, "553"), world.cti(tenant.id) as cti:
        world.call_in(number)
        events = await cti.events_until("ring_group_unanswered", timeout=30)
        event = events[-1]
        assert event["call"]["extensions"] == ["551"]
        assert (event["details"]["ring_group"], event["details"]["fallback"]) == (
            "600", "extension:553",
        )  # fmt: skip
        transferred = await until(
            lambda: [d for a, d in actions.get(tenant.id, []) if a == "transferred"]
        )
        assert transferred == [{"destination": "extension:553", "kind": "extension"}]
        assert dialed(actions[tenant.id]) == ["extension:551"]
        # (no_answer on a phone that rang out; an engine refusing an unregistered one says so)
        assert any(a == "ring_group_unanswered" for a, _ in actions[tenant.id])
        world.hang_up_everything()
