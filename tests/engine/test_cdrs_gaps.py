"""CDRs of calls that end while the orchestrator is away (or its ARI link is), on the real Asterisk.

Three SIPp phone-to-phone calls (601->611, 602->612, 603->613) are answered while an
orchestrator runs in a process of its own; it is then killed (``SIGKILL``: a crash) or
stopped as a deploy stops it (``SIGTERM``: a graceful shutdown) while they talk. The
callers hang up while no orchestrator runs (each SIPp caller holds its call for a known
time after the answer, then sends BYE: that is the phone's call length). A new
orchestrator starts on the same database and engine. Expected: at once (no grace wait)
exactly one CDR per call, answered, billsec within 1 s of what the phone held it,
hangup cause 16 from the engine's journal, the rating done on that billsec.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import LegGoneError
from orchestrator.core.events import (
    ChannelEnded,
    ChannelStarted,
    ChannelStateChanged,
    EngineConnected,
    EngineDisconnected,
)
from orchestrator.engines.asterisk.ari import AriClient
from orchestrator.engines.asterisk.instance import AsteriskInstance
from tests.engine.child_service import backdoor_ari, orchestrator_process
from tests.engine.conftest import Service
from tests.engine.phones import (
    TenantPhones,
    add_ivr_app,
    assert_applied,
    create_tenant,
    phone_ports,
)
from tests.engine.test_adapter import engine_factory

pytestmark = [pytest.mark.engine, pytest.mark.alone]

DOMAIN = "gaps.example"
# caller -> (callee, how long the caller holds the answered call, in seconds)
CALLS = {"601": ("611", 7.0), "602": ("612", 9.5), "603": ("613", 12.0)}
CALLERS, CALLEES = list(CALLS), [callee for callee, _ in CALLS.values()]
PORT = phone_ports("test_cdrs_gaps", *CALLERS, *CALLEES)


ACCESS = "+17333558600"


@pytest.fixture(scope="module")
def gaps(service: Service) -> TenantPhones:
    """The tenant with the phones, and the visa IVR app on ``ACCESS``."""
    phones = {number: PORT[number] for number in (*CALLERS, *CALLEES)}
    tenant = create_tenant(service, "Gaps", DOMAIN, phones)
    with service.client() as http:
        add_ivr_app(http, tenant.id, ACCESS, pricing_batch="gaps", name="visa", app="visa_status")
        assert_applied(http, tenant.id)
    return tenant


@pytest.fixture
async def ari(service: Service) -> AsyncIterator[AriClient]:
    """An ARI client behind the orchestrator's back: is the call up, are all gone."""
    async with backdoor_ari(service) as client:
        yield client


async def _tenant_channels(ari: AriClient) -> list[dict[str, Any]]:
    return [c for c in await ari.list_channels() if DOMAIN in str(c.get("name", ""))]


async def _all_hung_up(ari: AriClient, timeout: float = 10) -> None:
    """The engine tore every channel of the tenant down (a moment after the last BYE)."""
    deadline = time.monotonic() + timeout
    while left := await _tenant_channels(ari):
        assert time.monotonic() < deadline, left
        await asyncio.sleep(0.1)


async def _cdrs(service: Service, tenant_id: int) -> list[dict[str, Any]]:
    with service.client() as http:
        r = http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
        assert r.status_code == 200, r.text
        return [http.get(f"/api/v1/cdrs/{c['id']}").json() for c in r.json()["items"]]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "graceful"])
async def test_calls_ending_while_away_get_the_engines_times(
    service: Service, gaps: TenantPhones, ari: AriClient, tmp_path: Path, stop: signal.Signals
) -> None:
    known = {c["id"] for c in await _cdrs(service, gaps.id)}
    await gaps.register(*CALLEES)
    await asyncio.to_thread(service.stop)
    calls: dict[str, asyncio.Task[Any]] = {}
    try:
        async with contextlib.AsyncExitStack() as phones:
            for callee in CALLEES:
                await phones.enter_async_context(gaps.answerer(callee, calls=1))
            with orchestrator_process(service, tmp_path) as child:
                # One after the other: with three answers at once on a loaded machine,
                # Asterisk sometimes re-INVITEd a caller (connected line) right after its
                # ACK, which the SIPp caller scenario does not expect (it aborts).
                for caller, (callee, hold_s) in CALLS.items():
                    call = gaps.call(caller, callee, hold_ms=round(hold_s * 1000), timeout=60)
                    calls[caller] = asyncio.create_task(call)
                    deadline = time.monotonic() + 20
                    while sum(c["state"] == "Up" for c in await _tenant_channels(ari)) < 2 * len(
                        calls
                    ):
                        assert time.monotonic() < deadline, await _tenant_channels(ari)
                        await asyncio.sleep(0.1)
                await asyncio.sleep(1.5)  # talking, seen by the orchestrator
                child.send_signal(stop)
                child.wait(timeout=30)
            # Away: every caller hangs up now, the engine alone sees it.
            results = await asyncio.wait_for(asyncio.gather(*calls.values()), 30)
            assert all(r.ok and r.answered for r in results), [
                (r.status, r.completed, r.far_end_hangup, r.log[-3000:]) for r in results
            ]
            await _all_hung_up(ari)
    finally:
        for task in calls.values():
            task.cancel()
        await asyncio.gather(*calls.values(), return_exceptions=True)
        for left in await _tenant_channels(ari):
            with contextlib.suppress(LegGoneError):
                await ari.hangup(left["id"])
        restarted = time.monotonic()
        await asyncio.to_thread(service.start)
    # The CDRs come from the journal at once, not after the builder's grace (10 s).
    deadline = restarted + 8
    while len(fresh := [c for c in await _cdrs(service, gaps.id) if c["id"] not in known]) < 3:
        assert time.monotonic() < deadline, fresh
        await asyncio.sleep(0.2)
    print(f"\n{stop.name}: 3 CDRs {time.monotonic() - restarted:.2f} s after the restart began")
    await asyncio.sleep(1.0)  # a second CDR of a call would show by now
    fresh = [c for c in await _cdrs(service, gaps.id) if c["id"] not in known]
    by_caller = {c["caller_extension"]: c for c in fresh}
    assert sorted(by_caller) == CALLERS and len(fresh) == 3, fresh
    for caller, (callee, hold_s) in CALLS.items():
        cdr = by_caller[caller]
        assert (cdr["disposition"], cdr["called_extension"], cdr["hangup_cause"]) == (
            "answered",
            callee,
            16,
        ), cdr
        assert abs(cdr["billsec"] - hold_s) <= 1, (caller, hold_s, cdr)
        assert [leg["hangup_cause"] for leg in cdr["legs"]] == [16, 16], cdr
        assert "journal" in (cdr["note"] or ""), cdr


