"""``uuid_record``: recording a channel's both directions (a media bug)."""

from __future__ import annotations

import asyncio

from orchestrator.testing.freeswitch.apps import write_wav
from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import now_us
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["session_record"]

_CALLING = ("switch_ivr_async.c", "record_callback", 1340)
_SYNTAX = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"


async def session_record(sw: Switch, arg: str) -> str:
    parts = arg.split()
    if len(parts) < 3:
        return _SYNTAX
    ch = sw.get(parts[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    action, path = parts[1], parts[2]
    if action == "start":
        if not ch.answered and not ch.early:
            return "-ERR Cannot record session!\n"
        limit = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0
        stop = asyncio.Event()
        ch.recordings[path] = stop
        sw.emit(ch, "RECORD_START", after=[("Record-File-Path", path)], calling=_CALLING)
        asyncio.get_running_loop().create_task(_run(sw, ch, path, stop, limit))
        return "+OK Success\n"
    if action == "stop":
        targets = list(ch.recordings) if path == "all" else [path]
        if not any(t in ch.recordings for t in targets):
            return "-ERR Cannot stop record session!\n"
        for target in targets:
            event = ch.recordings.get(target)
            if event is not None:
                event.set()
        return "+OK Success\n"
    if action in ("mask", "unmask", "pause", "resume"):
        return "+OK Success\n"
    return _SYNTAX


async def _run(sw: Switch, ch: Channel, path: str, stop: asyncio.Event, limit: int) -> None:
    started = now_us()
    ended = asyncio.ensure_future(ch.done.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {ended, stopped},
            timeout=(limit / sw.speed) if limit else None,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        ended.cancel()
        stopped.cancel()
        ch.recordings.pop(path, None)
        ms = (now_us() - started) // 1000
        write_wav(path, ms)
        ch.variables.update(
            {"record_ms": str(ms), "record_seconds": str(ms // 1000), "record_samples": str(ms * 8)}
        )
        sw.emit(
            ch,
            "RECORD_STOP",
            after=[("Record-File-Path", path), ("Record-Completion-Cause", "success-break")],
            calling=_CALLING,
        )
