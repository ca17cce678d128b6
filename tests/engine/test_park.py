"""Call park on the real Asterisk with SIPp phones: 101 calls 102, 102 blind-transfers
(REFER) the call to *68, 101 waits parked; 103 takes it back with *881 and talks until it
hangs up; two phones racing for one slot (one wins, the other hears "no call parked
there"); the timeout chain (the parker's phone rings back, nobody answers, the fallback
extension gets the call); a direct *68 parks nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
from tests.engine.refer_phone import transferring_phone

pytestmark = pytest.mark.engine

DOMAIN = "park.example"
PORT = phone_ports("test_park", "101", "102", "103", "104") | phone_ports(
    "test_park_2", "101 dials", "103 dials", "104 dials"
)


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    phones = {n: PORT[n] for n in ("101", "102", "103", "104")}
    return create_tenant(
        service, "Park", DOMAIN, phones,
        dial_from={"101": PORT["101 dials"], "103": PORT["103 dials"], "104": PORT["104 dials"]},
    )  # fmt: skip


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        yield client


@pytest.fixture
def events(service: Service, tenant: TenantPhones) -> Iterator[list[CtiEvent]]:
    """The tenant's park events on the CTI stream, as the WebSocket gets them."""
    assert service.app is not None
    stream = services_of(service.app).cti.stream
    seen: list[CtiEvent] = []

    def sink(_sub: Subscription, event: CtiEvent) -> None:
        if event.event in ("call_parked", "call_retrieved", "park_timed_out", "park_abandoned"):
            seen.append(event)

    sub, _ = stream.subscribe(tenant.id, sink)
    yield seen
    stream.unsubscribe(sub)


@pytest.fixture
def heard(service: Service, tenant: TenantPhones) -> Iterator[dict[str, list[str]]]:
    """What the feature-code flow played, by the caller's number."""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    played: dict[str, list[str]] = {}

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play" and call.tenant == str(tenant.id):
            played.setdefault(call.caller, []).extend(details["media"])

    runner.observers.append(observe)
    yield played
    runner.observers.remove(observe)


async def lot(http: httpx.AsyncClient, tenant: TenantPhones, **values: Any) -> None:
    body = {"slots": 5, "timeout_s": 120, "ringback_s": 10, "fallback": "hangup", **values}
    r = await http.put(f"/api/v1/tenants/{tenant.id}/park", json=body)
    assert r.status_code == 200, r.text


async def parked(http: httpx.AsyncClient, tenant: TenantPhones) -> list[dict[str, Any]]:
    r = await http.get(f"/api/v1/tenants/{tenant.id}/park/calls")
    assert r.status_code == 200, r.text
    return list(r.json())


async def until(check: Callable[[], Any], timeout: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.1)


async def park_a_call(
    tenant: TenantPhones, http: httpx.AsyncClient, *, hold_ms: int, code: str = "*68"
) -> tuple[asyncio.Task[sipp.CallResult], dict[str, Any]]:
    """101 calls 102, which transfers it to ``code``: the caller's call (still running,
    ``hold_ms`` long) and its parked row."""
    async with transferring_phone(PORT["102"], code, DOMAIN) as workdir:
        caller = asyncio.create_task(
            tenant.call("101", "102", hold_ms=hold_ms, timeout=hold_ms / 1000 + 20)
        )

        async def one_parked() -> bool:
            return len(await parked(http, tenant)) == 1

        try:
            await until(one_parked, what="the call parked")
        except AssertionError:
            log = (
                (workdir / "messages.log").read_text()
                if (workdir / "messages.log").exists()
                else ""
            )
            caller.cancel()
            raise AssertionError(log[-6000:]) from None
    rows = await parked(http, tenant)
    return caller, rows[0]


async def test_park_by_transfer_then_retrieve_from_another_phone(
    tenant: TenantPhones,
    http: httpx.AsyncClient,
    events: list[CtiEvent],
    service: Service,
) -> None:
    await tenant.register("102", "103", "104")
    await lot(http, tenant)
    caller, row = await park_a_call(tenant, http, hold_ms=25_000)
    assert row["slot"] == 1 and row["parker"] == "102" and row["caller"] == "101"
    assert [e.event for e in events] == ["call_parked"]
    assert events[0].call["extensions"] == ["102"] and events[0].details["slot"] == 1
    assert service.app is not None
    park = services_of(service.app).park
    assert park is not None and row["leg_id"] in park.parked  # watched, on hold
    assert services_of(service.app).engine.is_kept(row["leg_id"])

    # 103 takes it back and talks 3 s, then hangs up: the parked caller is hung up too.
    result = await tenant.call("103", "*881", hold_ms=3000, timeout=30)
    assert result.answered and not result.far_end_hangup, result.log
    assert [e.event for e in events] == ["call_parked", "call_retrieved"]
    assert events[1].details["by"] == "103"
    assert await parked(http, tenant) == []
    first = await asyncio.wait_for(caller, 30)
    assert first.answered and first.far_end_hangup, first.log


