"""Live calls taken back by a new run of the orchestrator (FakeEngine.restarted()).

A crash leaves the engine's calls up; the new run rebuilds them from what the engine
reports at start (``ChannelStarted(resumed=True)``, ``LegCreated(resumed=True)``) and
lists them with the ids they had.
"""

from __future__ import annotations

from orchestrator.core import FakeEngine
from orchestrator.core.events import ChannelStarted, Event
from orchestrator.cti import CtiService
from orchestrator.cti.registry import CallRegistry
from orchestrator.ivr import StaticDirectory

OWNERS: dict[str, tuple[int, str | None]] = {
    "101@a.example": (1, "101"),
    "102@a.example": (1, "102"),
    "103@a.example": (1, "103"),
}


async def lookup(endpoint: str) -> tuple[int, str | None] | None:
    return OWNERS.get(endpoint)


def _cti(engine: FakeEngine) -> CtiService:
    cti = CtiService(engine, StaticDirectory(engine))
    cti.calls.endpoints = lookup
    cti.start()
    return cti


async def test_dialplan_calls_come_back_with_their_ids_after_a_crash() -> None:
    engine = FakeEngine()
    cti = _cti(engine)
    await engine.start()
    a, b = await engine.dialplan_call("101@a.example", "102@a.example", caller="101",
                                      called="102", hangup=False)  # fmt: skip
    other = await engine.dialplan_call(
        "103@a.example", "102@a.example", caller="103", called="102", hangup=False
    )
    before = {c["id"]: c for c in cti.list_calls(scope=None)}
    assert set(before) == {a, other[0]}
    # kill -9: the old run's objects are simply gone, the engine's calls stay up.
    again = engine.restarted()
    cti2 = _cti(again)
    await again.start()
    after = {c["id"]: c for c in cti2.list_calls(scope=1)}
    assert set(after) == set(before)
    assert after[a]["state"] == "answered" and after[a]["extensions"] == ["101", "102"]
    assert {leg["id"]: leg["role"] for leg in after[a]["legs"]} == {a: "caller", b: "dialed"}
    assert after[other[0]]["extensions"] == ["103", "102"]
    # Commands work on the adopted call: REST hang-up ends both channels.
    await cti2.command("hangup", a, {}, scope=1, who="agent")
    assert ("hangup", a, 16) in again.commands
    assert a not in again.channels and b not in again.channels
    assert [c["id"] for c in cti2.list_calls(scope=None)] == [other[0]]
    await cti.stop()
    await cti2.stop()


async def test_the_dialed_channel_may_be_listed_before_its_caller() -> None:
    engine = FakeEngine()
    registry = CallRegistry(engine, endpoints=lookup)
    registry.start()
    caller = ChannelStarted(
        channel_id="c1",
        call_id="c1",
        endpoint="101@a.example",
        state="up",
        caller_number="101",
        called_number="102",
        resumed=True,
    )
    peer = ChannelStarted(channel_id="c2", call_id="c1", endpoint="102@a.example", state="up",
                          resumed=True)  # fmt: skip
    for event in (peer, caller):
        await engine.emit(event)
    [call] = registry.list()
    assert (call.id, call.state, sorted(call.legs)) == ("c1", "answered", ["c1", "c2"])
    registry.stop()


async def test_a_channel_started_as_usual_is_not_taken_as_dialed() -> None:
    engine = FakeEngine()
    registry = CallRegistry(engine, endpoints=lookup)
    registry.start()
    events: list[Event] = [
        ChannelStarted(channel_id="c1", call_id="c1", endpoint="101@a.example", state="up"),
        ChannelStarted(channel_id="c2", call_id="c1", endpoint="102@a.example", state="up"),
    ]
    for event in events:
        await engine.emit(event)
    assert registry.list() == []  # only a dial ties them together
    registry.stop()


async def test_restart_sweeps_unkept_legs_and_bridges_and_keeps_the_rest() -> None:
    engine = FakeEngine()
    await engine.start()
    caller = await engine.incoming_call(caller="101", called="200")
    agent = await engine.originate("SIP/201@a.example")
    other = await engine.incoming_call(caller="102", called="200")
    talk = await engine.create_bridge(engine.new_id())
    await engine.add_to_bridge(talk.id, caller.id)
    await engine.add_to_bridge(talk.id, agent.id)
    empty = await engine.create_bridge(engine.new_id())
    assert talk.id.startswith("orch-") and empty.id.startswith("orch-")
    again = engine.restarted()
    again.kept_legs |= {caller.id, agent.id}
    seen: list[Event] = []
    again.subscribe(seen.append)
    await again.start()
    assert ("swept_leg", other.id) in again.commands
    assert ("swept_bridge", empty.id) in again.commands
    assert set(again.legs) == {caller.id, agent.id}
    assert again.bridges[talk.id].leg_ids == {caller.id, agent.id}
    names = [type(e).__name__ for e in seen]
    assert names.count("LegCreated") == 2 and names.count("LegEnteredBridge") == 2
    assert all(getattr(e, "resumed", True) for e in seen if type(e).__name__ == "LegCreated")
