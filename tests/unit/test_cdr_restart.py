"""CDRs survive a restart of the orchestrator mid-call: two builders over one database.

The first builder sees the call start (and is stopped, or dies without a word); the
second reloads the open call and finishes it from what the engine reports after the
restart, or, if the engine reports nothing, from when the call was last seen alive.
"""

from __future__ import annotations

import asyncio

from orchestrator.cdr import CdrBuilder
from orchestrator.core import FakeEngine
from tests.unit.cdr_script import NODE, T0, Db, alive_again, at, db, dial, end, phone, play, up

__all__ = ["db"]


def answered_call() -> list:  # type: ignore[type-arg]
    return [
        phone("a", "a", 0, user="101", called="102"),
        phone("b", "a", 0.1, user="102"),
        dial("a", "b", 0.1),
        up("b", 2),
        dial("a", "b", 2, "answered"),
        up("a", 2),
    ]


async def first_run(db: Db, *, graceful: bool) -> None:
    engine = FakeEngine()
    await engine.start()
    builder = CdrBuilder(engine, db.store(), node=NODE)
    await builder.start()
    await play(engine, builder, *answered_call())
    if graceful:
        await builder.stop()
    else:
        # Killed: no goodbye, only what the writer had already saved.
        for task in builder._tasks:
            task.cancel()
        await asyncio.sleep(0)
    assert db.cdrs() == []


async def second_run(db: Db, grace_s: float = 0.05) -> tuple[FakeEngine, CdrBuilder]:
    engine = FakeEngine()
    builder = CdrBuilder(engine, db.store(), node=NODE, grace_s=grace_s, heartbeat_s=60)
    await builder.start()  # before the engine connects, as in the service
    assert list(builder.calls) == ["a"]
    await engine.start()
    return engine, builder


async def test_call_outliving_a_restart_gets_its_cdr_once(db: Db) -> None:
    await first_run(db, graceful=True)
    engine, builder = await second_run(db, grace_s=5)
    # The adapter's reconciliation reports the channels it finds.
    await play(engine, builder, alive_again("a", "a", 30, user="101"))
    await play(engine, builder, alive_again("b", "a", 30, user="102"))
    await play(engine, builder, end("b", 40), end("a", 40))
    cdr, legs = db.one()
    # The answer time is the one seen before the restart, not the re-report's.
    assert (cdr.answered_at, cdr.ended_at, cdr.billsec, cdr.disposition) == (
        at(2),
        at(40),
        38,
        "answered",
    )
    assert [leg.role for leg in legs] == ["caller", "callee"] and cdr.note is None
    # A second restart finds nothing open, and repeated end events change nothing.
    await builder.stop()
    engine2, builder2 = FakeEngine(), CdrBuilder(FakeEngine(), db.store(), node=NODE)
    await builder2.start()
    assert builder2.calls == {}
    await play(engine2, builder2, end("a", 41))
    await builder2.stop()
    assert len(db.cdrs()) == 1


async def test_call_that_ended_while_down_is_closed_when_last_seen(db: Db) -> None:
    await first_run(db, graceful=False)
    _, builder = await second_run(db)
    # Nothing reported within the grace period: both channels ended while we were down.
    await asyncio.sleep(0.2)
    await builder.flush()
    cdr, legs = db.one()
    assert cdr.disposition == "answered" and cdr.answered_at == at(2)
    assert cdr.ended_at == at(2)  # the last event the first run saw
    assert cdr.note and "orchestrator was down" in cdr.note
    assert [leg.hangup_cause for leg in legs] == [None, None]  # unknown
    await builder.stop()


async def test_heartbeat_bounds_the_end_of_a_call_lost_while_down(db: Db) -> None:
    engine = FakeEngine()
    await engine.start()
    builder = CdrBuilder(engine, db.store(), node=NODE, heartbeat_s=0.05)
    await builder.start()
    await play(engine, builder, *answered_call())
    await asyncio.sleep(0.2)  # a few heartbeats: the call is alive "now"
    await builder.stop()
    _, builder2 = await second_run(db)
    await asyncio.sleep(0.2)
    await builder2.flush()
    cdr, _ = db.one()
    assert cdr.ended_at > at(2)  # the heartbeat's time, well after the answer
    await builder2.stop()


async def test_only_some_channels_survive(db: Db) -> None:
    # Killed (a graceful stop would bound the lost channel's end by the stop time).
    await first_run(db, graceful=False)
    engine, builder = await second_run(db, grace_s=0.1)
    await engine.emit(alive_again("a", "a", 30, user="101"))
    await asyncio.sleep(0.3)
    await builder.flush()
    assert db.cdrs() == [] and builder.calls["a"].channels["b"].ended == T0 + 2
    await play(engine, builder, end("a", 50))
    cdr, legs = db.one()
    assert cdr.ended_at == at(50) and legs[1].ended_at == at(2)
    await builder.stop()


async def test_two_builders_write_one_cdr(db: Db) -> None:
    """Both builders of a node see the same call end (a misconfiguration): one CDR."""
    engine = FakeEngine()
    await engine.start()
    one = CdrBuilder(engine, db.store(), node=NODE)
    two = CdrBuilder(engine, db.store(), node=NODE)
    await one.start()
    await two.start()
    for event in [*answered_call(), end("b", 5), end("a", 5)]:
        await engine.emit(event)
    await one.flush()
    await two.flush()
    assert len(db.cdrs()) == 1 and one.written + two.written == 1
    await one.stop()
    await two.stop()
