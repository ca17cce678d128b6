"""An extension's blacklist and speed dials on the real Asterisk with SIPp phones.

Blacklist: an entry set over REST makes 7501 managed (re-rendered into ``pbx.ext``); a
blocked caller is refused (403: cause 21, call rejected) or hears "not in service" and
is hung up, and 7501's phone never rings; a caller not on the list reaches it.
Speed dial: 7502 programs slot 05 with ``*74057501`` and calls it with ``*005`` (7501
answers), and slot 06 holds an outside number that leaves through the tenant's route
and trunk to a SIPp carrier, as if 7502 had dialed it (one outbound CDR, the carrier's
leg tied to 7502's call)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "extfeatures.example"
PORT = phone_ports("test_ext_features", "7501", "7502", "7503", "carrier")
_REQUEST_LINE = re.compile(r"^INVITE (sip:\S+) SIP/2\.0", re.M)


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    """7501 (the called phone), 7502 and 7503 (callers); a trunk to the SIPp carrier and a
    route "9" (stripped) for outside numbers."""
    phones = {n: PORT[n] for n in ("7501", "7502", "7503")}
    out = create_tenant(service, "Extension features", DOMAIN, phones)
    with service.client() as http:
        trunk = {"tenant_id": out.id, "name": "carrier", "host": "127.0.0.1",
                 "port": PORT["carrier"]}  # fmt: skip
        r = http.post("/api/v1/trunks", json=trunk)
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/outbound-routes", json={
            "tenant_id": out.id, "name": "out", "prefix": "9", "strip": 1,
            "trunk_id": r.json()["id"],
        })  # fmt: skip
        assert r.status_code == 201, r.text
    return out


@pytest.fixture
async def http(service: Service, tenant: TenantPhones) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        yield client
        r = await client.put(blacklist_url(tenant), json={"entries": []})
        assert r.status_code == 200, r.text


@pytest.fixture
def heard(service: Service, tenant: TenantPhones) -> Iterator[list[str]]:
    """What the orchestrator's flows played to the tenant's calls."""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    played: list[str] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play" and call.tenant == str(tenant.id):
            played.extend(details["media"])

    runner.observers.append(observe)
    yield played
    runner.observers.remove(observe)


def blacklist_url(tenant: TenantPhones) -> str:
    return f"/api/v1/extensions/{tenant.extension_ids['7501']}/blacklist"


async def block(http: httpx.AsyncClient, tenant: TenantPhones, **entry: str) -> None:
    r = await http.put(blacklist_url(tenant), json={"entries": [entry]})
    assert r.status_code == 200, r.text
    assert r.json()["managed"] is True
    r = await http.get(f"/api/v1/tenants/{tenant.id}/config")
    assert r.json()["last_apply"]["ok"], r.text


async def test_a_blocked_caller_is_rejected(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    await tenant.register("7501", "7502", "7503")
    await block(http, tenant, number="7502", action="reject")
    async with tenant.answerer("7501") as phone:
        result = await tenant.call("7502", "7501", expect=403)
        assert result.ok, result.log
        assert phone.answered == 0
        # Another caller still gets through.
        result = await tenant.call("7503", "7501", hold_ms=500)
        assert result.ok, result.log
        assert await phone.wait_completed(1) == 1


async def test_a_blocked_caller_hears_the_prompt(
    tenant: TenantPhones, http: httpx.AsyncClient, heard: list[str]
) -> None:
    await tenant.register("7501", "7502")
    await block(http, tenant, number="75", match="prefix", action="prompt")
    async with tenant.answerer("7501") as phone:
        result = await tenant.call("7502", "7501", hold_ms=15_000, timeout=30)
        assert result.answered and result.far_end_hangup, result.log
        assert phone.answered == 0
    assert Prompt.CALL_BLOCKED.value in heard


async def dial_code(tenant: TenantPhones, code: str) -> None:
    """7502 dials a feature code: answered, a confirmation, hung up by the orchestrator."""
    result = await tenant.call("7502", code, hold_ms=10_000, timeout=30)
    assert result.answered and result.far_end_hangup, result.log


async def test_speed_dial_programmed_by_code_then_called(
    tenant: TenantPhones, http: httpx.AsyncClient, heard: list[str]
) -> None:
    await tenant.register("7501", "7502")
    await dial_code(tenant, "*74057501")
    assert heard == [Prompt.SETTING_ON.value]
    r = await http.get(f"/api/v1/extensions/{tenant.extension_ids['7502']}/speed-dials")
    assert r.json()["entries"] == [{"slot": "05", "number": "7501"}], r.text
    async with tenant.answerer("7501", calls=1) as phone:
        result = await tenant.call("7502", "*005", hold_ms=1000, timeout=30)
        assert result.ok, result.log
        assert await phone.wait_completed(1) == 1
    # An empty slot says so and rings nothing.
    heard.clear()
    await dial_code(tenant, "*009")
    assert heard == [Prompt.SPEED_DIAL_EMPTY.value]


async def test_speed_dial_to_an_outside_number_takes_the_route(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    await tenant.register("7502")
    url = f"/api/v1/extensions/{tenant.extension_ids['7502']}/speed-dials/06"
    r = await http.put(url, json={"number": "90044207946000"})
    assert r.status_code == 200, r.text
    async with sipp.Answerer(local_port=PORT["carrier"], calls=1) as carrier:
        start = time.monotonic()
        result = await tenant.call("7502", "*006", hold_ms=1000, timeout=30)
        assert result.ok, result.log
        assert await carrier.wait_completed(1) == 1
        messages = (carrier.workdir / "messages.log").read_text(errors="replace")
    assert time.monotonic() - start < 20
    request_uri = _REQUEST_LINE.search(messages)
    assert request_uri is not None, messages
    # As if 7502 had dialed 90044207946000: the route's "9" stripped, out through the trunk.
    assert request_uri.group(1) == f"sip:0044207946000@127.0.0.1:{PORT['carrier']}"
    # One call in the CDRs: 7502's outbound call (so rated), its carrier leg tied to it.
    cdr = await poll_cdr(http, tenant, "*006")
    assert (cdr["direction"], cdr["disposition"], cdr["answered_by"]) == (
        "outbound", "answered", "carrier",
    ), cdr  # fmt: skip
    legs = [(leg["role"], leg["extension"], leg["trunk"]) for leg in cdr["legs"]]
    assert ("caller", "7502", None) in legs and ("callee", None, "carrier") in legs, legs


async def poll_cdr(http: httpx.AsyncClient, tenant: TenantPhones, called: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        r = await http.get(f"/api/v1/cdrs?tenant_id={tenant.id}&limit=50")
        found = [c for c in r.json()["items"] if c["called_number"] == called]
        if found:
            detail: dict[str, Any] = (await http.get(f"/api/v1/cdrs/{found[0]['id']}")).json()
            return detail
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.2)
