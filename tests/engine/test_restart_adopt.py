"""Live calls stay controllable across a crash of the orchestrator, on the real Asterisk.

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

pytestmark = pytest.mark.engine

DOMAIN = "adopt.example"
CALLERS = ("7101", "7102", "7103")
CALLEE = "7110"
PHONE_PORT = phone_ports("test_restart_adopt", *CALLERS, CALLEE)


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
    async with api(service) as http:
        for call_id in before:
            deadline = time.monotonic() + 15
            while True:
                r = await http.get("/api/v1/cdrs", params={"tenant_id": tid, "call_id": call_id})
                assert r.status_code == 200, r.text
                if r.json()["items"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert len(r.json()["items"]) == 1, r.json()


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
