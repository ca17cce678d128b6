"""Call queues on the real Asterisk across a restart of the orchestrator.

Three SIPp callers wait in queue ``rq`` (its one agent is paused). The orchestrator is
stopped as a deploy stops it (a graceful shutdown: call center, IVR runner, engine
link); while it is down, the third caller hangs up (its channel is hung up through
ARI, behind the orchestrator's back). A new orchestrator starts on the same database
and engine. Expected:

- the two remaining callers were never hung up: their channels stayed in the Stasis
  application, and the new run's start-up sweep took them back instead of hanging
  them up; they wait in the same order with the same call ids and their waits go on
  from their first arrival (status and wallboard: waiting 2, abandoned 1 for the one
  who left, nothing answered, no caller closed as ``restart``);
- the agent's login and pause came back; unpaused, the agent gets the first caller,
  then the second, bridged like any other caller; when the agent hangs up, the
  resumed caller (whose IVR flow ended with the previous run) is hung up too;
- the figures end at answered 2, abandoned 1, waiting 0, completed 2, and the
  answered waits include the time the orchestrator was away.

Then a crash: an orchestrator in a process of its own (same settings, same database)
takes a caller into the queue and is killed (``SIGKILL``: nothing of it runs); the
test's service starts again and the caller waits on, with its call id and its wait
from its first arrival, and is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from websockets.asyncio.client import connect

from api.services import services_of
from orchestrator.core.errors import LegGoneError
from orchestrator.engines.asterisk.ari import AriClient
from orchestrator.store.db import make_engine
from orchestrator.store.models import QueuePlace
from orchestrator.testing import sipp
from tests.engine.child_service import orchestrator_process as _process
from tests.engine.conftest import SLOT, TEST_API_PORT, Service

pytestmark = [pytest.mark.engine, pytest.mark.alone]

DOMAIN = "restart.example"
ACCESS = "+17333559400"
AGENT, CALLERS = "851", ("861", "862", "863")
# Port offsets 12-15 of the slot's phone ports (see tests/engine/phones.py BLOCKS).
CONTACT = {AGENT: 16012 + 100 * SLOT}
DIAL_FROM = {n: 16013 + i + 100 * SLOT for i, n in enumerate(CALLERS)}


@pytest.fixture(scope="module")
def rq(service: Service) -> dict[str, Any]:
    """A tenant with agent 851, callers 861-863 and queue ``rq`` on ACCESS."""
    out: dict[str, Any] = {"passwords": {}}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Restart", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tid = out["tenant_id"] = r.json()["id"]
        for number in (AGENT, *CALLERS):
            r = http.post(f"/api/v1/tenants/{tid}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            out["passwords"][number] = r.json()["sip_password"]
        r = http.post("/api/v1/agents", json={"tenant_id": tid, "extension": AGENT})
        assert r.status_code == 201, r.text
        out["agent"] = r.json()["id"]
        queue = {"tenant_id": tid, "name": "rq", "ring_timeout_s": 10, "retry_s": 0.5}
        r = http.post("/api/v1/queues", json=queue)
        assert r.status_code == 201, r.text
        out["queue"] = r.json()["id"]
        r = http.post(f"/api/v1/queues/{out['queue']}/members", json={"agent_id": out["agent"]})
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/dids", json={"number": ACCESS, "tenant_id": tid, "pricing_batch": "rq"}
        )
        assert r.status_code == 201, r.text
        app = {"tenant_id": tid, "name": "rq", "app": "queue", "settings": {"queue": "rq"}}
        r = http.post("/api/v1/ivr-apps", json={**app, "max_duration_s": 120})
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": ACCESS})
        assert r.status_code in (200, 201), r.text
        r = http.get(f"/api/v1/tenants/{tid}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


def _http(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30)


async def _status(service: Service, rq: dict[str, Any]) -> dict[str, Any]:
    async with _http(service) as http:
        r = await http.get(f"/api/v1/queues/{rq['queue']}/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _until(
    service: Service, rq: dict[str, Any], ready: Any, what: str, timeout: float = 15
) -> dict[str, Any]:
    """The queue's status once ``ready(status)`` holds."""
    deadline = time.monotonic() + timeout
    while not ready(status := await _status(service, rq)):
        assert time.monotonic() < deadline, (what, status)
        await asyncio.sleep(0.1)
    return status


async def _agent(service: Service, rq: dict[str, Any], action: str = "", **body: Any) -> Any:
    url = f"/api/v1/agents/{rq['agent']}"
    async with _http(service) as http:
        r = await (http.post(f"{url}/{action}", json=body or None) if action else http.get(url))
    assert r.status_code == 200, r.text
    return r.json()


