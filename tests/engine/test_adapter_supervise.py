"""``AsteriskEngine.supervise`` against the real Asterisk: who hears whom in each mode, the
mode switch, and the end of a supervision, with nothing of it left in the engine.

Like tests/engine/test_adapter.py: its own Stasis app and id prefix, Local channels into
a test-only context in its own file. Each leg is the Stasis half of a Local channel
whose other half sends a tone (what the leg says: target 400 Hz, its peer 700 Hz,
supervisor 1000 Hz) and records what it receives with MixMonitor (what the leg hears),
so the files tell who heard whom. The target and its peer talk in a bridge made over
ARI behind the adapter's back (the test's stand-in for whatever connects two legs).
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import LegGoneError, NotFoundError
from orchestrator.core.events import LegCreated, LegEvent, LegHungUp
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.bridges import BridgeEvent
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.conftest import dialplan_file
from tests.engine.media_phone import tone_level
from tests.engine.test_adapter import Factory, Recorder, engine_factory

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

APP = "adaptersupervise"
PREFIX = "ads-"
CONTEXT_FILE = "zz_adaptersupervise.conf"
TARGET_HZ, PEER_HZ, SUPERVISOR_HZ = 400, 700, 1000
# A tone counts as heard above this amplitude (Playtones sends about 7000), as absent
# below QUIET, in the loudest 0.2 s of a recording.
HEARD, QUIET = 1500.0, 300.0
WINDOW = 1600


def context(folder: Path) -> str:
    return f"""; written by tests/engine/test_adapter_supervise.py, removed at the end
[zz-adaptersupervise]
; say-HZ-KEY: says HZ, and records what it hears into {folder}/KEY.wav
exten => _say.,1,Answer()
 same => n,Set(KEY=${{CUT(EXTEN,-,3)}})
 same => n,MixMonitor({folder}/${{KEY}}-mixed.wav,r({folder}/${{KEY}}.wav))
 same => n,Playtones(${{CUT(EXTEN,-,2)}})
 same => n,Wait(60)
 same => n,Hangup()
