"""Live calls stay controllable across a crash of the orchestrator, on the real Asterisk.

(Queue calls with an agent: tests/engine/test_queues_restart.py.)

Three phones call a fourth through the tenant's dialplan (phone-to-phone calls the
orchestrator only observes) while the orchestrator runs in a process of its own; it is
killed (``SIGKILL``: nothing of it runs, no shutdown) with the calls up, and the test's
service starts on the same database and engine. Expected: ``GET /calls`` lists every
call again with the id it had, ``GET /calls/{id}`` answers, a REST hang-up ends each
one (both phones see the BYE); then Asterisk holds no channel and no bridge of ours,
and each call has exactly one CDR.

(Before: the new run listed none of them and answered 404: the engine reported their
channels again at start-up, but the dials that tie them into calls had been missed.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.engines.asterisk.ari import AriClient
from orchestrator.engines.asterisk.reconcile import LEGACY_BRIDGE_ID
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports
from tests.engine.test_queues_restart import _process

pytestmark = [pytest.mark.engine, pytest.mark.alone]

DOMAIN = "adopt.example"
CALLERS = ("7101", "7102", "7103")
CALLEE = "7110"
A, B = "7120", "7121"  # a click-to-call's two phones
PHONE_PORT = phone_ports("test_restart_adopt", *CALLERS, CALLEE, A, B)


@pytest.fixture(scope="module")
def phones(service: Service) -> TenantPhones:
    return create_tenant(service, "Adopt", DOMAIN, PHONE_PORT)


async def _calls(http: httpx.AsyncClient, tenant_id: int) -> dict[str, dict[str, Any]]:
    r = await http.get("/api/v1/calls", params={"tenant_id": tenant_id})
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()["items"]}


async def _until_listed(
    service: Service, tenant_id: int, count: int, timeout: float
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            async with api(service) as http:
                calls = await _calls(http, tenant_id)
            if len(calls) >= count:
                return calls
        assert time.monotonic() < deadline, f"{count} calls not listed after {timeout} s"
        await asyncio.sleep(0.1)


def _ours(bridge: dict[str, Any]) -> bool:
    bridge_id = str(bridge["id"])
    return bridge_id.startswith("orch-") or LEGACY_BRIDGE_ID.fullmatch(bridge_id) is not None


async def test_dialplan_calls_stay_controllable_across_a_crash(
    service: Service, phones: TenantPhones, ari: AriClient, tmp_path: Path
) -> None:
    tid = phones.id
    await phones.register(CALLEE)
    placed: list[asyncio.Task[Any]] = []
    async with phones.answerer(CALLEE, calls=len(CALLERS)) as phone:
        await asyncio.to_thread(service.stop)
        try:
            with _process(service, tmp_path) as child:
                for number in CALLERS:
                    call = phones.call(number, CALLEE, hold_ms=60_000, timeout=120)
                    placed.append(asyncio.create_task(call))
                await phone.wait_answered(len(CALLERS))
                before = await _until_listed(service, tid, len(CALLERS), timeout=15)
                assert {c["state"] for c in before.values()} == {"answered"}, before
                child.send_signal(signal.SIGKILL)  # a crash: no shutdown at all
                child.wait(timeout=10)
                killed = time.monotonic()
        finally:
            await asyncio.to_thread(service.start)
        after = await _until_listed(service, tid, len(CALLERS), timeout=10)
        print(
            f"\nadopt: {len(after)} calls listed {time.monotonic() - killed:.2f} s after the kill"
        )
        assert set(after) == set(before)
        for call_id, call in after.items():
            assert call["kind"] == "dialplan" and call["state"] == "answered", call
            assert call["caller"] == before[call_id]["caller"]
            assert {leg["id"] for leg in call["legs"]} == {
                leg["id"] for leg in before[call_id]["legs"]
            }
        async with api(service) as http:
            for call_id in after:
                r = await http.get(f"/api/v1/calls/{call_id}")
                assert r.status_code == 200, r.text
                r = await http.post(f"/api/v1/calls/{call_id}/hangup", json={})
                assert r.status_code in (200, 202, 204), r.text
        results = await asyncio.wait_for(asyncio.gather(*placed), 30)
        assert all(r.answered and r.far_end_hangup for r in results), [r.log for r in results]
        await phone.wait_completed(len(CALLERS))
    async with api(service) as http:
        assert await _calls(http, tid) == {}
    legs = {leg["id"] for call in before.values() for leg in call["legs"]}
    deadline = time.monotonic() + 10
    while legs & {c["id"] for c in await ari.list_channels()}:
        assert time.monotonic() < deadline, "channels left after the hang-ups"
        await asyncio.sleep(0.1)
    assert [b for b in await ari.list_bridges() if _ours(b)] == []
    for call_id in before:
        await _one_cdr(service, tid, call_id)


async def test_start_up_sweep_destroys_our_empty_bridges(service: Service, ari: AriClient) -> None:
    """Empty bridges a crashed run left: ours (the id prefix, and the bare uuid hex ids of
    the versions before it) are destroyed at start, anybody else's are left alone.

    (Before: only ``orch-`` bridges were swept, so the queue's, the IVR's, click-to-call's
    and supervision's bare-uuid bridges stayed in Asterisk forever.)
    """
    uid = uuid.uuid4().hex
    ours = [f"orch-{uid}", uid]
    theirs = [str(uuid.uuid4()), f"other-{uid}"]
    for bridge_id in ours + theirs:
        await ari.create_bridge(bridge_id)
    try:
        await asyncio.to_thread(service.stop)
        await asyncio.to_thread(service.start)
        deadline = time.monotonic() + 10
        while (left := {b["id"] for b in await ari.list_bridges()}) & set(ours):
            assert time.monotonic() < deadline, left
            await asyncio.sleep(0.1)
        assert set(theirs) <= left, left
    finally:
        for bridge_id in ours + theirs:
            with contextlib.suppress(Exception):
                await ari.destroy_bridge(bridge_id)


async def _one_cdr(service: Service, tenant_id: int, call_id: str) -> None:
    """Exactly one CDR for ``call_id`` (it may take a moment to be written)."""
    async with api(service) as http:
        deadline = time.monotonic() + 15
        while True:
            r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant_id, "call_id": call_id})
            assert r.status_code == 200, r.text
            if r.json()["items"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # a second one would come now
        r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant_id, "call_id": call_id})
        assert len(r.json()["items"]) == 1, r.json()


async def test_a_click_to_call_stays_controllable_across_a_crash(
    service: Service, phones: TenantPhones, ari: AriClient, tmp_path: Path
) -> None:
    """A bridged click-to-call outlives a kill -9: listed under its id with its legs,
    hung up by REST, then nothing of it is left in Asterisk and it has one CDR.

    (Before: the start-up sweep hung up both phones and left the bridge behind.)"""
    tid = phones.id
    await phones.register(A, B)
    async with phones.answerer(A, calls=1) as phone_a, phones.answerer(B, calls=1) as phone_b:
        await asyncio.to_thread(service.stop)
        try:
            with _process(service, tmp_path) as child:
                async with api(service) as http:
                    body = {"tenant_id": tid, "a": A, "b": B}
                    r = await http.post("/api/v1/click-to-call", json=body)
                    assert r.status_code == 202, r.text
                    call_id = str(r.json()["id"])
                    deadline = time.monotonic() + 20
                    while True:
                        r = await http.get(f"/api/v1/calls/{call_id}")
                        before = r.json()
                        if [leg["state"] for leg in before.get("legs", [])] == ["up", "up"]:
                            break
                        assert time.monotonic() < deadline, before
                        await asyncio.sleep(0.1)
                await asyncio.sleep(0.3)  # the call's record is written a few ms later
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=10)
        finally:
            await asyncio.to_thread(service.start)
        legs = {leg["id"] for leg in before["legs"]}
        async with api(service) as http:
            r = await http.get(f"/api/v1/calls/{call_id}")
            assert r.status_code == 200, r.text
            after = r.json()
            assert (after["kind"], after["state"]) == ("click_to_call", "answered"), after
            assert {leg["id"] for leg in after["legs"]} == legs
            assert [b for b in await ari.list_bridges() if set(b["channels"]) == legs]
            r = await http.post(f"/api/v1/calls/{call_id}/hangup", json={})
            assert r.status_code == 200, r.text
        assert await phone_a.wait_completed(1) == 1
        assert await phone_b.wait_completed(1) == 1
    deadline = time.monotonic() + 10
    while legs & {c["id"] for c in await ari.list_channels()}:
        assert time.monotonic() < deadline, "channels left after the hang-up"
        await asyncio.sleep(0.1)
    assert [b for b in await ari.list_bridges() if _ours(b)] == []
    await _one_cdr(service, tid, call_id)
