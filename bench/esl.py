"""CPU of the ESL client's event path, replayed from recorded FreeSWITCH byte streams.

``python -m bench --only esl [--esl-copies 200]``: no engine, no network. The server
side of ``tests/data/freeswitch-esl/b_call_control_json.esl.txt`` (``event json ALL``
during three loopback calls driven by bgapi/sendmsg/api: 190 events) and of its
``event plain ALL`` twin ``b_call_control_plain`` is cut down to its event frames, copied
``copies`` times, and fed through what the connection's reader does with the bytes:

* ``frame``: :class:`FrameParser` over the stream in 64 KiB reads (the reader's size),
  header blocks split and bodies cut by Content-Length;
* ``parse``: :func:`parse_event` on each frame (JSON with first-wins duplicate keys, or
  URL-decoded plain lines) to an :class:`EslEvent`;
* ``translate``: the adapter's :func:`translate` and :func:`observe` of each event;
* ``handle``: :meth:`FreeSwitchEngine._handle` (observation, translation, the legs table,
  media and connection bookkeeping, one subscriber), every channel of the copies a leg
  under control (each copy's uuids made its own).

Timed with :func:`time.process_time` (this process's CPU), best of ``repeat`` runs.
Lines: ``esl_<format>_events_per_call``, ``esl_<format>_frame_us_per_event``,
``esl_<format>_parse_us_per_event``, ``esl_<format>_us_per_event`` (frame + parse),
``esl_<format>_us_per_call`` (that times the events of one call: 190 / 3 calls for json),
``esl_<format>_translate_us_per_event``, ``esl_<format>_handle_us_per_event`` and
``esl_<format>_adapter_us_per_call`` (frame + parse + handle, the handle stage including
translation, per call: what the ARI adapter's ``adapter_us_per_call`` measures), and the
same for only the events the adapter subscribes to (the capture subscribed to ALL):
``_subscribed_events_per_call`` and ``_adapter_subscribed_us_per_call``, measured again
on those events alone (they are the bigger ones: CHANNEL_HANGUP_COMPLETE, every
variable), with their per-event stages on stderr; the figure to hold against ARI's
``adapter_<stream>_us_per_call``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import progress
from orchestrator.core.call import Leg, LegState
from orchestrator.core.events import Event
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.wire import EslEvent, Frame, FrameParser, parse_event
from orchestrator.engines.freeswitch.translate import CUSTOM, EVENTS, observe, translate

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "freeswitch-esl"
STREAMS = {"json": "b_call_control_json", "plain": "b_call_control_plain"}
CALLS_PER_STREAM = 3  # the scenario's three originates (9 channels)
READ_SIZE = 1 << 16
_RECORD = re.compile(rb"@@ (>>|<<|--) \S+ \+\S+ (\d+)\n")


@dataclass(frozen=True, slots=True)
class EslOptions:
    copies: int = 200
    repeat: int = 5


# `python -m bench --smoke`
SMOKE = EslOptions(copies=2, repeat=1)


def server_bytes(name: str) -> bytes:
    """The bytes FreeSWITCH sent in capture ``name`` (records read by their length)."""
    data = (CAPTURES / f"{name}.esl.txt").read_bytes()
    pos, out = 0, []
    while data.startswith(b"#", pos):
        pos = data.index(b"\n", pos) + 1
    while pos < len(data):
        match = _RECORD.match(data, pos)
        if match is None:
            raise ValueError(f"{name}: no record at byte {pos}")
        end = match.end() + int(match[2])
        if match[1] == b"<<":
            out.append(data[match.end() : end])
        pos = end + 1
    return b"".join(out)


def _wire(f: Frame) -> bytes:
    return f"Content-Length: {len(f.body)}\nContent-Type: {f.content_type}\n\n".encode() + f.body


def event_stream(name: str) -> bytes:
    """Only the event frames of the capture, re-serialised as on the wire."""
    frames = FrameParser().feed(server_bytes(name))
    return b"".join(_wire(f) for f in frames if f.content_type.startswith("text/event-"))


def _best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def _time_frames(data: bytes, expected: int) -> float:
    parser = FrameParser()
    chunks = [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]
    count = 0
    start = time.process_time()
    for chunk in chunks:
        count += len(parser.feed(chunk))
    used = time.process_time() - start
    if count != expected or parser.buffered:
        raise RuntimeError(f"framed {count} events of {expected}, {parser.buffered} bytes left")
    return used


def _time_parse(frames: list[Frame]) -> float:
    start = time.process_time()
    for frame in frames:
        parse_event(frame)
    return time.process_time() - start


def _time_translate(events: list[EslEvent]) -> float:
    start = time.process_time()
    for event in events:
        translate(event)
        observe(event)
    return time.process_time() - start


def own_copies(events: list[EslEvent], copies: int) -> list[EslEvent]:
    """``copies`` copies of a call's events, each with uuids of its own (a header whose
    value is a channel's uuid gets the copy's)."""
    uuids = {e.uuid for e in events if e.uuid}
    out: list[EslEvent] = []
    for i in range(copies):
        suffix = f"-{i}"
        for e in events:
            headers = {k: (v + suffix if v in uuids else v) for k, v in e.headers.items()}
            out.append(dataclasses.replace(e, headers=headers))
    return out


def _noop(event: Event) -> None:
    return None


async def _time_handle(events: list[EslEvent]) -> float:
    engine = FreeSwitchEngine(host="127.0.0.1", port=9, password="bench")
    engine.subscribe(_noop)
    for uuid in {e.uuid for e in events if e.uuid}:  # every channel a leg of ours
        engine.legs[uuid] = Leg(id=uuid, state=LegState.UP)
        engine.announced.add(uuid)
    handle = engine._handle
    start = time.process_time()
    for event in events:
        await handle(event)
    return time.process_time() - start


@dataclass(frozen=True, slots=True)
class Figures:
    events_per_call: float
    frame_us: float
    parse_us: float
    translate_us: float = 0.0
    handle_us: float = 0.0
    # Of the capture's events (``event json ALL``), those the adapter subscribes to.
    subscribed_per_call: float = 0.0

    @property
    def total_us(self) -> float:
        return self.frame_us + self.parse_us


def measure(name: str, options: EslOptions, only_subscribed: bool = False) -> Figures:
    one = event_stream(name)
    if only_subscribed:  # what the adapter's own subscription would have received
        one = b"".join(_wire(f) for f in FrameParser().feed(one) if subscribed(parse_event(f)))
    per_copy = len(FrameParser().feed(one))
    data = one * options.copies
    n = per_copy * options.copies
    frames = FrameParser().feed(data)
    frame = _best(options.repeat, lambda: _time_frames(data, n))
    parse = _best(options.repeat, lambda: _time_parse(frames))
    events = [parse_event(f) for f in FrameParser().feed(one)]
    copied = own_copies(events, options.copies)
    translate_s = _best(options.repeat, lambda: _time_translate(copied))
    handle_s = _best(options.repeat, lambda: asyncio.run(_time_handle(copied)))
    return Figures(
        events_per_call=per_copy / CALLS_PER_STREAM,
        frame_us=frame * 1e6 / n,
        parse_us=parse * 1e6 / n,
        translate_us=translate_s * 1e6 / n,
        handle_us=handle_s * 1e6 / n,
        subscribed_per_call=sum(map(subscribed, events)) / CALLS_PER_STREAM,
    )


def subscribed(event: EslEvent) -> bool:
    """Whether the adapter's subscription (translate.EVENTS, CUSTOM) delivers ``event``."""
    return event.name in EVENTS or (event.name == "CUSTOM" and event.subclass in CUSTOM)


