"""Call queues on the real Asterisk, part 3: the longest-idle, fewest-calls and random
strategies, with SIPp callers dialing access numbers and SIPp agents.

Each test watches the ACD's own ``offered`` events (:class:`AcdLog`: whom the queue
rang, in the order it decided) and arranges the agents' history through what really
happens on the engine: calls answered by SIPp phones and ended in a known order (a
caller's call is hung up through REST, ``POST /api/v1/calls/{id}/hangup``; the agent
is free, and idle from then on, when the ACD has seen its leg go).

- **Longest idle**: three agents log in (idle since then: 901, 902, 903); three callers
  at once are offered in that order. Their calls end in the order 903, 901, 902; three
  new callers are offered 903, 901, 902 (round-robin would go on with 901, 902, 903).
- **Fewest calls**: 904 and 905 answer a call each (905's ends first), then 906 logs
  in: the last to become free, with no call. Two callers at once: 906 first (fewest
  calls; longest-idle would take 905), then 905 (1 call each: longest idle;
  round-robin would take 904 after 906).
- **Random**: the agents' phones refuse every call (486), so one caller gives the queue
  a decision every two offers (see the test); 24 decisions must not all be the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports
from tests.engine.queue_helpers import (
    AcdLog,
    QueueSpec,
    QueueTenant,
    acd_of,
    create_queue_tenant,
    hangup,
    logged_in,
    refusing_phone,
)

pytestmark = pytest.mark.engine

DOMAIN = "strategies.example"
IDLE, FEWEST, RANDOM = "+17333559300", "+17333559301", "+17333559302"
AGENTS = ("901", "902", "903", "904", "905", "906", "908")
CALLERS = ("911", "912", "913")
PORT = phone_ports("test_queues_strategies", *AGENTS, *CALLERS)
QUEUES = {
    "idle": QueueSpec(IDLE, {"strategy": "longest_idle"}, ("901", "902", "903")),
    "fewest": QueueSpec(FEWEST, {"strategy": "fewest_calls"}, ("904", "905", "906")),
    # No pause after a refused offer: the next decision comes at once.
    "rand": QueueSpec(RANDOM, {"strategy": "random", "retry_s": 0}, ("901", "902", "907", "908")),
}
# Far longer than a test: the test ends each call itself, in the order it needs.
HOLD_MS, CALL_TIMEOUT = 30_000, 45


@pytest.fixture(scope="module")
def qt(service: Service) -> QueueTenant:
    """Agents 901-908 (907 has no phone), callers 911-913 and the three queues above."""
    return create_queue_tenant(
        service,
        "Strategies",
        DOMAIN,
        PORT,
        agents=(*AGENTS, "907"),
        queues=QUEUES,
        no_phone=("907",),
    )


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


@pytest.fixture
def acd_log(service: Service) -> Iterator[AcdLog]:
    with AcdLog(acd_of(service)) as log:
        yield log


def ring(qt: QueueTenant, access: str, *callers: str) -> list[asyncio.Task[sipp.CallResult]]:
    """The callers dial ``access`` at once and stay until their call is hung up."""
    return [
        asyncio.create_task(qt.dial(c, access, hold_ms=HOLD_MS, timeout=CALL_TIMEOUT))
        for c in callers
    ]


async def answered(log: AcdLog, queue: str, count: int) -> dict[str, str]:
    """Once ``count`` callers of ``queue`` were answered: agent id -> the last call id."""
    events = await log.until("dequeued", count, queue=queue, reason="answered")
    return {e.agent_id: e.leg_id for e in events}


async def end_in_order(
    http: httpx.AsyncClient, qt: QueueTenant, calls: dict[str, str], *numbers: str
) -> None:
    """Hang up the agents' calls in this order, each agent free before the next call ends."""
    for number in numbers:
        await hangup(http, calls[qt.agent_id(number)])
        await qt.until_state(http, number, "available")


async def test_longest_idle_offers_the_agent_free_the_longest(
    qt: QueueTenant, http: httpx.AsyncClient, acd_log: AcdLog
) -> None:
    agents = ("901", "902", "903")
    await qt.register(*agents)
    async with logged_in(http, qt, "idle", *agents):
        for number in agents:
            await qt.until_state(http, number, "available")
        async with (
            qt.phones.answerer("901") as a901,
            qt.phones.answerer("902") as a902,
            qt.phones.answerer("903") as a903,
        ):
            # Idle since login: 901 the longest. Each agent, once on a call, leaves the
            # others to the next caller, so the offers come in idle order.
            first = ring(qt, IDLE, *CALLERS)
            calls = await answered(acd_log, "idle", 3)
            offered = [qt.number_of(e.agent_id) for e in acd_log.of("offered", queue="idle")]
            assert offered == ["901", "902", "903"], acd_log.summary()
            # The calls end in the order 903, 901, 902: that is now the idle order.
            await end_in_order(http, qt, calls, "903", "901", "902")
            assert all(r.answered for r in await asyncio.gather(*first))
            second = ring(qt, IDLE, *CALLERS)
            calls = await answered(acd_log, "idle", 6)
            offered = [qt.number_of(e.agent_id) for e in acd_log.of("offered", queue="idle")]
            assert offered[3:] == ["903", "901", "902"], acd_log.summary()
            await end_in_order(http, qt, calls, "901", "902", "903")
            assert all(r.answered for r in await asyncio.gather(*second))
            assert (a901.answered, a902.answered, a903.answered) == (2, 2, 2)
    ended = acd_log.of("offer_ended", queue="idle")
    assert [e.reason for e in ended] == ["answered"] * 6, acd_log.summary()


