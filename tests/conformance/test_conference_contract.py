"""The conference contract (``Engine.conferences``) on the FakeEngine and the real Asterisk.

Members join with flags, are muted, deafened, held, told something all at once, recorded
(a WAV as long as it ran; on a real engine, holding what was said and played),
leave, and the conference ends with every member still up and under control. What the
members hear is checked where the driver can check it (DTMF keyed by one member's far end
reaches another's); mute, deaf and hold are checked through the state and the events.
"""

from __future__ import annotations

import asyncio
import io
import math
import uuid
import wave
from typing import Any

import pytest

from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    EngineConnected,
    LegDisconnected,
    LegHungUp,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from tests.conformance.drivers import Driver, Events, FarEnd
from tests.conformance.test_engine_contract import recording_name, still_ours, wait_connected


def wav_of(audio: bytes) -> tuple[float, float]:
    """A recording's length (s) and its loudest 0.1 s (RMS): 8 kHz 16-bit mono WAV."""
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        samples = memoryview(wav.readframes(wav.getnframes())).cast("h").tolist()
    windows = [samples[i : i + 800] for i in range(0, len(samples) - 799, 800)]
    loudest = max((math.sqrt(sum(x * x for x in w) / len(w)) for w in windows), default=0.0)
    return len(samples) / 8000, loudest


def conference_id() -> str:
    return f"conformance-{uuid.uuid4().hex[:10]}"


def joined(events: Events, conf: str, leg_id: str) -> Any:
    return events.find(
        lambda e: (
            isinstance(e, ConferenceMemberJoined) and (e.conference_id, e.leg_id) == (conf, leg_id)
        )
    )


async def wait_left(events: Events, conf: str, leg_id: str) -> ConferenceMemberLeft:
    left: ConferenceMemberLeft = await events.wait_for(
        lambda e: (
            isinstance(e, ConferenceMemberLeft) and (e.conference_id, e.leg_id) == (conf, leg_id)
        )
    )
    return left


async def wait_updated(events: Events, leg_id: str, **flags: bool | str | None) -> None:
    await events.wait_for(
        lambda e: (
            isinstance(e, ConferenceMemberUpdated)
            and e.leg_id == leg_id
            and all(getattr(e, k) == v for k, v in flags.items())
        )
    )


async def conference_of_three(
    driver: Driver, events: Events, **far: FarEnd
) -> tuple[str, list[str]]:
    conf = conference_id()
    await driver.engine.conferences.create(conf)
    legs = []
    for name in ("a", "b", "c"):
        call = await driver.answered_call(far=far.get(name))
        legs.append(call.leg_id)
    a, b, c = legs
    await driver.engine.conferences.join(conf, a, moderator=True)
    await driver.engine.conferences.join(conf, b, muted=True)
    await driver.engine.conferences.join(conf, c, deaf=True)
    for leg_id in legs:
        await events.wait_for(lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None)
    return conf, legs


async def test_members_join_with_flags_and_the_end_leaves_them_up(
    driver: Driver, events: Events
) -> None:
    conferences = driver.engine.conferences
    conf, (a, b, c) = await conference_of_three(driver, events)
    flags = {
        leg: (e.muted, e.deaf, e.moderator) for leg in (a, b, c) if (e := joined(events, conf, leg))
    }
    assert flags == {a: (False, False, True), b: (True, False, False), c: (False, True, False)}
    assert conferences.conference_of(b) == conf
    state = {m.leg_id: (m.muted, m.deaf, m.held) for m in conferences.members(conf)}
    assert state == {a: (False, False, False), b: (True, False, False), c: (False, True, False)}
    await conferences.create(conf)  # exists: nothing changes
    await conferences.join(conf, a)  # already a member: nothing changes
    await asyncio.sleep(0.2)
    assert len(events.all(lambda e: isinstance(e, ConferenceMemberJoined))) == 3
    await conferences.end(conf)
    for leg_id in (a, b, c):
        assert (await wait_left(events, conf, leg_id)).reason == "ended"
    ended = await events.wait_for(lambda e: isinstance(e, ConferenceEnded))
    assert ended.conference_id == conf
    assert conferences.members(conf) == [] and conferences.conference_of(a) is None
    await conferences.end(conf)  # ended: not an error
    # Every member stays up and under our control.
    assert events.find(lambda e: isinstance(e, LegHungUp)) is None
    for leg_id in (a, b, c):
        await still_ours(driver, events, leg_id)


