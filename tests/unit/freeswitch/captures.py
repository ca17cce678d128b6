"""STAND-IN capture reader (helper ``esl`` writes the real one, same API)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "freeswitch-esl"


@dataclass(frozen=True, slots=True)
class Record:
    direction: str
    payload: bytes


def read_capture(name: str) -> list[Record]:
    data = (DATA / name).read_bytes()
    pos = 0
    while data[pos : pos + 1] == b"#":
        pos = data.index(b"\n", pos) + 1
    out: list[Record] = []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        _, direction, _, _, size = data[pos:nl].decode().split(" ")
        n = int(size)
        out.append(Record(direction, data[nl + 1 : nl + 1 + n]))
        pos = nl + 1 + n + 1
    return out


def stream(name: str, direction: str = "<<") -> bytes:
    return b"".join(r.payload for r in read_capture(name) if r.direction == direction)
