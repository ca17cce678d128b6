"""FreeSwitchEngine: playbacks, recordings and supervision (what is sent, what is reported)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import CallError, LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    Event,
    LegDtmf,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.client import LinkUp
from tests.unit.freeswitch.scripted import ScriptedEsl, event, make_engine, park, settle


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[tuple[FreeSwitchEngine, ScriptedEsl, list[Event]]]:
    engine, esl = make_engine(tmp_path, observe_channels=False)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await settle(engine)
    await esl.deliver(LinkUp(reconnect=False), park("a"), park("b"), park("sup"))
    await settle(engine)
    esl.take()
    seen.clear()
    yield engine, esl, seen
    await engine.stop()


def execute(leg: str, app: str, app_uuid: str, *, done: bool = False, **extra: str) -> object:
    name = "CHANNEL_EXECUTE_COMPLETE" if done else "CHANNEL_EXECUTE"
    return event(name, leg, Application=app, Application_UUID=app_uuid, **extra)


async def test_play_follows_its_application_uuid(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    pid = await engine.play("a", ["sound:beep", "digits:12"])
    assert pid.startswith("orch-")
    assert esl.take() == [
        "sendmsg a playback file_string://tone_stream://%(250,0,800)!digits/1.wav!digits/2.wav "
        + pid
    ]
    await esl.deliver(execute("a", "playback", "someone-elses"), execute("a", "playback", pid))
    await esl.deliver(execute("a", "playback", pid, done=True, Application_Response="FILE PLAYED"))
    await settle(engine)
    assert [(type(e), e.playback_id, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (PlaybackStarted, pid, "a"),
        (PlaybackFinished, pid, "a"),
    ]
    assert seen[1].state == "done"  # type: ignore[attr-defined]
    mine = engine.new_id()
    assert await engine.play("a", "prompt:queue-thank-you", playback_id=mine) == mine
    assert esl.take() == [f"sendmsg a playback ivr/ivr-thank_you.wav {mine}"]
    with pytest.raises(ValidationError):
        await engine.play("a", "tone:no-such-tone")
    with pytest.raises(ValidationError):
        await engine.play("a", [])


async def test_stop_playback_breaks_the_leg(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    pid = await engine.play("a", "sound:tt-monkeys")
    await esl.deliver(execute("a", "playback", pid))
    await settle(engine)
    esl.take()
    await engine.stop_playback(pid)
    assert esl.take() == ["api uuid_break a"]
    await esl.deliver(execute("a", "playback", pid, done=True, Application_Response="FILE PLAYED"))
    await settle(engine)
    await engine.stop_playback(pid)  # finished: nothing to stop, not an error
    assert esl.take() == []
    finished = [e for e in seen if isinstance(e, PlaybackFinished)]
    assert [(e.playback_id, e.state) for e in finished] == [(pid, "stopped")]


async def test_a_missing_file_is_a_failed_playback(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    pid = await engine.play("a", "sound:nope")
    await esl.deliver(
        execute("a", "playback", pid, done=True, Application_Response="FILE NOT FOUND")
    )
    await settle(engine)
    assert [e.state for e in seen if isinstance(e, PlaybackFinished)] == ["failed"]


async def test_record_a_leg_then_fetch_and_delete(fs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    name = "conformance/rec-1"
    assert await engine.record("a", name, max_duration=2.5, max_silence=3, beep=True) == name
    sent = esl.take()
    path = tmp_path / "conformance" / "rec-1.wav"
    assert sent[:2] == [
        "api uuid_setvar a playback_terminators #",
        "sendmsg a playback tone_stream://%(250,0,800)",
    ]
    assert sent[2].startswith(f"sendmsg a record {path} 3 200 3 orch-")
    app_uuid = sent[2].rsplit(" ", 1)[1]
    with pytest.raises(CallError):  # the name is being recorded
        await engine.record("b", name)
    await esl.deliver(execute("a", "record", app_uuid))
    await settle(engine)
    await engine.stop_recording(name)
    assert esl.take() == ["api uuid_break a"]
    await esl.deliver(execute("a", "record", app_uuid, done=True))
    await settle(engine)
    await engine.stop_recording(name)  # ended: not an error, nothing sent
    assert esl.take() == []
    assert [(type(e), e.recording, e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (RecordingStarted, name, "a"),
        (RecordingFinished, name, "a"),
    ]
    path.write_bytes(b"RIFF....WAVE")
    assert await engine.recording_file(name) == b"RIFF....WAVE"
    await engine.delete_recording(name)
    with pytest.raises(NotFoundError):
        await engine.recording_file(name)
    with pytest.raises(NotFoundError):
        await engine.delete_recording(name)
    for bad in (
        engine.record("a", "../x"),
        engine.record("a", "x", fmt="w v"),
        engine.record("a", "x", terminate_on="5"),
        engine.recording_file("a b"),
    ):
        with pytest.raises(ValidationError):
            await bad


async def test_record_call_is_uuid_record(fs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    await engine.record_call("a", "calls/c1", max_duration=60, beep=True)
    path = str(tmp_path / "calls" / "c1.wav")
    assert esl.take() == [
        f"api uuid_record a start {path} 60",
        "api uuid_broadcast a tone_stream://%(250,0,800) both",
    ]
    await esl.deliver(event("RECORD_START", "a", Record_File_Path=path))
    await settle(engine)
    await engine.stop_recording("calls/c1")
    assert esl.take() == [f"api uuid_record a stop {path}"]
    await esl.deliver(event("RECORD_STOP", "a", Record_File_Path=path))
    await settle(engine)
    assert [(type(e), e.leg_id) for e in seen] == [  # type: ignore[attr-defined]
        (RecordingStarted, "a"),
        (RecordingFinished, "a"),
    ]
    esl.gone.add("ghost")
    esl.answer("uuid_record ghost", LegGoneError("-ERR No such channel!"))
    with pytest.raises(LegGoneError):
        await engine.record_call("ghost", "calls/c2")
    assert "calls/c2" not in engine.media.recordings


async def test_supervise_switches_modes_with_eavesdrops_keys(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    esl.answer("uuid_exists a", "true")
    esl.answer("uuid_exists gone", "false")
    task = asyncio.create_task(engine.supervise("a", "sup", SupervisionMode.WHISPER))
    await settle(engine)
    assert esl.take() == [
        "api uuid_exists a",
        "api uuid_transfer sup set:eavesdrop_enable_dtmf=true,set:eavesdrop_whisper_aleg=true,"
        "set:eavesdrop_whisper_bleg=false,eavesdrop:a,park inline",
    ]
    assert not task.done()  # until the supervisor hears the target
    await esl.deliver(execute("sup", "eavesdrop", "x", Application_Data="a"))
    await settle(engine)
    await task
    await engine.supervise("a", "sup", SupervisionMode.BARGE)
    await engine.supervise("a", "sup", SupervisionMode.BARGE)  # same mode: nothing sent
    await engine.supervise("a", "sup", SupervisionMode.LISTEN)
    assert esl.take() == ["api uuid_recv_dtmf sup 3", "api uuid_recv_dtmf sup 0"]
    # The mode keys are eavesdrop's, not the supervisor's DTMF.
    await esl.deliver(event("DTMF", "sup", DTMF_Digit="0"))
    await settle(engine)
    assert not [e for e in seen if isinstance(e, LegDtmf)]
    with pytest.raises(ValidationError):
        await engine.supervise("sup", "sup", SupervisionMode.LISTEN)
    with pytest.raises(ValidationError):
        await engine.supervise("a", "sup", "spy")  # type: ignore[arg-type]
    with pytest.raises(LegGoneError):
        await engine.supervise("gone", "b", SupervisionMode.LISTEN)
    # The target ends: eavesdrop returns, the supervisor parks on, the supervision is over.
    await esl.deliver(execute("sup", "eavesdrop", "x", done=True, Application_Data="a"))
    await settle(engine)
    assert not engine.supervisions.supervising("sup")
    # A gone supervisor cannot supervise.
    await esl.deliver(event("CHANNEL_HANGUP", "b", Hangup_Cause="NORMAL_CLEARING"))
    await settle(engine)
    with pytest.raises(LegGoneError):
        await engine.supervise("a", "b", SupervisionMode.LISTEN)
