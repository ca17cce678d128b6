"""Intercom and paging on the real Asterisk: a SIPp phone dials ``*46<group>``; the group's
registered phones (media phones: SIPp for the signalling, Python for the audio) get an
INVITE carrying both auto-answer headers, answer by themselves and hear the pager's
tone, while none of them is heard (each says a tone of its own: nobody hears it); the
member that is not registered is skipped. The pager hangs up: every paged phone gets
its BYE. Then ``*46<extension>``: an intercom call to one phone, alike."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.sip_headers import AUTO_ANSWER
from orchestrator.ivr import IvrCall
from tests.engine.conftest import Service
from tests.engine.media_phone import MediaPhone
from tests.engine.phones import TenantPhones, create_tenant, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "paging.example"
PORT = phone_ports("test_paging", "7101", "7102", "7103", "7104", "call")
PAGER_HZ = 440  # sipp.call's audio_s tone
TONES = {"7102": 700.0, "7103": 1100.0}
# A tone counts as heard above this amplitude (sent at 6000), as absent below QUIET.
HEARD, QUIET = 1000.0, 300.0


@pytest.fixture(scope="module")
def pt(service: Service) -> TenantPhones:
    phones = {n: PORT[n] for n in ("7101", "7102", "7103", "7104")}
    tenant = create_tenant(service, "Paging", DOMAIN, phones, dial_from={"7101": PORT["call"]})
    with service.client() as http:
        r = http.post(f"/api/v1/tenants/{tenant.id}/paging-groups",
                      json={"name": "floor", "number": "700",
                            "members": ["7102", "7103", "7104"]})  # fmt: skip
        assert r.status_code == 201, r.text
    return tenant


@pytest.fixture
def pages(service: Service, pt: TenantPhones) -> Iterator[list[dict[str, Any]]]:
    """The pages the tenant's calls made (the handler's ``page`` notice), in order."""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    assert runner is not None
    seen: list[dict[str, Any]] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "page" and call.tenant == str(pt.id):
            seen.append(dict(details))

    runner.observers.append(observe)
    yield seen
    runner.observers.remove(observe)


def invite_headers(phone: MediaPhone) -> list[str]:
    """The header lines of the INVITEs the phone received."""
    text = (phone.workdir / "messages.log").read_text(errors="replace")
    out: list[str] = []
    for block in text.split("\n\n"):
        if "INVITE sip:" in block:
            out.extend(line.strip() for line in block.splitlines())
    return out


async def cdr_with_legs(pt: TenantPhones, extensions: set[str]) -> dict[str, Any]:
    """The tenant's CDR whose legs reached every one of ``extensions`` (waits for it)."""
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(base_url=pt.service.url, headers=pt.service.headers) as http:
        while True:
            r = await http.get("/api/v1/cdrs", params={"tenant_id": pt.id})
            assert r.status_code == 200, r.text
            for item in r.json()["items"]:
                cdr = (await http.get(f"/api/v1/cdrs/{item['id']}")).json()
                if extensions <= {leg.get("extension") for leg in cdr["legs"]}:
                    return dict(cdr)
            assert time.monotonic() < deadline, r.json()
            await asyncio.sleep(0.3)


async def page(pt: TenantPhones, dialed: str, phones: dict[str, MediaPhone]) -> dict[str, Any]:
    """7101 dials ``dialed`` and speaks 4 s; what each paged phone heard meanwhile."""
    placed = asyncio.create_task(
        pt.call("7101", dialed, hold_ms=6_000, timeout=40, audio_s=4.5, silence_s=0.5)
    )
    try:
        for phone in phones.values():
            await phone.wait_for("answered", timeout=15)
        await asyncio.sleep(1.0)  # the pager's tone is flowing
        since = time.monotonic()
        await asyncio.sleep(1.5)
        until = time.monotonic()
        heard = {
            number: {
                "pager": phone.level(PAGER_HZ, since=since, until=until),
                **{o: phone.level(hz, since=since, until=until) for o, hz in TONES.items()},
            }
            for number, phone in phones.items()
        }
        result = await asyncio.wait_for(placed, 30)
    finally:
        if not placed.done():
            placed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await placed
    assert result.answered, result.log
    for phone in phones.values():  # the pager hung up: every paged phone got its BYE
        await phone.wait_for("completed", timeout=15)
    return heard


async def test_a_group_page_auto_answers_the_registered_members_who_hear_only_the_pager(
    pt: TenantPhones, pages: list[dict[str, Any]]
) -> None:
    await pt.register("7102", "7103")  # 7104 never registers: skipped
    async with (
        MediaPhone(local_port=PORT["7102"], tone_hz=TONES["7102"]) as p2,
        MediaPhone(local_port=PORT["7103"], tone_hz=TONES["7103"]) as p3,
    ):
        phones = {"7102": p2, "7103": p3}
        heard = await page(pt, "*46700", phones)
        for number, phone in phones.items():
            lines = invite_headers(phone)
            assert f"Call-Info: {AUTO_ANSWER['Call-Info']}" in lines, phone.log()
            assert f"Alert-Info: {AUTO_ANSWER['Alert-Info']}" in lines, phone.log()
            assert heard[number]["pager"] > HEARD, heard
            for other in TONES:  # the paged are muted: nobody hears them
                assert heard[number][other] < QUIET, (number, other, heard)
    assert pages == [{"kind": "group", "name": "floor", "targets": ["7102", "7103"]}]
    # The page is the pager's call in the CDRs, each paged phone's leg one of its legs.
    cdr = await cdr_with_legs(pt, {"7102", "7103"})
    assert (cdr["caller_extension"], cdr["called_number"]) == ("7101", "*46700"), cdr
    paged = sorted((leg["role"], leg["extension"], leg["disposition"]) for leg in cdr["legs"]
                   if leg["role"] == "callee")  # fmt: skip
    assert paged == [("callee", "7102", "answered"), ("callee", "7103", "answered")], cdr


async def test_intercom_to_one_extension(pt: TenantPhones, pages: list[dict[str, Any]]) -> None:
    await pt.register("7102")
    async with MediaPhone(local_port=PORT["7102"], tone_hz=TONES["7102"]) as p2:
        heard = await page(pt, "*467102", {"7102": p2})
        lines = invite_headers(p2)
        assert f"Call-Info: {AUTO_ANSWER['Call-Info']}" in lines, p2.log()
        assert heard["7102"]["pager"] > HEARD, heard
    assert pages == [{"kind": "intercom", "name": "7102", "targets": ["7102"]}]
