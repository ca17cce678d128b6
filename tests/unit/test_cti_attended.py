"""Attended transfer on a FakeEngine: the consultation's state machine (complete, cancel,
target busy / not answering / hanging up, either original party hanging up) and the
409s for commands that do not fit the call's state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.core import FakeEngine, ValidationError
from orchestrator.core.call import LegState
from orchestrator.core.errors import PaymentRequiredError
from orchestrator.core.targets import Routing, SipUser
from orchestrator.cti import CallStateError, CtiEvent, CtiService, Subscription
from orchestrator.cti import attended as attended_mod
from orchestrator.cti.commands import ClickToCallParams
from orchestrator.cti.errors import TransferStateError
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory
from tests.unit.test_click_to_call_billing import StubAuthorizer
from tests.unit.test_restart_adopt import MemoryKeeper


async def python_flow(call: IvrCall) -> None:
    await call.answer()
    await call.sleep(5)


@dataclass
class H:
    engine: FakeEngine
    cti: CtiService
    runner: IvrRunner
    events: list[CtiEvent] = field(default_factory=list)

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def last(self, name: str) -> CtiEvent:
        return [e for e in self.events if e.event == name][-1]

    async def until(self, ready: Any, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not ready():  # noqa: ASYNC110  (polling the fake's state is simplest)
                await asyncio.sleep(0.001)

    async def event(self, name: str) -> CtiEvent:
        await self.until(lambda: name in self.names())
        return self.last(name)

    def originated(self) -> list[str]:
        return [c[2] for c in self.engine.commands if c[0] == "originate"]

    async def cmd(self, name: str, call_id: str, **params: Any) -> dict[str, Any]:
        return await self.cti.command(name, call_id, params, scope=1, who="rest")

    async def connected_call(self) -> tuple[str, str, str]:
        """A click-to-call 101 -> 102, both answered and connected: (call id, leg a, leg b)."""
        before = len(self.originated())
        snap = await self.cti.click_to_call(
            ClickToCallParams(tenant_id=1, a="101", b="102"), scope=1
        )
        await self.engine.remote_answer(snap["id"])
        await self.until(lambda: len(self.originated()) == before + 2)
        b = self.originated()[-1]
        await self.engine.remote_answer(b)
        await self.until(lambda: snap["id"] in self.cti.connected)
        return snap["id"], snap["id"], b

    async def consult(self, call_id: str, leg: str = "b", to: str = "103") -> str:
        """Start an attended transfer; returns the target's leg id (ringing)."""
        reply = await self.cmd("attended_transfer", call_id, leg=leg, to=to)
        return str(reply["transfer"]["target_leg"])

    def connected(self, call_id: str) -> set[str]:
        """The legs that talk with another now (the call's two, or none)."""
        return set(self.engine.connections)

    def legs(self, call_id: str) -> dict[str, tuple[str, str]]:
        snap = self.cti.get_call(call_id, scope=1)
        return {leg["id"]: (leg["role"], leg["state"]) for leg in snap["legs"]}


@pytest.fixture
async def h() -> AsyncIterator[H]:
    engine = FakeEngine()
    await engine.start()
    cti = CtiService(engine, StaticDirectory(engine, extensions={"101", "102", "103", "104"}))

    async def lookup(_tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name, "python", "1")

    registry = AppRegistry(builtins={"python": python_flow}, entry_point_group=None)
    runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine))
    runner.start()
    cti.start(runner)
    harness = H(engine, cti, runner)

    def sink(_sub: Subscription, event: CtiEvent) -> None:
        harness.events.append(event)

    cti.stream.subscribe(1, sink)
    try:
        yield harness
    finally:
        await cti.stop()
        await runner.stop()


