"""Dead phones are cleared, and what a caller dials cannot reach dialplan syntax.

A phone that dies mid-call (its SIPp process SIGKILLed: no BYE, no more RTP) is cleared
by the engine's RTP timeout: the other phone gets a BYE, and the CDR ends when the
engine cleared the call, with the engine's cause. The service runs here with short
timeouts (restarted with them for this module's dead-phone tests, then put back).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, cast

import pytest

from orchestrator.testing import sipp, sipp_live
from orchestrator.testing.sipp_live import LiveCall
from tests.engine.conftest import Service
from tests.engine.media_phone import MediaPhone
from tests.engine.phones import TenantPhones, create_tenant, phone_ports

pytestmark = pytest.mark.engine

# A phone that died leaves the engine retransmitting its BYE to the phone's port for
# half a minute: each test kills a phone on a port of its own.
PORT = phone_ports(
    "test_dead_phones",
    *("101", "102", "103", "104", "call", "dead_caller", "hold_caller", "carrier"),
)
RTP_TIMEOUT = 4
RTP_TIMEOUT_HOLD = 10
QUALIFY = 5


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    phones = create_tenant(
        service,
        "Dead phones",
        "dead.example",
        {n: PORT[n] for n in ("101", "102", "103", "104")},
        dial_from={"101": PORT["call"]},
    )
    # The tenant's first request meets a cold engine (realtime lookups): a REGISTER,
    # which retries, takes it rather than the first INVITE, whose retransmission
    # would cross the challenge on a loaded machine.
    asyncio.run(phones.register("101"))
    return phones


@pytest.fixture(scope="module")
def short_timeouts(service: Service, tenant: TenantPhones) -> Iterator[Service]:
    """The service restarted with short timeouts (every tenant re-applied), then put back."""
    original = service._settings
    assert original is not None
    service.stop()
    service._settings = original.model_copy(
        update={
            "sip_rtp_timeout_s": RTP_TIMEOUT,
            "sip_rtp_timeout_hold_s": RTP_TIMEOUT_HOLD,
            "sip_qualify_s": QUALIFY,
        }
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()
        service._settings = original
        service.start()


def cdrs(service: Service, tenant_id: int) -> list[dict[str, Any]]:
    with service.client() as http:
        r = http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
        assert r.status_code == 200, r.text
        return [http.get(f"/api/v1/cdrs/{c['id']}").json() for c in r.json()["items"]]


async def new_cdr(
    service: Service, tenant_id: int, known: set[int], called: str, timeout: float = 15
) -> dict:
    """The one new CDR of a call to ``called`` (a CDR of an earlier test's call that ended
    late is not it)."""
    deadline = time.monotonic() + timeout
    while True:
        fresh = [
            c
            for c in cdrs(service, tenant_id)
            if c["id"] not in known and c["called_number"] == called
        ]
        if fresh:
            assert len(fresh) == 1, fresh
            known.add(fresh[0]["id"])
            return fresh[0]
        assert time.monotonic() < deadline, "no CDR was written"
        await asyncio.sleep(0.3)


# -- what a caller dials ----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "102,1)",  # the reported one: split Goto's arguments (603)
        "102%2C1)",
        "102%2c1%29",
        "1,2",
        "102)",
        "102%22x",
        "102%24%7BEXTEN%7D",
        "102&103",
        "*61(",
        "+1%7C2",
    ],
)
async def test_odd_characters_get_404_like_an_unknown_number(
    tenant: TenantPhones, target: str
) -> None:
    result = await tenant.call("101", target, expect=404)
    assert result.status == 404, result.log


async def test_unknown_number_still_404_and_known_one_rings(tenant: TenantPhones) -> None:
    result = await tenant.call("101", "999", expect=404)
    assert result.status == 404, result.log
    await tenant.register("102")
    async with tenant.answerer("102", calls=1) as phone:
        result = await tenant.call("101", "102", hold_ms=500)
        assert result.ok, result.log
        assert await phone.wait_answered(1) == 1


# -- dead phones ----------------------------------------------------------------


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@contextlib.asynccontextmanager
async def media_phone(tenant: TenantPhones, number: str) -> AsyncIterator[MediaPhone]:
    """``number``'s phone, registered (from its port, before it listens there) and unregistered.

    With qualify on, a contact that stopped answering stays unreachable (not rung) until
    its next qualify even when it registers again from the same address; a new contact
    is qualified at once (the phone answers the OPTIONS' retransmission), so each test's
    phone starts as a new one.
    """
    await tenant.register(number)
    try:
        async with MediaPhone(local_port=PORT[number], tone_hz=700) as phone:
            yield phone
    finally:
        result = await sipp.unregister(
            server=tenant.server,
            username=number,
            password=tenant.passwords[number],
            domain=tenant.domain,
            local_port=PORT[number],
        )
        assert result.ok, result.log


async def caller_101(
    tenant: TenantPhones, target: str, port: str, *, hold: bool = False
) -> LiveCall:
    return await sipp_live.start_call(
        server=tenant.server,
        username="101",
        password=tenant.passwords["101"],
        domain=tenant.domain,
        local_port=PORT[port],
        target=target,
        hold=hold,
    )


async def assert_cleared(
    service: Service,
    tenant: TenantPhones,
    known: set[int],
    *,
    killed: float,
    bye_seen: float,
    answered_wall: float,
    timeout: float,
    dead_role: str,
    called: str,
) -> None:
    """The call ended ``timeout`` after the phone died, and its CDR says when and why."""
    cleared = bye_seen - killed
    # The engine checks RTP with a whole-second clock: up to a second early or late;
    # the rest of the upper margin is a loaded machine's.
    assert timeout - 1.5 <= cleared <= timeout + 5, cleared
    ended_wall = time.time() - (asyncio.get_running_loop().time() - bye_seen)
    cdr = await new_cdr(service, tenant.id, known, called)
    # The CDR ends when the engine cleared the call (within the BYE's polling step),
    # not when the orchestrator noticed; its billsec is the talk time until then.
    assert abs(seconds(cdr["ended_at"]) - ended_wall) <= 1.0, (cdr, ended_wall)
    assert abs(seconds(cdr["answered_at"]) - answered_wall) <= 1.0, cdr
    talk = seconds(cdr["ended_at"]) - seconds(cdr["answered_at"])
    assert abs(talk - (ended_wall - answered_wall)) <= 1.0, cdr
    assert cdr["billsec"] == math.ceil(round(talk, 3)), cdr  # a started second counts
    # 44: the engine gave up on the channel ("requested channel not available"),
    # on the dead phone's leg and for the call; the other phone was hung up normally.
    assert (cdr["disposition"], cdr["hangup_cause"]) == ("answered", 44), cdr
    causes = {leg["role"]: leg["hangup_cause"] for leg in cdr["legs"]}
    alive = "callee" if dead_role == "caller" else "caller"
    assert (causes[dead_role], causes[alive]) == (44, 16), cdr


@pytest.mark.parametrize(
    ("hold", "timeout", "port"),
    [
        pytest.param(False, RTP_TIMEOUT, "dead_caller", id="talking"),
        # While the dead phone held the call the engine waits rtp_timeout_hold, not
        # rtp_timeout (a holding phone may send nothing for a while).
        pytest.param(True, RTP_TIMEOUT_HOLD, "hold_caller", id="holding"),
    ],
)
async def test_caller_killed_mid_call_is_cleared(
    short_timeouts: Service, tenant: TenantPhones, hold: bool, timeout: int, port: str
) -> None:
    known = {c["id"] for c in cdrs(short_timeouts, tenant.id)}
    loop = asyncio.get_running_loop()
    async with (
        media_phone(tenant, "102") as callee,
        await caller_101(tenant, "102", port, hold=hold) as caller,
    ):
        await caller.wait_answered(2 if hold else 1)  # answered (and the hold accepted)
        await callee.wait_for("answered")
        answered_wall = time.time()
        # Both phones send RTP: the timeout ends no call that is alive.
        await asyncio.sleep(RTP_TIMEOUT + 2)
        assert callee._count("completed") == 0 and not caller.far_end_hangup, callee.log()
        killed = await caller.kill()
        await callee.wait_for("completed", timeout=timeout + 15)
        bye_seen = loop.time()
    await assert_cleared(
        short_timeouts,
        tenant,
        known,
        killed=killed,
        bye_seen=bye_seen,
        answered_wall=answered_wall,
        timeout=timeout,
        dead_role="caller",
        called="102",
    )


async def assert_callee_death_cleared(
    service: Service,
    tenant: TenantPhones,
    callee: contextlib.AbstractAsyncContextManager[MediaPhone],
    target: str,
) -> None:
    """101 calls ``target``, answered by ``callee``, which dies a second later."""
    known = {c["id"] for c in cdrs(service, tenant.id)}
    loop = asyncio.get_running_loop()
    async with callee as phone, await caller_101(tenant, target, "call") as caller:
        try:
            await caller.wait_answered()
        except sipp.SippError as e:  # what the callee saw tells why it was not rung
            raise sipp.SippError(f"{e}\n--- callee ---\n{phone.log()}", "") from None
        await phone.wait_for("answered")
        answered_wall = time.time()
        await asyncio.sleep(1)
        assert not caller.far_end_hangup, caller.log()
        await phone.kill()
        killed = loop.time()
        deadline = killed + RTP_TIMEOUT + 15
        while not caller.far_end_hangup:
            assert loop.time() < deadline, caller.log()
            await asyncio.sleep(0.05)
        bye_seen = loop.time()
    await assert_cleared(
        service,
        tenant,
        known,
        killed=killed,
        bye_seen=bye_seen,
        answered_wall=answered_wall,
        timeout=RTP_TIMEOUT,
        dead_role="callee",
        called=target,
    )


async def test_callee_killed_mid_call_is_cleared(
    short_timeouts: Service, tenant: TenantPhones
) -> None:
    await assert_callee_death_cleared(short_timeouts, tenant, media_phone(tenant, "104"), "104")


class _OptionsAnswerer(asyncio.DatagramProtocol):
    """Answers every SIP OPTIONS with 200 OK, as a phone does to qualify."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
        if not head[0].startswith("OPTIONS "):
            return
        keep = ("via:", "from:", "to:", "call-id:", "cseq:")
        lines = [h for h in head[1:] if h.lower().startswith(keep)]
        reply = "\r\n".join(["SIP/2.0 200 OK", *lines, "Content-Length: 0", "", ""])
        self.transport.sendto(reply.encode(), addr)


@contextlib.asynccontextmanager
async def options_answerer(port: int) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        _OptionsAnswerer, local_addr=("127.0.0.1", port)
    )
    try:
        yield
    finally:
        transport.close()


