"""Live calls taken back by a new run of the orchestrator (FakeEngine.restarted()).

A crash leaves the engine's calls up; the new run rebuilds them from what the engine
reports at start (``ChannelStarted(resumed=True)``, ``LegCreated(resumed=True)``) and
lists them with the ids they had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from orchestrator.core import FakeEngine
from orchestrator.core.events import ChannelStarted, Event
from orchestrator.core.targets import SipUser
from orchestrator.cti import CtiService
from orchestrator.cti.commands import ClickToCallParams
from orchestrator.cti.kept import KeptCall
from orchestrator.cti.registry import CallRegistry
from orchestrator.ivr import StaticDirectory
from tests.unit.test_cti_calls import answer_when_originated

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


async def test_restart_sweeps_unkept_legs_and_keeps_the_rest_connected() -> None:
    engine = FakeEngine()
    await engine.start()
    caller = await engine.incoming_call(caller="101", called="200")
    agent = await engine.originate(SipUser("201@a.example"))
    other = await engine.incoming_call(caller="102", called="200")
    lone = await engine.originate(SipUser("202@a.example"))
    await engine.connect(caller.id, agent.id)
    await engine.connect(other.id, lone.id)
    again = engine.restarted()
    again.kept_legs |= {caller.id, agent.id, lone.id}
    seen: list[Event] = []
    again.subscribe(seen.append)
    await again.start()
    assert ("swept_leg", other.id) in again.commands
    assert set(again.legs) == {caller.id, agent.id, lone.id}
    assert again.peer(caller.id) == agent.id and again.peer(agent.id) == caller.id
    assert again.peer(lone.id) is None  # its peer was swept: connected to nothing
    names = [type(e).__name__ for e in seen]
    assert names.count("LegCreated") == 3 and names.count("LegConnected") == 2
    assert all(getattr(e, "resumed", True) for e in seen if type(e).__name__ == "LegCreated")


async def _until(ready: Callable[[], bool]) -> None:
    for _ in range(2000):
        if ready():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("not in 2 s")


class MemoryKeeper:
    """The store's stand-in: the kept click-to-call records by call id."""

    def __init__(self) -> None:
        self.calls: dict[str, KeptCall] = {}

    def keep(self, call: KeptCall) -> None:
        self.calls[call.call_id] = call

    def release(self, call_id: str) -> None:
        self.calls.pop(call_id, None)


async def _connected_click_to_call(engine: FakeEngine, keeper: MemoryKeeper) -> CtiService:
    cti = CtiService(engine, StaticDirectory(engine))
    cti.keeper = keeper
    cti.start()
    params = ClickToCallParams(tenant_id=1, a="101", b="102", account="acme")
    call = await cti.click_to_call(params, scope=1)
    await answer_when_originated(engine, 2)
    await _until(lambda: call["id"] in keeper.calls)
    return cti


async def test_a_click_to_call_is_adopted_after_a_crash() -> None:
    engine, keeper = FakeEngine(), MemoryKeeper()
    await engine.start()
    cti = await _connected_click_to_call(engine, keeper)
    [record] = keeper.calls.values()
    a, b = (leg_id for leg_id, _, _ in record.legs)
    assert engine.kept_legs == {a, b} and record.account == "acme"
    # kill -9: nothing of the old run runs again; a new one starts on the same engine.
    again = engine.restarted()
    cti2 = CtiService(again, StaticDirectory(again))
    cti2.keeper = keeper
    cti2.start()
    cti2.restore(list(keeper.calls.values()))
    await again.start()
    assert not any(c[0] == "swept_leg" for c in again.commands)
    assert again.peer(a) == b
    [listed] = cti2.list_calls(scope=1)
    assert (listed["id"], listed["kind"], listed["state"]) == (a, "click_to_call", "answered")
    assert listed["account"] == "acme"
    assert {leg["id"]: leg["role"] for leg in listed["legs"]} == {a: "a", b: "b"}
    # Hold and hang-up work on it; hang-up ends both legs and their connection.
    await cti2.command("hold", a, {}, scope=1, who="agent")
    assert ("hold", b, "") in again.commands
    await cti2.command("hangup", a, {}, scope=1, who="agent")
    await _until(lambda: not keeper.calls and again.peer(a) is None)
    assert not again.legs[a].alive and not again.legs[b].alive
    assert again.kept_legs == set() and cti2.list_calls(scope=None) == []
    await cti.stop()
    await cti2.stop()


