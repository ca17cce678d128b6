"""A tiny raw ESL client for the fake FreeSWITCH's tests (frames as on the wire)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Frame:
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    @property
    def names(self) -> list[str]:
        return [k for k, _ in self.headers]

    def event(self) -> dict[str, str]:
        """The event's headers (first value wins), decoded."""
        ct = self.get("Content-Type")
        if ct == "text/event-json":
            pairs = json.loads(self.body, object_pairs_hook=lambda p: p)
            out: dict[str, str] = {}
            for k, v in pairs:
                out.setdefault(k, v)
            return out
        out = {}
        for line in self.body.decode().split("\n\n")[0].split("\n"):
            k, _, v = line.partition(": ")
            out.setdefault(k, urllib.parse.unquote(v))
        return out


def parse_frames(data: bytes) -> tuple[list[Frame], bytes]:
    frames = []
    while True:
        end = data.find(b"\n\n")
        if end < 0:
            return frames, data
        head = data[:end].decode()
        headers = [(k, v) for k, _, v in (line.partition(": ") for line in head.split("\n"))]
        length = int(next((v for k, v in headers if k == "Content-Length"), "0"))
        if len(data) < end + 2 + length:
            return frames, data
        frames.append(Frame(headers, data[end + 2 : end + 2 + length]))
        data = data[end + 2 + length :]


@dataclass
class RawClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    buffer: bytes = b""
    frames: list[Frame] = field(default_factory=list)

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def read(self, timeout: float = 5.0) -> Frame:
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise EOFError
            got, self.buffer = parse_frames(self.buffer + data)
            self.frames += got
        return self.frames.pop(0)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def command(self, line: str) -> Frame:
        """The command's reply (events read meanwhile are dropped)."""
        self.send(line.encode() + b"\n\n")
        while True:
            frame = await self.read()
            if not frame.get("Content-Type").startswith("text/event"):
                return frame

    async def login(self, password: str = "ClueCon") -> None:
        assert (await self.read()).get("Content-Type") == "auth/request"
        assert (await self.command(f"auth {password}")).get("Reply-Text") == "+OK accepted"

    async def api(self, line: str, events: list[Frame] | None = None) -> str:
        """The api body; events read before it go to ``events``."""
        self.send(f"api {line}\n\n".encode())
        while True:
            frame = await self.read()
            if frame.get("Content-Type") == "api/response":
                return frame.body.decode()
            if events is not None:
                events.append(frame)

    async def until(
        self, name: str, events: list[Frame], timeout: float = 5.0, **match: str
    ) -> Frame:
        """Read events (kept in ``events``) until ``name`` with the header values ``match``."""
        for frame in events:
            ev = frame.event()
            if ev.get("Event-Name") == name and all(
                ev.get(k.replace("_", "-")) == v for k, v in match.items()
            ):
                return frame
        while True:
            frame = await self.read(timeout)
            events.append(frame)
            ev = frame.event()
            if ev.get("Event-Name") == name and all(
                ev.get(k.replace("_", "-")) == v for k, v in match.items()
            ):
                return frame

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
