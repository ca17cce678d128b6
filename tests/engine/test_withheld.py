"""A phone that withholds its number, on the real Asterisk with SIPp phones.

The phone sends ``From: "Anonymous" <sip:anonymous@anonymous.invalid>``: no endpoint has
that user, so Asterisk challenges in its default realm and finds the phone by the digest
user of its next INVITE (``auth_username``; orchestrator/engines/asterisk/provisioning/
withheld.py). The call goes on as the phone's, with the caller ID ``anonymous``: the
managed callee 9302 rings and its flow sees the caller ``anonymous``; with ``anonymous``
on 9302's blacklist the call is refused (403) and the phone never rings. Nobody is taken
for another phone: a From naming 9303's phone with 9301's digest is never 9303's call,
and a withheld call with a wrong password never gets through. Each phone's SIP username
is unique across tenants (a withheld phone is found by it alone)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.ivr import IvrCall
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import api, phone_ports, register_retrying

pytestmark = pytest.mark.engine

DOMAIN = "withheld.example"
PORT = phone_ports("test_withheld", "9301", "9302", "9303", "9301-out", "9303-out")
ANONYMOUS = '"Anonymous" <sip:anonymous@anonymous.invalid>'
TAG = uuid.uuid4().hex[:6]


class Phones:
    def __init__(self, service: Service, tenant_id: int) -> None:
        self.service = service
        self.tenant_id = tenant_id
        self.users: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    async def call(self, number: str, target: str, **kw: Any) -> sipp.CallResult:
        """``number``'s phone calls ``target`` from its second port (9301, 9303)."""
        return await sipp.call(
            server=f"127.0.0.1:{self.service.instance.ports.sip}",
            username=kw.pop("username", self.users[number]),
            password=kw.pop("password", self.passwords[number]),
            domain=DOMAIN,
            local_port=PORT[f"{number}-out"],
            target=target,
            **kw,
        )


@pytest.fixture(scope="module")
def phones(service: Service) -> Phones:
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Withheld", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        out = Phones(service, r.json()["id"])
        for number in ("9301", "9302", "9303"):
            user = f"wh{TAG}x{number}"
            r = http.post(f"/api/v1/tenants/{out.tenant_id}/extensions",
                          json={"number": number, "sip_username": user})  # fmt: skip
            assert r.status_code == 201, r.text
            out.users[number], out.ids[number] = user, r.json()["id"]
            out.passwords[number] = r.json()["sip_password"]
        # A blacklist makes 9302 managed: the extension flow (pbx.ext) takes its calls and
        # reads the caller's number.
        r = http.put(f"/api/v1/extensions/{out.ids['9302']}/blacklist",
                     json={"entries": [{"number": "+4930999"}]})  # fmt: skip
        assert r.status_code == 200 and r.json()["managed"], r.text
        r = http.get(f"/api/v1/tenants/{out.tenant_id}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


@pytest.fixture
def callers(service: Service, phones: Phones) -> Iterator[list[str]]:
    """The caller numbers the flows of the tenant's calls saw, in order."""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    seen: list[str] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "started" and call.tenant == str(phones.tenant_id):
            seen.append(call.caller)

    runner.observers.append(observe)
    yield seen
    runner.observers.remove(observe)


@pytest.fixture
async def http(service: Service, phones: Phones) -> AsyncIterator[httpx.AsyncClient]:
    async with api(service) as client:
        result = await register_retrying(
            server=f"127.0.0.1:{service.instance.ports.sip}", username=phones.users["9302"],
            password=phones.passwords["9302"], domain=DOMAIN, local_port=PORT["9302"],
        )  # fmt: skip
        assert result.status == 200, result.log
        yield client


async def blacklist(http: httpx.AsyncClient, phones: Phones, *numbers: str) -> None:
    entries = [{"number": n} for n in numbers]
    r = await http.put(f"/api/v1/extensions/{phones.ids['9302']}/blacklist",
                       json={"entries": entries})  # fmt: skip
    assert r.status_code == 200 and r.json()["managed"], r.text
    r = await http.get(f"/api/v1/tenants/{phones.tenant_id}/config")
    assert r.json()["last_apply"]["ok"], r.text


async def test_a_withheld_number_rings_as_anonymous_and_the_entry_anonymous_refuses_it(
    phones: Phones, http: httpx.AsyncClient, callers: list[str]
) -> None:
    await blacklist(http, phones, "+4930999")
    async with sipp.Answerer(local_port=PORT["9302"]) as callee:
        result = await phones.call("9301", "9302", from_header=ANONYMOUS, hold_ms=500, timeout=30)
        assert result.ok, result.log
        await callee.wait_completed(1)
        # The same phone with its number: its own caller ID, as before.
        result = await phones.call("9301", "9302", hold_ms=500, timeout=30)
        assert result.ok, result.log
        await callee.wait_completed(2)
    assert callers == ["anonymous", "9301"], callers

    await blacklist(http, phones, "anonymous")
    async with sipp.Answerer(local_port=PORT["9302"]) as callee:
        # Refused unanswered (Q.850 21: SIP 403), the phone never rings.
        result = await phones.call("9301", "9302", from_header=ANONYMOUS, expect=403, timeout=30)
        assert result.ok and not result.answered, result.log
        # A caller with a number still gets through.
        result = await phones.call("9303", "9302", hold_ms=500, timeout=30)
        assert result.ok, result.log
        await callee.wait_completed(1)
        assert callee.answered == 1
    assert callers[2:] == ["anonymous", "9303"], callers


async def test_nobody_is_taken_for_another_phone(
    phones: Phones, http: httpx.AsyncClient, callers: list[str]
) -> None:
    await blacklist(http, phones, "+4930999")
    async with sipp.Answerer(local_port=PORT["9302"]) as callee:
        # From 9303's phone, digest of 9301's: 9303's endpoint, whose digest 9301's
        # credentials do not pass.
        result = await phones.call(
            "9301", "9302", from_header=f"<sip:{phones.users['9303']}@{DOMAIN}>", expect=401,
            timeout=30,
        )  # fmt: skip
        assert not result.answered and result.status in (401, 403), result.log
        # Withheld with a wrong password: never the phone's call.
        result = await phones.call(
            "9301", "9302", from_header=ANONYMOUS, password="wrong-password", expect=401,
            timeout=30,
        )  # fmt: skip
        assert not result.answered and result.status in (401, 403), result.log
        # A digest user nobody has.
        result = await phones.call(
            "9301", "9302", from_header=ANONYMOUS, username=f"wh{TAG}nobody", expect=401,
            timeout=30,
        )  # fmt: skip
        assert not result.answered and result.status in (401, 403), result.log
        assert callee.answered == 0
    assert callers == [], callers
