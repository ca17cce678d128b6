"""api commands and apps of the fake FreeSWITCH beyond the recorded captures."""

from __future__ import annotations

import json

from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.peer_client import Frame, RawClient
from tests.unit.freeswitch.test_peer_captures import ESL_DIALPLAN

DIALPLAN = ESL_DIALPLAN.replace(
    "</context>",
    """<extension name="ring"><condition field="destination_number" expression="^7030$">
<action application="ring_ready"/><action application="park"/></condition></extension>
<extension name="vars" continue="true"><condition field="destination_number" expression="^8(\\d+)$">
<action application="set" data="digits=$1" inline="true"/></condition></extension>
<extension name="echo"><condition field="${digits}" expression="^\\d+$">
<action application="set" data="seen=${digits}"/><action application="answer"/>
<action application="park"/></condition></extension>
<extension name="room"><condition field="destination_number" expression="^3000$">
<action application="answer"/><action application="conference" data="room1@default"/>
</condition></extension>
</context>""",
)


async def connect(fs: FakeFreeSwitch) -> RawClient:
    client = await RawClient.open(fs.port)
    await client.login()
    await client.command("event plain ALL")
    return client


async def parked(c: RawClient, ev: list[Frame], uuid: str, ext: str = "7000") -> None:
    assert await c.api(f"originate {{origination_uuid={uuid}}}loopback/{ext}/esl &park()", ev) == (
        f"+OK {uuid}\n"
    )
    await c.until("CHANNEL_PARK", ev, Unique_ID=uuid)


async def test_hold_broadcast_break_and_variables() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        await parked(c, ev, "h1")
        assert await c.api("uuid_hold h1", ev) == "+OK Success\n"
        hold = await c.until("CHANNEL_HOLD", ev, Unique_ID="h1")
        assert hold.event()["Channel-Call-State"] == "HELD"
        assert await c.api("uuid_hold off h1", ev) == "+OK Success\n"
        await c.until("CHANNEL_UNHOLD", ev, Unique_ID="h1")
        assert await c.api("uuid_hold off h1", ev) == "-ERR Operation failed\n"
        assert await c.api("uuid_hold nosuch", ev) == "-ERR Operation failed\n"
        moh = "local_stream://moh"
        assert await c.api(f"uuid_broadcast h1 {moh} aleg", ev) == "+OK Message sent\n"
        start = await c.until("PLAYBACK_START", ev, Unique_ID="h1")
        assert start.event()["Playback-File-Path"] == moh
        assert await c.api("uuid_break h1 all", ev) == "+OK\n"
        stop = await c.until("PLAYBACK_STOP", ev, Unique_ID="h1")
        assert stop.event()["Playback-Status"] == "break"
        # back to the park loop: still parked, still up
        assert await c.api("uuid_exists h1") == "true"
        assert await c.api("uuid_setvar h1 effective_caller_id_number 555") == "+OK\n"
        assert await c.api("uuid_getvar h1 effective_caller_id_number") == "555"
        assert await c.api("uuid_setvar h1 effective_caller_id_number") == "+OK\n"
        assert await c.api("uuid_getvar h1 effective_caller_id_number") == "_undef_"
        assert await c.api("eval uuid:h1 ${uuid}/${nope}") == "h1/"
        assert await c.api("uuid_setvar_multi h1 a=1;b=2") == "+OK\n"
        assert await c.api("uuid_getvar h1 b") == "2"
        c.send(b"sendmsg h1\ncall-command: execute\nexecute-app-name: say\n"
               b"execute-app-arg: en number pronounced 42\nEvent-UUID: say1\n\n")  # fmt: skip
        said = await c.until("CHANNEL_EXECUTE_COMPLETE", ev, Application_UUID="say1")
        assert said.event()["Application"] == "say"
        files = [
            e.event()["Playback-File-Path"]
            for e in ev
            if e.event().get("Event-Name") == "PLAYBACK_STOP"
        ]
        assert files[-2:] == ["digits/4.wav", "digits/2.wav"]
        assert await c.api("uuid_answer nosuch") == "-ERROR\n"
        dump = await c.api("uuid_dump h1")
        assert dump.startswith("Event-Name: CHANNEL_DATA\n") and "\nUnique-ID: h1\n" in dump
        assert json.loads(await c.api("uuid_dump h1 json"))["Unique-ID"] == "h1"
        assert await c.api("hupall NORMAL_CLEARING", ev) == (
            "+OK hangup all channels with cause NORMAL_CLEARING\n"
        )
        await c.until("CHANNEL_DESTROY", ev, Unique_ID="h1")
        assert await c.api("show channels as json") == '{"row_count": 0}\n'
        await c.close()


