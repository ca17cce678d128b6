"""SIP far ends of the fake FreeSWITCH: user/ and sofia/gateway/ endpoints, and the
dialplan ``bridge`` app to them (the extension goes on after the bridge)."""

from __future__ import annotations

from orchestrator.testing.freeswitch import FakeFreeSwitch
from orchestrator.testing.freeswitch.phones import FarEnd
from tests.unit.freeswitch.peer_client import Frame, RawClient

DIALPLAN = """<include><context name="t1">
<extension name="phone"><condition field="destination_number" expression="^(10\\d\\d)$">
<action application="bridge" data="user/$1@t1.example"/>
<action application="playback" data="tone_stream://%(50,0,400)"/>
<action application="hangup" data="NORMAL_CLEARING"/>
</condition></extension></context></include>"""


async def test_user_endpoints_answer_ring_or_refuse() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        fs.add_phone("1000@t1.example")
        fs.add_phone("1001@t1.example", FarEnd(refuse="USER_BUSY"))
        fs.add_phone("1002@t1.example", FarEnd(registered=False))
        fs.add_gateway("trunk1", FarEnd(answer_after=0.05))
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_ANSWER CHANNEL_HANGUP")
        ev: list[Frame] = []
        body = await c.api("originate {origination_uuid=u1}user/1000@t1.example &park()", ev)
        assert body == "+OK u1\n"
        answer = await c.until("CHANNEL_ANSWER", ev, Unique_ID="u1")
        assert answer.event()["Channel-Name"] == "sofia/internal/1000@t1.example"
        assert await c.api("originate user/1001@t1.example &park()") == "-ERR USER_BUSY\n"
        assert await c.api("originate user/1002@t1.example &park()") == "-ERR USER_NOT_REGISTERED\n"
        assert await c.api("originate user/9@t1.example &park()") == "-ERR SUBSCRIBER_ABSENT\n"
        assert await c.api("originate sofia/gateway/nope/123 &park()") == "-ERR INVALID_GATEWAY\n"
        body = await c.api("originate {origination_uuid=g1}sofia/gateway/trunk1/5551234 &park()")
        assert body == "+OK g1\n"
        assert fs.channels["g1"].name == "sofia/gateway/trunk1/5551234"
        await c.close()


async def test_dialplan_bridge_then_the_extension_goes_on() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        fs.add_phone("1000@t1.example")
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain ALL")
        ev: list[Frame] = []
        caller = await fs.call_in("1000", caller="1005", context="t1")
        # The dialed phone's first event names who dials it (the adapter's ChannelDialed
        # of a dialplan call: without it, CTI cannot list the call).
        outgoing = (await c.until("CHANNEL_OUTGOING", ev)).event()
        assert outgoing["Other-Type"] == "originator", outgoing
        assert outgoing["Other-Leg-Unique-ID"] == caller, outgoing
        bridge = await c.until("CHANNEL_BRIDGE", ev)
        assert bridge.event()["Bridge-A-Unique-ID"] == caller
        callee = bridge.event()["Bridge-B-Unique-ID"]
        assert fs.channels[callee].name == "sofia/internal/1000@t1.example"
        await fs.hangup(callee, "NORMAL_CLEARING")
        await c.until("CHANNEL_UNBRIDGE", ev)
        done = await c.until("CHANNEL_EXECUTE_COMPLETE", ev, Unique_ID=caller, Application="bridge")
        assert done.event()["Application-Data"] == "user/1000@t1.example"
        await c.until("PLAYBACK_STOP", ev, Unique_ID=caller)
        hup = await c.until("CHANNEL_HANGUP_COMPLETE", ev, Unique_ID=caller)
        assert hup.event()["Hangup-Cause"] == "NORMAL_CLEARING"
        await c.close()