async def test_consult_then_complete_connects_held_party_and_target(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id, leg="b", to="103")
    assert ("disconnect", b) in h.engine.commands
    assert ("hold", b, "default") in h.engine.commands
    assert ("originate", SipUser("103@1"), target) in h.engine.commands
    assert h.engine.legs[target].caller_number == "101"  # caller ID: the transferer
    started = h.last("transfer_started")
    assert started.details["held_leg"] == b and started.details["transferer_leg"] == a
    assert started.call["transfer"]["state"] == "ringing"
    assert h.connected(call_id) == set()  # the transferer alone hears ringback
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    assert h.connected(call_id) == {a, target}
    assert h.cti.get_call(call_id, scope=1)["transfer"]["state"] == "talking"

    reply = await h.cmd("complete_transfer", call_id)
    assert reply["transfer"]["target_leg"] == target
    done = await h.event("transferred")
    assert done.details["attended"] is True and done.details["by"] == "command"
    assert done.details["leg_id"] == target and done.details["replaced_leg"] == a
    assert h.engine.legs[a].state is LegState.HUNG_UP
    assert h.connected(call_id) == {b, target}
    assert h.legs(call_id) == {b: ("b", "up"), target: ("a", "up")}
    snap = h.cti.get_call(call_id, scope=1)
    assert snap["state"] == "answered" and snap["transfer"] is None
    assert "103" in snap["extensions"]
    # The call goes on as a two-party call: the new party hanging up ends it.
    await h.engine.remote_hangup(target)
    await h.event("hung_up")
    assert h.engine.legs[b].state is LegState.HUNG_UP
    assert h.names().count("hung_up") == 1