async def test_originate_forms_and_failures() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        # <exten> XML <context>: the a-leg runs the dialplan itself; $1 and ${var} expand.
        body = await c.api("originate {origination_uuid=o1}loopback/7000/esl 8123 XML esl", ev)
        assert body == "+OK o1\n"
        park = await c.until("CHANNEL_PARK", ev, Unique_ID="o1")
        assert park.event()["variable_seen"] == "123"
        assert (
            await c.api("originate loopback/9999/esl &park()", ev) == "-ERR NO_ROUTE_DESTINATION\n"
        )
        assert await c.api("originate nosuch/foo &park()") == "-ERR CHAN_NOT_IMPLEMENTED\n"
        assert await c.api("originate error/USER_BUSY &park()") == "-ERR USER_BUSY\n"
        assert await c.api("originate user/1000@example.com &park()") == "-ERR SUBSCRIBER_ABSENT\n"
        # ring_ready only: no answer before originate_timeout
        body = await c.api(
            "originate {originate_timeout=1,origination_uuid=o2}loopback/7030/esl &park()", ev
        )
        assert body == "-ERR NO_ANSWER\n"
        await c.until("CHANNEL_PROGRESS", ev, Unique_ID="o2")
        hup = await c.until("CHANNEL_HANGUP", ev, Unique_ID="o2")
        assert hup.event()["Hangup-Cause"] == "NO_ANSWER"
        # an unknown app on a live channel hangs it up with DESTINATION_OUT_OF_ORDER
        c.send(b"sendmsg o1\ncall-command: execute\nexecute-app-name: no_such_app\n\n")
        hup = await c.until("CHANNEL_HANGUP", ev, Unique_ID="o1")
        assert hup.event()["Hangup-Cause"] == "DESTINATION_OUT_OF_ORDER"
        await c.close()


async def test_hash_and_reload() -> None:
    async with FakeFreeSwitch() as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        assert await c.api("hash insert/realm/key/value") == "+OK\n"
        assert await c.api("hash select/realm/key") == "value"
        assert await c.api("hash delete/realm/key") == "+OK\n"
        assert await c.api("hash select/realm/key") == ""
        assert await c.api("reloadxml", ev) == "+OK [Success]\n"
        await c.until("RELOADXML", ev)
        assert await c.api("xml_flush_cache id 1000 example.com") == "+OK cleared 0 entries\n"
        rescan = await c.api("sofia profile internal rescan")
        assert rescan == "Reload XML [Success]\n+OK scan complete\n"
        assert fs.switch.flushed == ["id 1000 example.com", "sofia profile internal rescan"]
        assert (await c.api("sofia status")).endswith("1 profile 0 aliases\n")
        await c.close()