async def test_two_phones_racing_for_one_slot(
    tenant: TenantPhones,
    http: httpx.AsyncClient,
    events: list[CtiEvent],
    heard: dict[str, list[str]],
) -> None:
    await tenant.register("102", "103", "104")
    await lot(http, tenant)
    caller, row = await park_a_call(tenant, http, hold_ms=25_000, code="*684")
    assert row["slot"] == 4
    results = await asyncio.gather(
        tenant.call("103", "*884", hold_ms=8000, timeout=30),
        tenant.call("104", "*884", hold_ms=8000, timeout=30),
    )
    retrieved = [e for e in events if e.event == "call_retrieved"]
    assert len(retrieved) == 1, events
    winner = retrieved[0].details["by"]
    loser = "104" if winner == "103" else "103"
    lost = results[0] if loser == "103" else results[1]
    won = results[1] if loser == "103" else results[0]
    # The loser heard "no call parked there" and was hung up; the winner talked.
    assert lost.answered and lost.far_end_hangup, lost.log
    assert heard[loser] == [Prompt.PARK_NO_CALL]
    assert won.answered and not won.far_end_hangup, won.log
    assert await parked(http, tenant) == []
    assert (await asyncio.wait_for(caller, 30)).far_end_hangup


async def test_timeout_rings_the_parker_then_the_fallback(
    tenant: TenantPhones, http: httpx.AsyncClient, events: list[CtiEvent]
) -> None:
    await tenant.register("102", "103", "104")
    await lot(http, tenant, timeout_s=10, ringback_s=5, fallback="extension:104")
    # Parked ~2 s after the answer, 104 answers ~10 + 5 + 1 s later: the caller hangs up
    # at 30 s, with ~10 s to spare on a loaded machine (40 s waited 10 s more for nothing).
    caller, row = await park_a_call(tenant, http, hold_ms=30_000)
    # 102 now rings without answering; 104 (the fallback) answers.
    async with (
        uas_phone(RINGING_SCENARIO, PORT["102"], timeout=40),
        tenant.answerer("104", calls=1) as fallback,
    ):
        await fallback.wait_answered(1, timeout=30)
        names = [e.event for e in events]
        assert names == ["call_parked", "park_timed_out"], names
        assert events[1].details["ringback_to"] == "102"
        assert await parked(http, tenant) == []
        # The caller talks with 104 until it hangs up.
        result = await asyncio.wait_for(caller, 40)
        assert result.answered and not result.far_end_hangup, result.log
    assert row["slot"] == 1


async def test_dialing_the_park_code_directly_parks_nothing(
    tenant: TenantPhones, http: httpx.AsyncClient, heard: dict[str, list[str]]
) -> None:
    await lot(http, tenant)
    result = await tenant.call("103", "*68", hold_ms=8000, timeout=30)
    assert result.answered and result.far_end_hangup, result.log
    assert heard["103"] == [Prompt.FEATURE_NOT_AVAILABLE]
    assert await parked(http, tenant) == []


async def test_a_parked_call_is_retrievable_after_a_restart(
    tenant: TenantPhones, http: httpx.AsyncClient, service: Service
) -> None:
    """The orchestrator stops and starts again with a call parked: the call stays up in
    its slot, is watched again, and 103 takes it back."""
    await tenant.register("102", "103", "104")
    await lot(http, tenant)
    caller, row = await park_a_call(tenant, http, hold_ms=40_000, code="*682")
    await asyncio.to_thread(service.stop)
    await asyncio.to_thread(service.start)
    assert service.app is not None
    park = services_of(service.app).park
    assert park is not None

    async def watched() -> bool:
        return row["leg_id"] in park.parked

    await until(watched, what="the parked call taken back")
    # A fresh run's first look-up of the tenant's phone is slow: a REGISTER warms it, so
    # the engine's 401 is not retransmitted into the call (see scenarios/call.xml).
    await tenant.register("103")
    async with api(service) as again:
        assert [r["leg_id"] for r in await parked(again, tenant)] == [row["leg_id"]]
        result = await tenant.call("103", "*882", hold_ms=3000, timeout=30)
        assert result.answered and not result.far_end_hangup, result.log
        assert await parked(again, tenant) == []
    first = await asyncio.wait_for(caller, 40)
    assert first.answered and first.far_end_hangup, first.log
