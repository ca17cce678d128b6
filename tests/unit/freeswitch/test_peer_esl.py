"""The project's ESL client (orchestrator.engines.freeswitch.esl) against the fake
FreeSWITCH: what the adapter will do, end to end over a real socket."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.core.errors import EngineTimeoutError, EngineUnavailableError, LegGoneError
from orchestrator.engines.freeswitch.esl import (
    EslClient,
    EslCommandError,
    EslConnection,
    EslEvent,
    LinkDown,
    LinkUp,
    listings,
)
from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.test_esl_client import Collector
from tests.unit.freeswitch.test_peer_captures import ESL_DIALPLAN

EVENTS = (
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE", "PLAYBACK_START",
    "PLAYBACK_STOP", "DTMF",
)  # fmt: skip


class Events:
    def __init__(self) -> None:
        self.seen: list[EslEvent] = []
        self.changed = asyncio.Event()

    def __call__(self, event: EslEvent) -> None:
        self.seen.append(event)
        self.changed.set()

    async def wait(self, name: str, timeout: float = 3.0, **headers: str) -> EslEvent:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.seen:
                    if event.name == name and all(
                        event.get(k.replace("_", "-")) == v for k, v in headers.items()
                    ):
                        return event
                self.changed.clear()
                await self.changed.wait()


async def test_connection_originate_play_dtmf_bridge_and_errors() -> None:
    async with FakeFreeSwitch(password="pw", dialplan=ESL_DIALPLAN) as fs:
        events = Events()
        conn = await EslConnection.open("127.0.0.1", fs.port, "pw", on_event=events)
        await conn.subscribe(EVENTS, custom=("conference::maintenance",))
        route = "orch_route=ivr,orch_route_flow=main,park_after_bridge=true"
        out = await conn.bgapi(
            f"originate {{origination_uuid=orch-a,{route}}}loopback/7000/esl &park()",
            job_uuid="orch-job-1",
        )
        assert out == "+OK orch-a\n"
        park = await events.wait("CHANNEL_PARK", Unique_ID="orch-a")
        assert park.variable("orch_route") == "ivr" and park.variable("orch_route_flow") == "main"
        await conn.sendmsg(
            "orch-a", app="playback", arg="tone_stream://%(100,0,440)", event_uuid="pb-1"
        )
        done = await events.wait("CHANNEL_EXECUTE_COMPLETE", Application_UUID="pb-1")
        assert done.get("Application-Response") == "FILE PLAYED"
        b_leg = await conn.api("uuid_getvar orch-a other_loopback_leg_uuid")
        await conn.api(f"uuid_send_dtmf {b_leg} 5")
        dtmf = await events.wait("DTMF", Unique_ID="orch-a")
        assert dtmf.get("DTMF-Digit") == "5"
        await conn.bgapi(f"originate {{origination_uuid=orch-b,{route}}}loopback/7000/esl &park()")
        await events.wait("CHANNEL_PARK", Unique_ID="orch-b")
        assert await conn.api("uuid_bridge orch-a orch-b") == "+OK orch-b\n"
        bridge = await events.wait("CHANNEL_BRIDGE", Bridge_A_Unique_ID="orch-a")
        assert bridge.get("Other-Leg-Unique-ID") == "orch-b"
        calls = listings.parse_calls(await conn.api("show calls as json"))
        assert ("orch-a", "orch-b") in [c.legs for c in calls]
        rows = {r.uuid: r for r in listings.parse_channels(await conn.api("show channels as json"))}
        assert rows["orch-b"].call_uuid == "orch-a"
        dump = listings.parse_uuid_dump(await conn.api("uuid_dump orch-b json"))
        assert dump.variable("orch_route") == "ivr"
        # disconnect: the leg goes to park, its partner parks too (park_after_bridge)
        await conn.api("uuid_transfer orch-a park inline")
        await events.wait("CHANNEL_UNBRIDGE")
        events.seen.clear()
        await events.wait("CHANNEL_PARK", Unique_ID="orch-b")
        # errors at the client's boundary
        with pytest.raises(LegGoneError):
            await conn.api("uuid_kill no-such-uuid")
        with pytest.raises(LegGoneError):
            await conn.sendmsg("no-such-uuid", app="answer")
        with pytest.raises(EslCommandError):
            await conn.bgapi("originate nosuch/endpoint &park()")
        await conn.api("uuid_kill orch-a USER_BUSY")
        gone = await events.wait("CHANNEL_HANGUP_COMPLETE", Unique_ID="orch-a")
        assert (
            gone.get("Hangup-Cause") == "USER_BUSY" and gone.variable("hangup_cause_q850") == "17"
        )
        await conn.close()


async def test_client_reconnects_after_drops_and_refusals() -> None:
    async with FakeFreeSwitch(password="pw", dialplan=ESL_DIALPLAN) as fs:
        items: list[object] = []
        up = asyncio.Event()

        async def on_item(item: object) -> None:
            items.append(item)
            if isinstance(item, LinkUp):
                up.set()

        client = EslClient("127.0.0.1", fs.port, "pw", events=EVENTS, backoff=(0.02, 0.1))
        runner = asyncio.create_task(client.run(on_item))
        await client.wait_connected(3.0)
        assert await client.api("version") == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        up.clear()
        fs.refuse_connections = True
        await fs.drop_clients()
        await asyncio.sleep(0.3)
        assert not client.connected
        with pytest.raises(EngineUnavailableError):
            await client.api("version")
        fs.refuse_connections = False
        await asyncio.wait_for(up.wait(), 3.0)
        assert any(isinstance(i, LinkDown) for i in items)
        assert [i.reconnect for i in items if isinstance(i, LinkUp)] == [False, True]
        out = await client.bgapi("originate {origination_uuid=orch-r}loopback/7000/esl &park()")
        assert out == "+OK orch-r\n"
        await client.close()
        await runner


async def test_a_stalled_engine_is_dropped_and_taken_back_when_it_answers_again() -> None:
    """A FreeSWITCH that stops answering with its socket open (SIGSTOP): the liveness
    probe's unanswered ``api version`` drops the link; reconnecting waits (the greeting
    does not come) until it answers again; a quiet but live engine is never dropped."""
    async with FakeFreeSwitch(password="pw", dialplan=ESL_DIALPLAN) as fs:
        seen = Collector()
        client = EslClient(
            "127.0.0.1", fs.port, "pw", events=EVENTS, backoff=(0.05, 0.1),
            request_timeout=0.3, probe_every=0.1, probe_timeout=0.3,
        )  # fmt: skip
        runner = asyncio.create_task(client.run(seen))
        await client.wait_connected(3.0)
        await asyncio.sleep(0.5)  # a few probes answered: no event at all, still up
        assert client.connected and seen.items == [LinkUp(reconnect=False)]

        fs.stall()
        with pytest.raises(EngineTimeoutError):
            await client.api("status", timeout=0.2)
        await seen.until(lambda items: isinstance(items[-1], LinkDown), 3)
        assert seen.items[-1] == LinkDown("no reply to a liveness probe in 0.3 s")
        await asyncio.sleep(0.8)  # attempts made meanwhile get no greeting: still down
        assert not client.connected and seen.links() == [LinkUp(False), seen.items[-1]]

        fs.resume()
        await seen.until(lambda items: isinstance(items[-1], LinkUp), 3)
        assert seen.items[-1] == LinkUp(reconnect=True)
        assert (await client.api("version")).startswith("FreeSWITCH Version 1.10.12")
        await client.close()
        await runner