async def test_conference_join_mute_kick_and_leave() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_PARK CUSTOM conference::maintenance")
        ev: list[Frame] = []
        await parked(c, ev, "m1")
        await parked(c, ev, "m2")
        assert (
            await c.api("uuid_transfer m1 conference:room9@default+flags{mute} inline", ev)
            == "+OK\n"
        )
        created = await c.until("CUSTOM", ev, Action="conference-create")
        assert created.event()["Conference-Name"] == "room9"
        add = await c.until("CUSTOM", ev, Action="add-member")
        assert add.event()["Speak"] == "false" and add.event()["Unique-ID"] == "m1"
        member = add.event()["Member-ID"]
        await c.api("uuid_transfer m2 conference:room9@default inline", ev)
        assert await c.api("conference room9 count") == "2"
        await fs.send_dtmf_in("m2", "0")  # the default controls: 0 mutes
        muted = await c.until("CUSTOM", ev, Action="mute-member", Unique_ID="m2")
        assert muted.event()["Speak"] == "false"
        assert await c.api(f"conference room9 unmute {member}", ev) == f"+OK unmute {member}\n"
        await c.until("CUSTOM", ev, Action="unmute-member")
        assert await c.api("conference room9 mute 999") == "-ERR Non-Existant ID 999\n"
        assert await c.api("conference nosuch list") == "-ERR Conference nosuch not found\n"
        from orchestrator.engines.freeswitch.esl import listings

        (listed,) = listings.parse_conferences(await c.api("conference room9 json_list"))
        assert [m.uuid for m in listed.members] == ["m2", "m1"]  # newest first
        assert listed.members[1].can_speak and listed.running
        # leave = transfer to park; the last one out destroys the conference
        await c.api("uuid_transfer m1 park inline", ev)
        await c.until("CUSTOM", ev, Action="del-member", Unique_ID="m1")
        await c.until("CHANNEL_PARK", [], Unique_ID="m1")
        assert (
            await c.api(f"conference room9 kick {int(member) + 1}", ev)
            == f"+OK kicked {int(member) + 1}\n"
        )
        await c.until("CUSTOM", ev, Action="conference-destroy")
        await c.close()


async def test_recv_dtmf_and_eavesdrop_inline() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await connect(fs)
        ev: list[Frame] = []
        await parked(c, ev, "t1")
        await parked(c, ev, "s1")
        assert await c.api("uuid_transfer s1 eavesdrop:t1,park inline", ev) == "+OK\n"
        await c.until("CHANNEL_EXECUTE", ev, Unique_ID="s1", Application="eavesdrop")
        assert await c.api("uuid_recv_dtmf s1 2") == "+OK s1 received DTMF 2.\n"
        dtmf = await c.until("DTMF", ev, Unique_ID="s1")
        assert dtmf.event()["DTMF-Digit"] == "2"
        await c.api("uuid_kill t1", ev)
        # eavesdrop ends with its target; the inline dialplan goes on to park
        await c.until("CHANNEL_EXECUTE_COMPLETE", ev, Unique_ID="s1", Application="eavesdrop")
        await c.until("CHANNEL_PARK", [], Unique_ID="s1")
        assert fs.switch.eavesdrop_modes["s1"] == "2"
        await c.close()


async def test_conference_hold_play_record_and_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        fs.switch.file_ms = 30
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_PARK CUSTOM conference::maintenance")
        ev: list[Frame] = []
        await parked(c, ev, "k1")
        await parked(c, ev, "k2")
        for leg in ("k1", "k2"):
            await c.api(f"uuid_transfer {leg} conference:room7@default inline", ev)
            await c.until("CUSTOM", ev, Action="add-member", Unique_ID=leg)
        member = fs.channels["k1"].variables["conference_member_id"]
        assert await c.api(f"conference room7 hold {member}", ev) == f"+OK hold {member}\n"
        held = await c.until("CUSTOM", ev, Action="hold-member")
        assert held.event()["Hold"] == "true"
        assert await c.api(f"conference room7 unhold {member}", ev) == f"+OK unhold {member}\n"
        tone = "tone_stream://%(50,0,440)"
        assert (
            await c.api(f"conference room7 play {tone}", ev) == f"+OK (play) Playing file {tone}\n"
        )
        done = await c.until("CUSTOM", ev, Action="play-file-done")
        assert done.event()["File"] == tone and done.event()["milliseconds"] == "50"
        path = str(tmp_path / "conf.wav")
        assert await c.api(f"conference room7 record {path}", ev) == f"+OK Record file {path}\n"
        await c.until("CUSTOM", ev, Action="start-recording")
        assert await c.api("conference room7 lock", ev) == "+OK room7 locked\n"
        # end: every member is transferred to park; the last one out destroys it,
        # which also ends the recording
        for leg in ("k1", "k2"):
            await c.api(f"uuid_transfer {leg} park inline", ev)
        stop = await c.until("CUSTOM", ev, Action="stop-recording")
        assert stop.event()["Path"] == path
        await c.until("CUSTOM", ev, Action="conference-destroy")
        assert (tmp_path / "conf.wav").read_bytes()[:4] == b"RIFF"
        assert fs.exists("k1") and fs.exists("k2")
        await c.close()


