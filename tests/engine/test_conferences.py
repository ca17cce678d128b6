"""Conferences on the real Asterisk through the service: a click-to-call between two SIPp
phones becomes a conference, a third phone is dialed in, the owner is removed and the
others stay in the engine's conference bridge, then the conference ends and every phone
is hung up; and the same conference survives a crash of the orchestrator (``SIGKILL``),
controllable by the next run with its ledger continued."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.child_service import orchestrator_process
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports, wait_call

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

PORTS = {
    **phone_ports("test_conferences", "301", "302"),
    **phone_ports("test_conferences_2", "303"),
}


async def until(http: httpx.AsyncClient, url: str, ready: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = (await http.get(url)).json()
        if ready(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready in {timeout} s: {body}")
        await asyncio.sleep(0.2)


def by_number(conf: dict[str, Any], number: str) -> dict[str, Any]:
    return next(p for p in conf["participants"] if p["number"] == number)


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    return create_tenant(service, "Conference tenant", "conf.example", PORTS)


async def make_conference(http: httpx.AsyncClient, tenant_id: int) -> dict[str, Any]:
    """A click-to-call 301 -> 302 made a conference, 303 dialed in and joined."""
    r = await http.post(
        "/api/v1/click-to-call", json={"tenant_id": tenant_id, "a": "301", "b": "302"}
    )
    assert r.status_code == 202, r.text
    call_id = r.json()["id"]
    await wait_call(http, call_id, lambda c: [g["state"] for g in c["legs"]] == ["up", "up"])
    for _ in range(50):  # 409 call-state until the driver has connected them
        r = await http.post("/api/v1/conferences", json={"tenant_id": tenant_id,
                                                         "call_id": call_id})  # fmt: skip
        if r.status_code != 409:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 201, r.text
    url = f"/api/v1/conferences/{r.json()['id']}"
    r = await http.post(f"{url}/participants", json={"destination": "303"})
    assert r.status_code == 202, r.text
    return dict(await until(http, url, lambda x: by_number(x, "303")["state"] == "joined"))


@pytest.mark.alone
async def test_a_conference_survives_a_crash_of_the_orchestrator(
    service: Service, tenant: TenantPhones, tmp_path: Path
) -> None:
    await tenant.register("301", "302", "303")
    async with (
        tenant.answerer("301", calls=1) as a,
        tenant.answerer("302", calls=1) as b,
        tenant.answerer("303", calls=1) as c,
    ):
        await asyncio.to_thread(service.stop)
        try:
            with orchestrator_process(service, tmp_path) as child:
                async with api(service) as http:
                    before = await make_conference(http, tenant.id)
                await asyncio.sleep(0.5)  # the ledger is written a few ms after a change
                child.send_signal(signal.SIGKILL)  # a crash: no shutdown at all
                child.wait(timeout=10)
        finally:
            await asyncio.to_thread(service.start)
        url = f"/api/v1/conferences/{before['id']}"
        async with api(service) as http:
            after = (await http.get(url)).json()
            assert after["state"] == "active", after
            assert [p["id"] for p in after["participants"]] == [
                p["id"] for p in before["participants"]
            ]
            # Controllable again once the engine gave the conference back.
            peter = by_number(after, "302")["id"]
            for _ in range(100):
                r = await http.post(f"{url}/participants/{peter}/mute")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert r.status_code == 200 and r.json()["muted"], r.text
            r = await http.post(f"{url}/end")
            assert r.status_code == 200 and r.json()["end_reason"] == "ended", r.text
            for phone in (a, b, c):
                assert await phone.wait_completed(1) == 1
            ended = (await http.get(url)).json()
        for p in ended["participants"]:
            was = next(q for q in before["participants"] if q["id"] == p["id"])
            # One stay across the restart: joined when it joined, left at the end.
            assert p["joined_at"] == pytest.approx(was["joined_at"]), p
            assert p["left_reason"] == "ended" and p["left_at"] > p["joined_at"], p


async def test_a_call_becomes_a_conference_and_goes_on_without_its_owner(
    service: Service, tenant: TenantPhones
) -> None:
    await tenant.register("301", "302", "303")
    async with (
        tenant.answerer("301", calls=1) as a,
        tenant.answerer("302", calls=1) as b,
        tenant.answerer("303", calls=1) as c,
        api(service) as http,
    ):
        r = await http.post(
            "/api/v1/click-to-call", json={"tenant_id": tenant.id, "a": "301", "b": "302"}
        )
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        await wait_call(http, call_id, lambda c: [g["state"] for g in c["legs"]] == ["up", "up"])
        for _ in range(50):  # 409 call-state until the driver has connected them
            r = await http.post("/api/v1/conferences", json={"tenant_id": tenant.id,
                                                             "call_id": call_id})  # fmt: skip
            if r.status_code != 409:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 201, r.text
        conf = r.json()
        url = f"/api/v1/conferences/{conf['id']}"
        assert by_number(conf, "301")["role"] == "owner"
        r = await http.post(f"{url}/participants", json={"destination": "303"})
        assert r.status_code == 202, r.text
        assert await c.wait_answered(1) == 1
        conf = await until(http, url, lambda x: by_number(x, "303")["state"] == "joined")
        bridges = service.instance.cli("bridge show all")
        assert "conf-" + conf["id"] in bridges, bridges
        channels = service.instance.cli(f"bridge show {_bridge_id(bridges, conf['id'])}")
        assert channels.count("PJSIP/") == 3, channels
        # The owner leaves; the other two stay in the conference.
        owner = by_number(conf, "301")["id"]
        r = await http.delete(f"{url}/participants/{owner}")
        assert r.status_code == 200, r.text
        assert await a.wait_completed(1) == 1
        conf = await until(http, url, lambda x: by_number(x, "301")["state"] == "left")
        assert conf["state"] == "active"
        assert {by_number(conf, n)["state"] for n in ("302", "303")} == {"joined"}
        r = await http.post(f"{url}/participants/{by_number(conf, '302')['id']}/mute")
        assert r.status_code == 200 and r.json()["muted"], r.text
        r = await http.post(f"{url}/end")
        assert r.status_code == 200 and r.json()["state"] == "ended", r.text
        assert await b.wait_completed(1) == 1
        assert await c.wait_completed(1) == 1
        ended = (await http.get(url)).json()
        assert all(p["joined_at"] and p["left_at"] for p in ended["participants"])


def _bridge_id(listing: str, conference_id: str) -> str:
    for line in listing.splitlines():
        for word in line.split():
            if word.endswith("conf-" + conference_id):
                return word
    raise AssertionError(listing)