async def test_mute_deafen_and_hold_a_member(driver: Driver, events: Events) -> None:
    conferences = driver.engine.conferences
    conf, (a, b, c) = await conference_of_three(driver, events)
    await conferences.mute(b, False)
    await wait_updated(events, b, muted=False, deaf=False, held=False)
    await conferences.mute(a)
    await wait_updated(events, a, muted=True)
    await conferences.deafen(c, False)
    await wait_updated(events, c, deaf=False)
    await conferences.deafen(b)
    await wait_updated(events, b, deaf=True)
    # Hold: the member hears music, nobody hears it; it stays a member all along and
    # comes back with its flags as they were.
    await conferences.hold(a)
    await wait_updated(events, a, held=True, muted=True)
    await asyncio.sleep(0.5)
    await conferences.hold(a, False)
    await wait_updated(events, a, held=False, muted=True)
    state = {m.leg_id: (m.muted, m.deaf, m.held) for m in conferences.members(conf)}
    assert state == {a: (True, False, False), b: (False, True, False), c: (False, False, False)}
    assert events.find(lambda e: isinstance(e, ConferenceMemberLeft | LegHungUp)) is None
    # Not a member: refused.
    other = await driver.answered_call()
    with pytest.raises(NotFoundError):
        await conferences.mute(other.leg_id)
    await conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))


async def test_members_hear_each_other(driver: Driver, events: Events) -> None:
    """What one member's far end keys reaches another member's far end."""
    conf = conference_id()
    conferences = driver.engine.conferences
    await conferences.create(conf)
    a = await driver.answered_call(far=FarEnd.dtmf("73#", after=2))
    b = await driver.answered_call(far=FarEnd("read"))
    c = await driver.answered_call()
    for call in (a, b, c):
        await conferences.join(conf, call.leg_id)
    assert await driver.far_end_heard(b) == "73"
    await conferences.end(conf)


async def test_play_to_all_and_record(driver: Driver, events: Events) -> None:
    engine, conferences = driver.engine, driver.engine.conferences
    conf = conference_id()
    await conferences.create(conf)
    # Recorded from before anyone is in (a recorded room before its first caller: it may
    # start only once someone is, as on FreeSWITCH); the one member's far end is silent.
    call = await driver.answered_call(far=FarEnd())
    name = recording_name()
    assert await conferences.record(conf, name) == name
    await conferences.join(conf, call.leg_id)
    started = await events.wait_for(
        lambda e: isinstance(e, RecordingStarted) and e.recording == name
    )
    assert started.leg_id == ""
    await asyncio.sleep(1.0)
    pid = await conferences.play(conf, "sound:beep")
    assert pid.startswith(engine.id_prefix)
    await events.wait_for(lambda e: isinstance(e, PlaybackStarted) and e.playback_id == pid)
    done = await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    assert done.leg_id == ""
    mine = engine.new_id()
    assert await conferences.play(conf, ["sound:beep"], playback_id=mine) == mine
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == mine)
    await asyncio.sleep(0.3)
    await engine.stop_recording(name)
    done = await events.wait_for(lambda e: isinstance(e, RecordingFinished) and e.recording == name)
    assert (done.leg_id, done.state) == ("", "done")
    # A WAV as long as the recording ran (silence when nobody speaks); on a real engine,
    # with the beeps in it. (Asterisk's recording of a lone quiet member once held only
    # the beeps, or a bare WAV header without them.)
    seconds, loudest = wav_of(await engine.recording_file(name))
    ran = done.timestamp - started.timestamp
    assert abs(seconds - ran) < 0.5, (seconds, ran)
    assert abs(done.duration - seconds) <= 1.0, (done.duration, seconds)
    if driver.records_audio:
        assert loudest > 500, loudest
    await engine.delete_recording(name)
    await conferences.end(conf)
    # No such conference: refused.
    with pytest.raises(NotFoundError):
        await conferences.play(conf, "sound:beep")
    with pytest.raises(NotFoundError):
        await conferences.join(conf, driver.engine.new_id())


