"""Agents' registrations read from the engine (``Engine.endpoint_states``): at connect,
for new agents and logins, by polling (only a slow safety poll when the engine reports
registrations); events that come during a read win; and the Asterisk adapter's reading
of AMI ``PJSIPShowContacts``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from orchestrator.core.errors import EngineError
from orchestrator.core.events import EndpointStateChanged, EngineConnected
from orchestrator.core.fake import FakeEngine
from orchestrator.engines.asterisk.contacts import endpoint_states
from orchestrator.ivr import StaticDirectory
from orchestrator.queues.acd import AcdService, AgentConfig, reachability
from orchestrator.queues.acd.agents import AgentBook
from orchestrator.queues.acd.testing import AcdHarness, Answer

ALICE, BOB = "alice@acme.example", "bob@acme.example"


async def harness_on(fake: FakeEngine, **settings: Any) -> AcdHarness:
    await fake.start()
    acd = AcdService(fake, StaticDirectory(fake), **settings)
    acd.start()
    return AcdHarness(fake, acd)


@pytest.fixture
async def h() -> AsyncIterator[AcdHarness]:
    harness = await AcdHarness.create()
    yield harness
    await harness.close()


async def test_a_new_agent_is_read_from_the_engine(h: AcdHarness) -> None:
    h.fake.endpoint_reachability[ALICE] = "offline"
    h.queue()
    h.agent("101", endpoint=ALICE, action=Answer())
    await h.until(lambda: h.state("101") == "unavailable")
    assert h.acd.agents.get(1, "a101").state()[1] == "unregistered"
    assert (ALICE,) in h.fake.endpoint_queries
    # Nobody rings an unregistered phone.
    caller = await h.call("+447700900001")
    await asyncio.sleep(0.03)
    assert h.phones.rang() == []
    # It registers (the event): it gets the waiting caller.
    await h.fake.emit(EndpointStateChanged(endpoint=ALICE, state="online"))
    await h.until(lambda: h.state("101") == "on_call")
    await h.phones.hangup("101")
    assert (await caller.result()).agent_id == "a101"


async def test_unknown_changes_nothing_and_agents_without_endpoint_are_not_asked(
    h: AcdHarness,
) -> None:
    h.queue()
    h.agent("101", endpoint=ALICE)  # "unknown" in the fake: assumed registered
    h.agent("102")
    await h.until(lambda: h.acd.reachability.reads >= 1)
    assert h.state("101") == h.state("102") == "available"
    assert all("" not in query for query in h.fake.endpoint_queries)


async def test_a_reconnect_corrects_states_missed_while_down(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", endpoint=ALICE)
    h.agent("102", endpoint=BOB)
    await h.until(lambda: h.acd.reachability.reads >= 1)
    # While the link was down Alice's phone unregistered and Bob's... nobody said so.
    h.fake.endpoint_reachability.update({ALICE: "offline", BOB: "online"})
    await h.fake.emit(EngineConnected(engine="fake", reconnect=True))
    await h.until(lambda: h.state("101") == "unavailable")
    assert h.state("102") == "available"
    assert h.fake.endpoint_queries[-1] == (ALICE, BOB)
    h.fake.endpoint_reachability[ALICE] = "online"
    await h.fake.emit(EngineConnected(engine="fake", reconnect=True))
    await h.until(lambda: h.state("101") == "available")


async def test_an_event_during_the_read_wins() -> None:
    class SlowEngine(FakeEngine):
        async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
            states = await super().endpoint_states(endpoints)
            await asyncio.sleep(0.05)  # the phone registers meanwhile
            return states

    fake = SlowEngine()
    h = await harness_on(fake)
    acd = h.acd
    try:
        fake.endpoint_reachability[ALICE] = "offline"
        h.queue()
        h.agent("101", endpoint=ALICE)
        await asyncio.sleep(0.01)
        await fake.emit(EndpointStateChanged(endpoint=ALICE, state="online"))
        await h.until(lambda: acd.reachability.reads >= 1)
        assert h.state("101") == "available"  # the stale "offline" read was dropped
    finally:
        await h.close()


async def test_logged_in_agents_are_polled() -> None:
    fake = FakeEngine()
    h = await harness_on(fake, reachability_poll_s=0.5)
    acd = h.acd
    try:
        h.queue()
        h.agent("101", endpoint=ALICE)
        acd.put_agent(AgentConfig(tenant_id=1, agent_id="a102", extension="102", endpoint=BOB))
        await h.until(lambda: acd.reachability.reads >= 1)
        fake.endpoint_reachability[ALICE] = "offline"  # no event comes (as on Asterisk)
        await h.until(lambda: h.state("101") == "unavailable", timeout=3)
        # Only logged-in agents are polled: Bob (logged out) is not asked.
        assert fake.endpoint_queries[-1] == (ALICE,)
    finally:
        await h.close()


async def test_with_registration_events_polling_is_only_a_safety_net(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reachability, "_TICK_S", 0.02)
    fake = FakeEngine(registration_events=True)
    h = await harness_on(fake, reachability_poll_s=0.05)
    reach = h.acd.reachability
    reach.safety_poll_s = 1.0
    try:
        assert reach.interval() == 1.0
        h.queue()
        h.agent("101", endpoint=ALICE)
        await h.until(lambda: reach.reads >= 1)
        reads = reach.reads
        # The phone goes and comes back: the events say so at once, nothing is read.
        await fake.set_registration(ALICE, "offline")
        assert h.state("101") == "unavailable"
        await fake.set_registration(ALICE, "online")
        assert h.state("101") == "available"
        await asyncio.sleep(0.2)  # four poll_s: no poll yet
        assert reach.reads == reads
        # An event lost without the link dropping: the safety poll corrects it.
        fake.endpoint_reachability[ALICE] = "offline"
        await h.until(lambda: h.state("101") == "unavailable", timeout=3)
        assert reach.reads >= reads + 1
        # An engine that stops reporting registrations is polled at poll_s again.
        fake.registration_events = False
        assert reach.interval() == 0.05
        await h.until(lambda: reach.reads >= reads + 3, timeout=2)
    finally:
        await h.close()


async def test_without_registration_events_the_fake_only_answers_reads(h: AcdHarness) -> None:
    h.queue()
    h.agent("101", endpoint=ALICE)
    await h.until(lambda: h.acd.reachability.reads >= 1)
    await h.fake.set_registration(ALICE, "offline")  # no event: only read
    assert h.state("101") == "available"
    assert h.acd.reachability.interval() == 0.0  # the harness does not poll
    await h.fake.emit(EngineConnected(engine="fake", reconnect=True))
    await h.until(lambda: h.state("101") == "unavailable")


async def test_an_engine_that_cannot_answer_changes_nothing(h: AcdHarness) -> None:
    h.fake.endpoint_reachability[ALICE] = "offline"
    await h.fake.stop()  # endpoint_states raises EngineUnavailableError
    h.queue()
    h.agent("101", endpoint=ALICE)
    await asyncio.sleep(0.02)
    assert h.state("101") == "available" and h.acd.reachability.reads == 0
    await h.fake.start()  # EngineConnected: read again
    await h.until(lambda: h.state("101") == "unavailable")


async def test_a_phone_of_no_agent_keeps_no_state(h: AcdHarness) -> None:
    h.queue()
    await h.fake.emit(EndpointStateChanged(endpoint=BOB, state="offline"))
    assert h.acd.agents._endpoint_events == {}
    # An agent who takes that phone later gets its state from a read, as at login.
    h.fake.endpoint_reachability[BOB] = "online"
    h.agent("102", endpoint=BOB)
    await h.until(lambda: h.acd.reachability.reads >= 1)
    assert h.state("102") == "available"
    await h.fake.emit(EndpointStateChanged(endpoint=BOB, state="offline"))
    assert list(h.acd.agents._endpoint_events) == [BOB]
    h.acd.agents.remove(1, "a102")
    assert h.acd.agents._endpoint_events == {}


def test_an_event_wins_over_a_read_even_if_the_phone_changed_hands() -> None:
    book = AgentBook(lambda _event: None, lambda: None, time.monotonic)
    config = AgentConfig(tenant_id=1, agent_id="a101", extension="101", endpoint=ALICE)
    book.put(config)
    book.set_reachable(ALICE, "online")
    marks = book.endpoint_marks([ALICE])  # a read starts
    book.remove(1, "a101")  # the endpoint is dropped, then taken again
    agent = book.put(config)
    book.set_reachable(ALICE, "online")  # newer than the read
    book.seed_reachable({ALICE: "offline"}, marks)
    assert agent.reachable
    book.seed_reachable({ALICE: "offline"}, book.endpoint_marks([ALICE]))  # a later read
    assert not agent.reachable


def _contact(endpoint: str, status: str = "NonQualified", expires: float = 2000) -> dict:
    return {"Event": "ContactList", "Endpoint": endpoint, "Status": status,
            "ExpirationTime": str(int(expires))}  # fmt: skip


def test_asterisk_contacts_to_endpoint_states() -> None:
    listing = [
        {"Response": "Success", "EventList": "start"},
        _contact(ALICE),
        _contact(BOB, status="Unreachable"),
        _contact("carol@acme.example", expires=999),  # expired, not pruned yet
        _contact("dave@acme.example", status="Reachable", expires=0),  # permanent
        {"Event": "ContactListComplete", "ListItems": "4"},
    ]
    wanted = [ALICE, BOB, "carol@acme.example", "dave@acme.example", "erin@acme.example"]
    assert endpoint_states(listing, wanted, now=1000) == {
        ALICE: "online",
        BOB: "offline",
        "carol@acme.example": "offline",
        "dave@acme.example": "online",
        "erin@acme.example": "offline",
    }
    # No contact at all is an error response of its own: everyone is offline.
    empty = [{"Response": "Error", "Message": "No Contacts found"}]
    assert endpoint_states(empty, [ALICE], now=1000) == {ALICE: "offline"}
    with pytest.raises(EngineError):
        endpoint_states([{"Response": "Error", "Message": "Permission denied"}], [ALICE], 1)
