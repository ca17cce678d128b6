"""AsteriskEngine's media and call-progress operations against the real Asterisk.

Recording, DTMF out, hold and music on hold, ringing, variables and caller ID, and how
a failed originate is reported. Like tests/engine/test_adapter.py: its own Stasis app
and id prefix, Local channels into a test-only context in its own file.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from collections.abc import AsyncIterator, Iterator

import pytest

from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    LegCreated,
    LegHungUp,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.conftest import dialplan_file
from tests.engine.test_adapter import Factory, Recorder, engine_factory

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

APP = "adaptermedia"
PREFIX = "adm-"
CONTEXT_FILE = "zz_adaptermedia.conf"
DB_FAMILY = "adaptermedia"
CONTEXT = f"""; written by tests/engine/test_adapter_media.py, removed at the end
[zz-adaptermedia]
exten => wait,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => play,1,Answer()
 same => n,Playback(tt-monkeys)
 same => n,Wait(60)
 same => n,Hangup()
; read-KEY: what the far end keys in goes to AstDB {DB_FAMILY}/KEY
exten => _read-.,1,Answer()
 same => n,Read(DIGITS,,8,,,10)
 same => n,Set(DB({DB_FAMILY}/${{EXTEN:5}})=${{DIGITS}})
 same => n,Wait(10)
 same => n,Hangup()
exten => busy,1,Busy()
exten => hangup17,1,Hangup(17)
exten => noanswer,1,Ringing()
 same => n,Wait(60)
 same => n,Hangup()
exten => stasis,1,Stasis({APP},fromdialplan)
 same => n,Hangup()
