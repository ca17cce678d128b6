"""A leg's caller ID that Asterisk sets after the leg reached the app (``ChannelCallerId``):
the adapter's leg follows it. A phone's blind transfer out of one of the orchestrator's
bridges hands the app a Local channel whose caller ID comes only once its other half
joined that bridge (call park of a managed extension: docs/pbx.md "Call park")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.observe import event_filter

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ari" / "events"
CHANNEL = json.loads((EVENTS / "stasis_start.json").read_text())["channel"]


async def test_a_leg_follows_its_caller_id_set_after_stasis_start() -> None:
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:1/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p", observe_channels=False,
    )  # fmt: skip
    local = dict(CHANNEL, id="local-2", name="Local/*68@t1-00000003;2", caller={})
    dispatcher = asyncio.create_task(engine._dispatch_loop())
    try:
        engine._queue.put_nowait({"type": "StasisStart", "channel": local, "args": ["ivr"]})
        caller = {"name": "", "number": "101"}
        engine._queue.put_nowait({"type": "ChannelCallerId", "channel": dict(local, caller=caller),
                                  "caller_presentation": 0})  # fmt: skip
        # Not one of ours: nothing to follow.
        other = dict(CHANNEL, id="elsewhere", caller={"number": "999"})
        engine._queue.put_nowait({"type": "ChannelCallerId", "channel": other})
        for _ in range(200):  # the dispatcher's turn
            leg = engine.leg("local-2")
            if leg is not None and leg.caller_number == "101":
                break
            await asyncio.sleep(0.01)
        leg = engine.leg("local-2")
        assert leg is not None and leg.caller_number == "101"
        assert engine.leg("elsewhere") is None
    finally:
        dispatcher.cancel()
        await asyncio.gather(dispatcher, return_exceptions=True)


def test_the_event_filter_lets_caller_id_changes_through() -> None:
    for endpoint_events in (True, False):
        allowed = {e["type"] for e in event_filter(endpoint_events)["allowed"]}
        assert "ChannelCallerId" in allowed
