"""FreeSwitchEngine across link drops and restarts: reconcile, sweep, kept legs; and the
configuration side (reload, cache, console) and endpoint states."""

from __future__ import annotations

import json

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.events import (
    ChannelEnded,
    ChannelStarted,
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegHungUp,
)
from orchestrator.engines.freeswitch.esl.client import LinkDown, LinkUp
from tests.unit.freeswitch.scripted import event, make_engine, park, settle


def rows(*uuids: str, callstate: str = "ACTIVE") -> str:
    listed = [
        {"uuid": u, "callstate": callstate, "created_epoch": str(i)} for i, u in enumerate(uuids)
    ]
    return json.dumps({"row_count": len(listed), "rows": listed})


def dump(uuid: str, **variables: str) -> str:
    headers = {"Unique-ID": uuid, "Channel-Name": f"loopback/{uuid}-b", "Answer-State": "answered"}
    headers |= {f"variable_{k}": v for k, v in variables.items()}
    return json.dumps(headers)


async def test_a_reconnect_reports_what_was_missed_before_the_link_is_up() -> None:
    engine, esl = make_engine(observe_channels=False)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await esl.deliver(LinkUp(reconnect=False), park("stays"), park("ends"))
    await settle(engine)
    await esl.deliver(LinkDown("connection lost"))
    await settle(engine)
    assert isinstance(seen[-1], EngineDisconnected) and not engine.status().connected
    seen.clear()
    esl.take()
    esl.answer("show channels as json", rows("stays", "new", "stranger"))
    esl.answer("uuid_dump new json", dump("new", orch_route="ivr", current_application="park"))
    esl.answer("uuid_dump stranger json", dump("stranger", current_application="park"))
    await esl.deliver(LinkUp(reconnect=True))
    await settle(engine)
    assert esl.take() == [
        "api version",
        "api show channels as json",
        "api uuid_exists ends",  # the listing lags new channels: asked before it is gone
        "api uuid_dump new json",
        "api uuid_dump stranger json",
    ]
    assert [(type(e).__name__, getattr(e, "leg_id", "")) for e in seen] == [
        ("LegHungUp", "ends"),
        ("LegCreated", "new"),
        ("EngineConnected", ""),
    ]
    assert seen[0].cause_text == "gone while disconnected"  # type: ignore[attr-defined]
    assert seen[-1].reconnect is True  # type: ignore[attr-defined]
    assert engine.leg("ends") is None and engine.leg("new") is not None
    await engine.stop()