async def test_a_click_to_call_outlives_a_graceful_stop_and_a_side_gone_meanwhile() -> None:
    engine, keeper = FakeEngine(), MemoryKeeper()
    await engine.start()
    cti = await _connected_click_to_call(engine, keeper)
    [record] = keeper.calls.values()
    a, b = (leg_id for leg_id, _, _ in record.legs)
    await cti.stop()  # a deploy: the call stays up, still kept
    assert engine.legs[a].alive and engine.legs[b].alive and record.call_id in keeper.calls
    await engine.remote_hangup(b)  # while nobody watches
    cti2 = CtiService(engine, StaticDirectory(engine))
    cti2.keeper = keeper
    cti2.start()
    cti2.restore(list(keeper.calls.values()))  # the engine is connected: adopted at once
    await _until(lambda: not keeper.calls)
    assert not engine.legs[a].alive  # the other side was hung up, the call ended
    assert engine.peer(a) is None
    await cti2.stop()


def test_a_record_of_the_previous_version_still_loads() -> None:
    """Records written before connect/disconnect also named the engine's bridge: a run
    of this version adopts them all the same (the engine takes the connection back)."""
    data = {
        "kind": "click_to_call",
        "legs": [["orch-a", "a", "101"], ["orch-b", "b", "102"]],
        "bridge_id": "orch-bridge",
        "started_at": 1.0,
        "answered_at": 2.0,
    }
    record = KeptCall.from_json("orch-a", 1, data)
    assert [leg for leg, _, _ in record.legs] == ["orch-a", "orch-b"]
    assert set(record.to_json()) == set(data) - {"bridge_id"} | {
        "caller",
        "called",
        "extensions",
        "account",
    }
    assert set(record.to_call().legs) == {"orch-a", "orch-b"}


async def test_a_taken_dialplan_call_is_kept_and_adopted_after_a_crash() -> None:
    """A dialplan call put under control (Engine.take) is kept like a click-to-call: the
    next run takes its legs back, lists it under its id, and ends it for both parties
    when one hangs up."""
    engine, keeper = FakeEngine(), MemoryKeeper()
    await engine.start()
    cti = _cti(engine)
    cti.keeper = keeper
    a, b = await engine.dialplan_call(
        "101@a.example", "102@a.example", caller="101", called="102", hangup=False
    )
    await engine.take([a, b])
    await _until(lambda: a in keeper.calls)
    assert engine.kept_legs == {a, b} and keeper.calls[a].kind == "dialplan"
    again = engine.restarted()
    cti2 = _cti(again)
    cti2.keeper = keeper
    cti2.restore(list(keeper.calls.values()))
    await again.start()
    assert not any(c[0] == "swept_leg" for c in again.commands)
    assert again.peer(a) == b
    [listed] = cti2.list_calls(scope=1)
    assert (listed["id"], listed["kind"], listed["state"]) == (a, "dialplan", "answered")
    assert {leg["id"]: leg["role"] for leg in listed["legs"]} == {a: "caller", b: "dialed"}
    await cti2.command("hold", a, {}, scope=1, who="agent")
    assert ("hold", b, "") in again.commands
    await again.remote_hangup(b)
    await _until(lambda: not keeper.calls and not again.legs[a].alive)
    assert again.kept_legs == set() and cti2.list_calls(scope=None) == []
    await cti.stop()
    await cti2.stop()
