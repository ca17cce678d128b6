"""``AsteriskEngine.conferences`` against the real Asterisk: who hears whom (mute, deaf,
hold, coaching), talk detection, what a recording of the conference holds, what is left
in the engine, and the start-up sweep of conference bridges.

The parties are those of tests/engine/test_adapter_supervise.py (its context, app and
prefix): each leg's far half says a tone and records what the leg hears, so the files
tell who heard whom.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import uuid
import wave
from pathlib import Path
from typing import cast

import pytest

from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    LegCreated,
    PlaybackFinished,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.conferences import BRIDGE_MARK
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.media_phone import tone_level, ulaw_encode
from tests.engine.test_adapter import Factory, Recorder
from tests.engine.test_adapter_supervise import (  # noqa: F401  (fixtures)
    HEARD,
    PEER_HZ,
    PREFIX,
    QUIET,
    SUPERVISOR_HZ,
    TARGET_HZ,
    WINDOW,
    engine_objects,
    folder,
    hang_up,
    heard_by,
    make_engine,
    party,
)

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]


async def test_mute_deaf_and_hold_are_heard_as_they_should(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    engine, rec = await make_engine()
    conf = f"t-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    talker = await party(engine, rec, folder, TARGET_HZ)
    muted = await party(engine, rec, folder, PEER_HZ)
    deaf = await party(engine, rec, folder, SUPERVISOR_HZ)
    held = await party(engine, rec, folder, 1300)
    await engine.conferences.join(conf, talker.id)
    await engine.conferences.join(conf, muted.id, muted=True)
    await engine.conferences.join(conf, deaf.id, deaf=True)
    # Never heard by anyone: muted at once, then held (music, out of the conference).
    await engine.conferences.join(conf, held.id, muted=True)
    await engine.conferences.hold(held.id)
    bridge_id = f"{PREFIX}{BRIDGE_MARK}{conf}"
    [bridge] = [b for b in await engine.ari.list_bridges() if b["id"] == bridge_id]
    assert set(bridge["channels"]) == {talker.id, muted.id, deaf.id}
    assert bridge_id not in engine.bridges
    await asyncio.sleep(2.5)
    await engine.conferences.end(conf)
    await rec.wait_for(lambda e: isinstance(e, ConferenceEnded))
    async with asyncio.timeout(5):  # Asterisk destroys it in its own time
        while bridge_id in {b["id"] for b in await engine.ari.list_bridges()}:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await hang_up(engine, rec, talker, muted, deaf, held)
    await asyncio.sleep(0.5)  # MixMonitor closes its files
    talker_heard, muted_heard, deaf_heard = talker.heard(), muted.heard(), deaf.heard()
    print("levels heard:", talker_heard, muted_heard, deaf_heard)
    # The talker hears the deaf member, not the muted one.
    assert talker_heard[SUPERVISOR_HZ] > HEARD and talker_heard[PEER_HZ] < QUIET
    # The muted member hears the others.
    assert muted_heard[TARGET_HZ] > HEARD and muted_heard[SUPERVISOR_HZ] > HEARD
    # The deaf member hears nobody.
    assert max(deaf_heard.values()) < QUIET, deaf_heard
    # The held member hears none of them (its music is not checked: in this harness even
    # Engine.hold(leg, "default") of a lone leg records silence on the far half).
    held_heard = held.heard()
    assert max(held_heard.values()) < QUIET, held_heard


async def test_the_sweep_keeps_a_conference_of_kept_legs_only(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    first, rec = await make_engine()
    kept_conf, gone_conf = f"k-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    legs = []
    for conf in (kept_conf, gone_conf):
        await first.conferences.create(conf)
    for conf in (kept_conf, kept_conf, gone_conf):
        say = f"say-{TARGET_HZ}-{uuid.uuid4().hex[:12]}"
        leg = await first.originate(DialplanPlace("zz-adaptersupervise", say))
        await rec.wait_for(lambda e, i=leg.id: getattr(e, "leg_id", None) == i)
        await first.conferences.join(conf, leg.id)
        legs.append(leg.id)
    await first.conferences.create(f"e-{uuid.uuid4().hex[:8]}")  # an empty one
    await first.stop()  # a crash: the legs stay in their conferences
    await asyncio.sleep(1.0)

    kept = {legs[0], legs[1]} | {f"{leg};2" for leg in legs[:2]}
    second, rec2 = await make_engine(kept_legs=kept)
    ours = {
        b["id"]: set(b["channels"])
        for b in await second.ari.list_bridges()
        if str(b["id"]).startswith(PREFIX + BRIDGE_MARK)
    }
    assert ours == {f"{PREFIX}{BRIDGE_MARK}{kept_conf}": {legs[0], legs[1]}}
    await second.conferences.create(kept_conf)
    for leg_id in legs[:2]:
        await rec2.wait_for(
            lambda e, i=leg_id: isinstance(e, ConferenceMemberJoined) and e.leg_id == i
        )
    await second.conferences.end(kept_conf)
    await rec2.wait_for(lambda e: isinstance(e, ConferenceEnded))


async def test_a_coach_is_heard_by_its_target_only(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    """The coach whispers to the target: the target hears it, the other member does not;
    the coach hears both. A coach coaching nobody again is heard by all."""
    engine, rec = await make_engine()
    conf = f"c-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    coach = await party(engine, rec, folder, SUPERVISOR_HZ)
    target = await party(engine, rec, folder, TARGET_HZ)
    other = await party(engine, rec, folder, PEER_HZ)
    for one in (coach, target, other):
        await engine.conferences.join(conf, one.id)
    await engine.conferences.coach(coach.id, target.id)
    await rec.wait_for(lambda e: isinstance(e, ConferenceMemberUpdated) and e.coaching == target.id)
    # Out of the mixing bridge (into its coaching one), a member all the same.
    bridge_id = f"{PREFIX}{BRIDGE_MARK}{conf}"
    [bridge] = [b for b in await engine.ari.list_bridges() if b["id"] == bridge_id]
    assert set(bridge["channels"]) == {target.id, other.id}
    assert {m.leg_id for m in engine.conferences.members(conf)} == {coach.id, target.id, other.id}
    await asyncio.sleep(2.5)
    await engine.conferences.end(conf)
    await rec.wait_for(lambda e: isinstance(e, ConferenceEnded))
    await hang_up(engine, rec, coach, target, other)
    heard = await heard_by({"coach": coach, "target": target, "other": other})
    print("levels heard:", heard)
    assert heard["target"][SUPERVISOR_HZ] > HEARD  # the whisper
    assert heard["other"][SUPERVISOR_HZ] < QUIET  # not heard by the others
    assert heard["other"][TARGET_HZ] > HEARD  # who still hear each other
    assert heard["coach"][TARGET_HZ] > HEARD and heard["coach"][PEER_HZ] > HEARD
    # Nothing of the coaching is left in the engine.
    bridges, snoops = await engine_objects(engine)
    assert bridges == [] and snoops == []


async def test_a_coach_back_is_heard_by_all(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    engine, rec = await make_engine()
    conf = f"b-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    coach = await party(engine, rec, folder, SUPERVISOR_HZ)
    target = await party(engine, rec, folder, TARGET_HZ)
    other = await party(engine, rec, folder, PEER_HZ)
    for one in (coach, target, other):
        await engine.conferences.join(conf, one.id)
    await engine.conferences.coach(coach.id, target.id)
    await engine.conferences.coach(coach.id, None)
    bridge_id = f"{PREFIX}{BRIDGE_MARK}{conf}"
    [bridge] = [b for b in await engine.ari.list_bridges() if b["id"] == bridge_id]
    assert set(bridge["channels"]) == {coach.id, target.id, other.id}
    await asyncio.sleep(2.5)
    await engine.conferences.end(conf)
    await rec.wait_for(lambda e: isinstance(e, ConferenceEnded))
    await hang_up(engine, rec, coach, target, other)
    heard = await heard_by({"target": target, "other": other})
    print("levels heard:", heard)
    assert heard["target"][SUPERVISOR_HZ] > HEARD and heard["other"][SUPERVISOR_HZ] > HEARD
    bridges, snoops = await engine_objects(engine)
    assert bridges == [] and snoops == []


def talks_of(rec: Recorder) -> list[ConferenceMemberTalking]:
    return [e for e in rec.events if isinstance(e, ConferenceMemberTalking)]


class RtpSpeaker(asyncio.DatagramProtocol):
    """A media phone's RTP side on an ARI external media channel: 20 ms PCMU packets of a
    tone while ``talking``, of silence otherwise (a phone's RTP goes on when it is quiet)."""

    def __init__(self) -> None:
        self.talking = False
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    async def send(self, to: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        seq = stamp = phase = 0
        due = loop.time()
        step = 2 * math.pi * TARGET_HZ / 8000
        while True:
            amplitude = 6000 if self.talking else 0
            payload = bytes(
                ulaw_encode(round(amplitude * math.sin(step * (phase + i)))) for i in range(160)
            )
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, stamp & 0xFFFFFFFF, 0x5EED)
            assert self.transport is not None
            self.transport.sendto(header + payload, to)
            seq, stamp, phase = seq + 1, stamp + 160, phase + 160
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))


