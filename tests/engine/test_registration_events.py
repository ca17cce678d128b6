"""Agents' phone registrations followed by events on the real Asterisk, not by polling.

Asterisk sends no ``ContactStatus``/``EndpointStateChange`` for our realtime SIP users,
but its registrar raises AMI test events for every contact added, refreshed or removed
(Debian's build has ``TEST_FRAMEWORK``); the adapter turns them into
``EndpointStateChanged`` and the ACD polls only every ``SAFETY_POLL_S`` (60 s), so what
these tests see within a second came from the events:

- a logged-in agent whose phone registers is ``available`` within 1 s, and
  ``unavailable`` (reason ``unregistered``) within 1 s of its unregistering;
- a phone registering again from another port (the AOR keeps one contact: Asterisk adds
  the new one, then removes the old one) stays available throughout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from orchestrator.queues.acd.reachability import SAFETY_POLL_S
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports
from tests.engine.queue_helpers import AcdLog, QueueSpec, QueueTenant, acd_of, create_queue_tenant

pytestmark = pytest.mark.engine

DOMAIN = "regevents.example"
ACCESS = "+17333559500"
# 411 registers from its contact port; 412 from one port, then from another.
PORT = phone_ports("test_registration_events", "411", "411-spare")
PORT_412 = phone_ports("test_registration_events_2", "412", "412-moved")
QUEUES = {"reg": QueueSpec(ACCESS, {"strategy": "longest_idle"}, ("411", "412"))}
WITHIN_S = 1.0


@pytest.fixture(scope="module")
def qt(service: Service) -> QueueTenant:
    return create_queue_tenant(
        service,
        "Registrations",
        DOMAIN,
        {"411": PORT["411"], "412": PORT_412["412"]},
        agents=("411", "412"),
        queues=QUEUES,
    )


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


@pytest.fixture
def acd_log(service: Service) -> Iterator[AcdLog]:
    with AcdLog(acd_of(service)) as log:
        yield log


async def register(qt: QueueTenant, number: str, port: int, expires: int = 300) -> None:
    result = await sipp.register(
        server=qt.phones.server,
        username=number,
        password=qt.phones.passwords[number],
        domain=DOMAIN,
        local_port=port,
        expires=expires,
    )
    assert result.status == 200, result.log


async def logged_in_unregistered(
    http: httpx.AsyncClient, qt: QueueTenant, number: str, *ports: int
) -> None:
    """Log the agent in with no contact left in the engine (a previous run's: astdb)."""
    for port in ports:
        await register(qt, number, port, expires=0)
    await qt.agent(http, number, "login", queue="reg")
    await qt.until_state(http, number, "unavailable", timeout=5)
    assert (await qt.agent(http, number))["state_reason"] == "unregistered"


def test_the_engine_reports_registrations(service: Service) -> None:
    acd = acd_of(service)
    assert acd.engine.registration_events
    # The ACD polls only as a safety net: nothing below can come from the poll.
    assert acd.reachability.interval() >= SAFETY_POLL_S


async def test_register_and_unregister_are_seen_within_a_second(
    qt: QueueTenant, http: httpx.AsyncClient
) -> None:
    await logged_in_unregistered(http, qt, "411", PORT["411"])
    try:
        await register(qt, "411", PORT["411"])
        took_up = await qt.until_state(http, "411", "available", timeout=WITHIN_S)
        await register(qt, "411", PORT["411"], expires=0)
        took_down = await qt.until_state(http, "411", "unavailable", timeout=WITHIN_S)
        assert (await qt.agent(http, "411"))["state_reason"] == "unregistered"
        print(f"\nregistered: available after {took_up:.2f} s; unregistered: {took_down:.2f} s")
    finally:
        await qt.agent(http, "411", "logout")


async def test_a_phone_moving_to_another_port_stays_available(
    qt: QueueTenant, http: httpx.AsyncClient, acd_log: AcdLog
) -> None:
    first, moved = PORT_412["412"], PORT_412["412-moved"]
    await logged_in_unregistered(http, qt, "412", first, moved)
    agent_id = qt.agent_id("412")
    try:
        await register(qt, "412", first)
        await qt.until_state(http, "412", "available", timeout=WITHIN_S)
        seen = len(acd_log.of("agent_state", agent_id=agent_id))
        # The new contact is added before the old one is removed: online all along.
        await register(qt, "412", moved)
        contacts = qt.service.instance.cli("pjsip show contacts")
        assert f":{moved}" in contacts and f":{first}" not in contacts, contacts
        await asyncio.sleep(0.3)  # both events are in by now (they precede the 200 OK)
        assert (await qt.agent(http, "412"))["state"] == "available"
        later = acd_log.of("agent_state", agent_id=agent_id)[seen:]
        assert all(e.state == "available" for e in later), acd_log.summary()
        await register(qt, "412", moved, expires=0)
        await qt.until_state(http, "412", "unavailable", timeout=WITHIN_S)
    finally:
        await qt.agent(http, "412", "logout")