async def test_registrations_events_and_listings() -> None:
    from orchestrator.engines.freeswitch.esl import listings

    async with FakeFreeSwitch() as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CUSTOM sofia::register sofia::unregister")
        assert await c.api("show registrations") == "\n0 total.\n"
        fs.register("1000@t1.example", variables={"tenant_id": "1"})
        reg = await c.read()
        assert reg.event()["Event-Subclass"] == "sofia::register"
        assert reg.event()["status"] == "Registered(UDP)" and reg.event()["tenant_id"] == "1"
        rows = listings.parse_show_registrations(await c.api("show registrations"))
        assert [(r.user, r.realm) for r in rows] == [("1000", "t1.example")]
        sofia = listings.parse_sofia_registrations(await c.api("sofia status profile internal reg"))
        assert [s.user for s in sofia] == ["1000@t1.example"]
        contact = await c.api("sofia_contact internal/1000@t1.example")
        assert contact.startswith("sofia/internal/sip:1000@")
        assert (
            await c.api("originate {origination_uuid=r1}user/1000@t1.example &park()") == "+OK r1\n"
        )
        fs.unregister("1000@t1.example")
        frame = await c.read()
        while frame.event().get("Event-Subclass") != "sofia::unregister":
            frame = await c.read()
        assert frame.event()["expires"] == "0"
        assert await c.api("sofia_contact 1000@t1.example") == "error/user_not_registered"
        assert await c.api("originate user/1000@t1.example &park()") == "-ERR USER_NOT_REGISTERED\n"
        await c.close()


TENANT = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<document type="freeswitch/xml"><section name="dialplan"><context name="t2">
<extension name="user"><condition field="destination_number" expression="^(20\\d)$">
<action application="set" data="hangup_after_bridge=true"/>
<action application="bridge" data="[leg_timeout=1]user/$1@t2.example"/>
<action application="hangup"/></condition></extension>
<extension name="outbound"><condition field="destination_number" expression="^(9\\d+)$">
<action application="set" data="hangup_after_bridge=true"/>
<action application="bridge"
 data="[leg_timeout=5,execute_on_answer=sched_hangup +1 ALLOTTED_TIMEOUT]sofia/gateway/gw/$1"/>
<action application="hangup"/></condition></extension>
<extension name="unknown"><condition field="destination_number" expression="^.*$">
<action application="pre_answer"/>
<action application="playback" data="tone_stream://%(274,0,913.8);%(274,0,1370.6)"/>
<action application="hangup" data="UNALLOCATED_NUMBER"/></condition></extension>
</context></section></document>"""


async def test_tenant_dialplan_kinds() -> None:
    """The shapes of the kit's tenant dialplan: ring a phone (busy, no answer), an
    outbound route with a time limit, an unknown number."""
    async with FakeFreeSwitch(dialplan=TENANT) as fs:
        fs.switch.speed = 5.0
        fs.add_phone("201@t2.example", FarEnd(refuse="USER_BUSY"))
        fs.add_phone("202@t2.example", FarEnd(answer_after=None))
        fs.add_gateway("gw")
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_HANGUP_COMPLETE CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER")
        ev: list[Frame] = []

        async def cause_of(uuid: str) -> str:
            done = await c.until("CHANNEL_HANGUP_COMPLETE", ev, Unique_ID=uuid)
            return done.event()["Hangup-Cause"]

        assert await cause_of(await fs.call_in("201", context="t2")) == "USER_BUSY"
        assert await cause_of(await fs.call_in("202", context="t2")) == "NO_ANSWER"
        caller = await fs.call_in("9555", context="t2")
        await c.until("CHANNEL_ANSWER", ev)
        assert await cause_of(caller) == "NORMAL_CLEARING"  # the carrier leg's limit ended it
        assert "ALLOTTED_TIMEOUT" in [
            e.event()["Hangup-Cause"]
            for e in ev
            if e.event()["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
        ]
        unknown = await fs.call_in("555", context="t2")
        await c.until("CHANNEL_PROGRESS_MEDIA", ev, Unique_ID=unknown)
        assert await cause_of(unknown) == "UNALLOCATED_NUMBER"
        await c.close()


async def test_register_with_digest_against_xml_curl_then_static() -> None:
    import hashlib
    import json as jsonlib
    import pathlib

    from aiohttp import web

    served: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        served.append(form)
        if form.get("user") != "1000":
            return web.Response(status=404)
        return web.Response(
            text="""<document type="freeswitch/xml"><section name="directory">