async def test_leave_hangup_and_moving_a_member(driver: Driver, events: Events) -> None:
    conferences = driver.engine.conferences
    conf, (a, b, c) = await conference_of_three(driver, events)
    await conferences.leave(a)
    assert (await wait_left(events, conf, a)).reason == "left"
    await conferences.leave(a)  # in no conference: nothing
    await still_ours(driver, events, a)
    # A member that hangs up leaves; the conference goes on.
    await driver.caller_hangs_up(b)
    assert (await wait_left(events, conf, b)).reason == "hangup"
    assert [m.leg_id for m in conferences.members(conf)] == [c]
    # Connected elsewhere, a member leaves first; joining, a connected leg leaves its peer.
    d = await driver.answered_call()
    await driver.engine.connect(c, d.leg_id)
    assert (await wait_left(events, conf, c)).reason == "left"
    await wait_connected(events, c, d.leg_id)
    await conferences.join(conf, c)
    await events.wait_for(
        lambda e: isinstance(e, LegDisconnected) and (e.leg_id, e.peer_id) == (d.leg_id, c)
    )
    await events.wait_for(
        lambda e: (
            len(events.all(lambda e: isinstance(e, ConferenceMemberJoined) and e.leg_id == c)) == 2
        )
    )
    await still_ours(driver, events, d.leg_id)
    await conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))
    # A gone leg cannot join; a bad id is refused before anything is sent.
    await conferences.create(conf)
    with pytest.raises(LegGoneError):
        await conferences.join(conf, b)
    with pytest.raises(ValidationError):
        await conferences.create("no spaces/please")
    await conferences.end(conf)


async def test_a_conference_of_kept_legs_outlives_a_restart(driver: Driver) -> None:
    conf, (a, b, c) = await conference_of_three(driver, driver.events)
    await driver.restart(kept={a, b})
    engine, events = driver.engine, driver.events
    for leg_id in (a, b):
        await events.leg_created(leg_id)
    await driver.gone(c)  # not kept: cleared by the new run
    # The new run's create() takes the conference back with the kept members in it.
    await engine.conferences.create(conf)
    for leg_id in (a, b):
        back = await events.wait_for(
            lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None
        )
        assert back.resumed is True
    assert sorted(m.leg_id for m in engine.conferences.members(conf)) == sorted([a, b])
    # Still under control: mute one, end it; both stay up.
    await engine.conferences.mute(a)
    await wait_updated(events, a, muted=True)
    await engine.conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))
    assert events.find(lambda e: isinstance(e, LegHungUp)) is None
    for leg_id in (a, b):
        await still_ours(driver, events, leg_id)


async def test_a_member_gone_while_the_link_was_down(driver: Driver, events: Events) -> None:
    conf, (a, b, c) = await conference_of_three(driver, events)
    await driver.drop_link()
    await driver.caller_hangs_up(b)  # while nobody listens
    await driver.link_back()
    back = await events.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect, 10)
    left = await wait_left(events, conf, b)
    assert left.reason == "hangup" and events.events.index(left) < events.events.index(back)
    assert sorted(m.leg_id for m in driver.engine.conferences.members(conf)) == sorted([a, c])
    await driver.engine.conferences.hold(c)
    await wait_updated(events, c, held=True)
    await driver.engine.conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))


