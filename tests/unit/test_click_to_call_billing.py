"""Prepaid click-to-call on a FakeEngine: authorized before leg A rings, refused with
409 ``payment-required``, cut off when the paid time is used up; and the billing
service's authorizer on a real store (reservation, refusal, release)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select

from orchestrator.core import EngineUnavailableError, FakeEngine
from orchestrator.core.call import LegState
from orchestrator.core.errors import PaymentRequiredError
from orchestrator.cti import CtiEvent, CtiService, Subscription
from orchestrator.cti.commands import ClickToCallParams, OriginateParams
from orchestrator.ivr import StaticDirectory
from orchestrator.rating import RatingService
from orchestrator.rating.clicktocall import ClickToCallAuthorizer
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Reservation
from tests.unit.billing_fixtures import setup

UK = "+442079460000"


@dataclass
class StubAuthorizer:
    """Answers with ``limit`` (or raises ``refuse``) and records what it was asked."""

    limit: float | None = None
    refuse: Exception | None = None
    asked: list[dict[str, Any]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    async def authorize(self, **ask: Any) -> float | None:
        self.asked.append(ask)
        if self.refuse is not None:
            raise self.refuse
        return self.limit

    async def release(self, call_id: str) -> None:
        self.released.append(call_id)


@dataclass
class Harness:
    engine: FakeEngine
    cti: CtiService
    authorizer: StubAuthorizer
    events: list[CtiEvent] = field(default_factory=list)

    async def until(self, name: str, timeout: float = 2.0) -> CtiEvent:
        async with asyncio.timeout(timeout):
            while True:
                for e in self.events:
                    if e.event == name:
                        return e
                await asyncio.sleep(0.001)

    async def answer_all(self, count: int) -> list[str]:
        answered: list[str] = []
        async with asyncio.timeout(2):
            while len(answered) < count:
                for cmd in self.engine.commands:
                    if cmd[0] == "originate" and cmd[2] not in answered:
                        answered.append(cmd[2])
                        await self.engine.remote_answer(cmd[2])
                await asyncio.sleep(0.001)
        return answered


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    engine = FakeEngine()
    await engine.start()
    cti = CtiService(engine, StaticDirectory(engine))
    cti.authorizer = authorizer = StubAuthorizer()
    cti.start()
    harness = Harness(engine, cti, authorizer)

    def sink(_sub: Subscription, event: CtiEvent) -> None:
        harness.events.append(event)

    cti.stream.subscribe(1, sink)
    yield harness
    await cti.stop()
    await engine.stop()


async def test_refused_before_leg_a_rings(h: Harness) -> None:
    h.authorizer.refuse = PaymentRequiredError("no money", reason="no-balance")
    params = ClickToCallParams(tenant_id=1, a="101", b=UK, account="acme")
    with pytest.raises(PaymentRequiredError) as refused:
        await h.cti.click_to_call(params, scope=1)
    assert refused.value.error_id == "payment-required"
    assert not [c for c in h.engine.commands if c[0] == "originate"]
    assert h.cti.list_calls(scope=1) == []
    [ask] = h.authorizer.asked
    assert ask["numbers"] == [UK] and ask["extension"] == "101" and ask["account"] == "acme"
    assert ask["call_id"] and ask["tenant_id"] == 1


async def test_only_legs_to_numbers_are_paid(h: Harness) -> None:
    await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b="102"), scope=1)
    await h.cti.originate(OriginateParams(tenant_id=1, extension="101", destination=UK), scope=1)
    assert [a["numbers"] for a in h.authorizer.asked] == [[], [UK]]


async def test_cut_off_when_the_paid_time_is_used_up(h: Harness) -> None:
    h.authorizer.limit = 0.2
    call = await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b=UK), scope=1)
    a, b = await h.answer_all(2)
    up = asyncio.get_running_loop().time()
    event = await h.until("hung_up")
    elapsed = asyncio.get_running_loop().time() - up
    assert 0.15 <= elapsed < 1.0, elapsed
    assert event.details["cut_off"] == "prepaid-limit" and event.call["id"] == call["id"]
    assert h.engine.legs[a].state is LegState.HUNG_UP
    assert h.engine.legs[b].state is LegState.HUNG_UP


async def test_unlimited_call_is_not_cut_off(h: Harness) -> None:
    call = await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b=UK), scope=1)
    _a, b = await h.answer_all(2)
    await asyncio.sleep(0.3)
    assert not any(e.event == "hung_up" for e in h.events)
    await h.engine.remote_hangup(b)
    event = await h.until("hung_up")
    assert "cut_off" not in event.details and event.call["id"] == call["id"]


async def test_reservation_released_when_leg_a_cannot_be_placed(h: Harness) -> None:
    h.authorizer.limit = 60
    await h.engine.stop()  # originate now fails: engine unavailable
    with pytest.raises(EngineUnavailableError):
        await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b=UK), scope=1)
    assert h.authorizer.released == [h.authorizer.asked[0]["call_id"]]


# -- the billing service's authorizer on a real store ------------------------------------
async def test_authorizer_reserves_refuses_and_releases(db_sessions: SessionFactory) -> None:
    ids = setup(db_sessions, balance="0.05")
    authorizer = ClickToCallAuthorizer(RatingService(db_sessions))
    ask = {"tenant_id": ids["tenant"], "account": "acme", "extension": "101"}
    # 0.05 EUR at 0.60/min buys 5 s; the CTI timer is set 0.5 s short of it.
    limit = await authorizer.authorize(call_id="c1", numbers=["0044207946001"], **ask)
    assert limit == 4.5
    with db_sessions() as s:
        [held] = s.exec(select(Reservation)).all()
        assert (held.call_id, held.amount) == ("c1", Decimal("0.05"))
    with pytest.raises(PaymentRequiredError) as refused:
        await authorizer.authorize(call_id="c2", numbers=["0044207946001"], **ask)
    assert refused.value.details["reason"] == "no-balance"
    with pytest.raises(PaymentRequiredError) as unknown:
        await authorizer.authorize(
            call_id="c3", numbers=["0044207946001"], **{**ask, "account": "nobody"}
        )
    assert unknown.value.details["reason"] == "unknown-account"
    # No paid leg: nothing asked of the store, no limit.
    assert await authorizer.authorize(call_id="c4", numbers=[], **ask) is None
    await authorizer.release("c1")
    with db_sessions() as s:
        assert s.exec(select(Reservation)).all() == []
    # The default account pays when none is named (extension 101 has none of its own).
    limit = await authorizer.authorize(
        call_id="c5", numbers=["0044207946001"], **{**ask, "account": None}
    )
    assert limit == 4.5


async def test_both_external_legs_are_authorized_together(db_sessions: SessionFactory) -> None:
    ids = setup(db_sessions, balance="0.10")
    authorizer = ClickToCallAuthorizer(RatingService(db_sessions))
    ask = {"tenant_id": ids["tenant"], "account": "acme", "extension": None}
    # Two UK legs at 0.60/min each: 0.10 EUR buys 5 s of both (each leg alone: 10 s).
    uk = ["0044207946001", "0044207946002"]
    assert await authorizer.authorize(call_id="c1", numbers=uk, **ask) == 4.5
    with db_sessions() as s:
        held = sorted((r.number, r.amount, r.max_duration_s) for r in s.exec(select(Reservation)))
    assert held == [(uk[0], Decimal("0.05"), 5), (uk[1], Decimal("0.05"), 5)]
    # Nothing is left for another call; a refused pair reserves nothing.
    with pytest.raises(PaymentRequiredError) as refused:
        await authorizer.authorize(call_id="c2", numbers=uk, **ask)
    assert refused.value.details["reason"] == "no-balance"
    assert refused.value.details["number"] == uk
    await authorizer.release("c1")
    with db_sessions() as s:
        assert s.exec(select(Reservation)).all() == []
