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
    ConferenceMemberTalking,
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


async def test_a_recording_of_an_empty_room_waits_for_its_first_member(  # type: ignore[no-untyped-def]
    fs, tmp_path: Path
) -> None:
    """mod_conference has no room before a member is in: the record command waits for
    the first one; its stop-recording tells how long it ran. Stopped or ended while it
    still waits: nothing sent, nothing reported."""
    engine, esl, seen = fs
    await engine.conferences.record("sales", "conf/early")
    assert esl.take() == []
    await join(engine, esl, "a", "7")
    path = str(tmp_path / "conf" / "early.wav")
    assert f"api conference {ROOM} record {path}" in esl.take()
    await esl.deliver(maintenance("start-recording", Path=path))
    await esl.deliver(maintenance("stop-recording", Path=path, Milliseconds_Elapsed="2500"))
    await settle(engine)
    records = [e for e in seen if isinstance(e, RecordingStarted | RecordingFinished)]
    assert [(type(e), e.recording) for e in records] == [
        (RecordingStarted, "conf/early"),
        (RecordingFinished, "conf/early"),
    ]
    assert isinstance(records[1], RecordingFinished) and records[1].duration == 2.5
    # Another conference, empty: its recording is stopped, the other one's ended, unsent.
    await engine.conferences.create("empty")
    await engine.conferences.record("empty", "conf/never")
    await engine.stop_recording("conf/never")
    await engine.conferences.record("empty", "conf/never")  # the name is free again
    await engine.conferences.end("empty")
    await settle(engine)
    assert not [c for c in esl.take() if " record " in c]
    assert [e for e in seen if isinstance(e, RecordingStarted)] == records[:1]


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


async def test_coach_relates_the_coach_to_every_other_member(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    conferences = engine.conferences
    await join(engine, esl, "a", "7")
    await join(engine, esl, "b", "8")
    await join(engine, esl, "c", "9")
    esl.take()
    await conferences.coach("a", "b")  # heard by b only
    assert esl.take() == [f"api conference {ROOM} relate 7 9 nospeak"]
    # A later joiner does not hear the coach either.
    await esl.deliver(park("d"))
    await join(engine, esl, "d", "10")
    assert esl.take()[-1] == f"api conference {ROOM} relate 7 10 nospeak"
    await conferences.coach("a", "c")  # the whisper moves: b stops hearing it, c starts
    assert sorted(esl.take()) == sorted([
        f"api conference {ROOM} relate 7 8 nospeak",
        f"api conference {ROOM} relate 7 9 clear",
    ])  # fmt: skip
    await conferences.coach("a", None)  # heard by all again
    assert sorted(esl.take()) == sorted([
        f"api conference {ROOM} relate 7 8 clear",
        f"api conference {ROOM} relate 7 10 clear",
    ])  # fmt: skip
    await conferences.coach("a", None)  # not coaching: nothing sent
    assert esl.take() == []
    await settle(engine)
    updates = [(e.leg_id, e.coaching) for e in seen if isinstance(e, ConferenceMemberUpdated)]
    assert updates == [("a", "b"), ("a", "c"), ("a", None), ("a", None)]
    # Refused before anything is sent.
    with pytest.raises(ValidationError):
        await conferences.coach("a", "a")
    with pytest.raises(ValidationError):
        await conferences.coach("a", "nobody")
    with pytest.raises(NotFoundError):
        await conferences.coach("nobody", "a")
    assert esl.take() == []
    # A coach's keys reach its target only.
    await conferences.coach("a", "b")
    esl.take()
    await esl.deliver(event("DTMF", "a", DTMF_Digit="5"))
    await settle(engine)
    assert esl.take() == ["api uuid_send_dtmf b 5"]
    # Its target hangs up: coaching ends, the coach is heard by the others again.
    seen.clear()
    await esl.deliver(event("CHANNEL_HANGUP", "b", Hangup_Cause="NORMAL_CLEARING"))
    await settle(engine)
    assert sorted(esl.take()) == sorted([
        f"api conference {ROOM} relate 7 9 clear",
        f"api conference {ROOM} relate 7 10 clear",
    ])  # fmt: skip
    assert [(type(e).__name__, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        ("ConferenceMemberLeft", "b"),
        ("LegHungUp", "b"),
        ("ConferenceMemberUpdated", "a"),
    ]
    assert conferences.members("sales")[0].coaching is None


async def test_start_and_stop_talking(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await join(engine, esl, "a", "7")
    await join(engine, esl, "b", "8")
    seen.clear()
    await esl.deliver(
        maintenance("start-talking", "a", Member_ID="7", Talking="true"),
        maintenance("start-talking", "a", Member_ID="7", Talking="true"),  # (no change)
        maintenance("stop-talking", "a", Member_ID="7", Talking="false"),
        maintenance("start-talking", "c", Member_ID="99"),  # not a member of ours
        maintenance("start-talking", "b", Member_ID="8", Talking="true"),
    )
    await settle(engine)
    assert [(e.leg_id, e.talking) for e in seen] == [  # type: ignore[attr-defined]
        ("a", True),
        ("a", False),
        ("b", True),
    ]
    assert all(isinstance(e, ConferenceMemberTalking) and e.conference_id == "sales" for e in seen)
    assert [m.talking for m in engine.conferences.members("sales")] == [False, True]
    # Leaving while talking: told it stopped first (mod_conference sends nothing more).
    seen.clear()
    await engine.conferences.leave("b")
    await esl.deliver(maintenance("stop-talking", "b", Member_ID="8"))  # late: dropped
    await settle(engine)
    assert [(type(e).__name__, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        ("ConferenceMemberTalking", "b"),
        ("ConferenceMemberLeft", "b"),
    ]
    assert seen[0].talking is False  # type: ignore[attr-defined]


async def test_create_takes_back_the_coaches_of_a_room(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await esl.deliver(park("d"))
    await settle(engine)
    members = ",".join(
        f'{{"type":"caller","id":{mid},"uuid":"{leg}","flags":{{}}}}'
        for leg, mid in (("a", 4), ("b", 5), ("c", 6), ("d", 7))
    )
    esl.answer(
        "conference orch-conf-kept json_list",
        f'[{{"conference_name":"orch-conf-kept","members":[{members}]}}]',
    )
    # 4 coaches 5 (silent to 6 and 7); 6 is silent to 7 only: not a coach, cleared.
    esl.answer(
        "conference orch-conf-kept relate",
        "4 -> 6 NOSPEAK HEAR NOSENDVIDEO \n4 -> 7 NOSPEAK HEAR NOSENDVIDEO \n"
        "6 -> 7 NOSPEAK HEAR NOSENDVIDEO \n",
    )
    esl.take()
    await engine.conferences.create("kept")
    await settle(engine)
    assert esl.take() == [
        "api conference orch-conf-kept json_list",
        "api conference orch-conf-kept relate",
        "api conference orch-conf-kept relate 6 7 clear",
    ]
    coaching = {m.leg_id: m.coaching for m in engine.conferences.members("kept")}
    assert coaching == {"a": "b", "b": None, "c": None, "d": None}
    updated = [(e.leg_id, e.coaching) for e in seen if isinstance(e, ConferenceMemberUpdated)]
    assert updated == [("a", "b")]