async def test_bad_arguments_and_heartbeats() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN, heartbeat=0.05) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain HEARTBEAT")
        beat = await c.read()
        assert beat.event()["Event-Name"] == "HEARTBEAT"
        assert beat.event()["Event-Info"] == "System Ready"
        await c.command("noevents")
        assert (await c.api("uuid_setvar")).startswith("-USAGE")
        assert (await c.api("uuid_transfer onlyone")).startswith("-USAGE")
        assert (await c.api("uuid_hold")) == "-ERR Operation failed\n"
        assert (await c.api("conference")).startswith("-USAGE")
        await c.close()


def test_originate_variables_parse_like_freeswitch() -> None:
    from orchestrator.testing.freeswitch.originate import parse_vars, split_app

    variables, rest = parse_vars("{a=1,b='x, y',origination_uuid=u}[leg_timeout=5]user/1@d")
    assert variables == {"a": "1", "b": "x, y", "origination_uuid": "u", "leg_timeout": "5"}
    assert rest == "user/1@d"
    assert split_app("&playback(tone_stream://%(100,0,440))") == (
        "playback",
        "tone_stream://%(100,0,440)",
    )
    assert split_app("7000") is None


async def test_api_commands_can_be_added_or_replaced() -> None:
    from orchestrator.testing.freeswitch.switch import Switch

    async def hello(sw: Switch, arg: str) -> str:
        return f"+OK hello {arg}\n"

    async with FakeFreeSwitch() as fs:
        fs.switch.api_commands["hello"] = hello
        c = await RawClient.open(fs.port)
        await c.login()
        assert await c.api("hello world") == "+OK hello world\n"
        await c.close()


async def test_conference_relate_and_talking() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_PARK CUSTOM conference::maintenance")
        ev: list[Frame] = []
        for leg in ("r1", "r2"):
            await parked(c, ev, leg)
            await c.api(f"uuid_transfer {leg} conference:room5@default inline", ev)
            await c.until("CUSTOM", ev, Action="add-member", Unique_ID=leg)
        one, two = (fs.channels[leg].variables["conference_member_id"] for leg in ("r1", "r2"))
        # relate: the replies mod_conference writes (no event).
        assert await c.api("conference room5 relate", ev) == "No relationships\n"
        assert await c.api(f"conference room5 relate {one} {two} nospeak", ev) == (
            f"ok {one}->{two} nospeak set\n"
        )
        assert await c.api("conference room5 relate", ev) == (
            f"{one} -> {two} NOSPEAK HEAR NOSENDVIDEO \n"
        )
        assert await c.api(f"conference room5 relate {one} 999 nospeak", ev) == (
            f"relationship {one}->999 not found.\n"
        )
        assert await c.api(f"conference room5 relate {one} {two} clear", ev) == (
            f"relationship {one}->{two} cleared.\n"
        )
        assert (await c.api(f"conference room5 relate {one} {two}", ev)).startswith("-USAGE")
        # A tone played on r2's loopback peer is r2 talking: start-talking, the floor
        # (r1's, the first member's, until then), stop-talking when it ends.
        peer = fs.channels["r2"].loopback_peer
        await c.api(f"uuid_broadcast {peer} tone_stream://%(300,0,800) aleg", ev)
        started = await c.until("CUSTOM", ev, Action="start-talking")
        assert (started.event()["Unique-ID"], started.event()["Talking"]) == ("r2", "true")
        floor = await c.until("CUSTOM", ev, Action="floor-change", Old_ID=one)
        assert floor.event()["New-ID"] == two
        stopped = await c.until("CUSTOM", ev, Action="stop-talking")
        assert stopped.event()["Talking"] == "false"
        assert 250 <= int(stopped.event()["talking-duration-ms"]) <= 1000
        await c.close()
