"""A scripted call-centre morning with known answers, for the wallboard tests.

One queue ``support`` (tenant 1, service level threshold 20 s, calls need the skill
``french``) and five agents. Ten callers come in one after another: eight are
answered by ``a101`` after known waits, talk and wrap-up times (the ACD's clock is
moved forward instead of sleeping), two hang up while waiting. At the end an
eleventh caller is left waiting, and the agents are in every state a tile shows::

    a101 paused (break)    a102 paused (lunch)    a103 unavailable (unregistered)
    a104 logged out        a105 available, but without the skill

so the expected figures are exact: answered 8, abandoned 2, 5 of 8 within 20 s
(SL 62.5 %, 50.0 % counting the abandoned), ASA 147/8 s, AHT 815/8 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.core.fake import FakeEngine
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.queues.acd.config import AgentConfig
from orchestrator.queues.acd.service import AcdService
from orchestrator.queues.acd.testing import AcdHarness, Answer, Caller
from orchestrator.queues.acd.wallboard import Wallboard

TENANT = 1
QUEUE = "support"
SL_S = 20.0
# (wait, talk, wrap-up) in seconds of each answered call, in order.
ANSWERED = (
    (5, 60, 10),
    (12, 95, 5),
    (18, 120, 20),
    (25, 80, 0),
    (3, 45, 15),
    (31, 150, 10),
    (9, 70, 5),
    (44, 100, 30),
)
ABANDONED_WAITS = (35, 50)  # callers 4 and 8 hang up after these waits
ABANDON_AT = (3, 7)  # positions (0-based) among the ten calls


@dataclass(frozen=True, slots=True)
class Expected:
    answered: int = len(ANSWERED)
    abandoned: int = len(ABANDONED_WAITS)
    within_sl: int = sum(1 for wait, _, _ in ANSWERED if wait <= SL_S)
    asa_s: float = sum(wait for wait, _, _ in ANSWERED) / len(ANSWERED)
    aht_s: float = sum(talk + wrap for _, talk, wrap in ANSWERED) / len(ANSWERED)

    @property
    def service_level(self) -> float:
        return self.within_sl / self.answered

    @property
    def service_level_with_abandoned(self) -> float:
        return self.within_sl / (self.answered + self.abandoned)


EXPECTED = Expected()
assert (EXPECTED.within_sl, EXPECTED.asa_s, EXPECTED.aht_s) == (5, 18.375, 101.875)
FINAL_STATES = {
    "a101": ("paused", "break"),
    "a102": ("paused", "lunch"),
    "a103": ("unavailable", "unregistered"),
    "a104": ("logged_out", ""),
    "a105": ("available", ""),
}


class OffsetClock:
    """The wall clock, which a test can move forward (waits without sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Scenario:
    """The harness, its clock and a wallboard over its statistics (see the module doc)."""

    def __init__(self, harness: AcdHarness, clock: OffsetClock, board: Wallboard) -> None:
        self.h = harness
        self.clock = clock
        self.board = board
        self.waiting: list[Caller] = []
        self._numbers = iter(range(1, 1000))

    @classmethod
    async def create(cls, *, min_interval_s: float = 0.1) -> Scenario:
        clock = OffsetClock()
        fake = FakeEngine()
        await fake.start()
        acd = AcdService(fake, StaticDirectory(fake), seed=1, clock=clock)
        acd.start()
        harness = AcdHarness(fake, acd)
        harness.queue(service_level_s=SL_S, wrapup_s=600, required_skills={"french": 1})
        board = Wallboard(harness.stats, clock=clock, min_interval_s=min_interval_s)
        board.attach(acd)
        return cls(harness, clock, board)

    async def close(self) -> None:
        for caller in self.waiting:
            caller.task.cancel()
        await self.h.close()

    def number(self) -> str:
        return f"+4420794600{next(self._numbers):02d}"

    async def run(self) -> None:
        """The whole morning; returns with one caller waiting (see the module doc)."""
        h, acd = self.h, self.h.acd
        h.agent("101", action=Answer(), skills={"french": 5})
        acd.pause(TENANT, "a101", "break")
        h.agent("102", skills={"french": 5})
        acd.pause(TENANT, "a102", "lunch")
        acd.put_agent(
            AgentConfig(tenant_id=TENANT, agent_id="a103", extension="103", skills={"french": 5}),
            reachable=False,
        )
        acd.login(TENANT, "a103", QUEUE)
        h.agent("104", skills={"french": 5})
        acd.logout(TENANT, "a104")
        h.agent("105")
        answered = iter(ANSWERED)
        abandoned = iter(ABANDONED_WAITS)
        for position in range(len(ANSWERED) + len(ABANDONED_WAITS)):
            if position in ABANDON_AT:
                await self._abandoned(next(abandoned))
            else:
                await self._answered(*next(answered))
        self.waiting.append(await h.call(self.number()))

    async def _answered(self, wait: float, talk: float, wrapup: float) -> None:
        h, acd = self.h, self.h.acd
        done = len(h.of("completed"))
        caller = await h.call(self.number())
        self.clock.advance(wait)
        acd.unpause(TENANT, "a101")
        await h.until_event("dequeued", call_id=h.of("queued")[-1].call_id)
        acd.pause(TENANT, "a101", "break")  # after this call
        self.clock.advance(talk)
        await h.phones.hangup("101")
        result = await caller.result()
        assert result.outcome == "answered", result
        await h.fake.remote_hangup(caller.leg.id)
        self.clock.advance(wrapup)
        acd.ready(TENANT, "a101")
        await h.until(lambda: len(h.of("completed")) == done + 1)

    async def _abandoned(self, wait: float) -> None:
        caller = await self.h.call(self.number())
        self.clock.advance(wait)
        await self.h.fake.remote_hangup(caller.leg.id)
        assert (await caller.result()).outcome == "abandoned"