async def test_ivr_caller_hanging_up_during_a_crash(
    service: Service, gaps: TenantPhones, ari: AriClient, tmp_path: Path
) -> None:
    """A caller in an IVR flow (a channel in the Stasis app) hangs up while the service
    is dead: its CDR is there within 3 s of the restart, ended when the phone hung up."""
    known = {c["id"] for c in await _cdrs(service, gaps.id)}
    hold_s = 8.0
    await asyncio.to_thread(service.stop)
    call: asyncio.Task[Any] | None = None
    try:
        with orchestrator_process(service, tmp_path) as child:
            call = asyncio.create_task(
                gaps.call("601", ACCESS, hold_ms=round(hold_s * 1000), timeout=60)
            )
            deadline = time.monotonic() + 20
            while not any(c["state"] == "Up" for c in await _tenant_channels(ari)):
                assert time.monotonic() < deadline, "the IVR did not answer"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        result = await asyncio.wait_for(call, 30)
        assert result.ok and result.answered, result.log
        await _all_hung_up(ari)
    finally:
        if call is not None:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
        restarted = time.monotonic()
        await asyncio.to_thread(service.start)
    deadline = restarted + 3
    while not [c for c in await _cdrs(service, gaps.id) if c["id"] not in known]:
        assert time.monotonic() < deadline, "no CDR within 3 s of the restart"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    [cdr] = [c for c in await _cdrs(service, gaps.id) if c["id"] not in known]
    assert (cdr["called_number"], cdr["disposition"], cdr["hangup_cause"]) == (
        ACCESS,
        "answered",
        16,
    ), cdr
    assert abs(cdr["billsec"] - hold_s) <= 1, cdr
    ivr = [leg for leg in cdr["legs"] if leg["role"] == "ivr"]
    assert len(ivr) == 1 and abs(ivr[0]["billsec"] - hold_s) <= 1, cdr


async def test_call_ending_while_the_link_is_down_ends_at_the_journal_time(
    service: Service, gaps: TenantPhones, asterisk: AsteriskInstance
) -> None:
    """The orchestrator runs on but its ARI link is down while a call ends: the
    reconciliation reports the end when the engine journaled it, not at the reconnect."""
    await gaps.register("612")
    async with engine_factory(asterisk, "gapstest", "gap-") as make:
        # A slow first retry keeps the link down well past the caller's hang-up.
        engine, rec = await make(
            observe_channels=True, journal_dir=asterisk.journal_dir, backoff=(4.0, 5.0)
        )
        async with gaps.answerer("612", calls=1):
            call = asyncio.create_task(gaps.call("602", "612", hold_ms=2000, timeout=30))
            started = await rec.wait_for(
                lambda e: isinstance(e, ChannelStarted) and e.endpoint == f"602@{DOMAIN}", 15
            )
            caller = started.channel_id
            answered = await rec.wait_for(
                lambda e: (
                    isinstance(e, ChannelStateChanged)
                    and e.channel_id == caller
                    and e.state == "up"
                ),
                15,
            )
            await engine.ari.drop_events_link()
            await rec.wait_for(lambda e: isinstance(e, EngineDisconnected))
            result = await asyncio.wait_for(call, 30)  # hangs up while the link is down
            assert result.ok and result.answered, result.log
            back = await rec.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect, 20)
            ended = rec.find(lambda e: isinstance(e, ChannelEnded) and e.channel_id == caller)
    assert ended is not None and rec.events.index(ended) < rec.events.index(back)
    talk = ended.timestamp - answered.timestamp
    assert abs(talk - 2.0) < 1.0, (talk, ended, answered)
    assert back.timestamp - ended.timestamp > 1.0 and ended.cause == 16, (ended, back)
