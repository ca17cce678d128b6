"""Call park on the real Asterisk with SIPp phones: 101 calls 102, 102 blind-transfers
(REFER) the call to *68, 101 waits parked; 103 takes it back with *881 and talks until it
hangs up; two phones racing for one slot (one wins, the other hears "no call parked
there"); the timeout chain (the parker's phone rings back, nobody answers, the fallback
extension gets the call, or 103's mailbox takes a message); a direct *68 parks nothing;
the parked caller's CDR holds the parker, the park, the retriever or the ring-back and
the fallback; a stop and a crash (SIGKILL) of the orchestrator with calls parked."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.cti.stream import CtiEvent, Subscription
from orchestrator.ivr import IvrCall
from orchestrator.testing import sipp
from tests.engine.child_service import orchestrator_process
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


async def cdr_with(
    http: httpx.AsyncClient, tenant: TenantPhones, channel: str, timeout: float = 30
) -> dict[str, Any]:
    """The one CDR of the tenant that holds ``channel`` (written, settled)."""

    async def holding() -> list[dict[str, Any]]:
        r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant.id, "limit": 20})
        assert r.status_code == 200, r.text
        full = [(await http.get(f"/api/v1/cdrs/{c['id']}")).json() for c in r.json()["items"]]
        return [c for c in full if channel in {leg["channel_id"] for leg in c["legs"]}]

    async def written() -> bool:
        return bool(await holding())

    await until(written, timeout, what=f"the CDR of {channel}")
    await asyncio.sleep(1.0)  # a second CDR holding it would show by now
    found = await holding()
    assert len(found) == 1, found
    return found[0]


def legs_of(cdr: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(leg["service"], leg["role"], leg["extension"]) for leg in cdr["legs"]]


async def park_a_call(
    tenant: TenantPhones,
    http: httpx.AsyncClient,
    *,
    hold_ms: int,
    code: str = "*68",
    already: int = 0,
    by: str = "101",
    reinvited: bool = False,
    **kw: Any,
) -> tuple[asyncio.Task[sipp.CallResult], dict[str, Any]]:
    """101 (or ``by``) calls 102, which transfers it to ``code``: the caller's call
    (still running, ``hold_ms`` long; ``kw``: sipp.call's audio) and its parked row
    (``already``: the calls parked before it). ``reinvited``: the engine re-INVITEs the
    caller (a connected-line update when a fallback answers), after which the caller
    holds ``hold_ms`` again (scenarios/call.xml): SIPp's run may last twice as long."""
    timeout = hold_ms / 1000 * (2 if reinvited else 1) + 20
    async with transferring_phone(PORT["102"], code, DOMAIN) as workdir:
        caller = asyncio.create_task(tenant.call(by, "102", hold_ms=hold_ms, timeout=timeout, **kw))

        async def one_parked() -> bool:
            return len(await parked(http, tenant)) == already + 1

        try:
            await until(one_parked, what="the call parked")
        except AssertionError:
            log = (
                (workdir / "messages.log").read_text()
                if (workdir / "messages.log").exists()
                else ""
            )
            try:
                call_log = (await asyncio.wait_for(caller, 5)).log[-3000:]
            except (TimeoutError, asyncio.CancelledError):
                call_log = "(the caller still runs)"
                caller.cancel()
            rows = await parked(http, tenant)
            raise AssertionError(
                f"{log[-6000:]}\n-- caller --\n{call_log}\n-- parked --\n{rows}"
            ) from None
    rows = [r for r in await parked(http, tenant) if r["slot"] == int(code[3:] or 1)]
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
    # One CDR: the caller, the parker's leg, the park (slot 1, parked by 102) and the
    # retrieving phone's leg.
    cdr = await cdr_with(http, tenant, row["leg_id"])
    roles = {(leg["channel_id"], leg["role"]) for leg in cdr["legs"]}
    assert {(row["leg_id"], "caller"), (row["leg_id"], "park")} <= roles, [*legs_of(cdr), cdr]
    assert cdr["caller_extension"] == "101", cdr  # the parked caller's CDR, not 103's
    assert events[1].details["leg_id"] in {channel for channel, _ in roles}, cdr
    assert any(leg["extension"] == "102" and leg["service"] == "voice" for leg in cdr["legs"])
    spans = [leg for leg in cdr["legs"] if leg["service"] == "park"]
    assert [(p["channel_id"], p["extension"], p["detail"]) for p in spans] == [
        (row["leg_id"], "102", "slot 1")
    ], cdr
    assert spans[0]["billsec"] >= 1, cdr  # parked from the transfer to the retrieve


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
    # One CDR, the caller's: 102's leg, the park, 102's ring-back, 104 that answered.
    cdr = await cdr_with(http, tenant, row["leg_id"])
    legs = legs_of(cdr)
    assert ("park", "park", "102") in legs, legs
    assert sum(1 for s, _, e in legs if (s, e) == ("voice", "102")) == 2, legs
    answered = [leg["extension"] for leg in cdr["legs"] if leg["disposition"] == "answered"]
    assert "104" in answered, legs


async def test_timeout_to_a_voicemail_fallback_and_the_cdr_ties_every_leg(
    tenant: TenantPhones, http: httpx.AsyncClient, events: list[CtiEvent]
) -> None:
    """Nobody takes the call, 102 does not answer the ring-back: 103's mailbox takes the
    caller's message. The caller's one CDR: the parker's leg, the park, the ring-back
    leg, the message."""
    r = await http.post(
        "/api/v1/mailboxes",
        json={"tenant_id": tenant.id, "extension_id": tenant.extension_ids["103"],
              "number": "103", "pin": "4711"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    box = r.json()
    await lot(http, tenant, timeout_s=10, ringback_s=5, fallback="voicemail:103")
    # The new mailbox changed the tenant's configuration: the engine's first look-up of
    # each phone is slow again, REGISTERs warm it (its 401 to the caller's INVITE would
    # be retransmitted into the call, see scenarios/call.xml).
    await tenant.register("101", "102", "103", "104")
    # About 2 s to park, 10 s parked, 5 s of ring-back, 12 s of greeting: the caller
    # speaks (a tone) from 20 s to 40 s, then hangs up: a message of about 10 s.
    caller, row = await park_a_call(tenant, http, hold_ms=40_000, silence_s=20, audio_s=20)
    async with uas_phone(RINGING_SCENARIO, PORT["102"], timeout=40):
        result = await asyncio.wait_for(caller, 60)
    assert result.answered and not result.far_end_hangup, result.log
    names = [e.event for e in events]
    assert names == ["call_parked", "park_timed_out"], names
    assert events[1].details["fallback"] == "voicemail:103"

    async def message() -> bool:
        r = await http.get(f"/api/v1/mailboxes/{box['id']}/messages")
        return r.status_code == 200 and len(r.json()["items"]) == 1

    await until(message, 20, what="the message in 103's mailbox")
    msg = (await http.get(f"/api/v1/mailboxes/{box['id']}/messages")).json()["items"][0]
    assert msg["duration_s"] >= 3 and msg["caller_number"] == "101", msg
    cdr = await cdr_with(http, tenant, row["leg_id"])
    legs = legs_of(cdr)
    assert ("park", "park", "102") in legs, cdr
    assert ("voicemail", "voicemail", "103") in legs, cdr
    # 102 twice: the call it parked, then the ring-back it did not answer.
    at_102 = [leg for leg in cdr["legs"] if leg["extension"] == "102" and leg["service"] == "voice"]
    assert len(at_102) == 2, cdr
    assert [leg["disposition"] == "answered" for leg in at_102] == [True, False], cdr
    mail = next(leg for leg in cdr["legs"] if leg["service"] == "voicemail")
    park = next(leg for leg in cdr["legs"] if leg["service"] == "park")
    assert 8 <= park["billsec"] <= 14, park  # the 10 s parked
    assert mail["started_at"] > park["ended_at"], cdr


async def test_dialing_the_park_code_directly_parks_nothing(
    tenant: TenantPhones, http: httpx.AsyncClient, heard: dict[str, list[str]]
) -> None:
    await lot(http, tenant)
    result = await tenant.call("103", "*68", hold_ms=8000, timeout=30)
    assert result.answered and result.far_end_hangup, result.log
    assert heard["103"] == [Prompt.FEATURE_NOT_AVAILABLE]
    assert await parked(http, tenant) == []


async def test_a_managed_extensions_call_parks_naming_its_caller(
    tenant: TenantPhones, http: httpx.AsyncClient, events: list[CtiEvent], service: Service
) -> None:
    """102 is *managed* (call waiting off: the orchestrator's pbx_extension flow connects
    its calls): 101 calls it, 102 transfers the call to *68. The engine parks another
    leg than 101's own (Asterisk: a Local channel standing in for 102 in the flow's
    bridge), yet the parked call, its event and its CDR name 101 as the caller."""
    settings = f"/api/v1/extensions/{tenant.extension_ids['102']}/call-settings"
    r = await http.patch(settings, json={"call_waiting": False})
    assert r.status_code == 200 and r.json()["managed"] is True, r.text
    try:
        r = await http.get(f"/api/v1/tenants/{tenant.id}/config")
        assert r.json()["last_apply"]["ok"], r.text
        await tenant.register("101", "102", "103", "104")  # warm the changed tenant
        await lot(http, tenant)
        caller, row = await park_a_call(tenant, http, hold_ms=25_000)
        assert (row["caller"], row["parker"]) == ("101", "102"), row
        assert [e.event for e in events] == ["call_parked"], events
        assert events[0].details["caller"] == "101", events[0].details
        result = await tenant.call("103", "*881", hold_ms=2000, timeout=30)
        assert result.answered and not result.far_end_hangup, result.log
        first = await asyncio.wait_for(caller, 30)
        assert first.answered and first.far_end_hangup, first.log
        assert await parked(http, tenant) == []
    finally:
        r = await http.patch(settings, json={"call_waiting": True})
        assert r.status_code == 200 and r.json()["managed"] is False, r.text


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


@pytest.mark.alone
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "graceful"])
async def test_parked_calls_survive_a_crash_retrieved_and_timed_out(
    tenant: TenantPhones,
    http: httpx.AsyncClient,
    service: Service,
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    """The orchestrator runs in a process of its own and is killed (SIGKILL: no
    shutdown; or stopped as a deploy does, SIGTERM) with two calls parked (101's,
    104's); the next run takes both back: 103 retrieves the one in slot 2 by *882, the
    one in slot 3 times out: 102 rings back, 103 (the fallback) answers."""
    await tenant.register("102", "103", "104")
    await asyncio.to_thread(service.stop)
    try:
        with orchestrator_process(service, tmp_path) as child:
            # A fresh run's first look-up of a phone is slow: REGISTERs warm it (the
            # engine's 401 to 101's INVITE would be retransmitted into the call).
            await tenant.register("101", "102", "104")
            async with api(service) as child_http:
                await lot(child_http, tenant, timeout_s=45, ringback_s=5,
                          fallback="extension:103")  # fmt: skip
                first, row = await park_a_call(tenant, child_http, hold_ms=60_000, code="*682")
                # 104 holds 65 s, as long as its call is parked and rung back (~52 s),
                # then 65 s again from the re-INVITE when 103 answers (call.xml).
                second, other = await park_a_call(
                    tenant,
                    child_http,
                    hold_ms=65_000,
                    code="*683",
                    already=1,
                    by="104",
                    reinvited=True,
                )
            child.send_signal(stop)  # SIGKILL: a crash, no shutdown at all
            child.wait(timeout=30)
    finally:
        await asyncio.to_thread(service.start)
    assert service.app is not None
    park = services_of(service.app).park
    assert park is not None

    async def watched() -> bool:
        return {row["leg_id"], other["leg_id"]} <= set(park.parked)

    await until(watched, what="both parked calls taken back")
    await tenant.register("103")  # a fresh run's first look-up of a phone is slow
    async with api(service) as again:
        slots = {r["slot"]: r["leg_id"] for r in await parked(again, tenant)}
        assert slots == {2: row["leg_id"], 3: other["leg_id"]}, slots
        result = await tenant.call("103", "*882", hold_ms=3000, timeout=30)
        assert result.answered and not result.far_end_hangup, result.log
        done = await asyncio.wait_for(first, 40)
        assert done.answered and done.far_end_hangup, done.log
        # Slot 3's time runs out as parked before the crash: ring-back, then 103. 103's
        # phone answers until stopped: with a mailbox (the voicemail test's), it gets
        # the engine's message-waiting NOTIFYs, and SIPp counts each one as a call.
        async with (
            uas_phone(RINGING_SCENARIO, PORT["102"], timeout=60),
            tenant.answerer("103") as fallback,
        ):
            await fallback.wait_answered(1, timeout=60)
            assert await parked(again, tenant) == []
            # 104 talks with 103 until it hangs up itself (its SIPp run ended by its time
            # limit instead, without a BYE, left its channels up: see park_a_call).
            late = await asyncio.wait_for(second, 100)
            assert late.answered and not late.far_end_hangup, late.log
            assert late.completed, late.log
        # The call that timed out after the restart has one CDR, 104's, which ends: the
        # parker's leg from before the restart, the park, the ring-back, 103's answer.
        cdr = await cdr_with(again, tenant, other["leg_id"])
        legs = legs_of(cdr)
        assert cdr["caller_extension"] == "104" and cdr["ended_at"], cdr
        assert ("park", "park", "102") in legs, legs
        assert sum(1 for s, _, e in legs if (s, e) == ("voice", "102")) == 2, legs
        answered = [leg["extension"] for leg in cdr["legs"] if leg["disposition"] == "answered"]
        assert "103" in answered, legs
