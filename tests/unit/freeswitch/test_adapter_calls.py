"""FreeSwitchEngine: what each call-control method sends, and the events it reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import (
    CallError,
    EngineUnavailableError,
    LegGoneError,
    ValidationError,
)
from orchestrator.core.events import (
    EngineConnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegDtmf,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
)
from orchestrator.core.targets import Extension, Routing, SipUser, TrunkNumber
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.dialstrings import LoopbackPlace
from orchestrator.engines.freeswitch.esl.client import LinkUp
from orchestrator.engines.freeswitch.esl.connection import EslCommandError
from tests.unit.freeswitch.scripted import ScriptedEsl, event, make_engine, park, settle


@pytest.fixture
async def fs() -> AsyncIterator[tuple[FreeSwitchEngine, ScriptedEsl, list[Event]]]:
    engine, esl = make_engine(observe_channels=False)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await settle(engine)
    await esl.deliver(LinkUp(reconnect=False))
    await settle(engine)
    esl.take()
    seen.clear()
    yield engine, esl, seen
    await engine.stop()


async def test_link_up_reads_the_version_and_sweeps() -> None:
    engine, esl = make_engine()
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await settle(engine)
    await esl.deliver(LinkUp(reconnect=False))
    await settle(engine)
    # The listing is read twice (it lags new channels), kept legs asked for by id.
    assert esl.take() == ["api version", "api show channels as json", "api show channels as json"]
    assert seen == [
        EngineConnected(engine="freeswitch", version="1.10.12-release", timestamp=seen[0].timestamp)
    ]
    assert engine.status().connected and engine.status().version == "1.10.12-release"
    await engine.stop()
    assert not engine.status().connected


async def test_a_parked_call_with_routing_comes_under_control(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    caller = {"Caller_Caller_ID_Number": "101", "Caller_Destination_Number": "200"}
    await esl.deliver(park("in-1", answered=False, route="ivr", v_orch_route_flow="main", **caller))
    await esl.deliver(park("in-1"))  # parked again later (after a bridge): announced once
    await esl.deliver(park("other", route=""))  # parked without routing: not ours
    await settle(engine)
    created = [e for e in seen if isinstance(e, LegCreated)]
    assert len(created) == 1
    assert (created[0].leg_id, created[0].state, created[0].caller_number) == (
        "in-1",
        "ringing",
        "101",
    )
    assert created[0].routing == Routing("ivr", {"flow": "main"})
    assert engine.leg("in-1") is not None and engine.leg("other") is None
    await esl.deliver(event("CHANNEL_ANSWER", "in-1"), event("DTMF", "in-1", DTMF_Digit="5"))
    await settle(engine)
    assert [type(e) for e in seen[-2:]] == [LegStateChanged, LegDtmf]


async def test_call_control_commands(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await esl.deliver(park("leg-1", answered=False, Channel_Name="sofia/internal/101@a.example"))
    await settle(engine)
    esl.answer("uuid_getvar leg-1 CONF_UNSET", "_undef_")
    esl.answer("uuid_getvar leg-1 X", "42")
    await engine.ring("leg-1")
    await engine.answer("leg-1")
    await engine.send_dtmf("leg-1", "12#")
    await engine.set_variable("leg-1", "X", "42")
    assert await engine.get_variable("leg-1", "X") == "42"
    assert await engine.get_variable("leg-1", "CONF_UNSET") == ""
    await engine.set_caller_id("leg-1", "+4930123", "Front desk")
    await engine.hold("leg-1")
    await engine.unhold("leg-1")
    await engine.hold("leg-1", "default")
    await engine.unhold("leg-1")  # the music never started (no event): one break
    await engine.hangup("leg-1", cause=17)
    assert esl.take() == [
        "sendmsg leg-1 ring_ready",
        "api uuid_answer leg-1",
        "api uuid_send_dtmf leg-1 12#",
        "api uuid_setvar leg-1 X 42",
        "api uuid_getvar leg-1 X",
        "api uuid_getvar leg-1 CONF_UNSET",
        "api uuid_setvar leg-1 effective_caller_id_number +4930123",
        "api uuid_setvar leg-1 effective_caller_id_name Front desk",
        "api uuid_hold leg-1",
        "api uuid_hold off leg-1",
        "api uuid_broadcast leg-1 local_stream://default aleg",
        "api uuid_break leg-1 all",
        "api uuid_kill leg-1 USER_BUSY",
    ]
    # The cause asked for is the one reported (FreeSWITCH says it too).
    await esl.deliver(event("CHANNEL_HANGUP", "leg-1", Hangup_Cause="USER_BUSY"))
    await esl.deliver(event("CHANNEL_HANGUP_COMPLETE", "leg-1", Hangup_Cause="USER_BUSY"))
    await settle(engine)
    gone = [e for e in seen if isinstance(e, LegHungUp)]
    assert [(e.leg_id, e.cause) for e in gone] == [("leg-1", 17)]


async def test_invalid_values_are_refused_before_anything_is_sent(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, _ = fs
    for bad in (
        engine.send_dtmf("leg-1", "1;hangup"),
        engine.set_variable("leg-1", "X Y", "1"),
        engine.set_variable("leg-1", "X", "a\nb"),
        engine.set_caller_id("leg-1", "1 2"),
        engine.hold("leg-1", "../x"),
        engine.originate(
            SipUser("101@a.example"), routing=Routing("x", {"k": "v"}), caller_id="<1,2>"
        ),
        engine.originate(SipUser("101@a.example"), variables={"X": "a,b"}),
        engine.originate(SipUser("101@a.example"), variables={"orch_route": "x"}),
        engine.transfer("leg-1", object()),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError):
            await bad
    assert esl.take() == []


async def test_a_gone_leg_raises_leg_gone(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, _ = fs
    esl.gone.add("ghost")
    for command in (
        engine.answer("ghost"),
        engine.ring("ghost"),
        engine.hangup("ghost"),
        engine.play("ghost", "sound:beep"),
        engine.get_variable("ghost", "X"),
        engine.set_variable("ghost", "X", "1"),
        engine.send_dtmf("ghost", "1"),
        engine.set_caller_id("ghost", "102"),
        engine.connect("ghost", "leg-2"),
    ):
        with pytest.raises(LegGoneError):
            await command
    # Once FreeSWITCH reported the channel destroyed, nothing is even sent.
    await esl.deliver(park("was"), event("CHANNEL_DESTROY", "was"))
    await settle(engine)
    esl.take()
    for command in (engine.answer("was"), engine.hold("was"), engine.play("was", "sound:beep")):
        with pytest.raises(LegGoneError):
            await command
    assert esl.take() == []


async def test_originate_sends_one_bgapi_and_the_leg_is_created_when_it_parks(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    leg = await engine.originate(
        SipUser("101@a.example"), leg_id="orch-1", caller_id='"IVR" <200>', timeout=10,
        variables={"CONF_ORIG": "yes"}, routing=Routing("dial", {"call": "c1"}),
    )  # fmt: skip
    await settle(engine)
    assert leg.id == "orch-1" and engine.leg("orch-1") is leg
    assert esl.take() == [
        "bgapi originate {origination_uuid=orch-1,orch_leg=orch-1,orch_route=dial,"
        "orch_route_call=c1,origination_caller_id_number=200,origination_caller_id_name=IVR,"
        "originate_timeout=10,park_after_bridge=true,CONF_ORIG=yes}user/101@a.example &park()"
    ]
    # Ringing and answering are not reported before the leg is ours (parked).
    await esl.deliver(event("CHANNEL_PROGRESS", "orch-1"), event("CHANNEL_ANSWER", "orch-1"))
    await esl.deliver(park("orch-1", route="dial", v_orch_route_call="c1", v_orch_leg="orch-1"))
    await settle(engine)
    assert [type(e) for e in seen] == [LegCreated]
    assert seen[0].state == "up" and seen[0].routing == Routing("dial", {"call": "c1"})  # type: ignore[attr-defined]
    esl.jobs["orch-1"].set_result("+OK orch-1\n")


@pytest.mark.parametrize(
    ("target", "dial"),
    [
        (TrunkNumber("carrier", "+4420"), "sofia/gateway/carrier/+4420"),
        (Extension("3", "102"), "loopback/102/t3"),
        (LoopbackPlace("zz-out", "busy"), "loopback/busy/zz-out"),
    ],
)
async def test_originate_dial_strings(fs, target, dial) -> None:  # type: ignore[no-untyped-def]
    engine, esl, _ = fs
    await engine.originate(target, leg_id="orch-2")
    await settle(engine)
    (sent,) = esl.take()
    assert sent.endswith(f"}}{dial} &park()")
    esl.jobs["orch-2"].set_result("+OK orch-2\n")


async def test_an_originate_failing_without_a_channel_ends_the_leg(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await engine.originate(SipUser("nobody@a.example"), leg_id="orch-3")
    await settle(engine)
    esl.jobs["orch-3"].set_exception(EslCommandError("-ERR USER_NOT_REGISTERED\n"))
    await settle(engine)
    gone = [e for e in seen if isinstance(e, LegHungUp)]
    assert [(e.leg_id, e.cause, e.cause_text) for e in gone] == [
        ("orch-3", 20, "USER_NOT_REGISTERED")
    ]
    assert engine.leg("orch-3") is None


async def test_a_failed_originate_reports_the_channels_cause_once(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await engine.originate(LoopbackPlace("zz-out", "busy"), leg_id="orch-4")
    await esl.deliver(event("CHANNEL_HANGUP", "orch-4", Hangup_Cause="USER_BUSY"))
    await esl.deliver(event("CHANNEL_HANGUP_COMPLETE", "orch-4", Hangup_Cause="USER_BUSY"))
    await esl.deliver(event("CHANNEL_DESTROY", "orch-4"))
    await settle(engine)
    esl.jobs["orch-4"].set_exception(EslCommandError("-ERR USER_BUSY\n"))
    await settle(engine)
    assert [(type(e), getattr(e, "cause", None)) for e in seen] == [(LegHungUp, 17)]


async def connected(engine: FreeSwitchEngine, esl: ScriptedEsl, a: str, b: str) -> None:
    await engine.connect(a, b)
    await esl.deliver(event("CHANNEL_BRIDGE", a, Bridge_A_Unique_ID=a, Bridge_B_Unique_ID=b))
    await settle(engine)


async def test_connect_disconnect_and_moving_a_leg(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await esl.deliver(park("a"), park("b"), park("c"))
    await settle(engine)
    seen.clear()
    await connected(engine, esl, "a", "b")
    assert esl.take() == [
        "api uuid_setvar a park_after_bridge true",
        "api uuid_setvar b park_after_bridge true",
        "api uuid_bridge a b",
    ]
    assert seen == [
        LegConnected(leg_id="a", peer_id="b", timestamp=seen[0].timestamp),
        LegConnected(leg_id="b", peer_id="a", timestamp=seen[1].timestamp),
    ]
    await engine.connect("b", "a")  # connected already: nothing sent
    assert esl.take() == []
    with pytest.raises(ValidationError):
        await engine.connect("a", "a")
    # a moves to c: the old pair's unbridge tells a and b.
    seen.clear()
    await engine.connect("a", "c")
    await esl.deliver(
        event("CHANNEL_UNBRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b")
    )
    await esl.deliver(event("CHANNEL_BRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="c"))
    await settle(engine)
    assert [(type(e).__name__, e.leg_id, e.peer_id) for e in seen] == [  # type: ignore[attr-defined]
        ("LegDisconnected", "a", "b"),
        ("LegDisconnected", "b", "a"),
        ("LegConnected", "a", "c"),
        ("LegConnected", "c", "a"),
    ]
    # disconnect: a goes back to park, the unbridge tells both.
    esl.take()
    seen.clear()
    await engine.disconnect("a")
    await engine.disconnect("a")  # connected to nothing: nothing sent
    assert esl.take() == ["api uuid_transfer a park inline"]
    await esl.deliver(
        event("CHANNEL_UNBRIDGE", "c", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="c")
    )
    await settle(engine)
    assert {(e.leg_id, e.peer_id) for e in seen if isinstance(e, LegDisconnected)} == {
        ("a", "c"),
        ("c", "a"),
    }


async def test_a_hangup_ends_the_connection_and_only_the_other_side_is_told(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await esl.deliver(park("a"), park("b"))
    await connected(engine, esl, "a", "b")
    seen.clear()
    await esl.deliver(event("CHANNEL_HANGUP", "a", Hangup_Cause="NORMAL_CLEARING"))
    await esl.deliver(
        event("CHANNEL_UNBRIDGE", "b", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b")
    )
    await settle(engine)
    assert [(type(e).__name__, e.leg_id) for e in seen] == [
        ("LegHungUp", "a"),
        ("LegDisconnected", "b"),
    ]  # type: ignore[attr-defined]


async def test_transfer_tells_both_sides_then_the_leg_leaves(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await esl.deliver(park("a"), park("b"))
    await connected(engine, esl, "a", "b")
    esl.take()
    seen.clear()
    await engine.transfer("a", Extension("zz", "300"))
    await esl.deliver(
        event("CHANNEL_UNBRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b")
    )
    await settle(engine)
    assert esl.take() == [
        "api uuid_setvar a orch_route",
        "api uuid_setvar a orch_leg",
        "api uuid_transfer a 300 XML tzz",
    ]
    assert [(type(e), e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (LegDisconnected, "a"),
        (LegDisconnected, "b"),
        (LegLeftApp, "a"),
    ]
    with pytest.raises(CallError):
        await engine.play("a", "sound:beep")
    # Still readable until its channel is destroyed (as on Asterisk): CTI does not take
    # the dialplan's dial of it for a new dialplan call.
    assert engine.leg("a") is not None
    seen.clear()
    await esl.deliver(event("CHANNEL_HANGUP", "a"))  # not ours any more: not reported
    await esl.deliver(park("a", route="ivr"))  # handed back by the dialplan: a new leg
    await settle(engine)
    assert esl.take() == []
    assert [(type(e), e.leg_id) for e in seen] == [(LegCreated, "a")]  # type: ignore[attr-defined]
    await engine.transfer("b", SipUser("101@a.example"))
    await engine.transfer("c", TrunkNumber("carrier", "+4420"))
    assert esl.take()[2::3] == [
        "api uuid_transfer b bridge:user/101@a.example inline",
        "api uuid_transfer c bridge:sofia/gateway/carrier/+4420 inline",
    ]


async def test_a_transferred_leg_whose_dial_fails_at_once_is_not_reported(  # type: ignore[no-untyped-def]
    fs, monkeypatch
) -> None:
    """Its hangup can come before its unbridge is handled: not ours any more, not reported;
    and an unbridge never seen (a lost link) still tells both sides, after a moment."""
    import orchestrator.engines.freeswitch.adapter as adapter

    monkeypatch.setattr(adapter, "LEAVE_WAIT_S", 0.01)
    engine, esl, seen = fs
    await esl.deliver(park("a"), park("b"))
    await connected(engine, esl, "a", "b")
    seen.clear()
    await engine.transfer("a", SipUser("nobody@a.example"))
    await esl.deliver(event("CHANNEL_HANGUP", "a", Hangup_Cause="SUBSCRIBER_ABSENT"))
    await asyncio.sleep(0.05)
    await settle(engine)
    assert [(type(e), e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (LegDisconnected, "a"),
        (LegDisconnected, "b"),
        (LegLeftApp, "a"),
    ]
    await esl.deliver(
        event("CHANNEL_UNBRIDGE", "b", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b")
    )
    await settle(engine)
    assert len(seen) == 3


async def test_hold_of_a_channel_without_hold_indication_is_its_hold_music(fs) -> None:  # type: ignore[no-untyped-def]
    """uuid_hold on a loopback channel suspends its media for good (FreeSWITCH then refuses
    `uuid_hold off`): such a leg hears its hold music instead, broken off at unhold."""
    import orchestrator.engines.freeswitch.hold as hold

    engine, esl, _ = fs
    await esl.deliver(park("lb"))  # loopback/lb-b
    await settle(engine)
    esl.answer("uuid_getvar lb hold_music", "tone_stream://%(2000,4000,440,480);loops=-1")
    await engine.hold("lb")
    music = "tone_stream://%(2000,4000,440,480);loops=-1"
    assert esl.take() == ["api uuid_getvar lb hold_music", f"api uuid_broadcast lb {music} aleg"]
    await esl.deliver(
        event("CHANNEL_EXECUTE", "lb", Application="playback", Application_Data=music)
    )
    await settle(engine)
    unhold = asyncio.create_task(engine.unhold("lb"))
    await settle(engine)
    assert esl.take() == ["api uuid_break lb all"]
    assert not unhold.done()  # until the music is seen ending
    await esl.deliver(
        event("CHANNEL_EXECUTE_COMPLETE", "lb", Application="playback", Application_Data=music)
    )
    await settle(engine)
    await unhold
    assert esl.take() == []
    assert hold.DEFAULT_HOLD_MUSIC == "local_stream://moh"


async def test_originate_while_the_link_is_down_is_refused() -> None:
    engine, esl = make_engine()
    with pytest.raises(EngineUnavailableError):
        await engine.originate(SipUser("101@a.example"))
    assert esl.take() == [] and not engine.legs


async def test_a_dialed_phone_leg_is_transferred_in_its_tenant_context(fs) -> None:  # type: ignore[no-untyped-def]
    """A phone leg the orchestrator dialed routes in ``default`` with its directory's
    ``user_context`` t1: connect makes t1 where a REFER moves it
    (``force_transfer_context``, transfers.py); learned only after connect, it is set
    then. A phone's own call (its profile in t1 already) gets nothing more."""
    engine, esl, _ = fs
    dialed = {"Channel_Name": "sofia/internal/102@t1.example", "Caller_Context": "default"}
    await esl.deliver(park("a", Channel_Name="sofia/internal/101@t1.example",
                           Caller_Context="t1", v_user_context="t1"),
                      park("b", **dialed, v_user_context="t1"), park("c", **dialed))  # fmt: skip
    await settle(engine)
    esl.take()
    await connected(engine, esl, "a", "b")
    assert esl.take() == [
        "api uuid_setvar a park_after_bridge true",
        "api uuid_setvar_multi b park_after_bridge=true;force_transfer_context=t1",
        "api uuid_bridge a b",
    ]
    await engine.connect("a", "c")
    await esl.deliver(event("CHANNEL_EXECUTE", "c", **dialed, v_user_context="t1"))
    await settle(engine)
    assert esl.take()[-1] == "api uuid_setvar c force_transfer_context t1"
