"""Reader of the FreeSWITCH ESL wire captures in tests/data/freeswitch-esl/.

A capture file is ``#`` header lines, then records::

    @@ <dir> <UTC time> +<seconds since start> <nbytes>\\n
    <exactly nbytes raw bytes>\\n

``dir`` is ``>>`` (the recorder wrote it: the client's bytes), ``<<`` (FreeSWITCH sent
it) or ``--`` (an annotation, never on the wire). Payloads are read by their byte
count, never by lines: they hold ``\\n\\n`` and may hold ``@@``. ``<<`` record
boundaries are whatever recv() returned, not frame boundaries.

Example::

    server_bytes = stream("a2_inbound_basics")
    client_bytes = [r.payload for r in read_capture("a2_inbound_basics") if r.direction == ">>"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "freeswitch-esl"
_RECORD = re.compile(rb"@@ (>>|<<|--) (\S+) \+(\S+) (\d+)\n")


@dataclass(frozen=True, slots=True)
class Record:
    direction: str
    payload: bytes


def capture_names() -> list[str]:
    """Every ESL capture (``*.esl.txt``), without the suffix."""
    return sorted(p.name.removesuffix(".esl.txt") for p in DATA.glob("*.esl.txt"))


def _path(name: str) -> Path:
    return DATA / (name if name.endswith(".txt") else f"{name}.esl.txt")


@cache
def _records(name: str) -> tuple[Record, ...]:
    data = _path(name).read_bytes()
    pos = 0
    while data.startswith(b"#", pos):
        pos = data.index(b"\n", pos) + 1
    records: list[Record] = []
    while pos < len(data):
        match = _RECORD.match(data, pos)
        if match is None:
            raise ValueError(f"{name}: no record at byte {pos}: {data[pos : pos + 40]!r}")
        start = match.end()
        end = start + int(match[4])
        if data[end : end + 1] != b"\n":
            raise ValueError(f"{name}: the record at byte {pos} does not end in a newline")
        records.append(Record(match[1].decode(), data[start:end]))
        pos = end + 1
    return tuple(records)


def read_capture(name: str) -> list[Record]:
    """The records of capture ``name`` (``a2_inbound_basics`` or a file name), in order."""
    return list(_records(name))


def stream(name: str, direction: str = "<<") -> bytes:
    """The joined payloads of one direction: the exact byte stream of that side."""
    return b"".join(r.payload for r in _records(name) if r.direction == direction)


def notes(name: str) -> list[str]:
    """The recorder's ``--`` notes (``step: ...``), in order."""
    return [r.payload.decode() for r in _records(name) if r.direction == "--"]
