"""``AsteriskEngine.record_call``: a snoop channel on the leg, recorded, kept to the adapter.

ARI is replaced by a stand-in that notes each request and, like Asterisk, reports the
snoop channel's StasisStart only after answering the snoop request. The real-engine
proof (both parties' audio in the file) is tests/engine/test_recordings_calls.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.core.errors import CallError, LegGoneError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegHungUp,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.core.targets import Routing
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.recorder import RECORD_ARG


class StandInAri:
    def __init__(self, engine: AsteriskEngine, *, refuse_record: bool = False) -> None:
        self.engine = engine
        self.requests: list[tuple[Any, ...]] = []
        self.refuse_record = refuse_record
        self.snoop_comes_up: bool | None = True  # None: up, and gone by the hangup

    async def snoop(self, channel_id: str, *, snoop_id: str, **kw: Any) -> dict[str, Any]:
        self.requests.append(("snoop", channel_id, snoop_id, kw))
        if self.snoop_comes_up is not False:
            # StasisStart trails the reply (Asterisk starts the snoop in its own thread).
            loop = asyncio.get_running_loop()
            loop.call_later(0.01, lambda: asyncio.ensure_future(self._up(snoop_id)))
        return {"id": snoop_id, "name": f"Snoop/{channel_id}-00000001"}

    async def _up(self, snoop_id: str) -> None:
        await self.engine.apply(
            LegCreated(leg_id=snoop_id, state="up", routing=Routing(RECORD_ARG))
        )

    async def record(self, channel_id: str, name: str, **kw: Any) -> dict[str, Any]:
        self.requests.append(("record", channel_id, name, kw))
        if self.refuse_record:
            raise CallError("ARI POST /channels/x/record: 409 Channel is not in Stasis")
        return {"name": name}

    async def stop_recording(self, name: str) -> None:
        self.requests.append(("stop_recording", name))
        # What Asterisk 22 answers in the moment after RecordingFinished.
        raise CallError(
            f"ARI POST /recordings/live/{name}/stop: 409 Recording not in session",
            status=409,
        )

    async def hangup(self, channel_id: str, **kw: Any) -> None:
        self.requests.append(("hangup", channel_id))
        if self.snoop_comes_up is None:
            raise LegGoneError(f"ARI DELETE /channels/{channel_id}: 404 Channel not found")

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> dict[str, Any]:
        self.requests.append(("play", channel_id, media))
        for event in (
            PlaybackStarted(playback_id=playback_id, leg_id=channel_id),
            PlaybackFinished(playback_id=playback_id, leg_id=channel_id),
        ):
            asyncio.get_running_loop().call_later(
                0.01, lambda e=event: asyncio.ensure_future(self.engine.apply(e))
            )
        return {"id": playback_id}


def engine_with(**kw: Any) -> tuple[AsteriskEngine, StandInAri, list[Event]]:
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:1/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p",
    )  # fmt: skip
    ari = StandInAri(engine, **kw)
    engine.ari = ari  # type: ignore[assignment]
    seen: list[Event] = []
    engine.subscribe(seen.append)
    return engine, ari, seen


async def test_records_a_snoop_of_the_leg_and_reports_it_as_the_legs() -> None:
    engine, ari, seen = engine_with()
    assert await engine.record_call("1733.12", "rec/abc", max_duration=59.2) == "rec/abc"
    [snoop, record] = ari.requests
    snoop_id = snoop[2]
    assert snoop[0] == "snoop" and snoop[1] == "1733.12" and snoop_id.startswith("orch-")
    # spy both: what the leg says and hears; no whisper: the parties hear nothing of it.
    assert snoop[3] == {"spy": "both", "whisper": "none", "app_args": (RECORD_ARG,)}
    assert record[:3] == ("record", snoop_id, "rec/abc")
    assert record[3]["max_duration"] == 60 and record[3]["if_exists"] == "fail"
    # The snoop channel is the adapter's own: subscribers never see it as a leg.
    assert seen == [] and snoop_id not in engine.legs
    await engine.apply(RecordingStarted(recording="rec/abc", leg_id=snoop_id))
    await engine.apply(RecordingFinished(recording="rec/abc", leg_id=snoop_id, duration=3))
    await asyncio.sleep(0.01)
    assert [(type(e).__name__, getattr(e, "leg_id", "")) for e in seen] == [
        ("RecordingStarted", "1733.12"),
        ("RecordingFinished", "1733.12"),
    ]
    assert ari.requests[-1] == ("hangup", snoop_id)  # the recording ended: so does the snoop
    await engine.apply(LegHungUp(leg_id=snoop_id))
    assert len(seen) == 2


async def test_a_beep_comes_from_a_whisper_only_snoop_that_then_goes() -> None:
    engine, ari, seen = engine_with()
    await engine.record_call("chan-1", "rec/beep", beep=True)
    await asyncio.sleep(0.1)
    [recorder, record, beeper, play, hangup] = ari.requests
    assert recorder[3]["whisper"] == "none" and record[3]["beep"] is False
    # Whisper only: a snoop that also spied would send the leg's own audio back to it.
    assert beeper[0] == "snoop" and beeper[1] == "chan-1" and beeper[2] != recorder[2]
    assert (beeper[3]["spy"], beeper[3]["whisper"]) == ("none", "both")
    assert play == ("play", beeper[2], ["sound:beep"]) and hangup == ("hangup", beeper[2])
    assert seen == []  # neither snoop, nor the beep, reaches subscribers


async def test_the_leg_ending_ends_snoop_and_recording_without_a_second_hangup() -> None:
    engine, ari, seen = engine_with()
    await engine.record_call("chan-1", "rec/one")
    snoop_id = ari.requests[0][2]
    await engine.apply(LegHungUp(leg_id=snoop_id))  # Asterisk ends a snoop with its channel
    await engine.apply(RecordingFinished(recording="rec/one", leg_id=snoop_id))
    await asyncio.sleep(0.01)
    assert [type(e).__name__ for e in seen] == ["RecordingFinished"]
    assert seen[0].leg_id == "chan-1"  # type: ignore[attr-defined]
    assert [r[0] for r in ari.requests] == ["snoop", "record"]


async def test_a_refused_recording_hangs_up_its_snoop_and_frees_the_name() -> None:
    engine, ari, _ = engine_with(refuse_record=True)
    with pytest.raises(CallError):
        await engine.record_call("chan-1", "rec/two")
    assert ari.requests[-1] == ("hangup", ari.requests[0][2])
    ari.refuse_record = False
    await engine.record_call("chan-1", "rec/two")  # the name is free again


async def test_a_snoop_that_never_comes_up_is_a_gone_leg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orchestrator.engines.asterisk.recorder.READY_TIMEOUT_S", 0.05)
    engine, ari, _ = engine_with()
    ari.snoop_comes_up = False
    with pytest.raises(LegGoneError):
        await engine.record_call("chan-1", "rec/three")
    assert [r[0] for r in ari.requests] == ["snoop", "hangup"]


async def test_a_name_in_use_is_refused() -> None:
    engine, _, _ = engine_with()
    await engine.record_call("chan-1", "rec/four")
    with pytest.raises(CallError):
        await engine.record_call("chan-2", "rec/four")


async def test_a_snoop_gone_before_its_hangup_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, ari, _ = engine_with()
    ari.snoop_comes_up = None  # the recorded channel ends as the recording stops
    await engine.record_call("chan-1", "rec/five")
    snoop_id = ari.requests[0][2]
    await engine.apply(RecordingFinished(recording="rec/five", leg_id=snoop_id))
    await asyncio.sleep(0.01)
    assert ari.requests[-1] == ("hangup", snoop_id)
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text


async def test_stopping_a_conversation_recording_that_just_ended_is_not_an_error() -> None:
    """The call recorder's stop right after RecordingFinished (ARI: 409 "Recording not in
    session") is a stop of an ended recording: not an error (Engine.stop_recording)."""
    engine, ari, seen = engine_with()
    await engine.record_call("chan-1", "rec/ended")
    snoop_id = ari.requests[0][2]
    await engine.apply(RecordingFinished(recording="rec/ended", leg_id=snoop_id, duration=2))
    await engine.stop_recording("rec/ended")
    assert ("stop_recording", "rec/ended") in ari.requests
    assert [type(e).__name__ for e in seen] == ["RecordingFinished"]
