"""A tiny ESL server for the client tests: it replays a capture's server bytes.

A script is a list of steps, run in order on one accepted connection:
``("send", bytes)`` writes what FreeSWITCH sent, ``("recv", bytes)`` reads exactly as
many bytes from the client and records a mismatch unless they are the captured client
bytes, ``("sleep", seconds)``, ``("close", b"")`` drops the connection. A connection
whose script ends without ``close`` stays open until the client closes it. Scripts come
from captures with :func:`script_from` (cut at the recorder's ``step:`` notes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Self

from tests.unit.freeswitch.captures import read_capture

Step = tuple[str, bytes | float]

AUTH_REQUEST = b"Content-Type: auth/request\n\n"


def script_from(name: str, *, start: str = "", stop: str = "") -> list[Step]:
    """The records of capture ``name`` as steps, from the note holding ``start`` (or
    the beginning) up to the note holding ``stop`` (or the end; the final EOF note
    becomes a ``close``)."""
    steps: list[Step] = []
    started = not start
    for record in read_capture(name):
        if record.direction == "--":
            note = record.payload.decode()
            if start and start in note:
                started = True
            elif started and stop and stop in note:
                break
            elif started and note.startswith("EOF"):
                steps.append(("close", b""))
            continue
        if started:
            steps.append(("send" if record.direction == "<<" else "recv", record.payload))
    return steps


def with_chosen_job_uuids(steps: list[Step]) -> tuple[list[Step], list[str]]:
    """``steps`` as if the client had chosen each bgapi's Job-UUID (our client always
    does): the uuid FreeSWITCH picked, read from its reply, put in a ``Job-UUID`` header
    of the request. Returns the steps and those uuids in order."""
    out: list[Step] = []
    jobs: list[str] = []
    for index, (kind, payload) in enumerate(steps):
        assert isinstance(payload, bytes | float)
        if kind == "recv" and isinstance(payload, bytes) and payload.startswith(b"bgapi "):
            if b"Job-UUID:" not in payload:
                reply = next(p for k, p in steps[index:] if k == "send")
                assert isinstance(reply, bytes)
                job = reply.split(b"Job-UUID: ", 1)[1].split(b"\n", 1)[0]
                payload = payload[:-1] + b"Job-UUID: " + job + b"\n\n"
            jobs.append(payload.split(b"Job-UUID: ", 1)[1].split(b"\n", 1)[0].decode())
        out.append((kind, payload))
    return out, jobs


class ReplayServer:
    """Serves ``scripts[k]`` to the k-th connection; later connections are closed at once."""

    def __init__(self, *scripts: list[Step]) -> None:
        self.scripts = list(scripts)
        self.received: list[bytes] = []
        self.mismatches: list[str] = []
        self.accepted_at: list[float] = []
        self.finished: list[int] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        # Let each connection's handler see its EOF and end (not be cancelled mid-read).
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.accepted_at)
        self.accepted_at.append(time.monotonic())
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.append(writer)
        script = self.scripts[index] if index < len(self.scripts) else [("close", b"")]
        try:
            for kind, payload in script:
                if kind == "send":
                    assert isinstance(payload, bytes)
                    writer.write(payload)
                    await writer.drain()
                elif kind == "recv":
                    assert isinstance(payload, bytes)
                    got = await reader.readexactly(len(payload))
                    self.received.append(got)
                    if got != payload:
                        self.mismatches.append(f"connection {index}: {got!r} != {payload!r}")
                        return
                elif kind == "sleep":
                    assert isinstance(payload, float)
                    await asyncio.sleep(payload)
                elif kind == "close":
                    self.finished.append(index)
                    return
            self.finished.append(index)
            while await reader.read(4096):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            self.mismatches.append(f"connection {index}: the client went away mid-script")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
