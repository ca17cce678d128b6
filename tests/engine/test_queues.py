"""Call queues on the real Asterisk: SIPp callers dial access numbers whose IVR app is the
builtin flow ``queue``; SIPp agents (registered extensions answering as UAS) take the calls.

Covered: round-robin distribution over two agents, a VIP caller served before a normal
one waiting longer (with the music stopped and restarted around periodic announcements),
overflow by ``max_wait_s`` to an extension, a callback (the caller presses ``*``; the
agent is called, then the caller's number), agent login by the feature code ``*61``,
and the CTI WebSocket subscriber seeing ``queued``/``dequeued``/``agent_state``.

A phone's registered contact (where the ACD rings it) and the port it calls from are
different SIPp processes, so a phone can dial while its answerer runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.engine.conftest import Service
from tests.engine.phones import phone_ports
from tests.engine.queue_helpers import (
    CtiEvents,
    QueueSpec,
    QueueTenant,
    create_queue_tenant,
    cti_events,
)

pytestmark = pytest.mark.engine

DOMAIN = "queues.example"
SUPPORT, OVERFLOW, CALLBACK = "+17333559100", "+17333559101", "+17333559102"
# Registered contacts (answerers), then the ports phones call from when they have one.
PORT = phone_ports(
    "test_queues", "601", "602", "603", "611", "621", "603 dials", "611 dials", "612"
)
CONTACT = {n: PORT[n] for n in ("601", "602", "603", "611", "621")}
DIAL_FROM = {"603": PORT["603 dials"], "611": PORT["611 dials"]}
QUEUES = {
    "support": QueueSpec(
        SUPPORT,
        {
            "strategy": "round_robin",
            "ring_timeout_s": 8,
            "retry_s": 0.5,
            "announce_every_s": 2,
            "priority_rules": [{"match": "612", "priority": 10}],
        },
        ("601", "602"),
    ),
    "overflow": QueueSpec(OVERFLOW, {"max_wait_s": 3, "overflow": "extension:621"}),
    "callback": QueueSpec(
        CALLBACK, {"callback_enabled": True, "callback_key": "*", "ring_timeout_s": 8}, ("603",)
    ),
}


@pytest.fixture(scope="module")
def qt(service: Service) -> QueueTenant:
    """A tenant with agents 601-603, callers 611/612, 621 (overflow) and three queues."""
    return create_queue_tenant(
        service,
        "Queues",
        DOMAIN,
        {**CONTACT, "612": PORT["612"]},
        dial_from=DIAL_FROM,
        agents=("601", "602", "603"),
        queues=QUEUES,
        pricing_batch="q",
    )


@pytest.fixture
async def events(service: Service, qt: QueueTenant) -> AsyncIterator[CtiEvents]:
    async with cti_events(service, qt.id) as stream:
        yield stream


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


async def test_round_robin_over_two_agents(
    qt: QueueTenant, events: CtiEvents, http: httpx.AsyncClient
) -> None:
    await qt.register("601", "602")
    for number in ("601", "602"):
        state = await qt.agent(http, number, "login", queue="support")
        assert state["state"] == "available", state
    await events.until("agent_state", 2, state="available")
    async with (
        qt.phones.answerer("601") as a601,
        qt.phones.answerer("602") as a602,
    ):
        for i in range(4):
            result = await qt.dial("611", SUPPORT, hold_ms=1200)
            assert result.answered and result.completed, result.log
            # Each call: ringing, on_call, then available again.
            await events.until("agent_state", 3 + i, state="available")
        assert (a601.answered, a602.answered) == (2, 2)
    answered = events.of("dequeued", reason="answered", queue="support")
    agents = [m["details"]["agent_id"] for m in answered]
    assert len(agents) == 4 and agents[0] != agents[1] and agents[:2] == agents[2:], agents
    queued = events.of("queued", queue="support")
    assert [m["call"]["access_number"] for m in queued] == [SUPPORT] * 4
    assert all(m["call"]["kind"] == "ivr" and m["details"]["position"] == 1 for m in queued)
    states = [m["details"]["state"] for m in events.of("agent_state")]
    assert {"ringing", "on_call", "available"} <= set(states)


async def test_vip_caller_is_served_first_music_and_announcements(
    qt: QueueTenant, events: CtiEvents, http: httpx.AsyncClient
) -> None:
    await qt.register("601")
    await qt.agent(http, "601", "login", queue="support")
    await qt.agent(http, "602", "logout")
    await qt.agent(http, "601", "pause", reason="briefing")
    async with qt.phones.answerer("601") as a601:
        normal = asyncio.create_task(qt.dial("611", SUPPORT, hold_ms=14000, timeout=40))
        await events.until("queued", 1, caller="611")
        vip = asyncio.create_task(qt.dial("612", SUPPORT, hold_ms=4000, timeout=40))
        await events.until("queued", 1, caller="612")
        # Both wait through announcements (music stops, prompt, music again).
        await asyncio.sleep(2.5)
        status = (await http.get(f"/api/v1/queues/{qt.queues['support']}/status")).json()
        assert [w["caller"] for w in status["waiting"]] == ["612", "611"], status
        assert status["waiting"][0]["priority"] == 10
        await qt.agent(http, "601", "unpause")
        first = (await events.until("dequeued", 1, reason="answered", caller="612"))[0]
        assert first["details"]["agent_id"] == qt.agent_id("601")
        assert not events.of("dequeued", caller="611")
        assert (await vip).answered
        # The agent is free again after the VIP hung up: the normal caller is next.
        await events.until("dequeued", 1, reason="answered", caller="611")
        assert (await normal).answered
        await a601.wait_completed(2)


async def test_overflow_by_max_wait_to_an_extension(qt: QueueTenant, events: CtiEvents) -> None:
    await qt.register("621")
    async with qt.phones.answerer("621", calls=1) as a621:
        result = await qt.dial("612", OVERFLOW, hold_ms=6000, timeout=30)
        assert result.answered, result.log
        assert await a621.wait_answered(1) == 1
    timeout = (await events.until("dequeued", 1, queue="overflow"))[0]
    assert timeout["details"]["reason"] == "timeout" and timeout["details"]["wait_s"] >= 3


async def test_callback_and_feature_code_login(
    qt: QueueTenant, events: CtiEvents, http: httpx.AsyncClient
) -> None:
    await qt.register("603", "611")
    await qt.agent(http, "603", "logout")
    async with (
        qt.phones.answerer("603", calls=1) as a603,
        qt.phones.answerer("611", calls=1) as a611,
    ):
        # Nobody is logged in: the caller presses * and hangs up after the thank-you.
        left = await qt.dial("611", CALLBACK, dtmf="*", hold_ms=8000, timeout=30)
        assert left.answered and left.far_end_hangup, left.log
        await events.until("dequeued", 1, queue="callback", reason="callback")
        # The agent logs in from their phone: *61 (the tenant's default agent_login code).
        login = await qt.dial("603", "*61", hold_ms=5000)
        assert login.answered and login.far_end_hangup, login.log
        state = await qt.agent(http, "603", "login", queue="callback")  # already in
        assert state["logged_in"] == ["callback"]
        # The callback: the agent is called first, then the customer; both answer.
        assert await a603.wait_answered(1, timeout=20) == 1
        assert await a611.wait_answered(1, timeout=20) == 1
        figures = await qt.wait_figures(http, "callback", "callbacks_connected")
        assert figures["callbacks_requested"] == 1
        # The test ends the call the agent and the customer would still be on.
        qt.service.instance.cli("channel request hangup all")
        await events.until("agent_state", 1, extension="603", state="available", timeout=10)
    # *62 logs the agent out again.
    logout = await qt.dial("603", "*62", hold_ms=5000)
    assert logout.answered and logout.far_end_hangup, logout.log
    r = await http.get(f"/api/v1/agents/{qt.agents['603']}")
    assert r.json()["logged_in"] == [], r.json()
    assert events.of("agent_state", extension="603", state="logged_out")
