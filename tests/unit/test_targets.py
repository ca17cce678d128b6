"""Typed targets and routing (orchestrator.core.targets) and how the FakeEngine plays them."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from orchestrator.core.errors import CallError, LegGoneError, ValidationError
from orchestrator.core.events import ChannelDialed, ChannelStarted, Event, LegCreated, LegHungUp
from orchestrator.core.fake import FakeEngine
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber


@pytest.mark.parametrize(
    "make",
    [
        lambda: SipUser("101"),
        lambda: SipUser("101@a.example,PJSIP/evil"),
        lambda: SipUser("101@a.example)"),
        lambda: TrunkNumber("carrier", "12a"),
        lambda: TrunkNumber("carrier", ""),
        lambda: TrunkNumber("car,rier", "1"),
        lambda: TrunkNumber("carrier", "1" * 33),
        lambda: Extension("1", "102,1"),
        lambda: Extension("1-unknown", "102"),
        lambda: Extension("", "102"),
        lambda: Extension("1", "${EXTEN}"),
        lambda: Routing("IVR"),
        lambda: Routing("ivr", {"Flow": "x"}),
        lambda: Routing("ivr", {"flow": "a,b"}),
        lambda: Routing("ivr", {"flow": "a b"}),
        lambda: Routing("ivr", {"flow": "x" * 129}),
        lambda: Routing("ivr", {"flow": 3}),  # type: ignore[dict-item]
    ],
)
def test_what_reaches_an_engine_is_checked_when_made(make: object) -> None:
    with pytest.raises(ValidationError):
        make()  # type: ignore[operator]


def test_targets_are_values() -> None:
    assert SipUser("101@a.example") == SipUser("101@a.example")
    assert Extension("3", "*91") != Extension("4", "*91")
    assert len({TrunkNumber("c", "+4420"), TrunkNumber("c", "+4420")}) == 1
    with pytest.raises(FrozenInstanceError):
        SipUser("101@a.example").endpoint = "102@a.example"  # type: ignore[misc]


def test_routing_is_an_immutable_mapping() -> None:
    routing = Routing("cti", {"call": "orch-1", "tenant": "3"})
    assert routing.service == "cti" and routing["call"] == "orch-1"
    assert routing.get("missing") == "" and dict(routing) == routing.data
    assert Routing("fromdialplan") and len(Routing("fromdialplan")) == 0  # true, even empty
    assert routing == Routing("cti", {"tenant": "3", "call": "orch-1"})
    assert routing != Routing("acd", {"call": "orch-1", "tenant": "3"})
    assert len({routing, Routing("cti", {"tenant": "3", "call": "orch-1"})}) == 1
    with pytest.raises(AttributeError):
        routing.service = "acd"  # type: ignore[misc]
    data = {"call": "x"}
    made = Routing("dial", data)
    data["call"] = "y"  # the routing keeps what it was given
    assert made["call"] == "x"


async def test_fake_records_transfers_and_originates() -> None:
    fake = FakeEngine()
    await fake.start()
    events: list[Event] = []
    fake.subscribe(events.append)
    routing = Routing("cti", {"call": "c1"})
    leg = await fake.originate(SipUser("101@a.example"), leg_id="l1", routing=routing)
    assert fake.commands[-1] == ("originate", SipUser("101@a.example"), "l1")
    created = [e for e in events if isinstance(e, LegCreated)]
    assert created[-1].leg_id == leg.id and created[-1].routing == routing
    await fake.originate(TrunkNumber("carrier", "+4420"), leg_id="l2")
    assert [e for e in events if isinstance(e, LegCreated)][-1].routing is None
    # (A transferred leg leaves our control: one leg per target.)
    for n, target in enumerate(
        (Extension("1", "102"), SipUser("102@a.example"), TrunkNumber("c", "+4420"))
    ):
        other = await fake.originate(SipUser("101@a.example"), leg_id=f"t{n}")
        await fake.transfer(other.id, target)
        assert fake.commands[-1] == ("transfer", other.id, target)
    await fake.remote_hangup(leg.id)
    with pytest.raises(LegGoneError):
        await fake.transfer(leg.id, Extension("1", "102"))


async def test_fake_transfer_hands_the_leg_over_and_its_dialplan_dials() -> None:
    """As on Asterisk (tests/conformance): the connection ends (both told), then
    LegLeftApp; the channel lives on, commands on it raise CallError; the engine's
    dialplan may then dial a phone from it (dialplan_dial), observed as channels."""
    fake = FakeEngine()
    await fake.start()
    events: list[Event] = []
    fake.subscribe(events.append)
    a = await fake.incoming_call(caller="101")
    b = await fake.incoming_call(caller="102")
    await fake.connect(a.id, b.id)
    await fake.transfer(a.id, Extension("1", "103"))
    tail = [(type(e).__name__, getattr(e, "leg_id", "")) for e in events[-3:]]
    assert tail == [
        ("LegDisconnected", a.id), ("LegDisconnected", b.id), ("LegLeftApp", a.id),
    ]  # fmt: skip
    assert fake.peer(b.id) is None and a.id in fake.channels
    with pytest.raises(CallError):
        await fake.play(a.id, "sound:beep")
    await fake.play(b.id, "sound:beep")  # the peer is still ours
    callee = await fake.dialplan_dial(a.id, "103@a.example", called="103")
    started = next(e for e in events if isinstance(e, ChannelStarted) and e.channel_id == callee)
    assert (started.call_id, started.endpoint) == (fake.channels[a.id], "103@a.example")
    dialed = [e for e in events if isinstance(e, ChannelDialed) and e.peer_id == callee]
    assert [(d.channel_id, d.status) for d in dialed] == [(a.id, ""), (a.id, "answered")]
    await fake.hangup_channel(callee)
    assert callee not in fake.channels and a.id not in fake.channels
    await fake.remote_hangup(a.id)
    assert isinstance(events[-1], LegHungUp)


async def test_fake_refuses_a_target_it_cannot_reach() -> None:
    @dataclass(frozen=True, slots=True)
    class Elsewhere(Target):
        where: str

    fake = FakeEngine()
    await fake.start()
    leg = await fake.incoming_call(routing=Routing("ivr", {"flow": "m", "tenant": "1"}))
    with pytest.raises(ValidationError):
        await fake.originate(Elsewhere("moon"))
    with pytest.raises(ValidationError):
        await fake.transfer(leg.id, Elsewhere("moon"))
    assert [c[0] for c in fake.commands] == []


async def test_fake_incoming_call_carries_the_dialplans_routing() -> None:
    fake = FakeEngine()
    await fake.start()
    events: list[Event] = []
    fake.subscribe(events.append)
    routing = Routing("ivr", {"flow": "support", "tenant": "1"})
    leg = await fake.incoming_call(caller="+4420", called="5000", routing=routing)
    created = next(e for e in events if isinstance(e, LegCreated))
    assert created.leg_id == leg.id and created.routing == routing
