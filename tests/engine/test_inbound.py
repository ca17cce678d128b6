"""Office hours, night mode and the tenant blacklist on the real Asterisk with SIPp phones.

A DID routed to a schedule goes through the tenant dialplan's ``orchestrator-dids``
context into the ``pbx_inbound`` flow (``pbx.in``), which sends it on by the schedule at
the call's real time: open (all week, UTC) rings 8201; night mode (REST) rings 8202, the
closed destination; ``*16`` from a phone turns night mode off again; a holiday around
today rings its own destination. With a blacklist every DID of the tenant runs through
the flow: a caller listed ``reject`` gets 403 (Q.850 21) and nothing rings; one listed
``prompt`` is answered, hears the prompt and is hung up; others go on as before.
The entry ``anonymous`` refuses a caller without a number, while a phone with its
number gets through.
After hours a schedule may send the call to an extension's mailbox (``voicemail:8202``):
the caller leaves a message there (the mailbox API lists it) and no phone rings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.ivr import IvrCall
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "inbound.example"
PORT = phone_ports("test_inbound", "8201", "8202", "8203", "8204")
DID = "+4930555820"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    """8201 (the office), 8202 (the night desk), 8203 and 8204 (callers)."""
    phones = create_tenant(service, "Inbound", DOMAIN, dict(PORT))
    with service.client() as http:
        r = http.post(
            f"/api/v1/tenants/{phones.id}/schedules",
            json={
                "name": "hours",
                "timezone": "UTC",
                "weekly": [{"days": EVERY_DAY, "open": "00:00", "close": "24:00"}],
                "open_destination": "extension:8201",
                "closed_destination": "extension:8202",
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/dids",
            json={"number": DID, "tenant_id": phones.id, "pricing_batch": "inbound",
                  "destination": "schedule:hours"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    return phones


@pytest.fixture
async def http(service: Service, tenant: TenantPhones) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        await tenant.register()
        yield client
        # Every test starts from night mode off and no blacklist.
        r = await client.put(f"/api/v1/tenants/{tenant.id}/night-mode", json={"enabled": False})
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/tenants/{tenant.id}/blacklist")
        for entry in r.json():
            r = await client.delete(f"/api/v1/tenants/{tenant.id}/blacklist/{entry['id']}")
            assert r.status_code == 204, r.text


async def applied(http: httpx.AsyncClient, tenant: TenantPhones) -> None:
    r = await http.get(f"/api/v1/tenants/{tenant.id}/config")
    assert r.json()["last_apply"]["ok"], r.text


async def reaches(tenant: TenantPhones, caller: str, answering: str, silent: str) -> None:
    """``caller`` calls the DID: ``answering``'s phone takes it, ``silent``'s never rings."""
    async with (
        tenant.answerer(answering, calls=1) as taker,
        tenant.answerer(silent) as other,
    ):
        result = await tenant.call(caller, DID, hold_ms=500, timeout=30)
        assert result.ok, result.log
        await taker.wait_completed(1)
        assert other.answered == 0


async def test_schedule_then_night_mode_then_star16(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    await applied(http, tenant)
    await reaches(tenant, "8204", "8201", "8202")  # open all week

    r = await http.put(f"/api/v1/tenants/{tenant.id}/night-mode", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True, r.text
    await reaches(tenant, "8204", "8202", "8201")  # night: the closed destination

    # *16 from a phone toggles it off again (the flow answers, confirms, hangs up).
    result = await tenant.call("8203", "*16", hold_ms=10_000, timeout=30)
    assert result.answered and result.far_end_hangup, result.log
    r = await http.get(f"/api/v1/tenants/{tenant.id}/night-mode")
    assert r.json()["enabled"] is False, r.text
    await reaches(tenant, "8204", "8201", "8202")


async def test_holiday_around_today(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    today = datetime.now(UTC).date()
    schedule: dict[str, Any] = {
        "timezone": "UTC",
        "weekly": [{"days": EVERY_DAY, "open": "00:00", "close": "24:00"}],
        "holidays": [
            {
                "name": "Test day",
                "start": (today - timedelta(days=1)).isoformat(),
                "end": (today + timedelta(days=1)).isoformat(),
                "destination": "extension:8202",
            }
        ],
        "open_destination": "extension:8201",
        "closed_destination": "extension:8201",
    }
    url = f"/api/v1/tenants/{tenant.id}/schedules/hours"
    r = await http.put(url, json=schedule)
    assert r.status_code == 200, r.text
    try:
        await reaches(tenant, "8204", "8202", "8201")
    finally:
        r = await http.put(
            url, json={**schedule, "holidays": [], "closed_destination": "extension:8202"}
        )
        assert r.status_code == 200, r.text


async def test_blacklist_reject_and_prompt(tenant: TenantPhones, http: httpx.AsyncClient) -> None:
    base = f"/api/v1/tenants/{tenant.id}/blacklist"
    r = await http.post(base, json={"number": "8203", "action": "reject"})
    assert r.status_code == 201, r.text
    r = await http.post(base, json={"number": "82", "match": "prefix", "action": "prompt"})
    assert r.status_code == 201, r.text
    r = await http.post(base, json={"number": "8202"})  # an exact entry beats the prefix
    assert r.status_code == 201, r.text
    await applied(http, tenant)
    async with tenant.answerer("8201") as office:
        # Rejected unanswered: Q.850 21 is SIP 403.
        result = await tenant.call("8203", DID, expect=403, timeout=30)
        assert result.ok and not result.answered, result.log
        # The prompt: answered by the flow, which hangs up after it.
        result = await tenant.call("8204", DID, hold_ms=15_000, timeout=30)
        assert result.answered and result.far_end_hangup, result.log
        assert office.answered == 0
    # Entries gone but one unrelated: a caller not listed reaches the office.
    r = await http.get(base)
    for entry in r.json():
        assert (await http.delete(f"{base}/{entry['id']}")).status_code == 204
    r = await http.post(base, json={"number": "+4930999", "action": "reject"})
    assert r.status_code == 201, r.text
    await applied(http, tenant)
    await reaches(tenant, "8204", "8201", "8202")


async def messages(http: httpx.AsyncClient, box_id: int, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        r = await http.get(f"/api/v1/mailboxes/{box_id}/messages")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        if len(items) >= count:
            return items
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.3)


async def test_after_hours_the_caller_leaves_a_message(
    tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    r = await http.post("/api/v1/mailboxes", json={
        "tenant_id": tenant.id, "extension_id": tenant.extension_ids["8202"],
        "number": "8202", "pin": "4711",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    box_id = r.json()["id"]
    url = f"/api/v1/tenants/{tenant.id}/schedules/hours"
    schedule: dict[str, Any] = {
        "timezone": "UTC",
        "weekly": [{"days": EVERY_DAY, "open": "00:00", "close": "24:00"}],
        "open_destination": "extension:8201",
        "closed_destination": "voicemail:8202",
    }
    try:
        r = await http.put(url, json=schedule)
        assert r.status_code == 200, r.text
        r = await http.put(f"/api/v1/tenants/{tenant.id}/night-mode", json={"enabled": True})
        assert r.status_code == 200, r.text
        await applied(http, tenant)
        async with tenant.answerer("8201") as office, tenant.answerer("8202") as desk:
            # The greeting ("the person at extension 8 2 0 2 is unavailable...") and the
            # beep take ~13 s; the caller is silent that long, speaks 3 s, hangs up.
            result = await tenant.call("8204", DID, silence_s=15.0, audio_s=3.0, timeout=60)
            assert result.answered and not result.far_end_hangup, result.log
            assert office.answered == 0 and desk.answered == 0
        [message] = await messages(http, box_id, 1)
        assert (message["caller_number"], message["reason"]) == ("8204", "unavailable"), message
        assert message["duration_s"] >= 1.5 and message["folder"] == "new", message
    finally:
        r = await http.put(url, json={**schedule, "closed_destination": "extension:8202"})
        assert r.status_code == 200, r.text
        assert (await http.delete(f"/api/v1/mailboxes/{box_id}")).status_code == 204


async def test_blacklist_anonymous(
    service: Service, tenant: TenantPhones, http: httpx.AsyncClient
) -> None:
    """A call without a caller number (a Local channel originated into the DIDs' context
    with no caller ID: what a carrier's withheld call gives) is rejected by the entry
    ``anonymous``; a phone with its number gets through. (A tenant's own phone cannot
    withhold it here: Asterisk identifies a phone by its From user, and an INVITE from
    "anonymous" is refused by Asterisk itself with 401, before the orchestrator.)"""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    seen: list[tuple[str, str]] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "inbound" and call.tenant == str(tenant.id):
            seen.append((call.caller, str(details.get("state"))))

    runner.observers.append(observe)
    try:
        base = f"/api/v1/tenants/{tenant.id}/blacklist"
        r = await http.post(base, json={"number": "anonymous", "action": "reject"})
        assert r.status_code == 201, r.text
        await applied(http, tenant)
        async with tenant.answerer("8201") as office:
            service.instance.cli(
                f"channel originate Local/{DID}@orchestrator-dids application Wait 5"
            )
            deadline = time.monotonic() + 15
            while not seen:
                assert time.monotonic() < deadline, "the call did not reach pbx_inbound"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
            assert office.answered == 0
        assert seen == [("", "blacklisted")], seen
        await reaches(tenant, "8203", "8201", "8202")  # a number: through
        assert seen[-1] == ("8203", "open"), seen
    finally:
        runner.observers.remove(observe)
