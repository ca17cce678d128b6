"""AmiClient against a small fake AMI server (login, Command, silence, dropped link)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import EngineError, EngineTimeoutError, EngineUnavailableError
from orchestrator.engines.asterisk.ami import AmiClient


class FakeAmi:
    """Answers Login and Command; ``Action: Silence`` gets no reply; ``Action: Drop`` hangs up."""

    def __init__(self) -> None:
        self.logins = 0
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1)
                    for line in raw.decode().strip().split("\r\n")
                    if ": " in line
                )
                action, aid = headers.get("Action", ""), headers.get("ActionID", "")
                self.actions.append(headers)
                if action == "Login":
                    ok = headers.get("Secret") == "good"
                    self.logins += ok
                    reply = "Success" if ok else "Error"
                    writer.write(f"Response: {reply}\r\nActionID: {aid}\r\n\r\n".encode())
                    if ok:
                        writer.write(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
                elif action == "Command":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\n"
                        "Message: Command output follows\r\n"
                        "Output: line one\r\nOutput: line two\r\n\r\n".encode()
                    )
                elif action == "Drop":
                    writer.close()
                    return
                elif action != "Silence":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAmi, int]]:
    ami = FakeAmi()
    server = await asyncio.start_server(ami.handle, "127.0.0.1", 0)
    yield ami, server.sockets[0].getsockname()[1]
    server.close()
    for writer in ami.writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    await server.wait_closed()


async def client(port: int, secret: str = "good") -> AmiClient:
    ami = AmiClient("127.0.0.1", port, "u", secret, action_timeout=0.3, backoff=(0.05, 0.1))
    await ami.start()
    return ami


async def test_command_joins_output(fake: tuple[FakeAmi, int]) -> None:
    ami = await client(fake[1])
    try:
        await ami.wait_connected(2)
        assert await ami.command("core show version") == "line one\nline two"
    finally:
        await ami.stop()
    assert not ami.connected


async def test_action_timeout(fake: tuple[FakeAmi, int]) -> None:
    ami = await client(fake[1])
    try:
        await ami.wait_connected(2)
        with pytest.raises(EngineTimeoutError):
            await ami.action({"Action": "Silence"})
    finally:
        await ami.stop()


async def test_pending_actions_fail_on_disconnect_then_reconnect(
    fake: tuple[FakeAmi, int],
) -> None:
    server, port = fake
    ami = await client(port)
    links: list[bool] = []
    ami.on_link_change = lambda up, _reason: links.append(up)
    try:
        await ami.wait_connected(2)
        pending = asyncio.create_task(ami.action({"Action": "Silence"}, timeout=5))
        await asyncio.sleep(0.05)
        await ami.drop_link()
        with pytest.raises(EngineUnavailableError):
            await asyncio.wait_for(pending, 1)
        with pytest.raises(EngineUnavailableError):
            await ami.command("core show version")  # down: refused at once
        await ami.wait_connected(2)
        assert await ami.command("x") == "line one\nline two"
        assert links[-2:] == [False, True] and server.logins == 2
    finally:
        await ami.stop()


async def test_refused_login_never_connects(fake: tuple[FakeAmi, int]) -> None:
    ami = await client(fake[1], secret="bad")
    try:
        with pytest.raises(TimeoutError):
            await ami.wait_connected(0.5)
        with pytest.raises(EngineError):
            await ami.command("core show version")
    finally:
        await ami.stop()


async def test_events_only_while_someone_listens(fake: tuple[FakeAmi, int]) -> None:
    ami = await client(fake[1])
    try:
        await ami.wait_connected(2)
        login = next(a for a in fake[0].actions if a["Action"] == "Login")
        assert login["Events"] == "off"
        ami.register_event("QueueMemberStatus", lambda _msg: None)
        for _ in range(50):
            if any(a["Action"] == "Events" for a in fake[0].actions):
                break
            await asyncio.sleep(0.02)
        switch = next(a for a in fake[0].actions if a["Action"] == "Events")
        assert switch["EventMask"] == "on"
    finally:
        await ami.stop()
