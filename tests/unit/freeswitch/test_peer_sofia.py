"""The fake FreeSWITCH's SIP side as the orchestrator's configuration drives it
(orchestrator/testing/freeswitch/sofia.py): phones registering with their directory
password, ``user/`` found through the directory, gateways read from the kit's files,
carriers by address, calls from a carrier at a DID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from orchestrator.testing.freeswitch import FakeFreeSwitch, sofia
from orchestrator.testing.freeswitch.channels import Channel
from tests.unit.freeswitch.peer_client import Frame, RawClient

DIRECTORY = """<include><domain name="t1.example">
<user id="101"><params><param name="password" value="pw101"/></params>
<variables><variable name="tenant_id" value="1"/><variable name="user_context" value="t1"/>
</variables></user>
<user id="102"><params><param name="password" value="pw102"/></params></user>
<user id="103"><params><param name="password" value="pw103"/></params></user>
</domain></include>"""

DIDS = """<include><context name="orchestrator-dids">
<extension name="ivr"><condition field="destination_number" expression="^\\+15551000$">
<action application="set" data="orch_route=ivr"/>
<action application="park"/>
</condition></extension></context></include>"""

GATEWAYS = """<include>
  <gateway name="trunk-t1-carrier">
    <param name="proxy" value="127.0.0.1:5090"/>
    <param name="register" value="false"/>
  </gateway>
