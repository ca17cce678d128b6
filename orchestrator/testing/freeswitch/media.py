"""Simulated media: how long a file, tone_stream or silence_stream plays, and
``switch_ivr_play_file``'s PLAYBACK_START / PLAYBACK_STOP around that time. What a
loopback channel plays is speech to its peer: a conference member talks meanwhile."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import now_us
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["media_ms", "play"]

_PLAY = ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020)


def media_ms(sw: Switch, path: str) -> int | None:
    """How long ``path`` plays, in ms (None: forever, until broken)."""
    if path.startswith("file_string://"):
        total = 0
        for part in path[len("file_string://") :].split("!"):
            ms = media_ms(sw, part)
            if ms is None:
                return None
            total += ms
        return total
    if path.startswith("silence_stream://"):
        ms = int(path.split("://", 1)[1].split(",")[0] or "0")
        return None if ms <= 0 else ms
    if path.startswith("tone_stream://"):
        if "loops=-1" in path:
            return None
        total = sum(int(a) + int(b) for a, b in re.findall(r"%\((\d+),(\d+)", path))
        loops = re.search(r"loops=(\d+)", path)
        return total * (int(loops.group(1)) if loops else 1)
    if path.startswith("local_stream://"):
        return None
    return sw.file_lengths.get(Path(path).name, sw.file_ms)


def _file_type(path: str) -> str:
    if "://" in path:
        return path.split("://", 1)[0]
    return Path(path).suffix.lstrip(".") or "wav"


async def play(sw: Switch, ch: Channel, path: str, *, stop_on_dtmf: bool = False) -> str:
    """``switch_ivr_play_file``: PLAYBACK_START, the media's length, PLAYBACK_STOP."""
    info = [("Playback-File-Type", _file_type(path)), ("Playback-File-Path", path)]
    sw.emit(
        ch,
        "PLAYBACK_START",
        after=info,
        calling=("switch_ivr_play_say.c", "switch_ivr_play_file", 1558),
    )
    # (Imported here: the conference module uses this one's media_ms.)
    from orchestrator.testing.freeswitch.conference import speaking

    ms = media_ms(sw, path)
    wake = frozenset({"break", "dtmf"} if stop_on_dtmf else {"break"})
    started = now_us()
    status = "done"
    speaking(sw, ch, True)
    try:
        kind = await sw.wait(ch, None if ms is None else ms / 1000, wake=wake)
        if kind != "timeout":
            status = "break"
    finally:
        speaking(sw, ch, False)
        played = ms if status == "done" and ms is not None else (now_us() - started) // 1000
        ch.variables.update(
            {
                "playback_last_offset_pos": str(played * 8),
                "playback_seconds": str(played // 1000),
                "playback_ms": str(played),
                "playback_samples": str(played * 8),
            }
        )
        if ch.up:
            sw.emit(ch, "PLAYBACK_STOP", after=[*info, ("Playback-Status", status)], calling=_PLAY)
    return status