"""


@pytest.fixture(scope="module")
def media_context(asterisk: AsteriskInstance) -> Iterator[None]:
    # configure() must make it: Asterisk makes only the directories below it.
    assert (asterisk.dir / "spool" / "recording").is_dir()
    with dialplan_file(asterisk, CONTEXT_FILE, CONTEXT):
        yield
    asterisk.cli(f"database deltree {DB_FAMILY}")


@pytest.fixture
async def make_engine(asterisk: AsteriskInstance, media_context: None) -> AsyncIterator[Factory]:
    async with engine_factory(asterisk, APP, PREFIX) as make:
        yield make


async def call_in_stasis(engine: AsteriskEngine, rec: Recorder, exten: str = "wait") -> str:
    """Originate a Local channel whose other half answers; return the leg id once in Stasis."""
    leg = await engine.originate(DialplanPlace("zz-adaptermedia", exten), caller_id='"Test" <101>')
    await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    return leg.id


def recording_name() -> str:
    return f"adm/rec-{uuid.uuid4().hex[:12]}"


def loudest_sample(audio: bytes) -> int:
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getsampwidth(), wav.getnchannels()) == (2, 1)
        frames = wav.readframes(wav.getnframes())
    samples = memoryview(frames).cast("h")
    return max(abs(s) for s in samples)


async def destroyed(engine: AsteriskEngine, rec: Recorder, leg_id: str) -> None:
    """Wait until Asterisk has destroyed a hung-up channel.

    LegHungUp comes with the hangup request; ARI still accepts commands on the channel until
    ChannelDestroyed, after which the adapter forgets the leg.
    """
    await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == leg_id)
    async with asyncio.timeout(5):
        while leg_id in engine.legs:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_record_a_leg_fetch_and_delete(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    # The far half plays tt-monkeys: the recording holds what the leg sends us.
    leg_id = await call_in_stasis(engine, rec, exten="play")
    name = recording_name()
    assert await engine.record(leg_id, name, max_duration=2, terminate_on="") == name
    started = await rec.wait_for(lambda e: isinstance(e, RecordingStarted))
    assert (started.recording, started.leg_id) == (name, leg_id)
    done = await rec.wait_for(lambda e: isinstance(e, RecordingFinished), timeout=10)
    assert (done.recording, done.leg_id, done.state) == (name, leg_id, "done")
    assert 1 <= done.duration <= 3

    audio = await engine.recording_file(name)
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() >= 8000  # about 2 s
    assert loudest_sample(audio) > 1000  # the monkeys, not silence

    await engine.delete_recording(name)
    with pytest.raises(NotFoundError):
        await engine.recording_file(name)
    with pytest.raises(NotFoundError):
        await engine.delete_recording(name)
    await engine.hangup(leg_id)


async def test_stop_recording_keeps_it(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg_id = await call_in_stasis(engine, rec, exten="play")
    name = recording_name()
    await engine.record(leg_id, name)  # no limit: only stop_recording ends it
    await rec.wait_for(lambda e: isinstance(e, RecordingStarted) and e.recording == name)
    await asyncio.sleep(1)
    await engine.stop_recording(name)
    done = await rec.wait_for(lambda e: isinstance(e, RecordingFinished) and e.recording == name)
    assert done.state == "done"
    await engine.stop_recording(name)  # already ended: not an error
    assert (await engine.recording_file(name))[:4] == b"RIFF"
    await engine.delete_recording(name)
    await engine.hangup(leg_id)


async def test_send_dtmf_reaches_the_far_end(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    key = uuid.uuid4().hex[:12]
    leg_id = await call_in_stasis(engine, rec, exten=f"read-{key}")
    await engine.send_dtmf(leg_id, "40*7#")  # "#" ends Read() over there
    value = ""
    async with asyncio.timeout(10):
        # The far half's dialplan writes AstDB: nothing to wait on but the engine itself.
        while "Value: " not in value:
            await asyncio.sleep(0.2)
            value = await engine.command(f"database get {DB_FAMILY} {key}")
    assert value.split("Value: ", 1)[1].strip() == "40*7"
    await engine.hangup(leg_id)


async def test_hold_unhold_and_music_on_hold(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg_id = await call_in_stasis(engine, rec)
    await engine.hold(leg_id)
    await engine.unhold(leg_id)
    await engine.hold(leg_id, "default")
    await engine.unhold(leg_id)
    await engine.hold(leg_id, "default")
    await engine.unhold(leg_id)
    with pytest.raises(ValidationError):
        await engine.hold(leg_id, "no/such class")
    assert engine.legs[leg_id].alive
    await engine.hangup(leg_id)
    await destroyed(engine, rec, leg_id)
    with pytest.raises(LegGoneError):
        await engine.hold(leg_id)
    with pytest.raises(LegGoneError):
        await engine.hold(leg_id, "default")


async def test_ring_an_unanswered_leg(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg = await engine.originate(DialplanPlace("zz-adaptermedia", "stasis"))
    half = f"{leg.id};2"
    created = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == half)
    assert created.state == "ringing"
    assert engine.legs[leg.id].state == "down"  # nobody said it rings yet
    await engine.ring(half)
    # The ringing reaches the originated half (ChannelStateChange): poll our own view.
    async with asyncio.timeout(5):
        while engine.legs[leg.id].state != "ringing":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await engine.hangup(half)


async def test_variables_and_caller_id(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg_id = await call_in_stasis(engine, rec)
    assert await engine.get_variable(leg_id, "ADM_UNSET") == ""
    await engine.set_variable(leg_id, "ADM_X", "42")
    assert await engine.get_variable(leg_id, "ADM_X") == "42"
    assert await engine.get_variable(leg_id, "CALLERID(num)") == "101"
    await engine.set_caller_id(leg_id, "+4930123", "Front desk")
    assert await engine.get_variable(leg_id, "CALLERID(num)") == "+4930123"
    assert await engine.get_variable(leg_id, "CALLERID(name)") == "Front desk"
    assert engine.legs[leg_id].caller_number == "+4930123"
    await engine.hangup(leg_id)
    await destroyed(engine, rec, leg_id)
    with pytest.raises(LegGoneError):
        await engine.get_variable(leg_id, "ADM_X")


# What Asterisk 22 reports when an ARI originate fails; IVR "dial" relies on the cause.
# Busy(): the originated half is destroyed with cause 0 and only ARI's Dial event says
# BUSY; Hangup(17) gives 17 itself; a ring timeout gives 19 (no answer).
@pytest.mark.parametrize(
    ("exten", "timeout", "cause"), [("busy", 30, 17), ("hangup17", 30, 17), ("noanswer", 2, 19)]
)
async def test_failed_originate_is_reported(
    make_engine: Factory, exten: str, timeout: float, cause: int
) -> None:
    engine, rec = await make_engine()
    leg = await engine.originate(DialplanPlace("zz-adaptermedia", exten), timeout=timeout)
    gone = await rec.wait_for(
        lambda e: isinstance(e, LegHungUp) and e.leg_id == leg.id, timeout=timeout + 5
    )
    assert gone.cause == cause
    assert rec.find(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id) is None
    # Forgotten once ChannelDestroyed is in, which may trail the hangup request.
    assert leg.id not in engine.legs or engine.legs[leg.id].hangup_cause == cause