async def test_talk_detection_hears_a_phones_rtp(make_engine: Factory) -> None:  # noqa: F811
    """A member whose RTP carries a tone, then silence: talking started, then stopped;
    it leaves while talking: stopped first."""
    engine, rec = await make_engine()
    conf = f"t-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    loop = asyncio.get_running_loop()
    transport, speaker = await loop.create_datagram_endpoint(
        RtpSpeaker, local_addr=("127.0.0.1", 0)
    )
    sender: asyncio.Task[None] | None = None
    try:
        port = transport.get_extra_info("sockname")[1]
        leg_id = f"{PREFIX}rtp-{uuid.uuid4().hex[:12]}"
        await engine.ari.post(
            "/channels/externalMedia",
            {
                "app": engine.ari.app, "channelId": leg_id, "format": "ulaw",
                "external_host": f"127.0.0.1:{port}",
            },
        )  # fmt: skip
        await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg_id)
        host = await engine.ari.get_variable(leg_id, "UNICASTRTP_LOCAL_ADDRESS")
        rtp_port = int(await engine.ari.get_variable(leg_id, "UNICASTRTP_LOCAL_PORT"))
        sender = asyncio.create_task(speaker.send((host, rtp_port)))
        await engine.conferences.join(conf, leg_id)
        await asyncio.sleep(1.0)
        assert rec.find(lambda e: isinstance(e, ConferenceMemberTalking)) is None  # silence
        speaker.talking = True
        started = await rec.wait_for(lambda e: isinstance(e, ConferenceMemberTalking), 5)
        assert (started.leg_id, started.conference_id, started.talking) == (leg_id, conf, True)
        await asyncio.sleep(1.0)
        speaker.talking = False
        stopped = await rec.wait_for(
            lambda e: isinstance(e, ConferenceMemberTalking) and not e.talking, 8
        )
        assert stopped.leg_id == leg_id
        # Talking again, it leaves: stopped, then left.
        speaker.talking = True
        await rec.wait_for(lambda e: len(talks_of(rec)) == 3, 5)
        await engine.conferences.leave(leg_id)
        left = await rec.wait_for(lambda e: isinstance(e, ConferenceMemberLeft))
        talks = talks_of(rec)
        assert [e.talking for e in talks] == [True, False, True, False]
        assert rec.events.index(talks[-1]) < rec.events.index(left)
        await engine.conferences.end(conf)
        await engine.hangup(leg_id)
    finally:
        if sender is not None:
            sender.cancel()
        transport.close()