"""


@pytest.fixture(scope="module")
def folder(asterisk: AsteriskInstance) -> Iterator[Path]:
    where = asterisk.dir / "spool" / "recording" / "ads"
    where.mkdir(parents=True, exist_ok=True)
    # Asterisk runs as its own user (-U asterisk): the folder is its, like the spool it is
    # in, or MixMonitor writes nothing (a root-owned folder failed the tests whenever no
    # engine restart had re-owned the instance's files before them).
    spool = where.parent.stat()
    os.chown(where, spool.st_uid, spool.st_gid)
    # The path as Asterisk sees it (its root may be a chroot).
    text = context(Path(asterisk.inner_dir) / "spool" / "recording" / "ads")
    with dialplan_file(asterisk, CONTEXT_FILE, text):
        yield where
    for file in where.glob("*.wav"):
        file.unlink()


@pytest.fixture
async def make_engine(asterisk: AsteriskInstance, folder: Path) -> AsyncIterator[Factory]:
    async with engine_factory(asterisk, APP, PREFIX) as make:
        yield make


class Party:
    """One leg in Stasis whose far half says ``hz`` and records what the leg hears."""

    def __init__(self, leg_id: str, hz: int, recording: Path) -> None:
        self.id, self.hz, self.recording = leg_id, hz, recording

    def heard(self) -> dict[int, float]:
        """The loudest 0.2 s of each tone in what the leg heard."""
        with wave.open(io.BytesIO(self.recording.read_bytes())) as wav:
            assert (wav.getframerate(), wav.getsampwidth()) == (8000, 2)
            samples = list(memoryview(wav.readframes(wav.getnframes())).cast("h"))
        windows = [samples[i : i + WINDOW] for i in range(0, len(samples) - WINDOW + 1, WINDOW)]
        assert len(windows) >= 5, f"{self.recording}: {len(samples)} samples"
        return {
            hz: round(max(tone_level(w, hz) for w in windows))
            for hz in (TARGET_HZ, PEER_HZ, SUPERVISOR_HZ)
        }


async def heard_by(parties: dict[str, Party], timeout: float = 10) -> dict[str, dict[int, float]]:
    """What each party heard, once MixMonitor has closed their files (on a loaded machine
    that takes a while after the hang-up: no fixed wait)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return {name: one.heard() for name, one in parties.items()}
        except (OSError, EOFError, wave.Error, AssertionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def party(engine: AsteriskEngine, rec: Recorder, folder: Path, hz: int) -> Party:
    key = uuid.uuid4().hex[:12]
    leg = await engine.originate(DialplanPlace("zz-adaptersupervise", f"say-{hz}-{key}"))
    await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    return Party(leg.id, hz, folder / f"{key}.wav")


async def talk(engine: AsteriskEngine, a: str, b: str) -> str:
    """Bridge two legs over ARI, as a feature's connect would."""
    bridge_id = f"{PREFIX}talk-{uuid.uuid4().hex}"
    await engine.ari.create_bridge(bridge_id)
    await engine.ari.add_channel(bridge_id, a)
    await engine.ari.add_channel(bridge_id, b)
    return bridge_id


def supervision_bridges(bridges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bridges if str(b["id"]).startswith(f"{PREFIX}supervision-")]


def snoop_channels(channels: list[dict[str, Any]]) -> list[str]:
    return [str(c["id"]) for c in channels if str(c.get("name", "")).startswith("Snoop/")]


async def engine_objects(engine: AsteriskEngine) -> tuple[list[dict[str, Any]], list[str]]:
    """The supervision bridges and the snoop channels in the engine now (ARI)."""
    bridges = supervision_bridges(await engine.ari.list_bridges())
    return bridges, snoop_channels(await engine.ari.list_channels())


async def nothing_left(engine: AsteriskEngine, timeout: float = 10) -> None:
    """No supervision bridge and no snoop channel left (ARI GET /bridges, /channels)."""
    deadline = time.monotonic() + timeout
    while (left := await engine_objects(engine)) != ([], []):
        assert time.monotonic() < deadline, left
        await asyncio.sleep(0.1)


def nothing_reported(rec: Recorder) -> None:
    """Subscribers saw no snoop channel and no bridge event (bridges are the adapter's own)."""
    for event in rec.events:
        if isinstance(event, LegEvent):
            assert "snoop-" not in event.leg_id, event
        assert not isinstance(event, BridgeEvent), event


async def hang_up(engine: AsteriskEngine, rec: Recorder, *parties: Party) -> None:
    for one in parties:
        await engine.hangup(one.id)
    for one in parties:
        await rec.wait_for(lambda e, i=one.id: isinstance(e, LegHungUp) and e.leg_id == i)
    async with asyncio.timeout(10):
        while any(one.id in engine.legs for one in parties):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


# Who hears the supervisor in each mode: (the target, its peer).
HEARS_SUPERVISOR = {
    SupervisionMode.LISTEN: (False, False),
    SupervisionMode.WHISPER: (True, False),
    SupervisionMode.WHISPER_PEER: (False, True),
    SupervisionMode.BARGE: (True, True),
}


@pytest.mark.parametrize("mode", list(SupervisionMode))
async def test_each_mode_is_heard_by_the_right_legs(
    make_engine: Factory, folder: Path, mode: SupervisionMode
) -> None:
    engine, rec = await make_engine()
    target = await party(engine, rec, folder, TARGET_HZ)
    peer = await party(engine, rec, folder, PEER_HZ)
    supervisor = await party(engine, rec, folder, SUPERVISOR_HZ)
    talking = await talk(engine, target.id, peer.id)
    await engine.supervise(target.id, supervisor.id, mode)
    bridges, snoops = await engine_objects(engine)
    [bridge] = bridges
    assert len(snoops) == 1 and set(bridge["channels"]) == {supervisor.id, snoops[0]}
    assert snoops[0] not in engine.legs and bridge["id"] not in engine.bridges
    await asyncio.sleep(2)
    # The supervisor hangs up: the supervision ends, the call goes on.
    await hang_up(engine, rec, supervisor)
    await nothing_left(engine)
    assert engine.legs[target.id].alive and engine.legs[peer.id].alive
    await hang_up(engine, rec, target, peer)
    await engine.ari.destroy_bridge(talking)
    nothing_reported(rec)
    heard = await heard_by({"supervisor": supervisor, "target": target, "peer": peer})
    print(mode, "levels heard:", heard)
    # The supervisor hears both parties; they hear each other as before.
    assert heard["supervisor"][TARGET_HZ] > HEARD and heard["supervisor"][PEER_HZ] > HEARD, heard
    assert heard["target"][PEER_HZ] > HEARD and heard["peer"][TARGET_HZ] > HEARD, heard
    for who, hears in zip(("target", "peer"), HEARS_SUPERVISOR[mode], strict=True):
        level = heard[who][SUPERVISOR_HZ]
        assert level > HEARD if hears else level < QUIET, (mode, who, heard)


async def test_mode_switch_keeps_the_supervisor_and_its_hangup_ends_it(
    make_engine: Factory, folder: Path
) -> None:
    engine, rec = await make_engine()
    target = await party(engine, rec, folder, TARGET_HZ)
    peer = await party(engine, rec, folder, PEER_HZ)
    supervisor = await party(engine, rec, folder, SUPERVISOR_HZ)
    talking = await talk(engine, target.id, peer.id)
    await engine.supervise(target.id, supervisor.id, SupervisionMode.LISTEN)
    [bridge], [first] = await engine_objects(engine)
    await engine.supervise(target.id, supervisor.id, SupervisionMode.LISTEN)  # the same: no-op
    assert await engine_objects(engine) == ([bridge], [first])
    seen: set[str] = {first}
    for mode in (SupervisionMode.WHISPER, SupervisionMode.BARGE, SupervisionMode.LISTEN):
        await engine.supervise(target.id, supervisor.id, mode)
        [now] = supervision_bridges(await engine.ari.list_bridges())
        # The same bridge, the supervisor still in it, with a new snoop in place of the old.
        assert now["id"] == bridge["id"] and supervisor.id in now["channels"], now
        [snoop] = set(now["channels"]) - {supervisor.id}
        assert snoop not in seen
        seen.add(snoop)
        assert engine.legs[supervisor.id].alive
    # The old snoops go (a hung-up one may linger a moment out of Stasis).
    deadline = time.monotonic() + 10
    while len(snoop_channels(await engine.ari.list_channels())) != 1:
        assert time.monotonic() < deadline, await engine_objects(engine)
        await asyncio.sleep(0.1)
    await hang_up(engine, rec, supervisor)
    await nothing_left(engine)
    [still] = [b for b in await engine.ari.list_bridges() if b["id"] == talking]
    assert set(still["channels"]) == {target.id, peer.id}
    await hang_up(engine, rec, target, peer)
    await engine.ari.destroy_bridge(talking)
    nothing_reported(rec)


async def test_the_targets_end_ends_it_and_leaves_the_supervisor_up(
    make_engine: Factory, folder: Path
) -> None:
    engine, rec = await make_engine()
    supervisor = await party(engine, rec, folder, SUPERVISOR_HZ)
    target = await party(engine, rec, folder, TARGET_HZ)
    # Any channel can be supervised: the Local half running dialplan, not in our app.
    outside = f"{target.id};2"
    await engine.supervise(outside, supervisor.id, SupervisionMode.BARGE)
    assert len((await engine_objects(engine))[1]) == 1
    await hang_up(engine, rec, target)
    await nothing_left(engine)
    assert engine.legs[supervisor.id].alive
    assert supervisor.id in {c["id"] for c in await engine.ari.list_channels()}
    # The supervisor's leg can supervise again (a new bridge, a new snoop).
    other = await party(engine, rec, folder, PEER_HZ)
    await engine.supervise(other.id, supervisor.id, SupervisionMode.WHISPER)
    [bridge], [snoop] = await engine_objects(engine)
    assert set(bridge["channels"]) == {supervisor.id, snoop}
    await hang_up(engine, rec, supervisor)
    await nothing_left(engine)
    assert engine.legs[other.id].alive
    await hang_up(engine, rec, other)
    nothing_reported(rec)


async def test_errors_leave_nothing(make_engine: Factory, folder: Path) -> None:
    engine, rec = await make_engine()
    supervisor = await party(engine, rec, folder, SUPERVISOR_HZ)
    target = await party(engine, rec, folder, TARGET_HZ)
    with pytest.raises(LegGoneError):
        await engine.supervise(f"{PREFIX}nobody", supervisor.id, SupervisionMode.LISTEN)
    with pytest.raises(LegGoneError):
        await engine.supervise(target.id, f"{PREFIX}nobody", SupervisionMode.LISTEN)
    await nothing_left(engine)
    assert engine.legs[supervisor.id].alive and engine.legs[target.id].alive
    await hang_up(engine, rec, supervisor, target)
    with pytest.raises((LegGoneError, NotFoundError)):
        await engine.supervise(target.id, supervisor.id, SupervisionMode.LISTEN)
    await nothing_left(engine)
    nothing_reported(rec)