async def test_a_coach_is_heard_by_its_target_only(driver: Driver, events: Events) -> None:
    """Coaching: state, events and refusals (what the members hear: tests/engine)."""
    conferences = driver.engine.conferences
    conf = conference_id()
    await conferences.create(conf)
    a, b, c = [(await driver.answered_call()).leg_id for _ in range(3)]
    for leg_id in (a, b, c):
        await conferences.join(conf, leg_id)
        await events.wait_for(lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None)
    await conferences.coach(a, b)
    await wait_updated(events, a, coaching=b, muted=False)
    coaching = {m.leg_id: m.coaching for m in conferences.members(conf)}
    assert coaching == {a: b, b: None, c: None}
    # Mute and hold act on a coach as on anyone; it goes on coaching after them.
    await conferences.mute(a)
    await wait_updated(events, a, muted=True, coaching=b)
    await conferences.mute(a, False)
    await wait_updated(events, a, muted=False, coaching=b)
    await conferences.hold(a)
    await wait_updated(events, a, held=True, coaching=b)
    await conferences.hold(a, False)
    await wait_updated(events, a, held=False, coaching=b)
    # Another target: the whisper moves; None ends it.
    await conferences.coach(a, c)
    await wait_updated(events, a, coaching=c)
    await conferences.coach(a, None)
    await wait_updated(events, a, coaching=None, muted=False, held=False)
    assert all(m.coaching is None for m in conferences.members(conf))
    # Refused: itself, a leg of no conference, a coach in no conference, another
    # conference's member; nothing changes.
    other = await driver.answered_call()
    elsewhere = conference_id()
    await conferences.create(elsewhere)
    far = await driver.answered_call()
    await conferences.join(elsewhere, far.leg_id)
    updates = len(events.all(lambda e: isinstance(e, ConferenceMemberUpdated)))
    with pytest.raises(ValidationError):
        await conferences.coach(a, a)
    with pytest.raises(ValidationError):
        await conferences.coach(a, other.leg_id)
    with pytest.raises(ValidationError):
        await conferences.coach(a, far.leg_id)
    with pytest.raises(NotFoundError):
        await conferences.coach(other.leg_id, a)
    assert len(events.all(lambda e: isinstance(e, ConferenceMemberUpdated))) == updates
    # The target leaves: coaching ends, the coach stays a member.
    await conferences.coach(c, b)
    await wait_updated(events, c, coaching=b)
    await conferences.leave(b)
    await wait_left(events, conf, b)
    await wait_updated(events, c, coaching=None)
    assert sorted(m.leg_id for m in conferences.members(conf)) == sorted([a, c])
    # A target that hangs up, a coach that hangs up: the others go on.
    d, gone = [(await driver.answered_call()).leg_id for _ in range(2)]
    for leg_id in (d, gone):
        await conferences.join(conf, leg_id)
    await conferences.coach(d, gone)
    await wait_updated(events, d, coaching=gone)
    await driver.caller_hangs_up(gone)
    assert (await wait_left(events, conf, gone)).reason == "hangup"
    await wait_updated(events, d, coaching=None)
    await conferences.coach(d, a)
    await wait_updated(events, d, coaching=a)
    await driver.caller_hangs_up(d)
    assert (await wait_left(events, conf, d)).reason == "hangup"
    assert sorted(m.leg_id for m in conferences.members(conf)) == sorted([a, c])
    assert all(m.coaching is None for m in conferences.members(conf))
    # The end with a coach in: every member stays up.
    await conferences.coach(a, c)
    await wait_updated(events, a, coaching=c)
    await conferences.end(conf)
    for leg_id in (a, c):
        assert (await wait_left(events, conf, leg_id)).reason == "ended"
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded) and e.conference_id == conf)
    assert {h.leg_id for h in events.all(lambda h: isinstance(h, LegHungUp))} == {d, gone}
    for leg_id in (a, b, c):
        await still_ours(driver, events, leg_id)
    await conferences.end(elsewhere)


def talking(events: Events, leg_id: str) -> list[bool]:
    return [
        e.talking
        for e in events.all(lambda e: isinstance(e, ConferenceMemberTalking) and e.leg_id == leg_id)
    ]


