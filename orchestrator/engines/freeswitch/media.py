"""Playbacks and recordings on FreeSWITCH, followed by the ids the adapter chose.

A playback is ``sendmsg <uuid> execute playback <file>`` with ``Event-UUID: <playback
id>``: FreeSWITCH echoes it as ``Application-UUID`` on the app's CHANNEL_EXECUTE (then
``PlaybackStarted``) and CHANNEL_EXECUTE_COMPLETE (``PlaybackFinished``); a parked leg
runs it inside ``park`` and parks on after it. A leg's recording (``Engine.record``) is
the ``record`` app the same way. A conversation's (``Engine.record_call``) is
``uuid_record <uuid> start <path>``, followed through RECORD_START / RECORD_STOP by its
path. A conference's is ``conference <name> record <path>`` (conferences.py).

Files go to the recordings folder the adapter shares with FreeSWITCH: ``<folder>/<name>.<fmt>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import CallError, EngineError, NotFoundError, ValidationError
from orchestrator.core.events import (
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.engines.freeswitch.prompts import engine_media
from orchestrator.engines.freeswitch.translate import Executed, RecordFile

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

RECORDING_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]{1,80})?")
RECORDING_FORMAT = re.compile(r"[a-z0-9]{1,16}")
TERMINATE_ON = {"": "none", "#": "#", "*": "*", "any": "any"}
BEEP = "tone_stream://%(250,0,800)"
# record's silence threshold (energy level) when a silence limit is asked for.
SILENCE_THRESHOLD = 200
FAILED_RESPONSES = frozenset({"FILE NOT FOUND", "PLAYBACK ERROR"})


def check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValidationError(f"invalid {what} {value!r}", field=what, value=str(value))
    return value


@dataclass(slots=True)
class _Op:
    kind: str  # "play" | "record"
    ident: str  # playback id / recording name
    leg_id: str
    stopping: bool = False


@dataclass(slots=True)
class Recording:
    """A live recording: ``kind`` ``leg`` (record app), ``call`` (uuid_record) or
    ``conference`` (``owner`` is then the conference's engine name)."""

    kind: str
    name: str
    owner: str
    path: str


class Media:
    """The playbacks and recordings of one :class:`FreeSwitchEngine`."""

    def __init__(self, engine: FreeSwitchEngine) -> None:
        self.engine = engine
        self._ops: dict[str, _Op] = {}  # Application-UUID -> what it is
        self._playing: dict[str, str] = {}  # playback id -> Application-UUID
        self.recordings: dict[str, Recording] = {}  # name -> live recording
        self._by_path: dict[str, Recording] = {}

    # -- paths -------------------------------------------------------------------
    def folder(self) -> Path:
        if self.engine.recordings_dir is None:
            raise EngineError("no recordings folder is configured for FreeSWITCH")
        return self.engine.recordings_dir

    def path(self, name: str, fmt: str) -> Path:
        check(RECORDING_NAME, name, "recording name")
        path = self.folder() / f"{name}.{check(RECORDING_FORMAT, fmt, 'recording format')}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _stored(self, name: str) -> Path:
        check(RECORDING_NAME, name, "recording name")
        found = sorted(self.folder().glob(f"{name}.*"))
        if not found:
            raise NotFoundError(f"recording {name} not found", recording=name)
        return found[0]

    async def recording_file(self, name: str) -> bytes:
        return await asyncio.to_thread(self._stored(name).read_bytes)

    async def delete_recording(self, name: str) -> None:
        path = self._stored(name)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            raise NotFoundError(f"recording {name} not found", recording=name) from None

    # -- a leg's playbacks ----------------------------------------------------------------
    async def play(self, leg_id: str, media: list[str], playback_id: str) -> None:
        arg = engine_media(media, self.engine.recordings_dir)
        app_uuid = playback_id
        self._ops[app_uuid] = _Op("play", playback_id, leg_id)
        self._playing[playback_id] = app_uuid
        try:
            await self.engine.sendmsg(leg_id, app="playback", arg=arg, event_uuid=app_uuid)
        except BaseException:
            self._ops.pop(app_uuid, None)
            self._playing.pop(playback_id, None)
            raise

    async def stop_playback(self, playback_id: str) -> bool:
        """Stop a leg's playback; False if it is not one (a conference's, or ended)."""
        app_uuid = self._playing.get(playback_id)
        op = self._ops.get(app_uuid) if app_uuid else None
        if op is None:
            return False
        op.stopping = True
        with contextlib.suppress(CallError):  # ended meanwhile (or its leg did)
            await self.engine.api(f"uuid_break {op.leg_id}")
        return True

    # -- recordings --------------------------------------------------------------------
    def _start(self, rec: Recording) -> None:
        if rec.name in self.recordings:
            raise CallError(f"recording {rec.name} is already being made", recording=rec.name)
        self.recordings[rec.name] = rec
        self._by_path[rec.path] = rec

    def _end(self, name: str) -> Recording | None:
        rec = self.recordings.pop(name, None)
        if rec is not None:
            self._by_path.pop(rec.path, None)
        return rec

    async def record(
        self, leg_id: str, name: str, *, fmt: str, max_duration: float, max_silence: float,
        beep: bool, terminate_on: str,
    ) -> None:  # fmt: skip
        if terminate_on not in TERMINATE_ON:
            raise ValidationError(
                f"cannot end a recording on {terminate_on!r}", allowed=list(TERMINATE_ON)
            )
        if not (0 <= max_duration < math.inf and 0 <= max_silence < math.inf):
            raise ValidationError("recording limits must be finite and >= 0", leg_id=leg_id)
        path = str(self.path(name, fmt))
        engine = self.engine
        arg = f"{path} {math.ceil(max_duration)}"
        if max_silence:
            arg += f" {SILENCE_THRESHOLD} {math.ceil(max_silence)}"
        app_uuid = engine.new_id()
        self._start(Recording("leg", name, leg_id, path))  # refused before anything is sent
        self._ops[app_uuid] = _Op("record", name, leg_id)
        try:
            terminators = TERMINATE_ON[terminate_on]
            await engine.api(f"uuid_setvar {leg_id} playback_terminators {terminators}")
            if beep:
                await engine.sendmsg(leg_id, app="playback", arg=BEEP)
            await engine.sendmsg(leg_id, app="record", arg=arg, event_uuid=app_uuid)
        except BaseException:
            self._ops.pop(app_uuid, None)
            self._end(name)
            raise

    async def record_call(
        self, leg_id: str, name: str, *, fmt: str, max_duration: float, beep: bool
    ) -> None:
        if not 0 <= max_duration < math.inf:
            raise ValidationError("a recording limit must be finite and >= 0", leg_id=leg_id)
        path = str(self.path(name, fmt))
        self._start(Recording("call", name, leg_id, path))
        limit = f" {math.ceil(max_duration)}" if max_duration else ""
        try:
            await self.engine.api(f"uuid_record {leg_id} start {path}{limit}")
        except BaseException:
            self._end(name)
            raise
        if beep:
            with contextlib.suppress(CallError):
                await self.engine.api(f"uuid_broadcast {leg_id} {BEEP} both")

    def conference_recording(self, name: str, conference: str, path: str) -> None:
        self._start(Recording("conference", name, conference, path))

    def drop(self, name: str) -> None:
        self._end(name)

    async def stop_recording(self, name: str) -> None:
        check(RECORDING_NAME, name, "recording name")
        rec = self.recordings.get(name)
        if rec is None:
            return  # ended: RecordingFinished has been (or will be) sent
        with contextlib.suppress(CallError, NotFoundError):
            if rec.kind == "leg":
                await self.engine.api(f"uuid_break {rec.owner}")
            elif rec.kind == "call":
                await self.engine.api(f"uuid_record {rec.owner} stop {rec.path}")
            else:
                await self.engine.api(f"conference {rec.owner} norecord {rec.path}")

    # -- events (on the dispatcher) ------------------------------------------------------
    def executed(self, e: Executed) -> list[Event]:
        op = self._ops.get(e.app_uuid) if e.app_uuid else None
        if op is None:
            return []
        ts: dict[str, Any] = {"timestamp": e.timestamp}
        if not e.done:
            if op.kind == "play":
                return [PlaybackStarted(playback_id=op.ident, leg_id=op.leg_id, **ts)]
            return [RecordingStarted(recording=op.ident, leg_id=op.leg_id, **ts)]
        del self._ops[e.app_uuid]
        if op.kind == "play":
            self._playing.pop(op.ident, None)
            state = "failed" if e.response in FAILED_RESPONSES else "done"
            if op.stopping and state == "done":
                state = "stopped"
            return [PlaybackFinished(playback_id=op.ident, leg_id=op.leg_id, state=state, **ts)]
        self._end(op.ident)
        return [RecordingFinished(recording=op.ident, leg_id=op.leg_id, **ts)]

    def recorded(self, e: RecordFile) -> list[Event]:
        rec = self._by_path.get(e.path)
        if rec is None or rec.kind != "call":
            return []
        if e.started:
            return [RecordingStarted(recording=rec.name, leg_id=rec.owner, timestamp=e.timestamp)]
        self._end(rec.name)
        return [RecordingFinished(recording=rec.name, leg_id=rec.owner, timestamp=e.timestamp)]

    def conference_recorded(
        self, path: str, started: bool, ts: float, duration: float = 0.0
    ) -> list[Event]:
        rec = self._by_path.get(path)
        if rec is None or rec.kind != "conference":
            return []
        if started:
            return [RecordingStarted(recording=rec.name, leg_id="", timestamp=ts)]
        self._end(rec.name)
        return [RecordingFinished(recording=rec.name, leg_id="", duration=duration, timestamp=ts)]
