"""STAND-IN (see esl/__init__.py): EslEvent and a parser of event frames."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field


class EslProtocolError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class FrameParser:
    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while True:
            end = self._buf.find(b"\n\n")
            if end < 0:
                return out
            headers: dict[str, str] = {}
            for line in self._buf[:end].decode().split("\n"):
                name, _, value = line.partition(": ")
                headers.setdefault(name, value)
            length = int(headers.get("Content-Length", "0"))
            if len(self._buf) < end + 2 + length:
                return out
            out.append(Frame(headers, self._buf[end + 2 : end + 2 + length]))
            self._buf = self._buf[end + 2 + length :]


@dataclass(frozen=True, slots=True)
class EslEvent:
    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def subclass(self) -> str:
        return self.headers.get("Event-Subclass", "")

    @property
    def uuid(self) -> str:
        return self.headers.get("Unique-ID", "")

    @property
    def sequence(self) -> int:
        return int(self.headers.get("Event-Sequence", "0") or 0)

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def variable(self, name: str, default: str = "") -> str:
        return self.headers.get("variable_" + name, default)


def _first(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def parse_event(frame: Frame) -> EslEvent:
    text = frame.body.decode()
    headers: dict[str, str] = {}
    body = ""
    if frame.content_type == "text/event-json":
        data = json.loads(text, object_pairs_hook=_first)
        body = str(data.pop("_body", ""))
        headers = {str(k): str(v) for k, v in data.items()}
    else:
        head, _, body = text.partition("\n\n")
        for line in head.split("\n"):
            name, _, value = line.partition(": ")
            headers.setdefault(name, urllib.parse.unquote(value))
    return EslEvent(headers.get("Event-Name", ""), headers, body)