async def test_talk_detection(driver: Driver, events: Events) -> None:
    """A member's far end speaks, then is silent: started, then stopped; a member that
    leaves while talking is told it stopped before it is told it left."""
    conferences = driver.engine.conferences
    conf = conference_id()
    await conferences.create(conf)
    speaker = await driver.answered_call(far=FarEnd.talks(after=2))
    silent = await driver.answered_call()
    for call in (speaker, silent):
        await conferences.join(conf, call.leg_id)
    started = await events.wait_for(
        lambda e: isinstance(e, ConferenceMemberTalking) and e.leg_id == speaker.leg_id, 15
    )
    assert (started.conference_id, started.talking) == (conf, True)
    await events.wait_for(lambda e: talking(events, speaker.leg_id) == [True, False], 15)
    # Still talking as it leaves: stopped, then left.
    loud = await driver.answered_call(far=FarEnd("audio"))
    await conferences.join(conf, loud.leg_id)
    await events.wait_for(lambda e: talking(events, loud.leg_id) == [True], 15)
    await conferences.leave(loud.leg_id)
    left = await wait_left(events, conf, loud.leg_id)
    assert talking(events, loud.leg_id) == [True, False]
    stopped = events.find(
        lambda e: (
            isinstance(e, ConferenceMemberTalking) and e.leg_id == loud.leg_id and not e.talking
        )
    )
    assert events.events.index(stopped) < events.events.index(left)
    # Or as it hangs up.
    hangs_up = await driver.answered_call(far=FarEnd("audio"))
    await conferences.join(conf, hangs_up.leg_id)
    await events.wait_for(lambda e: talking(events, hangs_up.leg_id) == [True], 15)
    await driver.caller_hangs_up(hangs_up.leg_id)
    left = await wait_left(events, conf, hangs_up.leg_id)
    assert left.reason == "hangup" and talking(events, hangs_up.leg_id) == [True, False]
    assert talking(events, silent.leg_id) == []
    await conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))


async def test_a_coach_outlives_a_restart(driver: Driver) -> None:
    events, conferences = driver.events, driver.engine.conferences
    conf = conference_id()
    await conferences.create(conf)
    a, b, c, d = [(await driver.answered_call()).leg_id for _ in range(4)]
    for leg_id in (a, b, c, d):
        await conferences.join(conf, leg_id)
        await events.wait_for(lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None)
    await conferences.coach(a, b)
    await wait_updated(events, a, coaching=b)
    await driver.restart(kept={a, b, c})
    engine, events = driver.engine, driver.events
    await driver.gone(d)
    await engine.conferences.create(conf)
    for leg_id in (a, b, c):
        back = await events.wait_for(
            lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None
        )
        assert back.resumed is True
    await wait_updated(events, a, coaching=b)
    coaching = {m.leg_id: m.coaching for m in engine.conferences.members(conf)}
    assert coaching == {a: b, b: None, c: None}
    # Still under control: coaching ends, the conference ends; all stay up.
    await engine.conferences.coach(a, None)
    await wait_updated(events, a, coaching=None)
    await engine.conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded))
    for leg_id in (a, b, c):
        await still_ours(driver, events, leg_id)


async def test_a_taken_dialplan_call_joins_a_conference(driver: Driver, events: Events) -> None:
    """Peter calls Alice in the dialplan; the call is taken (Engine.take) and both join a
    conference, where a third party joins them: they leave their connection for it."""
    caller, callee = await driver.dialplan_call()
    await driver.engine.take([caller, callee])
    await wait_connected(events, caller, callee)
    conf = conference_id()
    await driver.engine.conferences.create(conf)
    third = await driver.answered_call()
    for leg_id in (caller, callee, third.leg_id):
        await driver.engine.conferences.join(conf, leg_id)
    for leg_id in (caller, callee, third.leg_id):
        await events.wait_for(lambda e, leg_id=leg_id: joined(events, conf, leg_id) is not None)
    members = {m.leg_id for m in driver.engine.conferences.members(conf)}
    assert members == {caller, callee, third.leg_id}
    # Alice hangs up; the others go on.
    await driver.engine.hangup(callee)
    await events.hung_up(callee)
    await wait_left(events, conf, callee)
    assert {m.leg_id for m in driver.engine.conferences.members(conf)} == {
        caller,
        third.leg_id,
    }
    await driver.engine.conferences.end(conf)
    await events.wait_for(lambda e: isinstance(e, ConferenceEnded) and e.conference_id == conf)
    for leg_id in (caller, third.leg_id):
        await still_ours(driver, events, leg_id)