</include>"""


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[FakeFreeSwitch]:
    async with FakeFreeSwitch(dialplan=DIDS) as peer:
        peer.dialplan.static_directory = DIRECTORY
        (tmp_path / "gateways").mkdir()
        yield peer


async def client(fs: FakeFreeSwitch, events: str) -> RawClient:
    c = await RawClient.open(fs.port)
    await c.login()
    await c.command(f"event plain {events}")
    return c


async def test_register_checks_the_directory_password_and_user_reaches_the_phone(
    fs: FakeFreeSwitch,
) -> None:
    sip = sofia.install(fs)
    c = await client(fs, "CHANNEL_ANSWER CUSTOM sofia::register")
    assert not await sip.register("101", "t1.example", "wrong")  # 401
    assert not await sip.register("999", "t1.example", "pw101")  # no such user
    # In the directory, no phone registered: FreeSWITCH's sofia_contact finds none.
    body = await c.api("originate user/101@t1.example &park()")
    assert body == "-ERR USER_NOT_REGISTERED\n"
    assert await c.api("originate user/999@t1.example &park()") == "-ERR SUBSCRIBER_ABSENT\n"

    assert await sip.register("101", "t1.example", "pw101")
    reg = await c.until("CUSTOM", [])
    assert (reg.event()["Event-Subclass"], reg.event()["tenant_id"]) == ("sofia::register", "1")
    events: list[Frame] = []
    body = await c.api("originate {origination_uuid=p1}user/101@t1.example &park()", events)
    assert body == "+OK p1\n"
    await c.until("CHANNEL_ANSWER", events, Unique_ID="p1")
    # The directory user's variables ride on the channel, as user_outgoing_channel sets them.
    assert fs.channels["p1"].variables["user_context"] == "t1"
    assert fs.channels["p1"].name == "sofia/internal/101@t1.example"

    sip.unregister("101", "t1.example")
    assert await c.api("originate user/101@t1.example &park()") == "-ERR USER_NOT_REGISTERED\n"
    await c.close()


async def test_phone_behaviours(fs: FakeFreeSwitch) -> None:
    sip = sofia.install(fs)
    fs.switch.speed = 5.0
    assert await sip.register("101", "t1.example", "pw101", behaviour=sofia.busy())
    assert await sip.register("102", "t1.example", "pw102", behaviour=sofia.rejects())
    assert await sip.register("103", "t1.example", "pw103", behaviour=sofia.no_answer())
    c = await client(fs, "DTMF")
    assert await c.api("originate user/101@t1.example &park()") == "-ERR USER_BUSY\n"
    assert await c.api("originate user/102@t1.example &park()") == "-ERR CALL_REJECTED\n"
    body = await c.api("originate {originate_timeout=1}user/103@t1.example &park()")
    assert body == "-ERR NO_ANSWER\n"

    keys = sofia.Behaviour(answer_after=0.1, keys="7#", keys_after=0.5)
    assert await sip.register("103", "t1.example", "pw103", behaviour=keys)
    events: list[Frame] = []
    body = await c.api("originate {origination_uuid=k1}user/103@t1.example &park()", events)
    assert body == "+OK k1\n"
    first = await c.until("DTMF", events, Unique_ID="k1")
    second = await c.until("DTMF", events, Unique_ID="k1", DTMF_Digit="#")
    assert (first.event()["DTMF-Digit"], second.event()["DTMF-Digit"]) == ("7", "#")
    await c.close()


async def test_gateways_come_from_the_kit_files_at_rescan(
    fs: FakeFreeSwitch, tmp_path: Path
) -> None:
    sip = sofia.install(fs, conf_dir=tmp_path, profile="orchestrator")
    c = await client(fs, "CHANNEL_ANSWER")
    dial = "originate {originate_timeout=1}sofia/gateway/trunk-t1-carrier/0044123 &park()"
    assert await c.api(dial) == "-ERR INVALID_GATEWAY\n"  # no file read yet
    (tmp_path / "gateways" / "t1.xml").write_text(GATEWAYS)
    assert "+OK" in await c.api("sofia profile orchestrator rescan")
    assert sip.gateways == {"trunk-t1-carrier": "127.0.0.1:5090"}
    # Nobody answers at the carrier's address until the test says so.
    assert await c.api(dial) == "-ERR NO_ANSWER\n"
    sip.carrier("127.0.0.1:5090").answer_after = 0.05
    events: list[Frame] = []
    dial = "originate {origination_uuid=g1}sofia/gateway/trunk-t1-carrier/0044123 &park()"
    assert await c.api(dial, events) == "+OK g1\n"
    await c.until("CHANNEL_ANSWER", events, Unique_ID="g1")
    assert fs.channels["g1"].name == "sofia/gateway/trunk-t1-carrier/0044123"
    assert await c.api("reloadacl") == "+OK acl reloaded\n"
    killed = await c.api("sofia profile orchestrator killgw trunk-t1-carrier")
    assert killed == "+OK gateway marked for deletion.\n"
    assert await c.api(dial.replace("g1", "g2")) == "-ERR INVALID_GATEWAY\n"
    await c.close()


async def test_a_carrier_calls_a_did(fs: FakeFreeSwitch) -> None:
    sip = sofia.install(fs, profile="orchestrator")
    c = await client(fs, "CHANNEL_PARK")
    uuid = await sip.call_in("+15551000", caller="+15550001")
    park = (await c.until("CHANNEL_PARK", [], Unique_ID=uuid)).event()
    assert park["variable_orch_route"] == "ivr"
    assert park["Caller-Context"] == "orchestrator-dids"
    assert park["Caller-Caller-ID-Number"] == "+15550001"
    assert park["Channel-Name"] == "sofia/orchestrator/+15550001@127.0.0.1"
    await c.close()


async def test_user_call_lookup_over_xml_curl() -> None:
    """``user/`` asks mod_xml_curl with action=user_call as mod_dptools does."""
    served: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        served.append(form)
        if form.get("section") != "directory" or form.get("user") != "101":
            return web.Response(status=404)
        return web.Response(text=f"<document><section name='directory'>{DIRECTORY}</section>"
                            "</document>")  # fmt: skip

    app = web.Application()
    app.router.add_post("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with FakeFreeSwitch(xml_curl_url=f"http://127.0.0.1:{port}/x") as fs:
            sip = sofia.install(fs)
            assert await sip.register("101", "t1.example", "pw101")
            c = await client(fs, "CHANNEL_ANSWER")
            body = await c.api("originate {origination_uuid=x1}user/101@t1.example &park()")
            assert body == "+OK x1\n"
            await c.close()
    finally:
        await runner.cleanup()
    actions = [(f.get("action"), f.get("as_channel")) for f in served]
    assert actions == [("sip_auth", None), ("user_call", "true")]
    assert (served[1]["user"], served[1]["domain"], served[1]["key"]) == ("101", "t1.example", "id")
    assert served[1]["origination_uuid"] == "x1"  # the originate's variables merged in


BRIDGING = """<include><context name="t1">
<extension name="codes"><condition field="destination_number" expression="^\\*68$">
<action application="set" data="reached=code"/>
<action application="park"/>
</condition></extension>
<extension name="phone"><condition field="destination_number" expression="^102$">
<action application="set" data="hangup_after_bridge=true"/>
<action application="bridge" data="user/102@t1.example"/>
<action application="hangup"/>
</condition></extension></context></include>"""


async def talking(
    fs: FakeFreeSwitch, events: str, seen: list[Frame]
) -> tuple[sofia.Sofia, RawClient, str, Channel]:
    """101 calls 102 (BRIDGING), once CHANNEL_BRIDGE says they talk: the SIP side, a
    client subscribed to CHANNEL_BRIDGE and ``events``, the caller's uuid, 102's channel."""
    sip = sofia.install(fs)
    fs.set_dialplan(BRIDGING)
    assert await sip.register("102", "t1.example", "pw102")
    c = await client(fs, f"CHANNEL_BRIDGE {events}".strip())
    caller = await fs.call_from_phone("101@t1.example", "102", "pw101")
    assert caller is not None
    await c.until("CHANNEL_BRIDGE", seen, Unique_ID=caller)
    [phone] = [ch for ch in fs.channels.values() if ch.name == "sofia/internal/102@t1.example"]
    return sip, c, caller, phone


async def test_a_phone_blind_transfers_its_caller_with_refer(fs: FakeFreeSwitch) -> None:
    """mod_sofia's blind REFER (sofia_handle_sip_i_refer): the partner gets sip_refer_to
    and is routed to the Refer-To user in its own context, its last_bridge_to naming the
    REFERring channel; that channel says BLIND_TRANSFER and its phone hangs up."""
    events: list[Frame] = []
    sip, c, caller, phone_ch = await talking(fs, "CHANNEL_PARK CHANNEL_HANGUP_COMPLETE", events)
    phone = phone_ch.uuid

    assert await sip.refer(phone, "*68", referred_by="<sip:102@t1.example>")
    park = (await c.until("CHANNEL_PARK", events, Unique_ID=caller)).event()
    assert park["Caller-Destination-Number"] == "*68" and park["Caller-Context"] == "t1"
    assert park["variable_reached"] == "code"
    assert park["variable_sip_refer_to"] == "<sip:*68@t1.example>"
    assert park["variable_sip_h_Referred-By"] == "<sip:102@t1.example>"
    assert park["variable_last_bridge_to"] == phone
    assert "variable_bridge_to" not in park  # the transfer ends the bridge, not the last one
    assert park["Caller-Transfer-Source"].split(":")[2:] == ["bl_xfer", "*68/t1/XML"]
    gone = (await c.until("CHANNEL_HANGUP_COMPLETE", events, Unique_ID=phone)).event()
    assert gone["Hangup-Cause"] == "NORMAL_CLEARING"
    assert gone["variable_endpoint_disposition"] == "BLIND_TRANSFER"
    assert gone["variable_transfer_destination"] == "blind:*68"
    assert fs.exists(caller)
    # A phone alone on its call cannot transfer it ("Cannot Blind Transfer 1 Legged calls").
    assert not await sip.refer(caller, "*68")
    await c.close()


async def test_a_refer_while_the_bridge_is_being_made_finds_no_partner(
    fs: FakeFreeSwitch,
) -> None:
    """mod_sofia finds a REFERring channel's partner by its ``bridge_to``, which
    switch_ivr_multi_threaded_bridge sets with ``last_bridge_to`` once the bridge is up:
    a REFER before that (the peer has paired the legs, CHANNEL_BRIDGE not yet fired) is
    a one-legged call's, and moves nothing."""
    sip, c, caller, phone = await talking(fs, "", [])
    assert phone.variables["bridge_to"] == caller
    bridging = phone.variables.pop("bridge_to")  # as in the window before the bridge is up
    assert phone.bridged_to == bridging
    assert not await sip.refer(phone.uuid, "*68")
    assert fs.channels[caller].profile.destination_number == "102"  # not moved
    await c.close()


