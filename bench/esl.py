"""CPU of the ESL client's event path, replayed from recorded FreeSWITCH byte streams.

``python -m bench --only esl [--esl-copies 200]``: no engine, no network. The server
side of ``tests/data/freeswitch-esl/b_call_control_json.esl.txt`` (``event json ALL``
during three loopback calls driven by bgapi/sendmsg/api: 190 events) and of its
``event plain ALL`` twin ``b_call_control_plain`` is cut down to its event frames, copied
``copies`` times, and fed through what the connection's reader does with the bytes:

* ``frame``: :class:`FrameParser` over the stream in 64 KiB reads (the reader's size),
  header blocks split and bodies cut by Content-Length;
* ``parse``: :func:`parse_event` on each frame (JSON with first-wins duplicate keys, or
  URL-decoded plain lines) to an :class:`EslEvent`.

Timed with :func:`time.process_time` (this process's CPU), best of ``repeat`` runs.
Lines: ``esl_<format>_events_per_call``, ``esl_<format>_frame_us_per_event``,
``esl_<format>_parse_us_per_event``, ``esl_<format>_us_per_event`` (frame + parse) and
``esl_<format>_us_per_call`` (that times the events of one call: 190 / 3 calls for json).
The adapter's translate and handle stages are measured on top of these by the adapter's
own benchmark.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engines.freeswitch.esl.wire import Frame, FrameParser, parse_event

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


def event_stream(name: str) -> bytes:
    """Only the event frames of the capture, re-serialised as on the wire."""
    frames = FrameParser().feed(server_bytes(name))
    return b"".join(
        f"Content-Length: {len(f.body)}\nContent-Type: {f.content_type}\n\n".encode() + f.body
        for f in frames
        if f.content_type.startswith("text/event-")
    )


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


@dataclass(frozen=True, slots=True)
class Figures:
    events_per_call: float
    frame_us: float
    parse_us: float

    @property
    def total_us(self) -> float:
        return self.frame_us + self.parse_us


def measure(name: str, options: EslOptions) -> Figures:
    one = event_stream(name)
    per_copy = len(FrameParser().feed(one))
    data = one * options.copies
    n = per_copy * options.copies
    frames = FrameParser().feed(data)
    frame = _best(options.repeat, lambda: _time_frames(data, n))
    parse = _best(options.repeat, lambda: _time_parse(frames))
    return Figures(
        events_per_call=per_copy / CALLS_PER_STREAM,
        frame_us=frame * 1e6 / n,
        parse_us=parse * 1e6 / n,
    )


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
    return 0


if __name__ == "__main__":
    raise SystemExit(run(EslOptions()))
