"""AriClient and the adapter's ARI side against a local aiohttp server playing Asterisk."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.core.call import Leg
from orchestrator.core.errors import (
    CallError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegHeld,
    LegHungUp,
    LegUnheld,
    RecordingFinished,
)
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.ari import AriClient, LinkDown, LinkUp, StreamItem
from orchestrator.engines.asterisk.targets import DialplanPlace, Place, dial_string, transfer_place

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ari" / "events"
# Not UTF-8 (a WAV header and 8-bit samples): must come back byte for byte.
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt \x80\xff\xfe\x00\x01"


class FakeAri:
    """Just enough of ARI: canned replies, the events WebSocket, a StasisStart on originate."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        # The first N sockets get no events, as after Asterisk deactivated the application
        # when an earlier socket of it went (see AriClient.events_flow).
        self.deaf_sockets = 0
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
        if tail.startswith("events/user/") and request.method == "POST":
            deaf = len(self.sockets) <= self.deaf_sockets
            event = {"type": "ChannelUserevent", "eventname": tail.removeprefix("events/user/")}
            for ws in [] if deaf else self.sockets[-1:]:
                await ws.send_str(json.dumps(event | {"application": request.query["application"]}))
            return web.Response(status=204)
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
        if request.raw_path.endswith("/recordings/stored/t1%2Fgreeting/file"):
            return web.Response(body=AUDIO, content_type="audio/wav")
        if tail == "channels/x/variable" and request.query["variable"] == "CALLERID(num)":
            return web.json_response({"value": "101"})
        if tail == "recordings/stored/missing/file":
            return web.json_response({"message": "Recording not found"}, status=404)
        if tail == "channels/gone" and request.method == "GET":
            return web.json_response({"message": "Channel not found"}, status=404)
        if tail in ("channels/x/variable", "channels/gone/variable") and request.method == "GET":
            # What Asterisk 22 answers for an unset variable and for a missing channel.
            what = "variable" if tail.startswith("channels/x") else "channel"
            return web.json_response({"message": f"Provided {what} was not found"}, status=404)
        if tail == "recordings/live/just-ended/stop":
            # Asterisk 22 right after RecordingFinished: still listed, no longer recording.
            return web.json_response({"message": "Recording not in session"}, status=409)
        if tail == "recordings/live/broken/stop":
            return web.json_response({"message": "Internal Server Error"}, status=500)
        if tail.startswith("recordings/live/"):
            return web.json_response({"message": "Recording not found"}, status=404)
        if tail == "channels/x" and request.method == "GET":
            return web.json_response({"id": "x", "state": "Up"})
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
        leg = await engine.originate(DialplanPlace("ctx", "100"), caller_id="101")
        # The StasisStart came (and was applied) before the HTTP reply.
        created = [e for e in seen if isinstance(e, LegCreated)]
        assert [e.leg_id for e in created] == [leg.id]
        assert engine.legs[leg.id] is leg and leg.state == "up" and leg.name == "Local/x;1"
    finally:
        await engine.stop()