async def contact_status(service: Service, endpoint: str) -> str:
    """The qualify status the engine shows for the endpoint's contact ("" if none)."""
    listing = await asyncio.to_thread(service.instance.cli, "pjsip show contacts")
    for line in listing.splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] == "Contact:" and words[1].startswith(endpoint + "/"):
            return words[3]
    return ""


async def wait_status(service: Service, endpoint: str, wanted: str, timeout: float) -> float:
    """Wait until the contact's status is ``wanted``; return how long that took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (status := await contact_status(service, endpoint)) != wanted:
        assert loop.time() - started < timeout, (endpoint, status)
        await asyncio.sleep(0.25)
    return loop.time() - started


async def test_phone_that_stopped_answering_is_not_rung(
    short_timeouts: Service, tenant: TenantPhones
) -> None:
    """Qualify: a registered phone that no longer answers OPTIONS is marked unreachable,
    and a call to it fails at once instead of ringing a dead address for half a minute;
    once it answers again, the next qualify makes it reachable (SIPp's answerers do not
    answer OPTIONS: a few lines of Python do)."""
    endpoint = f"103@{tenant.domain}"
    await tenant.register("103")  # SIPp exits: nothing answers on 103's port now
    try:
        # The first qualify comes within one interval; its OPTIONS time out after 3 s.
        await wait_status(short_timeouts, endpoint, "Unavail", QUALIFY + 3 + 10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await tenant.call("101", "103", expect=404)
        assert result.status == 404 and loop.time() - started < 5, result.log
        async with options_answerer(PORT["103"]):
            await wait_status(short_timeouts, endpoint, "Avail", QUALIFY + 10)
    finally:
        await sipp.unregister(
            server=tenant.server,
            username="103",
            password=tenant.passwords["103"],
            domain=tenant.domain,
            local_port=PORT["103"],
        )


async def test_trunk_that_went_silent_is_cleared(
    short_timeouts: Service, tenant: TenantPhones
) -> None:
    """A carrier that stops mid-call (no BYE, no RTP) is cleared as a phone is."""
    with short_timeouts.client() as http:
        r = http.post(
            "/api/v1/trunks",
            json={
                "tenant_id": tenant.id,
                "name": "carrier",
                "host": "127.0.0.1",
                "port": PORT["carrier"],
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/outbound-routes",
            json={
                "tenant_id": tenant.id,
                "name": "out",
                "prefix": "9",
                "strip": 1,
                "trunk_id": r.json()["id"],
            },
        )
        assert r.status_code == 201, r.text
    carrier = MediaPhone(local_port=PORT["carrier"], tone_hz=700)
    await assert_callee_death_cleared(short_timeouts, tenant, carrier, "912065550100")