async def test_fewest_calls_offers_the_agent_with_fewest_answered_calls(
    qt: QueueTenant, http: httpx.AsyncClient, acd_log: AcdLog
) -> None:
    await qt.register("904", "905", "906")
    async with (
        logged_in(http, qt, "fewest", "904", "905"),
        qt.phones.answerer("904") as a904,
        qt.phones.answerer("905") as a905,
        qt.phones.answerer("906") as a906,
    ):
        for number in ("904", "905"):
            await qt.until_state(http, number, "available")
        # No calls yet: longest idle first (904 logged in first).
        first = ring(qt, FEWEST, "911", "912")
        calls = await answered(acd_log, "fewest", 2)
        await end_in_order(http, qt, calls, "905", "904")
        assert all(r.answered for r in await asyncio.gather(*first))
        # 906 starts its shift now: no call today, but free for the shortest time.
        async with logged_in(http, qt, "fewest", "906"):
            await qt.until_state(http, "906", "available")
            second = ring(qt, FEWEST, "911", "912")
            calls = await answered(acd_log, "fewest", 4)
            offered = [qt.number_of(e.agent_id) for e in acd_log.of("offered", queue="fewest")]
            # 906 (0 calls) beats 905 (idle longest); then 905 and 904 have one call
            # each and 905 has been free longer.
            assert offered == ["904", "905", "906", "905"], acd_log.summary()
            await end_in_order(http, qt, calls, "906", "905")
            assert all(r.answered for r in await asyncio.gather(*second))
        assert (a904.answered, a905.answered, a906.answered) == (1, 2, 1)


# Random: each decision is uniform over the two free agents, so the first offers of N
# decisions all go to the same agent with probability 2 * (1/2)**N; N = 24 gives
# 1.2e-7 (< 1e-6), and 48 refused offers take about a second.
DECISIONS = 24


async def test_random_picks_among_the_free_agents_in_no_fixed_order(
    qt: QueueTenant, http: httpx.AsyncClient, acd_log: AcdLog
) -> None:
    await qt.register("901", "902", "908")
    async with logged_in(http, qt, "rand", "901", "902", "907", "908"):
        await qt.agent(http, "908", "pause", reason="training")
        try:
            for number in ("901", "902"):
                await qt.until_state(http, number, "available")
            await qt.until_state(http, "907", "unavailable")  # its phone never registered
            await qt.until_state(http, "908", "paused")
            async with refusing_phone(PORT["901"]), refusing_phone(PORT["902"]):
                [caller] = ring(qt, RANDOM, "911")
                # A refused offer is a miss: the same caller is not offered to that agent
                # again while the other one is free. So the offers come in pairs: a random
                # pick among both, then the other one; then a new round.
                await acd_log.until(
                    "offer_ended", 2 * DECISIONS, queue="rand", reason="busy", timeout=30
                )
                [queued] = acd_log.of("queued", queue="rand")
                await hangup(http, queued.leg_id)
                assert (await caller).answered  # the queue answers its callers at once
        finally:
            await qt.agent(http, "908", "unpause")
            # 908's contact must not outlive the test (nobody listens there).
            gone = await sipp.unregister(
                server=qt.phones.server,
                username="908",
                password=qt.phones.passwords["908"],
                domain=DOMAIN,
                local_port=PORT["908"],
            )
            assert gone.status == 200, gone.log
    offered = [e.agent_id for e in acd_log.of("offered", queue="rand")][: 2 * DECISIONS]
    ended = acd_log.of("offer_ended", queue="rand")[: 2 * DECISIONS]
    assert {e.reason for e in ended} == {"busy"}, acd_log.summary()
    # Only the free agents: never 907 (unregistered) nor 908 (paused).
    free = {qt.agent_id("901"), qt.agent_id("902")}
    assert set(offered) <= free, acd_log.summary()
    picks, others = offered[0::2], offered[1::2]
    assert all(p != o for p, o in zip(picks, others, strict=True)), offered
    counts = {qt.number_of(a): picks.count(a) for a in sorted(free)}
    print(f"\nrandom: first offers of {DECISIONS} decisions: {counts}")
    assert all(counts.values()), counts
