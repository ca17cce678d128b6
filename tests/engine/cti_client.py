"""A CTI WebSocket client for the real-engine tests (``/api/v1/ws`` of the test service)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.engine.conftest import TEST_API_PORT, Service


class Client:
    """A CTI WebSocket client that keeps messages it skipped while waiting for another."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    async def until(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        """The first message (skipped earlier or new) that ``match`` accepts."""
        for i, msg in enumerate(self.pending):
            if match(msg):
                return self.pending.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                new: dict[str, Any] = json.loads(await self.ws.recv())
                self.seen.append(new)
                if match(new):
                    return new
                self.pending.append(new)

    async def request(self, msg: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        """Send a request and return its reply."""
        await self.ws.send(json.dumps(msg))
        return await self.until(lambda m: m["type"] == "reply" and m["id"] == msg["id"], timeout)

    async def event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        """The next event called ``name``."""
        return await self.until(lambda m: m["type"] == "event" and m["event"] == name, timeout)


@asynccontextmanager
async def open_cti(service: Service) -> AsyncIterator[Client]:
    """A connected client, past the server's welcome message."""
    url = f"ws://127.0.0.1:{TEST_API_PORT}/api/v1/ws"
    async with connect(url, additional_headers=service.headers) as ws:
        client = Client(ws)
        assert (await client.until(lambda m: True))["type"] == "welcome"
        yield client
