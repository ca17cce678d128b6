"""FreeSwitchEngine.take: the exact commands, the events, and what it refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.errors import ConflictError, LegGoneError, ValidationError
from orchestrator.core.events import Event, LegConnected, LegCreated
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.client import LinkUp
from tests.unit.freeswitch.scripted import ScriptedEsl, event, make_engine, park, settle


@pytest.fixture
async def fs() -> AsyncIterator[tuple[FreeSwitchEngine, ScriptedEsl, list[Event]]]:
    engine, esl = make_engine(observe_channels=False)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    await engine.start()
    await settle(engine)
    await esl.deliver(LinkUp(reconnect=False))
    await settle(engine)
    esl.take()
    seen.clear()
    yield engine, esl, seen
    await engine.stop()


def dump(uuid: str, *, answered: bool = True, partner: str = "") -> str:
    """``uuid_dump <uuid> json`` of a channel of a dialplan call (bridged to ``partner``)."""
    data = {
        "Event-Name": "CHANNEL_DATA",
        "Unique-ID": uuid,
        "Answer-State": "answered" if answered else "ringing",
    }
    if partner:
        data["variable_bridge_uuid"] = partner
    return json.dumps(data)


async def sent(esl: ScriptedEsl, prefix: str) -> None:
    async with asyncio.timeout(2):
        while not any(s.startswith(prefix) for s in esl.sent):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_take_both_parties_of_a_bridge(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    esl.answer("uuid_dump a", dump("a", partner="b"))
    esl.answer("uuid_dump b", dump("b", partner="a"))
    taking = asyncio.create_task(engine.take(["a", "b"]))
    await sent(esl, "api uuid_transfer")
    # Both park (their bridge is gone), with the routing set before the transfer.
    await esl.deliver(park("a", route="taken"), park("b", route="taken"))
    await sent(esl, "api uuid_bridge")
    await esl.deliver(event("CHANNEL_BRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b"))
    assert await taking == ["a", "b"]
    assert esl.take() == [
        "api uuid_dump a json",
        "api uuid_dump b json",
        "api uuid_setvar a orch_leg",
        "api uuid_setvar a orch_route taken",
        "api uuid_setvar b orch_leg",
        "api uuid_setvar b orch_route taken",
        # Both at once: one of a bridge moved alone would hang its partner up.
        "api uuid_transfer a -both park inline",
        "api uuid_setvar a park_after_bridge true",
        "api uuid_setvar b park_after_bridge true",
        "api uuid_bridge a b",
    ]
    created = [e for e in seen if isinstance(e, LegCreated)]
    assert [(e.leg_id, e.state, e.routing.service) for e in created] == [  # type: ignore[union-attr]
        ("a", "up", "taken"),
        ("b", "up", "taken"),
    ]
    assert [(e.leg_id, e.peer_id) for e in seen if isinstance(e, LegConnected)] == [
        ("a", "b"),
        ("b", "a"),
    ]
    with pytest.raises(ValidationError):  # ours now
        await engine.take(["a"])


async def test_channels_not_bridged_together_move_one_by_one(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, _ = fs
    esl.answer("uuid_dump a", dump("a", partner="x"))
    esl.answer("uuid_dump b", dump("b"))
    taking = asyncio.create_task(engine.take(["a", "b"]))
    await sent(esl, "api uuid_transfer b")
    await esl.deliver(park("a", route="taken"), park("b", route="taken"))
    await sent(esl, "api uuid_bridge")
    await esl.deliver(event("CHANNEL_BRIDGE", "a", Bridge_A_Unique_ID="a", Bridge_B_Unique_ID="b"))
    await taking
    transfers = [s for s in esl.take() if "uuid_transfer" in s]
    assert transfers == ["api uuid_transfer a park inline", "api uuid_transfer b park inline"]


async def test_take_refuses_and_sends_nothing_that_changes(fs) -> None:  # type: ignore[no-untyped-def]
    engine, esl, seen = fs
    for bad in ([], ["a", "b", "c"], ["a", "a"], ["a b"], ["a;x"]):
        with pytest.raises(ValidationError):
            await engine.take(bad)
    assert esl.take() == []
    esl.answer("uuid_dump r", dump("r", answered=False))
    esl.answer("uuid_dump a", dump("a", partner="r"))
    with pytest.raises(ConflictError):
        await engine.take(["a", "r"])
    esl.gone.add("g")
    with pytest.raises(LegGoneError):
        await engine.take(["a", "g"])
    assert [s for s in esl.take() if "uuid_dump" not in s] == []
    await esl.deliver(park("p"))
    await settle(engine)
    with pytest.raises(ValidationError):  # already a leg
        await engine.take(["p"])
    assert not [e for e in seen if isinstance(e, LegConnected)]
