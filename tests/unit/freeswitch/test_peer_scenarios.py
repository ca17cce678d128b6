"""Call scenarios on the fake FreeSWITCH, driven over raw ESL as the adapter will."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.peer_client import Frame, RawClient
from tests.unit.freeswitch.test_peer_captures import ESL_DIALPLAN


async def connect(fs: FakeFreeSwitch, events: str = "event json ALL") -> RawClient:
    client = await RawClient.open(fs.port)
    await client.login()
    if events:
        assert (await client.command(events)).get("Reply-Text").startswith("+OK event listener")
    return client


def names(events: list[Frame], uuid: str) -> list[str]:
    return [e.event()["Event-Name"] for e in events if e.event().get("Unique-ID") == uuid]


async def test_parked_leg_playback_and_dtmf_across_loopback() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        c.send(b"bgapi originate {origination_uuid=a1,park_after_bridge=true}"
               b"loopback/7010/esl &park()\n"
               b"Job-UUID: job1\n\n")  # fmt: skip
        reply = await c.read()
        assert reply.get("Reply-Text") == "+OK Job-UUID: job1"
        b_park = await c.until("CHANNEL_PARK", ev)
        b_leg = b_park.event()["Unique-ID"]
        assert b_park.event()["variable_other_loopback_leg_uuid"] == "a1"
        c.send(f"sendmsg {b_leg}\ncall-command: execute\nexecute-app-name: answer\n\n".encode())
        job = await c.until("BACKGROUND_JOB", ev)
        assert job.event()["_body"] == "+OK a1\n"
        await c.until("CHANNEL_PARK", ev, Unique_ID="a1")
        c.send(f"sendmsg {b_leg}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
               f"Event-UUID: pb1\ncontent-type: text/plain\ncontent-length: 76\n\n"
               f"1 4 1 4000 # tone_stream://%(100,0,600) silence_stream://250 "
               f"pagd_result \\d+".encode())  # fmt: skip
        await c.until("PLAYBACK_STOP", ev, Unique_ID=b_leg)
        assert await c.api("uuid_send_dtmf a1 42#", ev) == "+OK a1 sent DTMF 42#.\n"
        done = await c.until("CHANNEL_EXECUTE_COMPLETE", ev, Application_UUID="pb1")
        assert done.event()["variable_pagd_result"] == "42"
        digits = [e.event()["DTMF-Digit"] for e in ev if e.event().get("Event-Name") == "DTMF"]
        assert digits == ["4", "2", "#"]
        assert {e.event()["Unique-ID"] for e in ev if e.event().get("Event-Name") == "DTMF"} == {
            b_leg
        }
        assert await c.api(f"uuid_getvar {b_leg} pagd_result") == "42"
        assert await c.api(f"uuid_getvar {b_leg} nope") == "_undef_"
        await c.api("uuid_kill a1 CALL_REJECTED", ev)
        hup = await c.until("CHANNEL_HANGUP_COMPLETE", ev, Unique_ID=b_leg)
        assert hup.event()["Hangup-Cause"] == "CALL_REJECTED"
        assert names(ev, "a1")[-3:] == [
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_DESTROY",
            "CHANNEL_STATE",
        ]
        await c.close()


async def test_bridge_unbridge_and_park_after_bridge() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        for leg in ("x1", "x2"):
            body = await c.api(
                f"originate {{origination_uuid={leg},park_after_bridge=true}}"
                "loopback/7000/esl &park()",
                ev,
            )
            assert body == f"+OK {leg}\n"
            await c.until("CHANNEL_PARK", ev, Unique_ID=leg)
        assert await c.api("uuid_bridge x1 x2", ev) == "+OK x2\n"
        bridge = await c.until("CHANNEL_BRIDGE", ev)
        assert bridge.event()["Bridge-A-Unique-ID"] == "x1"
        assert bridge.event()["Other-Leg-Unique-ID"] == "x2"
        dump = json.loads(await c.api("uuid_dump x2 json"))
        assert dump["Channel-Call-UUID"] == "x1"
        assert names(ev, "x1").index("CHANNEL_UNPARK") < names(ev, "x1").index("CHANNEL_BRIDGE")
        # x2's far end hangs up: x1 stays up and is parked again (park_after_bridge).
        await fs.hangup("x2", "NORMAL_CLEARING")
        await c.until("CHANNEL_UNBRIDGE", ev)
        ev.clear()
        await c.until("CHANNEL_PARK", ev, Unique_ID="x1")
        assert fs.exists("x1") and not fs.exists("x2")
        rows = json.loads(await c.api("show channels as json"))
        assert {r["uuid"] for r in rows["rows"]} >= {"x1"}
        fs.switch.show_channels_lag = 0.3  # as a real 1.10.12 lags new channels
        await c.api("originate {origination_uuid=x3}loopback/7000/esl &park()")
        rows = json.loads(await c.api("show channels as json"))
        assert "x3" not in {r["uuid"] for r in rows.get("rows", [])}
        assert await c.api("uuid_exists x3") == "true"
        await c.close()


async def test_bridge_partner_hangs_up_without_park_after_bridge_and_transfer() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        for leg in ("y1", "y2"):
            await c.api(f"originate {{origination_uuid={leg}}}loopback/7000/esl &park()", ev)
            await c.until("CHANNEL_PARK", ev, Unique_ID=leg)
        await c.api("uuid_bridge y1 y2", ev)
        await c.until("CHANNEL_BRIDGE", ev)
        assert await c.api("uuid_transfer y1 7020 XML esl", ev) == "+OK\n"
        hup = await c.until("CHANNEL_HANGUP", ev, Unique_ID="y2")
        assert hup.event()["Hangup-Cause"] == "NORMAL_CLEARING"
        play = await c.until("PLAYBACK_START", ev, Unique_ID="y1")
        assert play.event()["Playback-File-Path"] == "tone_stream://%(300,0,500)"
        await c.until("CHANNEL_PARK", ev, Unique_ID="y1")
        assert await c.api("uuid_transfer y1 park inline", ev) == "+OK\n"
        await c.close()


async def test_background_job_only_when_subscribed_and_events_behind_api() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs, events="")
        reply = await c.command("bgapi version")
        assert reply.get("Job-UUID") and reply.get("Content-Type") == "command/reply"
        # No BACKGROUND_JOB comes without the subscription: the next frame is this reply.
        subscribed = await c.command("event plain CHANNEL_CREATE")
        assert subscribed.get("Reply-Text") == "+OK event listener enabled plain"
        c.send(b"api originate {origination_uuid=z1}loopback/7000/esl &park()\n\n")
        first = await c.read()
        assert first.get("Content-Type") == "api/response"
        created = await c.read()
        assert created.names[:2] == ["Content-Length", "Content-Type"]
        assert created.event()["Event-Name"] == "CHANNEL_CREATE"
        await c.command("event plain BACKGROUND_JOB")
        reply = await c.command("bgapi uuid_kill 00000000-0000-0000-0000-000000000000")
        job = await c.until("BACKGROUND_JOB", [])
        assert job.event()["Job-UUID"] == reply.get("Job-UUID")
        assert job.body.endswith(b"\n\n-ERR No such channel!\n")
        await c.close()


async def test_drop_clients_and_reconnect() -> None:
    async with FakeFreeSwitch() as fs:
        c = await connect(fs)
        await fs.drop_clients()
        try:
            await c.read(1.0)
            raise AssertionError("still open")
        except (EOFError, ConnectionError):
            pass
        await c.close()
        fs.refuse_connections = True
        c2 = await RawClient.open(fs.port)
        try:
            await c2.read(1.0)
            raise AssertionError("accepted")
        except (EOFError, ConnectionError):
            pass
        await c2.close()
        fs.refuse_connections = False
        c3 = await connect(fs)
        assert await c3.api("version") == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        await c3.close()


async def test_call_in_and_xml_curl_fallback() -> None:
    posted: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        posted.append({k: str(v) for k, v in form.items()})
        if form.get("Hunt-Destination-Number") == "5000":
            return web.Response(status=404)
        return web.Response(
            text="""<document type="freeswitch/xml"><section name="dialplan">
