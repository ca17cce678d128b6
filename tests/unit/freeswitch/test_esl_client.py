"""EslClient: reconnect with backoff, re-subscribe, LinkUp/LinkDown, against replayed bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from orchestrator.core.errors import EngineTimeoutError, EngineUnavailableError, ValidationError
from orchestrator.engines.freeswitch.esl.client import EslClient, LinkDown, LinkUp, StreamItem
from orchestrator.engines.freeswitch.esl.connection import EslCommandError, EslConnection
from orchestrator.engines.freeswitch.esl.wire import EslEvent, FrameParser
from tests.unit.freeswitch.captures import stream
from tests.unit.freeswitch.replay import ReplayServer, Step, script_from

B = "b_call_control_json"
# Auth, then `event json ALL` and its reply, as captured (the client's subscribe with
# events=["ALL"] writes exactly those bytes).
LOGIN = script_from(B, stop="step: bgapi originate")
EVENT_FRAMES = [
    f"Content-Length: {len(f.body)}\nContent-Type: {f.content_type}\n\n".encode() + f.body
    for f in FrameParser().feed(stream(B))
    if f.content_type == "text/event-json"
]
STATUS = next(p for k, p in script_from("a2_inbound_basics", start="api status") if k == "send")


def test_the_event_frames_are_the_captured_bytes() -> None:
    assert len(EVENT_FRAMES) == 190
    assert all(frame in stream(B) for frame in EVENT_FRAMES[:20])


def serving(events: slice, *then: Step) -> list[Step]:
    return [*LOGIN, *(("send", f) for f in EVENT_FRAMES[events]), *then]


class Collector:
    """The run loop's callback: records items, wakes a waiter when a condition holds."""

    def __init__(self) -> None:
        self.items: list[StreamItem] = []
        self._changed = asyncio.Event()

    async def __call__(self, item: StreamItem) -> None:
        self.items.append(item)
        self._changed.set()

    async def until(self, done: Callable[[list[StreamItem]], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not done(self.items):
                self._changed.clear()
                await self._changed.wait()

    def links(self) -> list[StreamItem]:
        return [i for i in self.items if not isinstance(i, EslEvent)]


def client_for(server: ReplayServer) -> EslClient:
    return EslClient(
        "127.0.0.1",
        server.port,
        "esl-throwaway-pw",
        events=["ALL"],
        backoff=(0.05, 0.4),
        request_timeout=2.0,
    )


async def test_reconnects_with_backoff_and_subscribes_again() -> None:
    first = serving(slice(0, 5), ("sleep", 0.05), ("close", b""))
    refused: list[Step] = [("close", b"")]
    second = serving(slice(5, 10))
    async with ReplayServer(first, refused, refused, second) as server:
        client = client_for(server)
        seen = Collector()
        task = asyncio.create_task(client.run(seen))
        await seen.until(lambda items: len(items) == 13)
        events = [i for i in seen.items if isinstance(i, EslEvent)]
        assert [e.sequence for e in events] == [
            int(f.split(b'"Event-Sequence":"')[1].split(b'"')[0]) for f in EVENT_FRAMES[:10]
        ]
        assert seen.items[0] == LinkUp(reconnect=False)
        assert seen.items[6] == LinkDown("closed by the engine")
        assert seen.items[7] == LinkUp(reconnect=True)
        # Two refused attempts in between, each after a longer pause than the one before.
        first_try, second_try, third_try = server.accepted_at[1:4]
        assert second_try - first_try >= 0.05
        assert third_try - second_try >= 0.1
        assert server.mismatches == []
        assert client.connected
        await client.close()
        await asyncio.wait_for(task, 5)
        assert seen.links()[-1] == LinkDown("closed by the orchestrator")
        assert not client.connected


async def test_drop_link_reconnects_and_requests_wait_for_the_link() -> None:
    api: list[Step] = [("recv", b"api status\n\n"), ("send", STATUS)]
    async with ReplayServer(serving(slice(0, 3)), serving(slice(3, 6), *api)) as server:
        client = client_for(server)
        seen = Collector()
        task = asyncio.create_task(client.run(seen))
        await client.wait_connected(5)
        await seen.until(lambda items: len(items) == 4)
        await client.drop_link()
        await seen.until(lambda items: LinkUp(reconnect=True) in items)
        await client.wait_connected(5)
        assert (await client.api("status")).startswith("UP 0 years")
        await seen.until(lambda items: len(items) == 9)
        assert seen.links() == [LinkUp(False), LinkDown("link dropped"), LinkUp(True)]
        assert len(server.accepted_at) == 2
        assert server.mismatches == []
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_while_down_requests_fail_at_once_and_close_ends_the_run() -> None:
    async with ReplayServer() as server:
        port = server.port
    client = EslClient("127.0.0.1", port, "pw", events=["CHANNEL_PARK"], backoff=(0.02, 0.05))
    seen = Collector()
    task = asyncio.create_task(client.run(seen))
    with pytest.raises(EngineTimeoutError):
        await client.wait_connected(0.2)
    for request in (
        client.api("status"),
        client.bgapi("status"),
        client.command("noevents"),
        client.sendmsg("u", app="answer"),
    ):
        with pytest.raises(EngineUnavailableError):
            await request
    await client.close()
    await asyncio.wait_for(task, 5)
    assert seen.items == []


async def test_the_subscription_names_plain_events_before_custom() -> None:
    subscribe = (
        b"event json CHANNEL_PARK CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB "
        b"CUSTOM conference::maintenance\n\n"
    )
    reply = b"Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n"
    script = [*LOGIN[:3], ("recv", subscribe), ("send", reply)]
    async with ReplayServer(script) as server:
        client = EslClient(
            "127.0.0.1",
            server.port,
            "esl-throwaway-pw",
            events=["CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"],
            custom=["conference::maintenance"],
        )
        seen = Collector()
        task = asyncio.create_task(client.run(seen))
        await client.wait_connected(5)
        assert seen.items == [LinkUp(False)]
        assert server.mismatches == []
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_a_refused_subscription_ends_the_run_with_the_error() -> None:
    steps = script_from("f_errors", start="unknown event name", stop="noevents")
    refused = next(p for k, p in steps if k == "send")
    assert isinstance(refused, bytes)
    assert b"-ERR no keywords supplied" in refused
    bad = b"event json NO_SUCH_EVENT BACKGROUND_JOB\n\n"
    script = [*LOGIN[:3], ("recv", bad), ("send", refused)]
    async with ReplayServer(script) as server:
        client = EslClient("127.0.0.1", server.port, "esl-throwaway-pw", events=["NO_SUCH_EVENT"])
        seen = Collector()
        with pytest.raises(EslCommandError, match="no keywords supplied"):
            await asyncio.wait_for(client.run(seen), 5)
        assert seen.items == []
        assert server.mismatches == []


async def test_filters_are_set_after_every_subscribe_with_background_job_first() -> None:
    captured = script_from("a2_inbound_basics", start="nixevent", stop="filter delete")[2:4]
    regex = script_from("a2_inbound_basics", start="filter delete,", stop="noevents")[2:4]
    job = [
        ("recv", b"filter Event-Name BACKGROUND_JOB\n\n"),
        (
            "send",
            b"Content-Type: command/reply\n"
            b"Reply-Text: +OK filter added. [Event-Name]=[BACKGROUND_JOB]\n\n",
        ),
    ]
    filtered = [*LOGIN, *job, *captured, *regex]
    assert [k for k, _ in filtered[-4:]] == ["recv", "send"] * 2
    dropped = [*filtered, ("send", EVENT_FRAMES[0]), ("close", b"")]
    async with ReplayServer(dropped, filtered) as server:
        client = EslClient(
            "127.0.0.1",
            server.port,
            "esl-throwaway-pw",
            events=["ALL"],
            filters=[
                ("Unique-ID", "5e67ffdb-5abe-478e-9398-f0311a2baf61"),
                ("Event-Name", "/^CHANNEL_(ANSWER|HANGUP_COMPLETE)$/"),
            ],
            backoff=(0.01, 0.05),
        )
        seen = Collector()
        task = asyncio.create_task(client.run(seen))
        await seen.until(lambda items: LinkUp(reconnect=True) in items)
        assert server.mismatches == []
        assert server.finished == [0, 1]
        await client.close()
        await asyncio.wait_for(task, 5)
    assert [type(i).__name__ for i in seen.items] == [
        "LinkUp",
        "EslEvent",
        "LinkDown",
        "LinkUp",
        "LinkDown",
    ]


async def test_bad_filters_are_refused_before_the_wire() -> None:
    async with ReplayServer([*LOGIN[:3]]) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, "esl-throwaway-pw")
        for header, value in (("Unique ID", "x"), ("delete", "all"), ("Unique-ID", " ")):
            with pytest.raises(ValidationError):
                await conn.filter(header, value)
        await conn.close()
