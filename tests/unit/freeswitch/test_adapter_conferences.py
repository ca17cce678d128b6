"""FreeSwitchEngine.conferences over mod_conference: commands and conference::maintenance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberUpdated,
    Event,
    LegDtmf,
    LegHungUp,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.client import LinkUp
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from tests.unit.freeswitch.scripted import ScriptedEsl, event, make_engine, park, settle

ROOM = "orch-conf-sales"


def maintenance(action: str, uuid: str = "", **headers: str) -> EslEvent:
    return event(
        "CUSTOM", uuid, Event_Subclass="conference::maintenance", Action=action,
        Conference_Name=ROOM, **headers,
    )  # fmt: skip


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[tuple[FreeSwitchEngine, ScriptedEsl, list[Event]]]:
    engine, esl = make_engine(tmp_path, observe_channels=False)
    esl.answer("conference orch-conf-sales json_list", "-ERR Conference orch-conf-sales not found")
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await settle(engine)
    await esl.deliver(LinkUp(reconnect=False), park("a"), park("b"), park("c"))
    await settle(engine)
    await engine.conferences.create("sales")
    esl.take()
    seen.clear()
    yield engine, esl, seen
    await engine.stop()


async def join(
    engine: FreeSwitchEngine, esl: ScriptedEsl, leg: str, member: str, **flags: bool
) -> None:
    task = asyncio.create_task(engine.conferences.join("sales", leg, **flags))
    await settle(engine)
    assert not task.done()  # until FreeSWITCH says it is a member
    await esl.deliver(maintenance("add-member", leg, Member_ID=member))
    await settle(engine)
    await task


async def test_join_with_flags_mute_deafen_hold_and_end(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    conferences = engine.conferences
    await join(engine, esl, "a", "7", moderator=True)
    await join(engine, esl, "b", "8", muted=True, deaf=True)
    assert esl.take() == [
        "api uuid_setvar a conference_controls none",
        f"api uuid_transfer a conference:{ROOM}@default+flags{{moderator}},park inline",
        "api uuid_setvar b conference_controls none",
        f"api uuid_transfer b conference:{ROOM}@default+flags{{mute|deaf}},park inline",
    ]
    joined = [
        (e.leg_id, e.muted, e.deaf, e.moderator)
        for e in seen
        if isinstance(e, ConferenceMemberJoined)
    ]
    assert joined == [("a", False, False, True), ("b", True, True, False)]
    assert conferences.conference_of("b") == "sales"
    await conferences.join("sales", "a")  # a member already: nothing sent
    await conferences.mute("a")
    await conferences.deafen("b", False)
    await conferences.hold("a")
    await conferences.mute("a", False)  # while held: only remembered
    await conferences.hold("a", False)
    assert esl.take() == [
        f"api conference {ROOM} mute 7",
        f"api conference {ROOM} undeaf 8",
        f"api conference {ROOM} hold 7",
        f"api conference {ROOM} unhold 7",
        f"api conference {ROOM} unmute 7",
        f"api conference {ROOM} undeaf 7",
    ]
    await settle(engine)
    updates = [
        (e.leg_id, e.muted, e.deaf, e.held) for e in seen if isinstance(e, ConferenceMemberUpdated)
    ]
    assert updates == [
        ("a", True, False, False),
        ("b", True, False, False),
        ("a", True, False, True),
        ("a", False, False, True),
        ("a", False, False, False),
    ]
    with pytest.raises(NotFoundError):
        await conferences.mute("c")
    with pytest.raises(ValidationError):
        await conferences.hold("a", music="no/slashes")
    seen.clear()
    await conferences.end("sales")
    await conferences.end("sales")  # ended: nothing
    await settle(engine)
    assert esl.take() == [
        f"api conference {ROOM} norecord all",
        "api uuid_transfer a park inline",
        "api uuid_transfer b park inline",
    ]
    assert [(type(e).__name__, getattr(e, "reason", "")) for e in seen] == [
        ("ConferenceMemberLeft", "ended"),
        ("ConferenceMemberLeft", "ended"),
        ("ConferenceEnded", ""),
    ]
    assert conferences.members("sales") == [] and conferences.conference_of("a") is None
    with pytest.raises(NotFoundError):
        await conferences.join("sales", "a")


async def test_leave_hangup_and_a_connected_leg_joining(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await join(engine, esl, "a", "7")
    await join(engine, esl, "b", "8")
    esl.take()
    seen.clear()
    await engine.conferences.leave("a")
    await engine.conferences.leave("a")  # in no conference: nothing
    await esl.deliver(event("CHANNEL_HANGUP", "b", Hangup_Cause="NORMAL_CLEARING"))
    await settle(engine)
    assert esl.take() == ["api uuid_transfer a park inline"]
    assert [(type(e), e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (ConferenceMemberLeft, "a"),
        (ConferenceMemberLeft, "b"),
        (LegHungUp, "b"),
    ]
    assert [e.reason for e in seen if isinstance(e, ConferenceMemberLeft)] == ["left", "hangup"]
    with pytest.raises(LegGoneError):
        await engine.conferences.join("sales", "b")
    with pytest.raises(ValidationError):
        await engine.conferences.create("no spaces")
    # A member connected elsewhere leaves the conference first.
    await join(engine, esl, "a", "9")
    seen.clear()
    await engine.connect("a", "c")
    await settle(engine)
    assert [(type(e), e.leg_id) for e in seen] == [(ConferenceMemberLeft, "a")]  # type: ignore[attr-defined]


async def test_play_to_all_and_record(fs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await join(engine, esl, "a", "7")
    esl.take()
    seen.clear()
    pid = await engine.conferences.play("sales", "sound:beep")
    tone = "tone_stream://%(250,0,800)"
    assert esl.take() == [f"api conference {ROOM} play {tone}"]
    await esl.deliver(maintenance("play-file", File="/sounds/conf-alone.wav"))  # not ours
    await esl.deliver(maintenance("play-file", File=tone), maintenance("play-file-done", File=tone))
    await settle(engine)
    assert [(type(e), e.playback_id, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (PlaybackStarted, pid, ""),
        (PlaybackFinished, pid, ""),
    ]
    seen.clear()
    await engine.conferences.record("sales", "conf/rec")
    path = str(tmp_path / "conf" / "rec.wav")
    await esl.deliver(maintenance("start-recording", Path=path))
    await settle(engine)
    await engine.stop_recording("conf/rec")
    await esl.deliver(maintenance("stop-recording", Path=path))
    await settle(engine)
    assert esl.take() == [
        f"api conference {ROOM} record {path}",
        f"api conference {ROOM} norecord {path}",
    ]
    assert [(type(e), e.recording, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (RecordingStarted, "conf/rec", ""),
        (RecordingFinished, "conf/rec", ""),
    ]
    with pytest.raises(NotFoundError):
        await engine.conferences.play("nosuch", "sound:beep")
    esl.answer(f"conference {ROOM} play", NotFoundError("-ERR Conference not found"))
    with pytest.raises(NotFoundError):
        await engine.conferences.play("sales", "sound:beep")


async def test_create_takes_back_the_kept_members_of_a_room(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    listing = (
        '[{"conference_name":"orch-conf-kept","members":[{"type":"caller","id":4,'
        '"uuid":"a","flags":{"can_hear":true,"can_speak":false}},'
        '{"type":"caller","id":5,"uuid":"stranger","flags":{}}]}]'
    )
    esl.answer("conference orch-conf-kept json_list", listing)
    await engine.conferences.create("kept")
    await settle(engine)
    back = [e for e in seen if isinstance(e, ConferenceMemberJoined)]
    assert [(e.leg_id, e.muted, e.resumed) for e in back] == [("a", True, True)]
    assert [m.leg_id for m in engine.conferences.members("kept")] == ["a"]
    await engine.conferences.mute("a", False)
    assert esl.take()[-1] == "api conference orch-conf-kept unmute 4"
    await settle(engine)
    assert [e for e in seen if isinstance(e, ConferenceEnded)] == []


async def test_a_members_keys_reach_the_members_that_hear(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await join(engine, esl, "a", "7")
    await join(engine, esl, "b", "8")
    await join(engine, esl, "c", "9", deaf=True)
    esl.take()
    await esl.deliver(event("DTMF", "a", DTMF_Digit="7"), event("DTMF", "a", DTMF_Digit="#"))
    await settle(engine)
    assert esl.take() == ["api uuid_send_dtmf b 7", "api uuid_send_dtmf b #"]
    await engine.conferences.mute("b")
    esl.take()
    await esl.deliver(event("DTMF", "b", DTMF_Digit="1"))  # muted: nobody hears it
    await settle(engine)
    assert esl.take() == []
    assert [e.digit for e in seen if isinstance(e, LegDtmf)] == ["7", "#", "1"]