async def test_a_link_that_gets_no_events_is_made_again(
    server: tuple[FakeAri, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Asterisk can deactivate the application right after a new socket registered it
    (the teardown of a socket of an earlier run): the probe of the link finds no events
    come, and the adapter registers anew instead of reporting a link that hears nothing."""
    fake, url = server
    fake.deaf_sockets = 1
    engine = AsteriskEngine(
        ari_url=url, ari_user="u", ari_password="p", ami_port=1, ami_user="u",
        ami_password="p", backoff=(0.05, 0.1),
    )  # fmt: skip
    await engine.start()
    try:
        async with asyncio.timeout(6):
            while not engine.status().links["ari"]:  # noqa: ASYNC110 - no event for one link
                await asyncio.sleep(0.01)
    finally:
        await engine.stop()
    assert [t for m, t, _ in fake.requests if t == "events"] == ["events", "events"]
    probes = [t for m, t, _ in fake.requests if t.startswith("events/user/")]
    assert len(probes) == 2 and probes[0] != probes[1]
    assert "no events reach application" in caplog.text


async def test_recording_file_is_binary(server: tuple[FakeAri, str]) -> None:
    fake, url = server
    async with AriClient(url, "u", "p", "orchestrator") as ari:
        assert await ari.recording_file("t1/greeting") == AUDIO
        with pytest.raises(NotFoundError):
            await ari.recording_file("missing")
    # A recording in a subdirectory is one path segment, as ARI names it.
    assert [r[1] for r in fake.requests][-2:] == [
        "recordings/stored/t1/greeting/file",
        "recordings/stored/missing/file",
    ]


async def test_get_variable_unset_is_empty_but_a_missing_channel_is_gone(
    server: tuple[FakeAri, str],
) -> None:
    _, url = server
    async with AriClient(url, "u", "p", "orchestrator") as ari:
        assert await ari.get_variable("x", "CALLERID(num)") == "101"
        assert await ari.get_variable("x", "NOT_SET") == ""
        with pytest.raises(LegGoneError):
            await ari.get_variable("gone", "NOT_SET")


def forged_routing() -> Routing:
    routing = Routing("cti")
    object.__setattr__(routing, "_data", {"call": "a,b"})  # past the core's checks
    return routing


def offline_engine(url: str = "http://ari.invalid/ari") -> AsteriskEngine:
    return AsteriskEngine(
        ari_url=url, ari_user="u", ari_password="p", ami_port=1, ami_user="u", ami_password="p",
        backoff=(0.05, 0.1),
    )  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        lambda e: e.record("x", "../etc/passwd"),
        lambda e: e.record("x", "a/b/c"),
        lambda e: e.record("x", "greeting\n"),
        lambda e: e.record("x", "g" * 81),
        lambda e: e.record("x", ""),
        lambda e: e.record("x", "ok", fmt="wav;rm"),
        lambda e: e.record("x", "ok", terminate_on="1"),
        lambda e: e.record("x", "ok", max_duration=-1),
        lambda e: e.record("x", "ok", max_silence=float("nan")),
        lambda e: e.stop_recording("../x"),
        lambda e: e.recording_file("a b"),
        lambda e: e.delete_recording("x/../../y"),
        lambda e: e.send_dtmf("x", "12E"),
        lambda e: e.send_dtmf("x", ""),
        lambda e: e.send_dtmf("x", "1" * 33),
        lambda e: e.hold("x", "default,evil"),
        lambda e: e.get_variable("x", "${SHELL(id)}"),
        lambda e: e.get_variable("x", "CALLERID(num)]"),
        lambda e: e.set_caller_id("x", "101&PJSIP/evil"),
        lambda e: e.set_caller_id("x", "101", "Bob\r\nX-Evil: 1"),
        lambda e: e.originate(forged(SipUser, endpoint="101@a.example&PJSIP/evil")),
        lambda e: e.originate(SipUser("101@a.example"), routing=forged_routing()),
        lambda e: e.transfer("x", forged(Extension, tenant="3", number="1,n,System(id)")),
        lambda e: e.transfer("x", forged(TrunkNumber, trunk="c", number="1&PJSIP/x")),
    ],
)
async def test_bad_input_never_reaches_the_engine(
    server: tuple[FakeAri, str], bad: Callable[[AsteriskEngine], Awaitable[object]]
) -> None:
    fake, url = server
    engine = offline_engine(url)
    try:
        with pytest.raises(ValidationError):
            await bad(engine)
        assert fake.requests == []
    finally:
        await engine.stop()


def forged(cls: type[Target], **fields: str) -> Target:
    """A target made without its checks (a bug, a subclass): the adapter checks again."""
    target = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(target, name, value)
    return target


def test_dial_strings() -> None:
    assert dial_string(SipUser("101@a.example")) == "PJSIP/101@a.example"
    assert dial_string(TrunkNumber("carrier-1.eu", "+4930123")) == "PJSIP/+4930123@carrier-1.eu"
    assert dial_string(Extension("3", "*91")) == "Local/*91@t3/n"
    for endpoint in ["101", "101@a.example&PJSIP/102@b.example", "101@a.example/x", "@a.example"]:
        with pytest.raises(ValidationError):
            SipUser(endpoint)
        with pytest.raises(ValidationError):
            dial_string(forged(SipUser, endpoint=endpoint))
    for trunk, number in [("carrier", "12a"), ("carrier", ""), ("c&d", "1"), ("c/d", "1")]:
        with pytest.raises(ValidationError):
            TrunkNumber(trunk, number)
        with pytest.raises(ValidationError):
            dial_string(forged(TrunkNumber, trunk=trunk, number=number))
    with pytest.raises(ValidationError):
        TrunkNumber("carrier", "1" * 33)
    for tenant, number in [("3", "1,2"), ("3", "1)"), ("3-x", "1"), ("", "1"), ("3", "")]:
        with pytest.raises(ValidationError):
            Extension(tenant, number)
        with pytest.raises(ValidationError):
            dial_string(forged(Extension, tenant=tenant, number=number))
        with pytest.raises(ValidationError):
            transfer_place(forged(Extension, tenant=tenant, number=number))


def test_transfer_places() -> None:
    assert transfer_place(Extension("3", "102")) == Place("t3", "102")
    assert transfer_place(TrunkNumber("carrier", "0044")) == Place(
        "orchestrator-dial", "s", 1, {"ORCH_DIAL": "PJSIP/0044@carrier"}
    )
    assert transfer_place(SipUser("101@a.example")) == Place(
        "orchestrator-dial", "s", 1, {"ORCH_DIAL": "PJSIP/101@a.example"}
    )
    assert transfer_place(DialplanPlace("zz", "wait", 2)) == Place("zz", "wait", 2)
    with pytest.raises(ValidationError):
        transfer_place(Target())  # not a target this adapter knows


async def test_transfer_and_originate_requests_as_sent(server: tuple[FakeAri, str]) -> None:
    fake, url = server
    engine = offline_engine(url)
    try:
        await engine.transfer("orch-1", TrunkNumber("carrier", "+4420"))
        await engine.transfer("orch-1", Extension("3", "102"))
        routing = Routing("cti", {"call": "orch-9"})
        await engine.originate(Extension("3", "102"), leg_id="orch-2", routing=routing)
    finally:
        await engine.stop()
    sent = [(method, tail, query) for method, tail, query in fake.requests]
    assert sent[0][:2] == ("POST", "channels/orch-1/variable")
    assert sent[0][2] == {"variable": "ORCH_DIAL", "value": "PJSIP/+4420@carrier"}
    assert sent[1] == (
        "POST",
        "channels/orch-1/continue",
        {"context": "orchestrator-dial", "extension": "s", "priority": "1"},
    )
    assert sent[2] == (
        "POST",
        "channels/orch-1/continue",
        {"context": "t3", "extension": "102", "priority": "1"},
    )
    assert sent[3][:2] == ("POST", "channels")
    assert sent[3][2]["endpoint"] == "Local/102@t3/n"
    assert sent[3][2]["appArgs"] == "cti,call=orch-9"


async def test_media_requests_as_sent(server: tuple[FakeAri, str]) -> None:
    fake, url = server
    engine = offline_engine(url)
    try:
        await engine.send_dtmf("x", "12#*AD")
        await engine.record("x", "t1/greeting", max_duration=2.5, terminate_on="")
        await engine.set_caller_id("x", "+4930123", "Front desk")
        await engine.stop_recording("t1/greeting")  # already finished: not an error
        assert await engine.recording_file("t1/greeting") == AUDIO
    finally:
        await engine.stop()
    sent = [(m, t, q) for m, t, q in fake.requests]
    assert ("POST", "channels/x/dtmf", {"dtmf": "12#*AD"}) in sent
    record = next(q for m, t, q in sent if t == "channels/x/record")
    assert record == {
        "name": "t1/greeting",
        "format": "wav",
        "maxDurationSeconds": "3",
        "maxSilenceSeconds": "0",
        "beep": "false",
        "terminateOn": "none",
        "ifExists": "overwrite",
    }
    variables = [q for m, t, q in sent if t == "channels/x/variable" and m == "POST"]
    assert variables == [
        {"variable": "CALLERID(num)", "value": "+4930123"},
        {"variable": "CALLERID(name)", "value": "Front desk"},
    ]


async def test_stopping_an_ended_recording_is_not_an_error(server: tuple[FakeAri, str]) -> None:
    """ARI answers 404 for a recording gone and 409 "Recording not in session" for one
    that has just finished (RecordingFinished sent, still listed): both are "already
    ended" for Engine.stop_recording. Any other failure is still one."""
    fake, url = server
    engine = offline_engine(url)
    try:
        await engine.stop_recording("t1/greeting")  # 404
        await engine.stop_recording("just-ended")  # 409
        with pytest.raises(EngineError):
            await engine.stop_recording("broken")  # 500
    finally:
        await engine.stop()
    stops = [t for m, t, q in fake.requests if m == "POST" and t.endswith("/stop")]
    assert stops == [
        "recordings/live/t1/greeting/stop",
        "recordings/live/just-ended/stop",
        "recordings/live/broken/stop",
    ]


async def test_adapter_forwards_hold_recording_and_failed_dial(
    server: tuple[FakeAri, str],
) -> None:
    fake, url = server
    engine = offline_engine(url)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    try:
        async with asyncio.timeout(2):
            while not engine.status().links["ari"]:  # noqa: ASYNC110 - no event for one link
                await asyncio.sleep(0.01)
        announced = await engine.originate(
            DialplanPlace("ctx", "100")
        )  # FakeAri sends its StasisStart
        # An originate still ringing: registered, never in Stasis (no LegCreated).
        engine.legs["orch-f1"] = Leg(id="orch-f1")
        channel = json.loads((EVENTS / "stasis_start.json").read_text())["channel"]
        dial = json.loads((EVENTS / "dial.json").read_text())
        frames = [
            {"type": "ChannelHold", "channel": dict(channel, id="orch-f1")},  # not ours yet
            {"type": "ChannelHold", "channel": dict(channel, id=announced.id)},
            {"type": "ChannelUnhold", "channel": dict(channel, id=announced.id)},
            {
                "type": "RecordingFinished",
                "recording": {
                    "name": "r1",
                    "format": "wav",
                    "state": "done",
                    "target_uri": f"channel:{announced.id}",
                    "duration": 3,
                },
            },
            # Asterisk 22 on Local/x@ctx whose far half runs Busy(): BUSY, then cause 0.
            dict(dial, dialstatus="BUSY", peer=dict(channel, id="orch-f1")),
            {"type": "ChannelDestroyed", "cause": 0, "cause_txt": "Unknown",
             "channel": dict(channel, id="orch-f1", state="Down")},
        ]  # fmt: skip
        for frame in frames:
            await fake.sockets[-1].send_str(json.dumps(frame))
        async with asyncio.timeout(2):
            while not any(isinstance(e, LegHungUp) for e in seen):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await engine.stop()
    held = [e for e in seen if isinstance(e, LegHeld | LegUnheld)]
    assert [(type(e), e.leg_id) for e in held] == [
        (LegHeld, announced.id),
        (LegUnheld, announced.id),
    ]
    finished = next(e for e in seen if isinstance(e, RecordingFinished))
    assert (finished.recording, finished.leg_id, finished.duration) == ("r1", announced.id, 3.0)
    hung_up = next(e for e in seen if isinstance(e, LegHungUp))
    assert (hung_up.leg_id, hung_up.cause, hung_up.cause_text) == ("orch-f1", 17, "busy")
    assert "orch-f1" not in engine.legs