async def _channels(ari: AriClient) -> dict[str, dict[str, Any]]:
    """Live channels by caller number (callers) or by PJSIP endpoint (the agent)."""
    out = {}
    for channel in await ari.list_channels():
        name = str(channel.get("name", ""))
        if name.startswith(f"PJSIP/{AGENT}") and channel.get("state") == "Up":
            out[AGENT] = channel
        number = str((channel.get("caller") or {}).get("number", ""))
        if number in CALLERS and (channel.get("dialplan") or {}).get("app_name") == "Stasis":
            out[number] = channel
    return out


async def _hang_up_agent(ari: AriClient) -> None:
    deadline = time.monotonic() + 10
    while AGENT not in (channels := await _channels(ari)):
        assert time.monotonic() < deadline, "the agent's leg is not up"
        await asyncio.sleep(0.1)
    await ari.hangup(channels[AGENT]["id"])


async def test_waiting_callers_keep_their_places_across_a_restart(
    service: Service, rq: dict[str, Any], ari: AriClient
) -> None:
    result = await sipp.register(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username=AGENT,
        password=rq["passwords"][AGENT],
        domain=DOMAIN,
        local_port=CONTACT[AGENT],
    )
    assert result.status == 200, result.log
    await _agent(service, rq, "login")
    await _agent(service, rq, "pause", reason="lunch")

    calls: list[asyncio.Task[sipp.CallResult]] = []
    try:
        for i, number in enumerate(CALLERS):
            calls.append(
                asyncio.create_task(
                    sipp.call(
                        server=f"127.0.0.1:{service.instance.ports.sip}",
                        username=number,
                        password=rq["passwords"][number],
                        domain=DOMAIN,
                        local_port=DIAL_FROM[number],
                        target=ACCESS,
                        hold_ms=60_000,  # hangs up only if nobody does it first
                        timeout=120,
                    )
                )
            )
            await _until(service, rq, lambda s, n=i + 1: len(s["waiting"]) == n, f"{i + 1} wait")
        await asyncio.sleep(1.0)
        before = await _status(service, rq)
        assert [w["caller"] for w in before["waiting"]] == list(CALLERS)
        channels = await _channels(ari)
        assert set(channels) == set(CALLERS), channels

        # -- the orchestrator stops (as a deploy stops it), a caller leaves meanwhile --
        stopped = time.monotonic()
        await asyncio.to_thread(service.stop)
        down = await _channels(ari)
        for number in CALLERS:  # nobody hung them up: still in the application, up
            assert down[number]["id"] == channels[number]["id"]
            assert (
                down[number]["state"] == "Up" and down[number]["dialplan"]["app_name"] == "Stasis"
            )
        await ari.hangup(channels["863"]["id"])
        await asyncio.to_thread(service.start)
        away = time.monotonic() - stopped
        print(f"\nqueue restart: the orchestrator was away {away:.2f} s")

        # -- the new run: same places, waits going on, the one who left abandoned --
        after = await _status(service, rq)
        assert [w["caller"] for w in after["waiting"]] == ["861", "862"], after
        assert [w["call_id"] for w in after["waiting"]] == [
            w["call_id"] for w in before["waiting"][:2]
        ]
        for old, new in zip(before["waiting"], after["waiting"], strict=False):
            assert new["wait_s"] >= old["wait_s"] + away - 0.5, (old, new)
        figures = after["figures"]
        assert (figures["waiting"], figures["abandoned"], figures["answered"]) == (2, 1, 0)
        assert figures["longest_wait_s"] >= before["figures"]["longest_wait_s"] + away - 0.5
        assert {c["id"] for c in (await _channels(ari)).values()} == {
            channels["861"]["id"],
            channels["862"]["id"],
        }
        assert service.app is not None
        runner = services_of(service.app).ivr_runner
        assert not set(runner.calls) & {c["id"] for c in channels.values()}  # no flow anew
        shown = await _agent(service, rq)
        assert (shown["state"], shown["state_reason"], shown["logged_in"]) == (
            "paused",
            "lunch",
            ["rq"],
        )
        url = (
            f"ws://127.0.0.1:{TEST_API_PORT}/api/v1/wallboard/ws"
            f"?tenant_id={rq['tenant_id']}&queue=rq"
        )
        async with connect(url, additional_headers=service.headers) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
        [tile] = snapshot["queues"]
        assert (tile["waiting"], tile["abandoned"], tile["answered"]) == (2, 1, 0), tile
        assert tile["longest_wait_s"] >= before["figures"]["longest_wait_s"] + away - 0.5

        # -- served like any caller, in their order --
        # No call limit (-m): SIPp counts the engine's qualify OPTIONS as a call and then
        # drops the INVITE that follows ("new calls while quitting").
        async with sipp.Answerer(local_port=CONTACT[AGENT]) as phone:
            await _agent(service, rq, "unpause")
            first = await _until(service, rq, lambda s: s["figures"]["answered"] == 1, "861")
            assert [w["caller"] for w in first["waiting"]] == ["862"]
            await phone.wait_answered(1)
            await _hang_up_agent(ari)  # the agent hangs up: the resumed caller is hung up
            done = await asyncio.wait_for(calls[0], 15)
            assert done.answered, done.log
            second = await _until(service, rq, lambda s: s["figures"]["answered"] == 2, "862")
            assert second["waiting"] == []
            await phone.wait_answered(2)
            await _hang_up_agent(ari)
            results = await asyncio.wait_for(asyncio.gather(*calls), 15)
            assert [r.answered for r in results] == [True, True, True], results  # (by the queue)
        final = await _until(service, rq, lambda s: s["figures"]["completed"] == 2, "completed")
        figures = final["figures"]
        exact = {"answered": 2, "abandoned": 1, "waiting": 0, "completed": 2, "timed_out": 0}
        assert {k: figures[k] for k in exact} == exact, figures
        # Both waits include the time away: ASA >= the first caller's wait at the stop.
        assert figures["asa_s"] >= before["waiting"][0]["wait_s"] + away - 0.5, figures
        assert await _channels(ari) == {}
        print(f"queue restart: ASA {figures['asa_s']:.2f} s over the restart")
    finally:
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        for channel in (await _channels(ari)).values():
            with contextlib.suppress(LegGoneError):
                await ari.hangup(channel["id"])


