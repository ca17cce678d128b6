"""CPU of the Asterisk adapter's event path, replayed from recorded ARI event streams.

``python -m bench --only adapter [--adapter-calls 2000]``: no engine, no network. Each
stream of ``tests/data/ari/observed/`` (every event the adapter's app received for one
call, subscribed to all channels) is copied ``calls`` times with the channel, playback
and bridge ids made unique per copy, turned back into WebSocket text frames, and fed one
frame after the other through what the adapter does with a frame: ``parse_event`` (JSON),
then :meth:`AsteriskEngine._handle_ari` (observation, translation, leg/bridge
bookkeeping, dispatch to the subscribers). The engine is built but never started.

Subscribers: ``subscribers`` handlers as cheap as a feature's first test (an
``isinstance`` and a dict lookup), so the figures are the adapter's and the dispatch's,
not a feature's. The streams:

* ``ivr_call``: a call into a Python IVR flow (bench/ivr.py's flow: StasisStart, answer,
  two beeps, 4 RFC 2833 digits, hangup; 15 events);
* ``dialplan_call``: one phone calling another in the tenant dialplan, answered and hung
  up (18 events, observation only: no leg of the app).

Timed with :func:`time.process_time` (this process's CPU, not the wall clock, so the
figure means something on a loaded machine); each figure is the best of ``repeat``
runs over fresh engines. Besides the whole path, ``parse`` (``parse_event`` alone) and
``translate`` (``observe`` + ``translate``, the pure functions) are timed on their own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.events import Event, LegEvent
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.ari import parse_event
from orchestrator.engines.asterisk.observe import observe
from orchestrator.engines.asterisk.translate import translate

OBSERVED = Path(__file__).resolve().parents[1] / "tests" / "data" / "ari" / "observed"
STREAMS = ("ivr_call", "dialplan_call")
# The fields of a recorded event whose values are ids that must differ between copies.
_ID_FIELDS = ("channel", "peer", "caller", "playback", "bridge")


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    calls: int = 2000
    subscribers: int = 8
    repeat: int = 5


# `python -m bench --smoke`
SMOKE = AdapterOptions(calls=10, subscribers=2, repeat=1)


@dataclass(frozen=True, slots=True)
class Figures:
    """CPU microseconds of one stream: per event and per call, by stage."""

    stream: str
    events_per_call: int
    parse_us: float
    translate_us: float
    handle_us: float

    @property
    def total_us(self) -> float:
        """parse_event + the adapter's handling: what one WebSocket frame costs."""
        return self.parse_us + self.handle_us


def load_stream(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((OBSERVED / f"{name}.json").read_text())
    return events


def stream_ids(events: list[dict[str, Any]]) -> set[str]:
    """The channel, playback and bridge ids the stream uses."""
    ids: set[str] = set()
    for event in events:
        for key in _ID_FIELDS:
            value = event.get(key)
            if isinstance(value, dict) and value.get("id"):
                ids.add(str(value["id"]))
    return ids


def copies(events: list[dict[str, Any]], calls: int) -> list[str]:
    """``calls`` copies of the stream as text frames, ids suffixed ``-<copy>``."""
    text = json.dumps(events)
    # An id is always a whole JSON string or follows "channel:" (a target_uri).
    pattern = re.compile(
        r'(?<=[":])(' + "|".join(re.escape(i) for i in sorted(stream_ids(events))) + r')(?=")'
    )
    frames: list[str] = []
    for k in range(calls):
        copy: list[dict[str, Any]] = json.loads(pattern.sub(rf"\g<1>-{k}", text))
        frames.extend(json.dumps(event) for event in copy)
    return frames


class _Subscriber:
    """As cheap as a feature's handler gets: one isinstance, one dict lookup."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.seen = 0

    def on_event(self, event: Event) -> None:
        if isinstance(event, LegEvent):
            self.routes.get(event.leg_id)
        self.seen += 1


def make_engine(subscribers: int) -> AsteriskEngine:
    """An adapter that is never started (no I/O), with ``subscribers`` handlers."""
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:9/ari",
        ari_user="bench",
        ari_password="bench",
        ami_user="bench",
        ami_password="bench",
    )
    for _ in range(subscribers):
        engine.subscribe(_Subscriber().on_event)
    return engine


def _best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def _time_parse(frames: list[str]) -> float:
    start = time.process_time()
    for frame in frames:
        parse_event(frame)
    return time.process_time() - start


def _time_translate(events: list[dict[str, Any]]) -> float:
    start = time.process_time()
    for event in events:
        observe(event)
        translate(event)
    return time.process_time() - start


async def _time_handle(events: list[dict[str, Any]], subscribers: int) -> float:
    engine = make_engine(subscribers)
    handle = engine._handle_ari
    start = time.process_time()
    for event in events:
        await handle(event)
    used = time.process_time() - start
    if engine.legs or len(engine.channels):
        raise RuntimeError(f"replay left {len(engine.legs)} legs, {len(engine.channels)} channels")
    return used


def measure(name: str, options: AdapterOptions) -> Figures:
    """The figures of one stream (see the module docstring)."""
    stream = load_stream(name)
    frames = copies(stream, options.calls)
    # The handler mutates nothing of the event, but parse each copy once per run anyway
    # (as the reader does) so no run sees dicts warmed by another.
    n = len(frames)
    parse = _best(options.repeat, lambda: _time_parse(frames))
    pure = _best(options.repeat, lambda: _time_translate([parse_event(f) for f in frames]))
    handle = min(
        asyncio.run(_time_handle([parse_event(f) for f in frames], options.subscribers))
        for _ in range(options.repeat)
    )
    us = 1e6 / n
    return Figures(
        stream=name,
        events_per_call=len(stream),
        parse_us=parse * us,
        translate_us=pure * us,
        handle_us=handle * us,
    )


def report(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.2f} {unit}", flush=True)


def run(options: AdapterOptions) -> int:
    """Measure every stream and print the figures; never fails (timings are for reading)."""
    gc.collect()
    for name in STREAMS:
        fig = measure(name, options)
        per_call = fig.events_per_call
        prefix = f"adapter_{name}"
        report(f"{prefix}_events_per_call", per_call, "count")
        report(f"{prefix}_parse_us_per_event", fig.parse_us, "us")
        report(f"{prefix}_translate_us_per_event", fig.translate_us, "us")
        report(f"{prefix}_handle_us_per_event", fig.handle_us, "us")
        report(f"{prefix}_us_per_event", fig.total_us, "us")
        report(f"{prefix}_us_per_call", fig.total_us * per_call, "us")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(AdapterOptions()))
