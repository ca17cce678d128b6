"""Supervision on the FakeEngine: listen / whisper / barge on an agent's call, mode switches,
how sessions end (supervisor hangs up, call ends, stop, no answer, shutdown), errors and
the CTI events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.targets import SipUser
from orchestrator.cti import CtiService, EventStream
from orchestrator.cti.channels import ChannelWatch
from orchestrator.cti.commands import ClickToCallParams
from orchestrator.cti.supervise import (
    AgentNotOnCallError,
    SupervisionService,
    SupervisorBusyError,
)
from orchestrator.ivr import StaticDirectory

ENDPOINTS = {(1, n): f"{n}@1" for n in ("101", "102", "150", "151")} | {(2, "201"): "201@2"}


async def endpoint_of(tenant_id: int, number: str) -> str | None:
    return ENDPOINTS.get((tenant_id, number))


class Harness:
    def __init__(self) -> None:
        self.engine = FakeEngine()
        self.stream = EventStream()
        self.cti = CtiService(self.engine, StaticDirectory(self.engine), stream=self.stream)
        self.service = SupervisionService(
            self.engine, self.stream, endpoint_of, calls=self.cti.calls
        )
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> Harness:
        await self.engine.start()
        self.service.start()
        self.cti.start()
        self.stream.subscribe(1, lambda _sub, e: self.events.append(e.to_dict()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()
        await self.cti.stop()

    async def agent_call(self) -> tuple[str, str]:
        """Customer 102 calls agent 101 in dialplan; both answered and bridged."""
        return await self.engine.dialplan_call("102@1", "101@1", hangup=False)

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    def supervises(self) -> list[tuple[Any, ...]]:
        return [c for c in self.engine.commands if c[0] == "supervise"]

    def names(self) -> list[str]:
        return [e["event"] for e in self.events if e["event"].startswith("supervision")]


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    async with Harness() as harness:
        yield harness


async def start(h: Harness, mode: str = "listen", agent: str = "101") -> dict[str, Any]:
    session = await h.service.begin(1, supervisor="150", agent=agent, mode=mode, scope=None)
    await h.engine.remote_answer(sup_leg(h))
    await h.settle()
    return session


def sup_leg(h: Harness) -> str:
    return str(next(c[2] for c in reversed(h.engine.commands) if c[0] == "originate"))


async def test_listen_makes_the_supervisor_listen_to_the_agent(h: Harness) -> None:
    _customer, agent = await h.agent_call()
    session = await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    assert session["state"] == "ringing" and session["agent_channel"] == agent
    assert ("originate", SipUser("150@1"), sup_leg(h)) in h.engine.commands
    assert h.supervises() == []  # nothing before the supervisor answers
    await h.engine.remote_answer(sup_leg(h))
    await h.settle()
    [(_, target, supervisor, mode)] = h.supervises()
    assert (target, supervisor, mode) == (agent, sup_leg(h), SupervisionMode.LISTEN)
    live = h.service.get(session["id"], scope=1)
    assert live["state"] == "active" and live["answered_at"] is not None
    # The supervisor's leg supervises the agent's channel, and nothing else.
    assert h.engine.supervisions == {sup_leg(h): (agent, SupervisionMode.LISTEN)}
    assert h.names() == ["supervision_started", "supervision_changed"]
    # Only the tenant stream and the supervisor's extension see it, not the agent's.
    assert h.events[-1]["call"]["extensions"] == ["150"]
    assert h.events[-1]["details"]["state"] == "active"


@pytest.mark.parametrize(
    ("mode", "engine_mode"),
    [("whisper", SupervisionMode.WHISPER), ("barge", SupervisionMode.BARGE)],
)
async def test_whisper_and_barge_supervise_in_that_mode(
    h: Harness, mode: str, engine_mode: SupervisionMode
) -> None:
    _customer, agent = await h.agent_call()
    await start(h, mode)
    assert [c[3] for c in h.supervises()] == [engine_mode]
    assert h.engine.supervisions == {sup_leg(h): (agent, engine_mode)}


async def test_mode_switch_supervises_again_and_keeps_the_supervisor(h: Harness) -> None:
    _customer, agent = await h.agent_call()
    session = await start(h)
    supervisor = sup_leg(h)
    modes = SupervisionMode
    for mode, engine_mode in (("whisper", modes.WHISPER), ("barge", modes.BARGE),
                              ("listen", modes.LISTEN)):  # fmt: skip
        changed = await h.service.change(session["id"], mode, scope=1)
        assert changed["mode"] == mode and changed["state"] == "active"
        assert h.supervises()[-1] == ("supervise", agent, supervisor, engine_mode)
        # One supervision, switched: the supervisor's leg is not replaced.
        assert h.engine.supervisions == {supervisor: (agent, engine_mode)}
    assert not any(c[0] == "hangup" for c in h.engine.commands)
    assert h.engine.legs[supervisor].alive
    changes = [e["details"] for e in h.events if e["event"] == "supervision_changed"]
    assert [c.get("previous_mode") for c in changes] == [None, "listen", "whisper", "barge"]
    same = await h.service.change(session["id"], "listen", scope=1)
    assert same["mode"] == "listen" and len(h.supervises()) == 4


async def test_supervisor_hanging_up_ends_it_cleanly(h: Harness) -> None:
    customer, agent = await h.agent_call()
    session = await start(h)
    assert h.engine.supervisions
    await h.engine.remote_hangup(sup_leg(h))
    await h.settle()
    assert h.service.list(scope=None) == []
    assert h.engine.supervisions == {} and h.engine.peer(sup_leg(h)) is None
    assert agent in h.engine.channels and customer in h.engine.channels  # the call goes on
    ended = h.events[-1]
    assert ended["event"] == "supervision_ended"
    assert ended["details"]["reason"] == "supervisor_hung_up"
    assert ended["details"]["id"] == session["id"]


async def test_the_agents_call_ending_ends_it(h: Harness) -> None:
    customer, _agent = await h.agent_call()
    await start(h, "barge")
    await h.engine.hangup_channel(customer)
    await h.settle()
    assert h.events[-1]["details"]["reason"] == "call_ended"
    assert ("hangup", sup_leg(h), 16) in h.engine.commands
    assert h.engine.peer(sup_leg(h)) is None and h.service.list(scope=None) == []
    assert h.engine.supervisions == {}


async def test_stop_while_ringing_and_no_answer(h: Harness) -> None:
    await h.agent_call()
    session = await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    ended = await h.service.end(session["id"], scope=1)
    assert ended["state"] == "ended" and ended["reason"] == "stopped"
    assert not h.engine.legs[sup_leg(h)].alive and h.supervises() == []
    await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    await h.engine.remote_hangup(sup_leg(h), 19)
    await h.settle()
    assert h.events[-1]["details"]["reason"] == "no_answer"
    with pytest.raises(NotFoundError):
        await h.service.end(session["id"], scope=1)


async def test_errors(h: Harness) -> None:
    begin = h.service.begin
    with pytest.raises(AgentNotOnCallError):
        await begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    with pytest.raises(NotFoundError) as missing:
        await begin(1, supervisor="150", agent="109", mode="listen", scope=None)
    assert missing.value.error_id == "not-found"
    with pytest.raises(NotFoundError):  # another tenant's extension
        await begin(1, supervisor="150", agent="201", mode="listen", scope=None)
    with pytest.raises(NotFoundError):  # another tenant altogether
        await begin(1, supervisor="150", agent="101", mode="listen", scope=2)
    with pytest.raises(ValidationError):
        await begin(1, supervisor="101", agent="101", mode="listen", scope=None)
    with pytest.raises(ValidationError):
        await begin(1, supervisor="150", agent="101", mode="shout", scope=None)
    await h.agent_call()
    session = await start(h)
    with pytest.raises(SupervisorBusyError):
        await begin(1, supervisor="150", agent="101", mode="barge", scope=None)
    # A second supervisor on the same agent is fine; one whose phone is busy is not.
    await h.engine.dialplan_call("151@1", "102@1", hangup=False)
    with pytest.raises(SupervisorBusyError):
        await begin(1, supervisor="151", agent="101", mode="listen", scope=None)
    with pytest.raises(NotFoundError):
        h.service.get(session["id"], scope=2)
    with pytest.raises(NotFoundError):
        h.service.list(scope=2, tenant_id=1)


async def test_two_supervisors_on_one_agent(h: Harness) -> None:
    _customer, agent = await h.agent_call()
    ENDPOINTS[(1, "152")] = "152@1"
    try:
        await start(h)
        await h.service.begin(1, supervisor="152", agent="101", mode="whisper", scope=None)
        await h.engine.remote_answer(sup_leg(h))
        await h.settle()
        assert [(c[1], c[3]) for c in h.supervises()] == [
            (agent, SupervisionMode.LISTEN),
            (agent, SupervisionMode.WHISPER),
        ]
        assert len(h.service.list(scope=1)) == 2
    finally:
        del ENDPOINTS[(1, "152")]


async def test_click_to_call_is_named_by_its_cti_call(h: Harness) -> None:
    call = await h.cti.click_to_call(ClickToCallParams(tenant_id=1, a="101", b="102"), scope=None)
    await h.engine.remote_answer(call["id"])
    await h.settle()
    leg_b = next(c[2] for c in reversed(h.engine.commands) if c[0] == "originate")
    await h.engine.remote_answer(leg_b)
    await h.settle()
    session = await h.service.begin(1, supervisor="150", agent="102", mode="listen", scope=1)
    assert session["agent_channel"] == leg_b and session["call_id"] == call["id"]


async def test_shutdown_ends_sessions(h: Harness) -> None:
    await h.agent_call()
    await start(h)
    await h.service.stop()
    assert h.events[-1]["details"]["reason"] == "shutdown"
    assert h.engine.peer(sup_leg(h)) is None
    assert h.engine.supervisions == {}


async def test_the_supervisor_answering_as_the_call_ends_is_call_ended(h: Harness) -> None:
    customer, _agent = await h.agent_call()
    await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    # The engine refuses: the agent's channel is gone before observation says so.
    original = h.engine.supervise

    async def gone(*args: Any) -> None:
        raise LegGoneError("channel is gone")

    h.engine.supervise = gone  # type: ignore[method-assign]
    try:
        await h.engine.remote_answer(sup_leg(h))
        await h.settle()
    finally:
        h.engine.supervise = original  # type: ignore[method-assign]
    assert h.events[-1]["details"]["reason"] == "call_ended"
    assert not h.engine.legs[sup_leg(h)].alive and h.service.list(scope=None) == []
    await h.engine.hangup_channel(customer)


async def test_fake_supervise_rules() -> None:
    engine = FakeEngine()
    await engine.start()
    customer, agent = await engine.dialplan_call("102@1", "101@1", hangup=False)
    supervisor = await engine.originate(SipUser("150@1"))
    with pytest.raises(ValidationError):
        await engine.supervise(agent, supervisor.id, "shout")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await engine.supervise(supervisor.id, supervisor.id, SupervisionMode.LISTEN)
    with pytest.raises(LegGoneError):
        await engine.supervise("nowhere", supervisor.id, SupervisionMode.LISTEN)
    with pytest.raises(LegGoneError):
        await engine.supervise(agent, "nobody", SupervisionMode.LISTEN)
    assert engine.supervisions == {}
    # Every mode, switched in place; it ends with the target (the supervisor's leg stays).
    for mode in SupervisionMode:
        await engine.supervise(agent, supervisor.id, mode)
        assert engine.supervisions == {supervisor.id: (agent, mode)}
    await engine.hangup_channel(customer)
    assert engine.supervisions == {} and engine.legs[supervisor.id].alive
    # ... and with the supervisor's leg.
    _customer, agent = await engine.dialplan_call("102@1", "101@1", hangup=False)
    await engine.supervise(agent, supervisor.id, "barge")  # type: ignore[arg-type]
    assert engine.supervisions == {supervisor.id: (agent, SupervisionMode.BARGE)}
    await engine.remote_hangup(supervisor.id)
    assert engine.supervisions == {}


def test_channel_watch_orders_bridged_then_newest() -> None:
    from orchestrator.core.events import ChannelBridged, ChannelEnded, ChannelStarted

    watch = ChannelWatch()
    for n, at in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        watch.on_event(
            ChannelStarted(channel_id=n, call_id=n, endpoint="101@1", state="up", timestamp=at)
        )
    watch.on_event(ChannelBridged(channel_id="a", call_id="a", conversation_id="br"))
    assert [c.id for c in watch.answered("101@1")] == ["a", "c", "b"]
    watch.on_event(ChannelEnded(channel_id="a", call_id="a"))
    assert [c.id for c in watch.answered("101@1")] == ["c", "b"] and "a" not in watch