<context name="orchestrator-dids"><extension name="x">
<condition field="destination_number" expression="^(\\d+)$">
<action application="set" data="matched_by=xml_curl_$1"/><action application="park"/>
</condition></extension></context></section></document>"""
        )

    app = web.Application()
    app.router.add_post("/fsxml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    static = """<include><context name="orchestrator-dids"><extension name="s">
<condition field="destination_number" expression="^5000$">
<action application="set" data="matched_by=static"/>
<action application="park"/></condition></extension></context></include>"""
    try:
        async with FakeFreeSwitch(
            dialplan=static, xml_curl_url=f"http://127.0.0.1:{port}/fsxml"
        ) as fs:
            c = await connect(fs)
            ev: list[Frame] = []
            one = await fs.call_in("4000", caller="101")
            park = await c.until("CHANNEL_PARK", ev, Unique_ID=one)
            assert park.event()["variable_matched_by"] == "xml_curl_4000"
            assert park.event()["Channel-Name"] == "sofia/internal/101@127.0.0.1"
            two = await fs.call_in("5000")
            park = await c.until("CHANNEL_PARK", ev, Unique_ID=two)
            assert park.event()["variable_matched_by"] == "static"
            assert (
                posted[0]["section"] == "dialplan"
                and posted[0]["Hunt-Context"] == "orchestrator-dids"
            )
            three = await fs.call_in("6000")  # nothing anywhere for 6000 in static -> xml_curl only
            await c.until("CHANNEL_PARK", ev, Unique_ID=three)
            await c.close()
    finally:
        await runner.cleanup()


async def test_record_writes_a_wav(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        await c.api("originate {origination_uuid=r1}loopback/7000/esl &park()", ev)
        await c.until("CHANNEL_PARK", ev, Unique_ID="r1")
        path = tmp_path / "rec.wav"
        c.send(
            f"sendmsg r1\ncall-command: execute\nexecute-app-name: record\n"
            f"execute-app-arg: {path} 5\n\n".encode()
        )
        await c.until("RECORD_START", ev, Unique_ID="r1")
        await asyncio.sleep(0.05)
        assert await c.api("uuid_break r1", ev) == "+OK\n"
        stop = await c.until("RECORD_STOP", ev, Unique_ID="r1")
        assert stop.event()["Record-File-Path"] == str(path)
        assert path.read_bytes()[:4] == b"RIFF"
        assert await c.api(f"uuid_record r1 start {tmp_path / 'call.wav'}", ev) == "+OK Success\n"
        assert await c.api(f"uuid_record r1 stop {tmp_path / 'call.wav'}", ev) == "+OK Success\n"
        await c.until("RECORD_STOP", ev, Record_File_Path=str(tmp_path / "call.wav"))
        assert (tmp_path / "call.wav").exists()
        await c.close()


async def test_xml_curl_dialplan_request_is_shaped_like_mod_xml_curl() -> None:
    """The form fields of a loopback dialplan lookup, in e1's order (variables aside)."""
    import pathlib

    data = (
        pathlib.Path(__file__).parents[2] / "data" / "freeswitch-esl" / "e1_xml_curl_requests.json"
    )
    recorded = json.loads(data.read_text())
    loopback = next(
        r for r in recorded
        if dict(map(tuple, r["fields"])).get("Channel-Name", "").startswith("loopback/")
    )  # fmt: skip
    seen: list[tuple[list[str], dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        names = [part.split("=", 1)[0] for part in body.split("&")]
        seen.append((names, dict(request.headers)))
        return web.Response(status=404)

    app = web.Application()
    app.router.add_post("/fsxml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/fsxml"
        async with FakeFreeSwitch(dialplan=ESL_DIALPLAN, xml_curl_url=url) as fs:
            c = await connect(fs)
            assert await c.api("originate {origination_uuid=x9}loopback/7000/esl &park()") == (
                "+OK x9\n"
            )
            await c.close()
    finally:
        await runner.cleanup()

    def shape(names: list[str]) -> list[str]:
        return [n for n in names if not n.startswith("variable_")]

    want = shape([name for name, _ in loopback["fields"]])
    names, headers = seen[0]
    assert shape(names) == want
    assert list(headers) == ["Host", "User-Agent", "Accept", "Content-Length", "Content-Type"]
    assert headers["User-Agent"] == "freeswitch-xml/1.0"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_bridging_a_bridged_leg_elsewhere_is_quick() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        for leg in ("q1", "q2", "q3"):
            body = await c.api(
                f"originate {{origination_uuid={leg},park_after_bridge=true}}"
                "loopback/7000/esl &park()",
                ev,
            )
            assert body == f"+OK {leg}\n"
            await c.until("CHANNEL_PARK", ev, Unique_ID=leg)
        assert await c.api("uuid_bridge q1 q2", ev) == "+OK q2\n"
        await c.until("CHANNEL_BRIDGE", ev, Bridge_A_Unique_ID="q1")
        ev.clear()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await c.api("uuid_bridge q1 q3", ev) == "+OK q3\n"
        assert loop.time() - started < 0.5
        await c.until("CHANNEL_BRIDGE", ev, Bridge_A_Unique_ID="q1", Bridge_B_Unique_ID="q3")
        await c.until("CHANNEL_PARK", ev, Unique_ID="q2")  # left alone: parked
        await c.close()


async def test_xml_curl_timeout_garbage_and_not_found_fall_back_to_static() -> None:
    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        dest = form.get("Hunt-Destination-Number")
        if dest == "7001":
            await asyncio.sleep(1.0)
        if dest == "7002":
            return web.Response(text="this is not XML")
        return web.Response(
            text='<document type="freeswitch/xml"><section name="result">'
            '<result status="not found"/></section></document>'
        )

    app = web.Application()
    app.router.add_post("/fsxml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    static = """<include><context name="orchestrator-dids"><extension name="s">
<condition field="destination_number" expression="^(700\\d)$">
<action application="set" data="matched_by=static_$1"/><action application="park"/>
</condition></extension></context></include>"""
    try:
        url = f"http://127.0.0.1:{port}/fsxml"
        async with FakeFreeSwitch(dialplan=static, xml_curl_url=url, xml_curl_timeout=0.2) as fs:
            c = await connect(fs)
            ev: list[Frame] = []
            for dest in ("7001", "7002", "7003"):
                uuid = await fs.call_in(dest)
                park = await c.until("CHANNEL_PARK", ev, Unique_ID=uuid)
                assert park.event()["variable_matched_by"] == f"static_{dest}"
            assert [r["Hunt-Destination-Number"] for r in fs.dialplan.requests] == [
                "7001",
                "7002",
                "7003",
            ]
            await c.close()
    finally:
        await runner.cleanup()


async def test_a_capture_reference_takes_every_digit_after_the_dollar() -> None:
    """As switch_perform_substitution reads it (seen on 1.10.12): "$1000" is capture
    1000 (empty), not capture 1 then "000"; "${2}" is capture 2."""
    dialplan = """<include><context name="caps">
      <extension name="two"><condition field="destination_number" expression="^(\\d)(\\d)$">
        <action application="hash" data="insert/caps/k/[$1000][${2}][$2][$1]"/>
        <action application="answer" data=""/>
        <action application="park" data=""/>
      </condition></extension></context></include>"""
    async with FakeFreeSwitch(dialplan=dialplan) as fs:
        c = await connect(fs, "")
        await c.api("originate {origination_uuid=a1}loopback/12/caps &park()", [])
        assert await c.api("hash select/caps/k", []) == "[][2][2][1]"
        await c.close()