async def test_a_coach_whose_target_hangs_up_is_back_in_the_conference(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    engine, rec = await make_engine()
    conf = f"h-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    coach = await party(engine, rec, folder, SUPERVISOR_HZ)
    target = await party(engine, rec, folder, TARGET_HZ)
    other = await party(engine, rec, folder, PEER_HZ)
    for one in (coach, target, other):
        await engine.conferences.join(conf, one.id)
    await engine.conferences.coach(coach.id, target.id)
    await hang_up(engine, rec, target)
    await rec.wait_for(
        lambda e: (
            isinstance(e, ConferenceMemberUpdated) and e.leg_id == coach.id and e.coaching is None
        )
    )
    bridge_id = f"{PREFIX}{BRIDGE_MARK}{conf}"
    async with asyncio.timeout(5):
        while True:
            [bridge] = [b for b in await engine.ari.list_bridges() if b["id"] == bridge_id]
            if set(bridge["channels"]) == {coach.id, other.id}:
                break
            await asyncio.sleep(0.1)
    bridges, snoops = await engine_objects(engine)
    assert bridges == [] and snoops == []
    await engine.conferences.end(conf)
    await hang_up(engine, rec, coach, other)


def tones_in(audio: bytes) -> tuple[float, dict[int, float], float]:
    """A conference recording's length (s), the loudest 0.2 s of each of the parties'
    tones in it, and the loudest 0.2 s of anything (RMS)."""
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        samples = list(memoryview(wav.readframes(wav.getnframes())).cast("h"))
    windows = [samples[i : i + WINDOW] for i in range(0, len(samples) - WINDOW + 1, WINDOW)]
    levels = {
        hz: round(max((tone_level(w, hz) for w in windows), default=0.0))
        for hz in (TARGET_HZ, PEER_HZ, SUPERVISOR_HZ)
    }
    loudest = max((math.sqrt(sum(x * x for x in w) / len(w)) for w in windows), default=0.0)
    return len(samples) / 8000, levels, round(loudest)


async def recorded(
    engine: AsteriskEngine, rec: Recorder, conf: str, seconds: float
) -> tuple[float, bytes]:
    """Record ``conf`` for ``seconds`` (what the test does meanwhile runs in the
    background): how long it ran, from RecordingStarted to the stop, and the file."""
    name = f"conf-{uuid.uuid4().hex[:12]}"
    await engine.conferences.record(conf, name)
    started = await rec.wait_for(lambda e: isinstance(e, RecordingStarted) and e.recording == name)
    await asyncio.sleep(seconds)
    await engine.stop_recording(name)
    done = await rec.wait_for(lambda e: isinstance(e, RecordingFinished) and e.recording == name)
    assert done.state == "done", done
    audio = await engine.recording_file(name)
    await engine.delete_recording(name)
    return done.timestamp - started.timestamp, audio


async def test_a_recording_holds_what_the_members_say(
    make_engine: Factory,  # noqa: F811
    folder: Path,  # noqa: F811
) -> None:
    """Recorded from before anyone is in (a recorded room before its first caller): two
    members say their tones, a third is muted; the recording holds the two tones, not
    the muted one, and lasts as long as it ran (empty moments included)."""
    engine, rec = await make_engine()
    conf = f"r-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    a = await party(engine, rec, folder, TARGET_HZ)
    b = await party(engine, rec, folder, PEER_HZ)
    muted = await party(engine, rec, folder, SUPERVISOR_HZ)

    async def join_late() -> None:
        await asyncio.sleep(1.0)
        await engine.conferences.join(conf, a.id)
        await engine.conferences.join(conf, b.id)
        await engine.conferences.join(conf, muted.id, muted=True)

    joining = asyncio.create_task(join_late())
    ran, audio = await recorded(engine, rec, conf, 3.0)
    await joining
    seconds, levels, _ = tones_in(audio)
    print(f"recording: {len(audio)} bytes, {seconds} s of {ran:.2f} s, levels {levels}")
    assert levels[TARGET_HZ] > HEARD and levels[PEER_HZ] > HEARD, levels
    assert levels[SUPERVISOR_HZ] < QUIET, levels
    assert abs(seconds - ran) < 0.4, (seconds, ran)
    await engine.conferences.end(conf)
    await hang_up(engine, rec, a, b, muted)


async def test_a_recording_of_a_quiet_member_lasts_and_holds_the_chime(
    make_engine: Factory,  # noqa: F811
) -> None:
    """One member whose phone sends no RTP at all (as SIPp's), a chime played to the
    conference: the recording lasts as long as it ran (silence) and holds the chime.
    (A plain mixing bridge of that member and the Recorder passed on the member's frames
    only: the file held the chime's 0.46 s, or a bare WAV header without it.)"""
    engine, rec = await make_engine()
    conf = f"q-{uuid.uuid4().hex[:8]}"
    await engine.conferences.create(conf)
    loop = asyncio.get_running_loop()
    # The member's RTP goes to a socket of ours that never answers.
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        leg_id = f"{PREFIX}rtp-{uuid.uuid4().hex[:12]}"
        await engine.ari.post(
            "/channels/externalMedia",
            {
                "app": engine.ari.app, "channelId": leg_id, "format": "ulaw",
                "external_host": f"127.0.0.1:{port}",
            },
        )  # fmt: skip
        await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg_id)
        await engine.conferences.join(conf, leg_id)

        async def chime() -> None:
            await asyncio.sleep(1.0)
            pid = await engine.conferences.play(conf, "sound:beep")
            await rec.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)

        chiming = asyncio.create_task(chime())
        ran, audio = await recorded(engine, rec, conf, 3.0)
        await chiming
        seconds, _, loudest = tones_in(audio)
        print(f"recording: {len(audio)} bytes, {seconds} s of {ran:.2f} s, loudest {loudest}")
        assert abs(seconds - ran) < 0.4, (seconds, ran)
        assert loudest > HEARD, loudest  # the chime
        await engine.conferences.end(conf)
        await engine.hangup(leg_id)
    finally:
        transport.close()