async def test_a_waiting_caller_outlives_a_crash(
    service: Service, rq: dict[str, Any], ari: AriClient, tmp_path: Path
) -> None:
    await _agent(service, rq, "login")
    await _agent(service, rq, "pause", reason="lunch")
    await asyncio.to_thread(service.stop)
    call: asyncio.Task[sipp.CallResult] | None = None
    try:
        with _process(service, tmp_path) as child:
            call = asyncio.create_task(_call_861(service, rq))
            before = await _until(service, rq, lambda s: s["waiting"], "861 waits")
            await _place_stored(service, before["waiting"][0]["call_id"])
            channel = (await _channels(ari))["861"]
            child.send_signal(signal.SIGKILL)  # a crash: no shutdown at all
            child.wait(timeout=10)
            crashed = time.monotonic()
        down = await _channels(ari)
        assert down["861"]["id"] == channel["id"] and down["861"]["state"] == "Up"
    finally:
        await asyncio.to_thread(service.start)
    away = time.monotonic() - crashed
    print(f"\nqueue crash: a new orchestrator healthy {away:.2f} s after the kill")
    try:
        after = await _status(service, rq)
        [waiting] = after["waiting"]
        assert waiting["call_id"] == before["waiting"][0]["call_id"], after
        assert waiting["wait_s"] >= before["waiting"][0]["wait_s"] + away - 0.5
        assert after["figures"]["waiting"] == 1
        assert after["figures"]["abandoned"] == before["figures"]["abandoned"]
        async with sipp.Answerer(local_port=CONTACT[AGENT]) as phone:
            await _agent(service, rq, "unpause")
            answered = before["figures"]["answered"] + 1
            await _until(service, rq, lambda s: s["figures"]["answered"] == answered, "861")
            await phone.wait_answered(1)
            await _hang_up_agent(ari)
            assert call is not None
            result = await asyncio.wait_for(call, 15)
            assert result.answered and result.far_end_hangup, result.log
    finally:
        if call is not None:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
        for left in (await _channels(ari)).values():
            with contextlib.suppress(LegGoneError):
                await ari.hangup(left["id"])


