"""Dialplan-only calls (phone to phone) in CTI, from the FakeEngine's observation events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    Event,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.cti import CallStateError, CtiEvent, CtiService, Subscription
from orchestrator.cti.observed import DialplanCalls
from orchestrator.ivr import StaticDirectory

OWNERS: dict[str, tuple[int, str | None]] = {
    "101@a.example": (1, "101"),
    "102@a.example": (1, "102"),
    "201@b.example": (2, "201"),
    "trunk-t1-carrier": (1, None),
}


async def lookup(endpoint: str) -> tuple[int, str | None] | None:
    return OWNERS.get(endpoint)


@dataclass
class Harness:
    engine: FakeEngine
    cti: CtiService
    events: list[CtiEvent] = field(default_factory=list)

    def names(self, extension: str | None = None) -> list[str]:
        return [
            e.event
            for e in self.events
            if extension is None or extension in e.call.get("extensions", ())
        ]


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    engine = FakeEngine()
    await engine.start()
    cti = CtiService(engine, StaticDirectory(engine))
    cti.calls.endpoints = lookup
    cti.start()
    harness = Harness(engine, cti)

    def sink(_sub: Subscription, event: CtiEvent) -> None:
        harness.events.append(event)

    for tenant in (1, 2):
        cti.stream.subscribe(tenant, sink)
    try:
        yield harness
    finally:
        await cti.stop()


async def test_fake_engine_plays_a_dialplan_call() -> None:
    engine = FakeEngine()
    await engine.start()
    seen: list[Event] = []
    engine.subscribe(seen.append)
    a, b = await engine.dialplan_call("101@a.example", "102@a.example", caller="101", called="102")
    kinds = [(type(e).__name__, e.channel_id) for e in seen if isinstance(e, ChannelEvent)]
    assert kinds == [
        ("ChannelStarted", a),
        ("ChannelStarted", b),
        ("ChannelDialed", a),
        ("ChannelStateChanged", b),
        ("ChannelStateChanged", b),
        ("ChannelDialed", a),
        ("ChannelStateChanged", a),
        ("ChannelBridged", b),
        ("ChannelBridged", a),
        ("ChannelUnbridged", a),
        ("ChannelEnded", a),
        ("ChannelUnbridged", b),
        ("ChannelEnded", b),
    ]
    assert {e.call_id for e in seen if isinstance(e, ChannelEvent)} == {a}
    assert not engine.channels and not engine.legs


async def test_fake_engine_observes_its_legs_too() -> None:
    engine = FakeEngine()
    await engine.start()
    seen: list[Event] = []
    engine.subscribe(seen.append)
    leg = await engine.incoming_call(caller="101", called="200")
    await engine.answer(leg.id)
    await engine.hangup(leg.id, cause=17)
    names = [type(e).__name__ for e in seen]
    assert names == [
        "ChannelStarted", "LegCreated", "ChannelStateChanged", "LegStateChanged",
        "ChannelEnded", "LegHungUp",
    ]  # fmt: skip


async def test_answered_call_is_new_ringing_answered_hung_up(h: Harness) -> None:
    a, b = await h.engine.dialplan_call(
        "101@a.example", "102@a.example", caller="101", called="102", hangup=False
    )
    assert h.names() == ["new", "ringing", "answered"]
    new = h.events[0]
    assert new.tenant_id == 1 and new.call["kind"] == "dialplan" and new.call["id"] == a
    assert new.call["caller"] == "101" and new.call["called"] == "102"
    assert new.call["extensions"] == ["101", "102"]
    listed = h.cti.list_calls(scope=1, extension="102")
    assert [c["id"] for c in listed] == [a]
    assert {leg["id"]: leg["role"] for leg in listed[0]["legs"]} == {a: "caller", b: "dialed"}
    assert listed[0]["state"] == "answered" and h.cti.list_calls(scope=2) == []
    await h.engine.hangup_channel(a)
    assert h.names() == ["new", "ringing", "answered", "hung_up"]
    assert h.events[-1].details["cause"] == 16
    assert h.cti.list_calls(scope=None) == []


async def test_busy_callee_ends_the_call_when_the_caller_hangs_up(h: Harness) -> None:
    await h.engine.dialplan_call("101@a.example", "102@a.example", caller="101", status="busy")
    assert h.names() == ["new", "ringing", "hung_up"]
    assert h.cti.list_calls(scope=None) == []


async def test_hangup_command_hangs_up_every_channel(h: Harness) -> None:
    a, _ = await h.engine.dialplan_call(
        "101@a.example", "102@a.example", caller="101", called="102", hangup=False
    )
    await h.cti.command("hangup", a, {}, scope=1, who="agent")
    assert ("hangup", a, 16) in h.engine.commands and not h.engine.channels
    assert h.names()[-1] == "hung_up" and h.names().count("hung_up") == 1
    assert h.cti.list_calls(scope=None) == []


async def test_other_commands_are_refused(h: Harness) -> None:
    a, _ = await h.engine.dialplan_call(
        "101@a.example", "102@a.example", caller="101", called="102", hangup=False
    )
    for name, params in (
        ("play", {"media": ["sound:beep"]}),
        ("hold", {}),
        ("transfer", {"destination": "extension:101"}),
    ):
        with pytest.raises(CallStateError, match="can only be hung up"):
            await h.cti.command(name, a, params, scope=1, who="agent")
    await h.engine.hangup_channel(a)


async def test_unknown_endpoints_and_other_tenants(h: Harness) -> None:
    # Nobody's endpoints: not a tenant's call.
    await h.engine.dialplan_call("999@x.example", "998@x.example")
    assert h.events == []
    # A tenant's trunk calling its phone: listed for that tenant, extension from the phone.
    await h.engine.dialplan_call("trunk-t1-carrier", "102@a.example", caller="+4420", hangup=False)
    assert [(e.event, e.tenant_id) for e in h.events][:1] == [("new", 1)]
    assert h.events[0].call["extensions"] == ["102"]
    # A phone of tenant 2 dialed from tenant 1's phone is not listed under tenant 1.
    await h.engine.dialplan_call("101@a.example", "201@b.example", caller="101", hangup=False)
    assert h.events[-1].call["extensions"] == ["101"]


async def test_orchestrator_legs_are_not_double_counted(h: Harness) -> None:
    # A leg of the orchestrator (click-to-call, IVR...) dialing is its own kind of call.
    leg = await h.engine.incoming_call(caller="101", called="200")
    observer = DialplanCalls(h.cti.calls, lookup)
    await observer.on_event(
        ChannelStarted(channel_id="p1", call_id=leg.id, endpoint="102@a.example")
    )
    await observer.on_event(ChannelDialed(channel_id=leg.id, call_id=leg.id, peer_id="p1"))
    local = ChannelStarted(
        channel_id="l1;2", call_id="l1", name="Local/102@t1-00000001;2",
        kind=ChannelKind.INTERNAL, pair_id="Local/102@t1-00000001",
    )  # fmt: skip
    await observer.on_event(local)
    await observer.on_event(ChannelStarted(channel_id="p2", call_id="l1", endpoint="102@a.example"))
    await observer.on_event(ChannelDialed(channel_id="l1;2", call_id="l1", peer_id="p2"))
    assert len(observer) == 0 and h.events == []


async def test_callee_ringing_before_the_dial_is_reported(h: Harness) -> None:
    # Asterisk may report the dialed phone ringing before the Dial itself.
    observer = DialplanCalls(h.cti.calls, lookup)
    a = ChannelStarted(channel_id="a", call_id="a", endpoint="101@a.example", caller_number="101")
    await observer.on_event(a)
    await observer.on_event(ChannelStarted(channel_id="b", call_id="a", endpoint="102@a.example"))
    await observer.on_event(ChannelStateChanged(channel_id="b", call_id="a", state="ringing"))
    await observer.on_event(ChannelDialed(channel_id="a", call_id="a", peer_id="b"))
    assert h.names() == ["new", "ringing"]
    await observer.on_event(ChannelStateChanged(channel_id="b", call_id="a", state="up"))
    await observer.on_event(ChannelEnded(channel_id="a", call_id="a"))
    await observer.on_event(ChannelEnded(channel_id="b", call_id="a"))
    assert h.names() == ["new", "ringing", "answered", "hung_up"] and len(observer) == 0


async def test_a_taken_call_is_controlled(h: Harness) -> None:
    """Engine.take puts the call's channels under control: the same call goes on (no new
    event, same id and legs), CTI commands now act on it as on a click-to-call (caller
    as A, the phone it dialed as B), and it ends as before."""
    a, b = await h.engine.dialplan_call(
        "101@a.example", "102@a.example", caller="101", called="102", hangup=False
    )
    before = h.cti.get_call(a, scope=1)
    await h.engine.take([a, b])
    after = h.cti.get_call(a, scope=1)
    assert [leg["id"] for leg in after["legs"]] == [leg["id"] for leg in before["legs"]] == [a, b]
    assert after["state"] == "answered"
    assert h.names() == ["new", "ringing", "answered"]
    await h.cti.command("hold", a, {}, scope=1, who="agent")
    assert ("hold", b, "") in h.engine.commands
    await h.cti.command("unhold", a, {}, scope=1, who="agent")
    assert ("unhold", b) in h.engine.commands
    # A party hangs up: the other is hung up too, as the dialplan's Dial() did.
    await h.engine.remote_hangup(a)
    for _ in range(200):
        if not h.engine.legs[b].alive:
            break
        await asyncio.sleep(0.005)
    assert not h.engine.legs[b].alive
    assert h.names()[-1] == "hung_up" and h.names().count("hung_up") == 1
    assert h.cti.list_calls(scope=None) == []
