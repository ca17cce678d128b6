"""The CTI call registry and service on a FakeEngine: IVR calls, remote apps driven by
commands, click-to-call, and the events each produces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from orchestrator.core import FakeEngine, NotFoundError, ValidationError
from orchestrator.core.call import LegState
from orchestrator.core.targets import Extension, Routing, SipUser
from orchestrator.cti import CallNotRemoteError, CallStateError, CtiEvent, CtiService, Subscription
from orchestrator.cti.commands import ClickToCallParams, OriginateParams
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory

ACCESS = "+15550100"


async def python_flow(call: IvrCall) -> None:
    await call.answer()
    await call.play("hello-world")
    await call.collect(4, first_timeout=5)
    await call.sleep(5)


@dataclass
class Harness:
    engine: FakeEngine
    runner: IvrRunner
    cti: CtiService
    events: list[CtiEvent] = field(default_factory=list)
    specs: dict[str, AppSpec] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    async def incoming(self, app: str = "visa", tenant: str = "1") -> IvrCall:
        leg = await self.engine.incoming_call(
            caller="+447700900123",
            called=ACCESS,
            routing=Routing("ivr", {"flow": app, "tenant": tenant}),
        )
        for _ in range(100):
            await asyncio.sleep(0)
            if leg.id in self.runner.calls and self.cti.calls._calls.get(leg.id):
                return self.runner.calls[leg.id]
        raise AssertionError("the flow did not start")

    async def until(self, event: str, timeout: float = 2.0) -> CtiEvent:
        async with asyncio.timeout(timeout):
            while True:
                for e in self.events:
                    if e.event == event:
                        return e
                await asyncio.sleep(0.001)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    engine = FakeEngine()
    await engine.start()
    cti = CtiService(engine, StaticDirectory(engine))
    registry = AppRegistry(
        builtins={"remote": cti.remote_flow, "python": python_flow}, entry_point_group=None
    )
    specs = {
        "visa": AppSpec("visa", "remote", "1", settings={"wait_s": 0.2}),
        "fb": AppSpec("fb", "remote", "1", fallback="extension:102", settings={"wait_s": 0.05}),
        "menu": AppSpec("menu", "python", "1"),
    }

    async def lookup(_tenant: str, name: str) -> AppSpec | None:
        return specs.get(name)

    runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine))
    runner.start()
    cti.start(runner)
    harness = Harness(engine, runner, cti, specs=specs)

    def sink(_sub: Subscription, event: CtiEvent) -> None:
        harness.events.append(event)

    cti.stream.subscribe(1, sink)
    try:
        yield harness
    finally:
        await cti.stop()
        await runner.stop()


async def test_remote_call_is_announced_ringing_and_listed(h: Harness) -> None:
    ivr = await h.incoming()
    await h.until("ringing")
    assert h.names()[:2] == ["new", "ringing"]
    assert [e.seq for e in h.events] == list(range(1, len(h.events) + 1))
    call = h.cti.get_call(ivr.id, scope=1)
    assert call["state"] == "ringing" and call["kind"] == "remote"
    assert call["access_number"] == ACCESS and call["caller"] == "+447700900123"
    assert ("ring", ivr.id) in h.engine.commands and ("answer", ivr.id) not in h.engine.commands
    assert [c["id"] for c in h.cti.list_calls(scope=None, access_number=ACCESS)] == [ivr.id]
    with pytest.raises(NotFoundError):
        h.cti.get_call(ivr.id, scope=2)


async def test_remote_call_answer_play_collect_hangup(h: Harness) -> None:
    ivr = await h.incoming()
    await h.cti.command("answer", ivr.id, {}, scope=1, who="ws-1")
    await h.cti.command("play", ivr.id, {"media": ["sound:welcome"]}, scope=1, who="ws-1")
    collect = asyncio.create_task(
        h.cti.command("collect", ivr.id, {"max_digits": 4}, scope=1, who="ws-1")
    )
    await asyncio.sleep(0.01)
    await h.engine.dtmf(ivr.id, "1234")
    assert await collect == {"digits": "1234"}
    assert any(c[:3] == ("play", ivr.id, ("sound:welcome",)) for c in h.engine.commands)
    await h.cti.command("hangup", ivr.id, {}, scope=1, who="ws-1")
    await h.until("hung_up")
    assert h.names() == ["new", "ringing", "answered", "dtmf", "dtmf", "dtmf", "dtmf", "hung_up"]
    assert [e.details.get("digit") for e in h.events if e.event == "dtmf"] == list("1234")
    assert h.cti.list_calls(scope=1) == []
    await h.runner.wait_idle(2)


async def test_collect_with_prompt_returns_keys_pressed_during_it(h: Harness) -> None:
    ivr = await h.incoming()
    await h.cti.command("answer", ivr.id, {}, scope=1, who="ws-1")
    await h.engine.dtmf(ivr.id, "42#")
    result = await h.cti.command(
        "collect", ivr.id, {"max_digits": 5, "prompt": ["enter-number"]}, scope=1, who="ws-1"
    )
    assert result == {"digits": "42"}


async def test_nobody_in_control_goes_to_the_fallback(h: Harness) -> None:
    ivr = await h.incoming("fb")
    await h.until("transferred", timeout=2)
    assert ("transfer", ivr.id, Extension("1", "102")) in h.engine.commands
    assert h.events[-1].details == {"destination": "extension:102"}


async def test_nobody_in_control_without_fallback_hangs_up(h: Harness) -> None:
    h.specs["visa"] = AppSpec("visa", "remote", "1", settings={"wait_s": 0.02})
    ivr = await h.incoming()
    event = await h.until("hung_up")
    assert event.details["cause"] == 19
    assert ("hangup", ivr.id, 19) in h.engine.commands


async def test_controller_gone_lets_the_call_fall_back(h: Harness) -> None:
    ivr = await h.incoming()
    await h.cti.command("answer", ivr.id, {}, scope=1, who="ws-1")
    await asyncio.sleep(0.3)  # longer than wait_s: a controller is there
    assert not ivr.hung_up
    h.cti.release("ws-1")
    await h.until("hung_up", timeout=2)
    assert ("hangup", ivr.id, 16) in h.engine.commands


async def test_caller_hanging_up_ends_the_remote_call(h: Harness) -> None:
    ivr = await h.incoming()
    await h.cti.command("answer", ivr.id, {}, scope=1, who="ws-1")
    await h.engine.remote_hangup(ivr.id, 16)
    await h.until("hung_up")
    await h.runner.wait_idle(2)
    assert h.names().count("hung_up") == 1
    with pytest.raises(NotFoundError):
        await h.cti.command("answer", ivr.id, {}, scope=1, who="ws-1")


async def test_python_flow_call_refuses_media_commands_but_not_hold_or_hangup(
    h: Harness,
) -> None:
    ivr = await h.incoming("menu")
    await h.until("answered")
    with pytest.raises(CallNotRemoteError) as refused:
        await h.cti.command("play", ivr.id, {"media": ["beep"]}, scope=1, who="ws-1")
    assert refused.value.error_id == "call-not-remote"
    await h.cti.command("hold", ivr.id, {}, scope=1, who="ws-1")
    await h.cti.command("unhold", ivr.id, {}, scope=1, who="ws-1")
    with pytest.raises(CallStateError):  # answered: too late to redirect
        await h.cti.command("redirect", ivr.id, {"destination": "102"}, scope=1, who="ws-1")
    await h.cti.command("hangup", ivr.id, {"cause": 17}, scope=1, who="ws-1")
    await h.runner.wait_idle(2)
    assert h.names() == ["new", "answered", "held", "unheld", "hung_up"]
    assert h.events[-1].details["cause"] == 17


async def test_redirect_of_a_ringing_call_transfers_it(h: Harness) -> None:
    ivr = await h.incoming()
    await h.cti.command("redirect", ivr.id, {"destination": "103"}, scope=1, who="rest")
    await h.until("transferred")
    assert ("transfer", ivr.id, Extension("1", "103")) in h.engine.commands
    await h.runner.wait_idle(2)
    assert ("answer", ivr.id) not in h.engine.commands


async def test_bad_command_parameters_are_invalid_input(h: Harness) -> None:
    ivr = await h.incoming()
    with pytest.raises(ValidationError) as bad:
        await h.cti.command("collect", ivr.id, {"max_digits": 99}, scope=1, who="ws-1")
    assert bad.value.details["field"] == "max_digits"
    with pytest.raises(ValidationError):
        await h.cti.command("play", ivr.id, {"media": ["../../etc/passwd"]}, scope=1, who="x")


async def answer_when_originated(engine: FakeEngine, count: int) -> list[str]:
    """Play the far ends: every leg the service originates answers."""
    answered: list[str] = []
    async with asyncio.timeout(2):
        while len(answered) < count:
            for cmd in engine.commands:
                if cmd[0] == "originate" and cmd[2] not in answered:
                    answered.append(cmd[2])
                    await engine.remote_answer(cmd[2])
            await asyncio.sleep(0.001)
    return answered


async def test_click_to_call_connects_both_legs_and_records_the_account(h: Harness) -> None:
    params = ClickToCallParams(
        tenant_id=1, a="101", b="+442079460000", caller_id_b="+15550100", account="acme-42"
    )
    call = await h.cti.click_to_call(params, scope=1)
    assert call["state"] == "ringing" and call["account"] == "acme-42"
    assert call["extensions"] == ["101"]
    a, b = await answer_when_originated(h.engine, 2)
    assert a == call["id"]
    assert h.engine.commands[0][1] == SipUser("101@1")
    await asyncio.sleep(0.01)
    connected = [c for c in h.engine.commands if c[0] == "connect"]
    assert [c[1:] for c in connected] == [(a, b)]
    snap = h.cti.get_call(a, scope=1)
    assert snap["state"] == "answered"
    assert {leg["role"]: leg["state"] for leg in snap["legs"]} == {"a": "up", "b": "up"}
    assert h.cti.list_calls(scope=1, extension="101")[0]["id"] == a
    await h.engine.remote_hangup(b)
    await h.until("hung_up")
    assert h.engine.legs[a].state is LegState.HUNG_UP  # the other leg follows
    assert h.names() == ["new", "ringing", "answered", "ringing", "answered", "hung_up"]
    assert h.events[-1].call["account"] == "acme-42"


async def test_click_to_call_leg_a_not_answering_ends_the_call(h: Harness) -> None:
    call = await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b="102"), scope=1)
    await h.engine.remote_hangup(call["id"], 17)
    event = await h.until("hung_up")
    assert event.details["cause"] == 17
    assert not any(c[0] == "originate" and c[1] == SipUser("102@1") for c in h.engine.commands)


async def test_originate_transfer_and_hold(h: Harness) -> None:
    call = await h.cti.originate(
        OriginateParams(tenant_id=1, extension="101", destination="+442079460000"), scope=1
    )
    assert call["kind"] == "originate"
    with pytest.raises(CallStateError):  # leg B not there yet
        await h.cti.command("hold", call["id"], {}, scope=1, who="rest")
    _a, b = await answer_when_originated(h.engine, 2)
    await asyncio.sleep(0.01)
    await h.cti.command("hold", call["id"], {}, scope=1, who="rest")
    assert ("hold", b, "") in h.engine.commands
    await h.cti.command("unhold", call["id"], {}, scope=1, who="rest")
    with pytest.raises(CallNotRemoteError):
        await h.cti.command("answer", call["id"], {}, scope=1, who="rest")
    await h.cti.command("transfer", call["id"], {"destination": "103"}, scope=1, who="rest")
    await h.until("transferred")
    assert ("transfer", b, Extension("1", "103")) in h.engine.commands
    await asyncio.sleep(0.01)
    assert ("hangup", call["id"], 16) in h.engine.commands  # A leaves
    assert not any(c[:2] == ("hangup", b) for c in h.engine.commands)
    assert h.names()[-3:] == ["held", "unheld", "transferred"]


async def test_click_to_call_in_another_tenant_is_not_found(h: Harness) -> None:
    with pytest.raises(NotFoundError):
        await h.cti.click_to_call(ClickToCallParams(tenant_id=2, a="101", b="102"), scope=1)
    assert h.engine.commands == []


async def test_keys_typed_into_a_python_flow_are_not_broadcast(h: Harness) -> None:
    ivr = await h.incoming("menu")
    await h.until("answered")
    await h.engine.dtmf(ivr.id, "1234")  # e.g. a PIN the flow collects
    await h.cti.command("hangup", ivr.id, {}, scope=1, who="ws-1")
    await h.runner.wait_idle(2)
    assert "dtmf" not in h.names()
    assert not [e for e in h.events if "1" in str(e.details.get("digit", ""))]