<domain name="t1.example"><user id="1000"><params><param name="password" value="pw1000"/>
</params><variables><variable name="tenant_id" value="1"/></variables></user></domain>
</section></document>"""
        )

    app = web.Application()
    app.router.add_post("/fsxml", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        a1 = hashlib.md5(b"2000:t1.example:secret").hexdigest()
        async with FakeFreeSwitch(xml_curl_url=f"http://127.0.0.1:{port}/fsxml") as fs:
            # the static fallback: a user with an a1-hash (md5 of user:realm:password)
            fs.dialplan.static_directory = """<include><domain name="t1.example">
<user id="2000"><params><param name="a1-hash" value="{a1}"/>
</params></user></domain></include>""".replace("{a1}", a1)
            c = await RawClient.open(fs.port)
            await c.login()
            await c.command("event plain CUSTOM sofia::register")
            assert await fs.register_sip("1000@t1.example", "pw1000")
            reg = await c.read()
            assert reg.event()["tenant_id"] == "1" and reg.event()["username"] == "1000"
            assert not await fs.register_sip("1000@t1.example", "wrong")
            assert not await fs.register_sip("2000@t1.example", "anything")  # 404 -> static
            assert await fs.register_sip("2000@t1.example", "secret")
            assert await c.api("originate user/1000@t1.example &park()") != (
                "-ERR USER_NOT_REGISTERED\n"
            )
            await c.close()
    finally:
        await runner.cleanup()
    recorded = jsonlib.loads(
        (
            pathlib.Path(__file__).parents[2] / "data/freeswitch-esl/e1_xml_curl_requests.json"
        ).read_text()
    )
    assert list(served[0]) == [name for name, _ in recorded[0]["fields"]]
    assert served[0]["sip_auth_method"] == "REGISTER" and served[0]["action"] == "sip_auth"


async def test_a_phone_call_is_authenticated_and_runs_in_its_user_context() -> None:
    directory = """<include><domain name="t1.example"><user id="101"><params>
<param name="password" value="pw101"/></params><variables>
<variable name="user_context" value="t1"/><variable name="effective_caller_id_name" value="Ann"/>
</variables></user></domain></include>"""
    dialplan = """<include><context name="t1"><extension name="x">
<condition field="destination_number" expression="^(\\d+)$">
<action application="set" data="orch_route=feature"/><action application="park"/>
</condition></extension></context></include>"""
    async with FakeFreeSwitch(dialplan=dialplan) as fs:
        fs.dialplan.static_directory = directory
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_PARK")
        assert await fs.call_from_phone("101@t1.example", "*21", "wrong") is None
        uuid = await fs.call_from_phone("101@t1.example", "21", "pw101")
        assert uuid is not None
        park = await c.read()
        ev = park.event()
        assert ev["Unique-ID"] == uuid and ev["Caller-Context"] == "t1"
        assert ev["Caller-Caller-ID-Name"] == "Ann" and ev["variable_user_context"] == "t1"
        assert ev["Channel-Name"] == "sofia/internal/101@t1.example"
        await c.close()


async def test_message_waiting_reaches_a_registered_phone() -> None:
    async with FakeFreeSwitch() as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain MESSAGE_WAITING")
        fs.register("1000@t1.example")
        first = await c.read()
        assert first.event()["MWI-Messages-Waiting"] == "no"
        assert first.event()["MWI-Message-Account"] == "sip:1000@t1.example"
        reply = await c.command(
            "sendevent MESSAGE_WAITING\nMWI-Messages-Waiting: yes\n"
            "MWI-Message-Account: sip:1000@t1.example\nMWI-Voice-Message: 2/1 (0/0)"
        )
        assert reply.get("Reply-Text").startswith("+OK ")
        echoed = await c.read()
        assert echoed.names == ["Content-Length", "Content-Type"]
        assert echoed.body.startswith(
            b"Command: sendevent%20MESSAGE_WAITING\nMWI-Messages-Waiting: yes\n"
        )
        assert fs.switch.mwi_sent == [
            (
                "1000@t1.example",
                {"Messages-Waiting": "yes", "Message-Account": "sip:1000@t1.example",
                 "Voice-Message": "2/1 (0/0)"},
            )
        ]  # fmt: skip
        await c.close()
