import asyncio

from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.peer_client import RawClient

DIALPLAN = """<include><context name="esl">
<extension name="answer_park"><condition field="destination_number" expression="^7000$">
<action application="answer"/><action application="park"/></condition></extension>
<extension name="park"><condition field="destination_number" expression="^7010$">
<action application="park"/></condition></extension>
</context></include>"""


async def test_originate_answer_park() -> None:
    async with FakeFreeSwitch(dialplan=DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        assert (await c.command("event plain ALL")).get(
            "Reply-Text"
        ) == "+OK event listener enabled plain"
        events: list = []
        body = await c.api("originate {origination_uuid=u1}loopback/7000/esl &park()", events)
        assert body == "+OK u1\n"
        await c.until("CHANNEL_PARK", events, Unique_ID="u1")
        names = [f.event()["Event-Name"] for f in events]
        print(names)
        assert "CHANNEL_ANSWER" in names
        assert await c.api("uuid_kill u1 USER_BUSY") == "+OK\n"
        await c.until("CHANNEL_DESTROY", events, Unique_ID="u1")
        await asyncio.sleep(0.05)
        assert fs.channels == {}
        await c.close()