async def test_a_refer_in_a_uuid_bridge_parks_the_referring_leg_after_bridge(
    fs: FakeFreeSwitch,
) -> None:
    """A call the orchestrator connected (``uuid_bridge``, ``park_after_bridge`` on both
    legs): the REFER moves the partner into the dialplan; the REFERring leg is not hung
    up BLIND_TRANSFER (that is a signal bridge's, which uuid_bridge is not): it parks as
    after any bridge, until its phone's BYE."""
    sip = sofia.install(fs)
    fs.set_dialplan(BRIDGING.replace(
        '<extension name="phone">',
        '<extension name="held"><condition field="destination_number" expression="^200$">'
        '<action application="answer"/><action application="park"/></condition></extension>'
        '<extension name="phone">',
    ))  # fmt: skip
    assert await sip.register("102", "t1.example", "pw102")
    c = await client(fs, "CHANNEL_PARK CHANNEL_HANGUP_COMPLETE")
    caller = await fs.call_from_phone("101@t1.example", "200", "pw101")
    assert caller is not None
    events: list[Frame] = []
    await c.until("CHANNEL_PARK", events, Unique_ID=caller)
    body = await c.api(
        "originate {origination_uuid=p2,park_after_bridge=true}user/102@t1.example &park()"
    )
    assert body == "+OK p2\n"
    await c.api(f"uuid_setvar {caller} park_after_bridge true")
    assert (await c.api(f"uuid_bridge {caller} p2")).startswith("+OK")
    await asyncio.sleep(0.1)

    assert await sip.refer("p2", "*68")
    park = (
        await c.until("CHANNEL_PARK", events, Unique_ID=caller, Caller_Destination_Number="*68")
    ).event()
    assert park["variable_last_bridge_to"] == "p2"
    assert park["Caller-Transfer-Source"].split(":")[2:] == ["bl_xfer", "*68/t1/XML"]
    again = (await c.until("CHANNEL_PARK", events, Unique_ID="p2")).event()
    assert ":uuid_br:" in again["Caller-Transfer-Source"]  # parked after its bridge
    gone = (await c.until("CHANNEL_HANGUP_COMPLETE", events, Unique_ID="p2")).event()
    assert gone["Hangup-Cause"] == "NORMAL_CLEARING"
    assert gone["variable_endpoint_disposition"] == "BLIND_TRANSFER"
    assert fs.exists(caller)
    await c.close()