async def test_cancel_drops_the_target_and_reconnects_the_parties(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    await h.cmd("cancel_transfer", call_id)
    cancelled = await h.event("transfer_cancelled")
    assert cancelled.details["reason"] == "cancelled"
    assert h.engine.legs[target].state is LegState.HUNG_UP
    assert ("unhold", b) in h.engine.commands
    assert h.connected(call_id) == {a, b}
    assert h.legs(call_id) == {a: ("a", "up"), b: ("b", "up")}
    with pytest.raises(TransferStateError):
        await h.cmd("complete_transfer", call_id)
    with pytest.raises(TransferStateError):
        await h.cmd("cancel_transfer", call_id)
    # A second consultation works after the first one ended.
    second = await h.consult(call_id, to="104")
    assert second != target and h.cti.get_call(call_id, scope=1)["transfer"]["to"] == "104"


@pytest.mark.parametrize(
    ("cause", "reason"), [(17, "busy"), (19, "no_answer"), (16, "target_hung_up")]
)
async def test_target_busy_or_not_answering_returns_the_held_party(
    h: H, cause: int, reason: str
) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_hangup(target, cause)
    cancelled = await h.event("transfer_cancelled")
    assert cancelled.details["reason"] == reason
    assert h.connected(call_id) == {a, b}
    assert ("stop_playback", cancelled.call["id"]) not in h.engine.commands
    assert h.cti.get_call(call_id, scope=1)["transfer"] is None


async def test_target_hanging_up_during_the_consultation_cancels(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    await h.engine.remote_hangup(target)
    assert (await h.event("transfer_cancelled")).details["reason"] == "target_hung_up"
    assert h.connected(call_id) == {a, b}


async def test_ring_timeout_cancels(h: H, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attended_mod, "ENGINE_MARGIN_S", 0.0)
    call_id, a, b = await h.connected_call()
    call = h.cti.calls.get(call_id)
    held, xfer = call.legs[b], call.legs[a]
    target = StaticDirectory(h.engine).resolve("1", "103")
    c = await h.cti.transfers.start(call, held, xfer, await target, ring_s=0.05)
    cancelled = await h.event("transfer_cancelled")
    assert cancelled.details["reason"] == "no_answer"
    assert h.engine.legs[c.target.id].state is LegState.HUNG_UP
    assert h.connected(call_id) == {a, b}


async def test_transferer_hanging_up_after_the_answer_completes(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id, leg="a")  # b transfers a
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    assert h.connected(call_id) == {b, target}
    await h.engine.remote_hangup(b)
    done = await h.event("transferred")
    assert done.details["by"] == "transferer_hung_up"
    assert h.connected(call_id) == {a, target}
    assert h.legs(call_id) == {a: ("a", "up"), target: ("b", "up")}
    assert "hung_up" not in h.names()


async def test_transferer_hanging_up_while_the_target_rings_completes_on_answer(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_hangup(a)
    await h.until(lambda: h.cti.get_call(call_id, scope=1)["transfer"]["complete_on_answer"])
    assert h.connected(call_id) == set()  # the held party still hears music
    await h.engine.remote_answer(target)
    done = await h.event("transferred")
    assert done.details["by"] == "transferer_hung_up"
    assert h.connected(call_id) == {b, target}
    assert "hung_up" not in h.names()


async def test_complete_while_the_target_rings(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    reply = await h.cmd("complete_transfer", call_id)
    assert reply["transfer"]["complete_on_answer"] is True
    assert h.engine.legs[a].state is LegState.HUNG_UP
    with pytest.raises(TransferStateError):  # no going back once the transferer left
        await h.cmd("cancel_transfer", call_id)
    await h.engine.remote_answer(target)
    await h.event("transferred")
    assert h.connected(call_id) == {b, target}


async def test_complete_on_answer_with_no_answer_ends_the_call(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_hangup(a)
    await h.until(lambda: h.cti.get_call(call_id, scope=1)["transfer"]["complete_on_answer"])
    await h.engine.remote_hangup(target, 19)
    assert (await h.event("transfer_cancelled")).details["reason"] == "no_answer"
    await h.event("hung_up")
    assert h.engine.legs[b].state is LegState.HUNG_UP  # nobody left to talk to


async def test_held_party_hanging_up_during_the_consultation(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    await h.engine.remote_hangup(b)
    cancelled = await h.event("transfer_cancelled")
    assert cancelled.details["reason"] == "held_hung_up"
    # The transferer and the target talk on, as a call of its own.
    assert h.legs(call_id) == {a: ("a", "up"), target: ("b", "up")}
    assert "hung_up" not in h.names()
    await h.engine.remote_hangup(a)
    await h.event("hung_up")
    assert h.engine.legs[target].state is LegState.HUNG_UP


async def test_held_party_hanging_up_while_the_target_rings(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.engine.remote_hangup(b)
    await asyncio.sleep(0.01)
    assert h.cti.get_call(call_id, scope=1)["transfer"] is not None  # still calling
    await h.engine.remote_answer(target)
    assert (await h.event("transfer_cancelled")).details["reason"] == "held_hung_up"
    assert h.connected(call_id) == {a, target}


async def test_hangup_command_during_the_consultation_ends_everything(h: H) -> None:
    call_id, a, b = await h.connected_call()
    target = await h.consult(call_id)
    await h.cmd("hangup", call_id)
    await h.event("hung_up")
    await h.until(lambda: not h.cti._tasks)
    for leg in (a, b, target):
        assert h.engine.legs[leg].state is LegState.HUNG_UP


async def test_wrong_states_are_409_and_bad_input_422(h: H) -> None:
    snap = await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b="102"), scope=1)
    with pytest.raises(CallStateError):  # not connected yet
        await h.cmd("attended_transfer", snap["id"], leg="b", to="103")
    with pytest.raises(TransferStateError):
        await h.cmd("complete_transfer", snap["id"])
    await h.cmd("hangup", snap["id"])

    call_id, _a, _b = await h.connected_call()
    with pytest.raises(ValidationError):
        await h.cmd("attended_transfer", call_id, leg="c", to="103")
    with pytest.raises(ValidationError):
        await h.cmd("attended_transfer", call_id, leg="b", to="10;3")
    before = len(h.engine.commands)
    with pytest.raises(Exception, match="no extension 199"):
        await h.cmd("attended_transfer", call_id, leg="b", to="199")
    assert len(h.engine.commands) == before  # nothing changed on the call
    await h.cmd("hold", call_id)
    with pytest.raises(CallStateError):  # on hold: unhold first
        await h.cmd("attended_transfer", call_id, leg="b", to="103")
    await h.cmd("unhold", call_id)
    await h.consult(call_id)
    with pytest.raises(TransferStateError):
        await h.cmd("attended_transfer", call_id, leg="a", to="104")
    for name, params in (("hold", {}), ("transfer", {"destination": "104"})):
        with pytest.raises(TransferStateError):
            await h.cmd(name, call_id, **params)


async def test_flow_calls_refuse_attended_transfer(h: H) -> None:
    leg = await h.engine.incoming_call(
        caller="+447700900123", called="+1555", routing=Routing("ivr", {"flow": "m", "tenant": "1"})
    )
    await h.until(lambda: leg.id in h.runner.calls and h.names()[-1:] == ["answered"])
    with pytest.raises(CallStateError) as refused:
        await h.cmd("attended_transfer", leg.id, leg="a", to="103")
    assert "blind" in refused.value.message


UK = "+442079460000"


async def test_external_target_refused_leaves_the_call_as_it_was(h: H) -> None:
    h.cti.authorizer = payer = StubAuthorizer()
    call_id, a, b = await h.connected_call()  # between extensions: nothing paid
    assert payer.asked[-1]["numbers"] == []
    payer.refuse = PaymentRequiredError("no money", reason="no-balance")
    before = len(h.originated())
    with pytest.raises(PaymentRequiredError):
        await h.consult(call_id, leg="b", to=UK)
    assert payer.asked[-1] == {
        "tenant_id": 1, "call_id": call_id, "account": None, "extension": "101", "numbers": [UK]
    }  # fmt: skip
    assert len(h.originated()) == before and h.connected(call_id) == {a, b}
    assert ("hold", b, "default") not in h.engine.commands
    # An extension target is not asked about.
    await h.consult(call_id, leg="b", to="103")
    assert len(payer.asked) == 2
    assert payer.released == []  # a transfer's reservation goes with the call's CDR


async def test_prepaid_external_target_is_cut_off_after_its_paid_time(h: H) -> None:
    h.cti.authorizer = payer = StubAuthorizer(limit=0.3)
    call_id, _a, b = await h.connected_call()
    target = await h.consult(call_id, leg="b", to=UK)
    await h.cmd("complete_transfer", call_id)  # completes when the target answers
    await h.engine.remote_answer(target)
    loop = asyncio.get_running_loop()
    answered = loop.time()
    await h.event("transferred")
    assert h.connected(call_id) == {b, target}
    hung_up = await h.event("hung_up")
    assert 0.25 <= loop.time() - answered < 1.5
    assert hung_up.details["cut_off"] == "prepaid-limit"
    assert h.engine.legs[target].state is LegState.HUNG_UP
    assert h.engine.legs[b].state is LegState.HUNG_UP
    assert payer.released == []


async def test_the_kept_record_follows_a_completed_transfer(h: H) -> None:
    """A connected call is kept for a restart (orchestrator/cti/kept.py) with the legs of
    the moment: after an attended transfer, the held party's and the target's."""
    keeper = MemoryKeeper()
    h.cti.keeper = keeper

    def kept() -> set[str]:
        record = keeper.calls.get(call_id)
        return {leg_id for leg_id, _, _ in record.legs} if record else set()

    call_id, a, b = await h.connected_call()
    await h.until(lambda: kept() == {a, b})
    target = await h.consult(call_id, leg="b", to="103")
    await h.engine.remote_answer(target)
    await h.event("transfer_answered")
    assert kept() == {a, b}  # not rewritten during the consultation
    await h.cmd("complete_transfer", call_id)
    await h.event("transferred")
    await h.until(lambda: kept() == {b, target})
    assert h.engine.kept_legs == {b, target}
    await h.engine.remote_hangup(target)
    await h.event("hung_up")
    await h.until(lambda: not keeper.calls)
    assert h.engine.kept_legs == set()
