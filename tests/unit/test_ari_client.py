"""AriClient and the adapter's ARI side against a local aiohttp server playing Asterisk."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.core.errors import (
    CallError,
    EngineTimeoutError,
    EngineUnavailableError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import Event, LegCreated
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.ari import AriClient, LinkDown, LinkUp, StreamItem

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ari" / "events"


class FakeAri:
    """Just enough of ARI: canned replies, the events WebSocket, a StasisStart on originate."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/ari/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        self.requests.append((request.method, tail, dict(request.query)))
        assert request.headers["Authorization"].startswith("Basic ")
        if tail == "events":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            self.sockets.append(ws)
            await ws.send_str("not json")  # a bad frame is dropped, not fatal
            async for _ in ws:
                pass
            return ws
        if tail == "asterisk/info":
            return web.json_response({"system": {"version": "22.0-fake"}})
        if tail == "applications/orchestrator":
            return web.json_response({"channel_ids": [], "bridge_ids": []})
        if tail in ("channels", "bridges") and request.method == "GET":
            return web.json_response([])
        if tail == "channels" and request.method == "POST":
            # Asterisk may report the channel before it answers the request.
            event = json.loads((EVENTS / "stasis_start.json").read_text())
            event["channel"]["id"] = request.query["channelId"]
            for ws in self.sockets:
                await ws.send_str(json.dumps(event))
            await asyncio.sleep(0.2)
            return web.json_response({"id": request.query["channelId"], "name": "Local/x;1"})
        if tail == "slow":
            await asyncio.sleep(2)
        status = {"gone": 404, "channels/x/answer": 404, "bad": 400, "busy": 409}.get(tail, 204)
        if tail == "channels/x/answer" or status != 204:
            return web.json_response({"message": f"canned {status}"}, status=status)
        return web.Response(status=204)


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeAri, str]]:
    fake = FakeAri()
    srv = TestServer(fake.app)
    await srv.start_server()
    yield fake, str(srv.make_url("/ari"))
    for ws in fake.sockets:
        await ws.close()
    await srv.close()


async def test_http_errors_are_translated(server: tuple[FakeAri, str]) -> None:
    _, url = server
    async with AriClient(url, "u", "p", "orchestrator", request_timeout=0.5) as ari:
        with pytest.raises(LegGoneError) as gone:
            await ari.answer("x")
        assert gone.value.details["leg_id"] == "x" and "canned 404" in gone.value.message
        with pytest.raises(NotFoundError) as nf:
            await ari.get("/gone")
        assert not isinstance(nf.value, LegGoneError)
        with pytest.raises(ValidationError):
            await ari.post("/bad")
        with pytest.raises(CallError):
            await ari.post("/busy")
        with pytest.raises(EngineTimeoutError):
            await ari.get("/slow")
        assert await ari.delete("/fine") is None
        assert (await ari.info())["system"]["version"] == "22.0-fake"


async def test_connection_refused_is_engine_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}/ari", "u", "p", "app") as ari:
        with pytest.raises(EngineUnavailableError):
            await ari.info()


async def test_events_reconnect_with_link_notices(server: tuple[FakeAri, str]) -> None:
    fake, url = server
    items: asyncio.Queue[StreamItem] = asyncio.Queue()
    async with AriClient(url, "u", "p", "orchestrator", backoff=(0.05, 0.1)) as ari:
        task = asyncio.create_task(ari.run_events(items.put_nowait))
        assert await asyncio.wait_for(items.get(), 2) == LinkUp(reconnect=False)
        assert ("GET", "events", {"app": "orchestrator", "subscribeAll": "false"}) in fake.requests
        await fake.sockets[0].send_str((EVENTS / "stasis_end.json").read_text())
        event = await asyncio.wait_for(items.get(), 2)
        assert isinstance(event, dict) and event["type"] == "StasisEnd"
        await fake.sockets[0].close()  # the engine drops the link
        assert isinstance(await asyncio.wait_for(items.get(), 2), LinkDown)
        assert await asyncio.wait_for(items.get(), 2) == LinkUp(reconnect=True)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_originate_registers_the_leg_before_the_request(
    server: tuple[FakeAri, str],
) -> None:
    _, url = server
    engine = AsteriskEngine(
        ari_url=url,
        ari_user="u",
        ari_password="p",
        ami_port=1,  # no AMI here: only the ARI side is exercised
        ami_user="u",
        ami_password="p",
        backoff=(0.05, 0.1),
    )
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    try:
        async with asyncio.timeout(2):
            while not engine.status().links["ari"]:  # noqa: ASYNC110 - no event for one link
                await asyncio.sleep(0.01)
        assert engine.version == "22.0-fake" and not engine.status().connected
        leg = await engine.originate("Local/100@ctx", caller_id="101")
        # The StasisStart came (and was applied) before the HTTP reply.
        created = [e for e in seen if isinstance(e, LegCreated)]
        assert [e.leg_id for e in created] == [leg.id]
        assert engine.legs[leg.id] is leg and leg.state == "up" and leg.name == "Local/x;1"
    finally:
        await engine.stop()