async def test_the_first_connect_sweeps_a_previous_runs_legs_and_takes_back_kept_ones() -> None:
    engine, esl = make_engine()
    engine.keep({"k1", "orch-k2", "k3", "k4"})
    esl.answer("uuid_exists k4", "true")  # too new for the listing
    esl.answer("uuid_dump k4 json", dump("k4", orch_route="queue"))
    seen: list[Event] = []
    engine.subscribe(seen.append)
    listed = rows("k1", "orch-k2", "k3", "old", "stranger", "b-leg", "other-orch")
    esl.answer("show channels as json", listed)
    esl.answer("uuid_dump k1 json", dump("k1", orch_route="queue", bridge_uuid="orch-k2"))
    esl.answer("uuid_dump orch-k2 json", dump("orch-k2", orch_leg="orch-k2", bridge_uuid="k1"))
    # Originated by another orchestrator (another id prefix) on the same FreeSWITCH.
    esl.answer("uuid_dump other-orch json", dump("other-orch", orch_leg="other-orch"))
    esl.answer("uuid_dump k3 json", "-ERR No such channel!")
    esl.answer("uuid_dump old json", dump("old", orch_route="ivr"))
    esl.answer("uuid_dump stranger json", dump("stranger"))
    esl.answer("uuid_dump b-leg json", dump("b-leg", orch_route="dial", orch_leg="orch-k2"))
    await engine.start()
    await esl.deliver(LinkUp(reconnect=False))
    await settle(engine)
    kills = [s for s in esl.take() if "uuid_kill" in s]
    assert kills == ["api uuid_kill old NORMAL_CLEARING"]
    created = [e for e in seen if isinstance(e, LegCreated)]
    assert sorted((e.leg_id, e.resumed) for e in created) == [
        ("k1", True),
        ("k4", True),
        ("orch-k2", True),
    ]
    # Two kept legs still bridged: a connection again.
    assert [(e.leg_id, e.peer_id) for e in seen if isinstance(e, LegConnected)] == [
        ("k1", "orch-k2"),
        ("orch-k2", "k1"),
    ]
    # Observation: the channels found are reported (resumed), the swept one is not.
    started = {e.channel_id for e in seen if isinstance(e, ChannelStarted)}
    assert started == {"k1", "orch-k2", "k4", "stranger", "b-leg", "other-orch"}
    assert all(e.resumed for e in seen if isinstance(e, ChannelStarted))
    assert isinstance(seen[-1], EngineConnected) and seen[-1].reconnect is False
    # Channels ending later are observed once.
    await esl.deliver(event("CHANNEL_HANGUP_COMPLETE", "stranger", Hangup_Cause="NORMAL_CLEARING"))
    await esl.deliver(event("CHANNEL_HANGUP_COMPLETE", "stranger", Hangup_Cause="NORMAL_CLEARING"))
    await settle(engine)
    assert len([e for e in seen if isinstance(e, ChannelEnded)]) == 1
    assert not [e for e in seen if isinstance(e, LegHungUp)]
    await engine.stop()


async def test_configuration_and_endpoint_states() -> None:
    engine, esl = make_engine()
    esl.answer(
        "show registrations",
        "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata\n"
        "101,a.example,x,sofia/internal/sip:101@h,1,127.0.0.1,5060,udp,vm,\n\n1 total.\n",
    )
    esl.answer("status", "UP 0 years")
    await engine.reload("dialplan")
    await engine.reload("sip")
    await engine.invalidate_sip_objects("directory", ["101@a.example", "102@a.example"])
    with pytest.raises(ValidationError):
        await engine.invalidate_sip_objects("aor", ["101@a.example"])
    with pytest.raises(ValidationError):
        await engine.invalidate_sip_objects("directory", ["101 a.example"])
    with pytest.raises(ValidationError):
        await engine.reload("everything")
    assert await engine.command("status") == "UP 0 years"
    states = await engine.endpoint_states(["101@a.example", "102@a.example"])
    assert states == {"101@a.example": "online", "102@a.example": "offline"}
    assert await engine.endpoint_states([]) == {}
    assert esl.take() == [
        "api reloadxml",
        "api sofia profile internal rescan",
        "api xml_flush_cache id 101 a.example",
        "api xml_flush_cache id 102 a.example",
        "api status",
        "api show registrations",
    ]
    assert engine.capabilities.registration_events is True


async def test_a_connection_whose_side_ended_while_the_link_was_down_is_told() -> None:
    from orchestrator.core.events import LegDisconnected

    engine, esl = make_engine(observe_channels=False)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await esl.deliver(LinkUp(reconnect=False), park("a"), park("b"))
    await settle(engine)
    await engine.connect("a", "b")
    await esl.deliver(event("CHANNEL_BRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b"))
    await esl.deliver(LinkDown("connection lost"))
    await settle(engine)
    seen.clear()
    esl.answer("show channels as json", rows("b"))  # a hung up meanwhile
    await esl.deliver(LinkUp(reconnect=True))
    await settle(engine)
    assert [(type(e).__name__, getattr(e, "leg_id", "")) for e in seen] == [
        ("LegHungUp", "a"),
        ("LegDisconnected", "b"),
        ("EngineConnected", ""),
    ]
    assert isinstance(seen[1], LegDisconnected) and seen[1].peer_id == "a"
    await engine.stop()