async def _place_stored(service: Service, call_id: str, timeout: float = 10) -> None:
    """The caller's place is in the store: what a crash leaves to the next run.

    The ACD lists a caller as waiting at once and its place is written a moment later, in
    a worker thread (orchestrator/queues/store/places.py: "a few milliseconds", the window
    in which a crash loses it; far more on a loaded machine). A kill inside that window
    is a crash the product does not promise to survive, so the test kills after it.
    """
    settings = service._settings  # the service's own store
    assert settings is not None
    db = make_engine(settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with Session(db) as session:
                if session.get(QueuePlace, call_id) is not None:
                    return
            assert time.monotonic() < deadline, f"the place of {call_id} was never stored"
            await asyncio.sleep(0.05)
    finally:
        db.dispose()


def _call_861(service: Service, rq: dict[str, Any]) -> Coroutine[Any, Any, sipp.CallResult]:
    """861 calls the queue's access number and talks up to 60 s."""
    return sipp.call(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username="861",
        password=rq["passwords"]["861"],
        domain=DOMAIN,
        local_port=DIAL_FROM["861"],
        target=ACCESS,
        hold_ms=60_000,
        timeout=120,
    )


async def _phones(ari: AriClient) -> dict[str, dict[str, Any]]:
    """Live channels by their phone (PJSIP endpoint user): caller and agent alike (the
    agent's leg shows the caller's number, so :func:`_channels` cannot tell them apart)."""
    out = {}
    for channel in await ari.list_channels():
        name = str(channel.get("name", ""))
        if name.startswith("PJSIP/") and "@" in name:
            out[name[6:].split("@")[0]] = channel
    return out


async def _listed(service: Service, rq: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tenant's calls in ``GET /api/v1/calls``, by id."""
    async with _http(service) as http:
        r = await http.get("/api/v1/calls", params={"tenant_id": rq["tenant_id"]})
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()["items"]}


async def _cdr_count(service: Service, tenant_id: int) -> int:
    async with _http(service) as http:
        r = await http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


async def test_a_call_with_an_agent_outlives_a_crash(
    service: Service, rq: dict[str, Any], ari: AriClient, tmp_path: Path
) -> None:
    """Caller 861 talks to the agent when the orchestrator is killed: the new run adopts
    the call (both legs and the bridge stay, the agent stays on call), and when the agent
    hangs up the caller is hung up, the agent wraps up, ``completed`` counts it once.

    (Before: the start-up sweep hung up both legs, left the bridge, and the figures never
    got the call's ``completed``.)"""
    await _agent(service, rq, "login")
    if (await _agent(service, rq))["state"] == "paused":
        await _agent(service, rq, "unpause")
    start = (await _status(service, rq))["figures"]
    cdrs = await _cdr_count(service, rq["tenant_id"])
    await asyncio.to_thread(service.stop)
    call: asyncio.Task[sipp.CallResult] | None = None
    try:
        async with sipp.Answerer(local_port=CONTACT[AGENT]) as phone:
            try:
                with _process(service, tmp_path) as child:
                    call = asyncio.create_task(_call_861(service, rq))
                    answered = start["answered"] + 1
                    await _until(service, rq, lambda s: s["figures"]["answered"] == answered, "ok")
                    await phone.wait_answered(1)
                    deadline = time.monotonic() + 10
                    while True:  # until Asterisk has the two in one bridge
                        talking = await _phones(ari)
                        ids = {talking[n]["id"] for n in ("861", AGENT) if n in talking}
                        bridges = await ari.list_bridges()
                        if len(ids) == 2 and any(set(b["channels"]) == ids for b in bridges):
                            break
                        assert time.monotonic() < deadline, (talking, bridges)
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.3)  # the place is written a few ms after the bridge
                    listed = await _listed(service, rq)
                    assert list(listed) == [talking["861"]["id"]], listed
                    child.send_signal(signal.SIGKILL)  # a crash: no shutdown at all
                    child.wait(timeout=10)
            finally:
                await asyncio.to_thread(service.start)
            # -- adopted: the same two channels, still bridged together, the agent on call --
            after = await _phones(ari)
            assert {n: after[n]["id"] for n in ("861", AGENT)} == {
                n: talking[n]["id"] for n in ("861", AGENT)
            }
            assert [b for b in await ari.list_bridges() if set(b["channels"]) == ids], "bridge"
            shown = await _agent(service, rq)
            assert shown["state"] == "on_call", shown
            again = await _listed(service, rq)  # in CTI under its id, with both legs
            assert list(again) == list(listed), again
            [adopted] = again.values()
            assert {leg["id"] for leg in adopted["legs"]} == ids, adopted
            assert adopted["state"] == "answered", adopted
            figures = (await _status(service, rq))["figures"]
            assert (figures["answered"], figures["completed"]) == (
                start["answered"] + 1,
                start["completed"],
            ), figures
            # -- the agent hangs up: the caller too, then wrap-up and completed, once --
            await _hang_up_agent(ari)
            assert call is not None
            result = await asyncio.wait_for(call, 15)
            assert result.answered and result.far_end_hangup, result.log
        done = start["completed"] + 1
        final = await _until(service, rq, lambda s: s["figures"]["completed"] == done, "done")
        figures = final["figures"]
        assert (figures["answered"], figures["waiting"]) == (start["answered"] + 1, 0), figures
        assert not {"861", AGENT} & set(await _phones(ari))
        assert not ids & {c["id"] for c in await ari.list_channels()}
        assert not [b for b in await ari.list_bridges() if b["id"].startswith("orch-")]
        deadline = time.monotonic() + 15
        while await _cdr_count(service, rq["tenant_id"]) < cdrs + 1:
            assert time.monotonic() < deadline, "no CDR"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        assert await _cdr_count(service, rq["tenant_id"]) == cdrs + 1  # one CDR, not two
    finally:
        if call is not None:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
        for left in (await _channels(ari)).values():
            with contextlib.suppress(LegGoneError):
                await ari.hangup(left["id"])
