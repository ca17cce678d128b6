"""Supervision on the FakeEngine: listen / whisper / barge on an agent's call, mode switches,
how sessions end (supervisor hangs up, call ends, stop, no answer, shutdown), errors and
the CTI events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.core import FakeEngine
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

    def snoops(self) -> list[tuple[Any, ...]]:
        return [c for c in self.engine.commands if c[0] == "snoop"]

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


async def test_listen_bridges_the_supervisor_with_a_listen_only_snoop(h: Harness) -> None:
    _customer, agent = await h.agent_call()
    session = await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    assert session["state"] == "ringing" and session["agent_channel"] == agent
    assert ("originate", SipUser("150@1"), sup_leg(h)) in h.engine.commands
    assert h.snoops() == []  # nothing before the supervisor answers
    await h.engine.remote_answer(sup_leg(h))
    await h.settle()
    [(_, target, snoop, listen, whisper)] = h.snoops()
    assert (target, listen, whisper) == (agent, True, "none")
    live = h.service.get(session["id"], scope=1)
    assert live["state"] == "active" and live["answered_at"] is not None
    [bridge] = [b for b in h.engine.bridges.values() if sup_leg(h) in b.leg_ids]
    assert bridge.leg_ids == {sup_leg(h), snoop}
    assert h.names() == ["supervision_started", "supervision_changed"]
    # Only the tenant stream and the supervisor's extension see it, not the agent's.
    assert h.events[-1]["call"]["extensions"] == ["150"]
    assert h.events[-1]["details"]["state"] == "active"


@pytest.mark.parametrize(("mode", "whisper"), [("whisper", "leg"), ("barge", "both")])
async def test_whisper_and_barge_snoop_with_whisper(h: Harness, mode: str, whisper: str) -> None:
    await h.agent_call()
    await start(h, mode)
    assert [c[3:] for c in h.snoops()] == [(True, whisper)]


async def test_mode_switch_replaces_the_snoop_and_keeps_the_supervisor(h: Harness) -> None:
    await h.agent_call()
    session = await start(h)
    supervisor = sup_leg(h)
    for mode, whisper in (("whisper", "leg"), ("barge", "both"), ("listen", "none")):
        changed = await h.service.change(session["id"], mode, scope=1)
        assert changed["mode"] == mode and changed["state"] == "active"
        snoop = h.snoops()[-1]
        assert snoop[4] == whisper
        [bridge] = [b for b in h.engine.bridges.values() if supervisor in b.leg_ids]
        assert bridge.leg_ids == {supervisor, snoop[2]}
    old = [c[2] for c in h.snoops()[:-1]]
    assert all(("hangup", leg, 16) in h.engine.commands for leg in old)
    assert h.engine.legs[supervisor].alive
    changes = [e["details"] for e in h.events if e["event"] == "supervision_changed"]
    assert [c.get("previous_mode") for c in changes] == [None, "listen", "whisper", "barge"]
    same = await h.service.change(session["id"], "listen", scope=1)
    assert same["mode"] == "listen" and len(h.snoops()) == 4


async def test_supervisor_hanging_up_ends_it_cleanly(h: Harness) -> None:
    customer, agent = await h.agent_call()
    session = await start(h)
    snoop = h.snoops()[0][2]
    await h.engine.remote_hangup(sup_leg(h))
    await h.settle()
    assert h.service.list(scope=None) == []
    assert not h.engine.legs[snoop].alive and not h.engine.bridges
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
    assert not h.engine.bridges and h.service.list(scope=None) == []


async def test_stop_while_ringing_and_no_answer(h: Harness) -> None:
    await h.agent_call()
    session = await h.service.begin(1, supervisor="150", agent="101", mode="listen", scope=None)
    ended = await h.service.end(session["id"], scope=1)
    assert ended["state"] == "ended" and ended["reason"] == "stopped"
    assert not h.engine.legs[sup_leg(h)].alive and h.snoops() == []
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
        assert [(c[1], c[4]) for c in h.snoops()] == [(agent, "none"), (agent, "leg")]
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
    assert h.events[-1]["details"]["reason"] == "shutdown" and not h.engine.bridges


async def test_fake_snoop_rules() -> None:
    engine = FakeEngine()
    await engine.start()
    with pytest.raises(ValidationError):
        await engine.snoop("x", listen=False, whisper="none")
    with pytest.raises(LegGoneError):
        await engine.snoop("nowhere")


def test_channel_watch_orders_bridged_then_newest() -> None:
    from orchestrator.core.events import ChannelBridged, ChannelEnded, ChannelStarted

    watch = ChannelWatch()
    for n, at in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        watch.on_event(
            ChannelStarted(channel_id=n, call_id=n, endpoint="101@1", state="up", timestamp=at)
        )
    watch.on_event(ChannelBridged(channel_id="a", call_id="a", bridge_id="br"))
    assert [c.id for c in watch.answered("101@1")] == ["a", "c", "b"]
    watch.on_event(ChannelEnded(channel_id="a", call_id="a"))
    assert [c.id for c in watch.answered("101@1")] == ["c", "b"] and "a" not in watch