def report(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.2f} {unit}", flush=True)


def run(options: EslOptions) -> int:
    """Measure both formats and print the figures; never fails on timings."""
    gc.collect()
    for fmt, name in STREAMS.items():
        fig = measure(name, options)
        prefix = f"esl_{fmt}"
        report(f"{prefix}_events_per_call", fig.events_per_call, "count")
        report(f"{prefix}_frame_us_per_event", fig.frame_us, "us")
        report(f"{prefix}_parse_us_per_event", fig.parse_us, "us")
        report(f"{prefix}_us_per_event", fig.total_us, "us")
        report(f"{prefix}_us_per_call", fig.total_us * fig.events_per_call, "us")
        report(f"{prefix}_translate_us_per_event", fig.translate_us, "us")
        report(f"{prefix}_handle_us_per_event", fig.handle_us, "us")
        adapter = (fig.total_us + fig.handle_us) * fig.events_per_call
        report(f"{prefix}_adapter_us_per_call", adapter, "us")
        report(f"{prefix}_subscribed_events_per_call", fig.subscribed_per_call, "count")
        # Measured on the subscribed events alone (their sizes are not the average's).
        sub = measure(name, options, only_subscribed=True)
        sub_us = sub.total_us + sub.handle_us
        report(f"{prefix}_adapter_subscribed_us_per_call", sub_us * sub.events_per_call, "us")
        progress(
            f"esl: {fmt}, subscribed events alone: frame {sub.frame_us:.2f} + parse "
            f"{sub.parse_us:.2f} + handle {sub.handle_us:.2f} = {sub_us:.2f} us per event"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run(EslOptions()))
