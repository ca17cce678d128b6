"""Calls that end or are answered while the orchestrator is down get the engine's times.

Two builders over one database, as in test_cdr_restart.py, with one FakeEngine that
lives across the orchestrator's restart (as the real engine does) and journals what
happens while nobody listens (``journal_leg``).
"""

from __future__ import annotations

import asyncio
import time

from orchestrator.cdr import CdrBuilder
from orchestrator.cdr.journal import NOTE, apply_record, legs_to_read_back
from orchestrator.cdr.tracker import OpenCall
from orchestrator.core import FakeEngine, LegRecord
from orchestrator.store.models import Cdr, CdrLeg
from tests.unit.cdr_script import NODE, T0, Db, alive_again, at, db, dial, end, phone, play, up

__all__ = ["db"]

RINGING = [
    phone("a", "a", 0, user="101", called="102"),
    phone("b", "a", 0.1, user="102"),
    dial("a", "b", 0.1),
]
ANSWERED = [*RINGING, up("b", 2), dial("a", "b", 2, "answered"), up("a", 2)]


async def run_until_gap(db: Db, engine: FakeEngine, events: list, *, graceful: bool) -> None:  # type: ignore[type-arg]
    builder = CdrBuilder(engine, db.store(), node=NODE)
    await builder.start()
    await play(engine, builder, *events)
    if graceful:
        await builder.stop()
    else:
        for task in builder._tasks:  # killed: only what the writer had saved
            task.cancel()
        await asyncio.sleep(0)
    assert db.cdrs() == []


async def restart(db: Db, engine: FakeEngine, grace_s: float = 5.0) -> CdrBuilder:
    engine.connected = False  # the service's builder starts before the engine connects
    builder = CdrBuilder(engine, db.store(), node=NODE, grace_s=grace_s, heartbeat_s=60)
    await builder.start()
    await engine.start()
    return builder


async def after_gap(
    db: Db,
    events: list,
    *,
    graceful: bool = False,
    **journaled: dict[str, float],  # type: ignore[type-arg]
) -> tuple[Cdr, list[CdrLeg]]:
    """The CDR of a call played up to a gap, with ``journaled[channel]`` what the engine
    recorded meanwhile, once a new builder started (well within its 5 s grace)."""
    engine = FakeEngine()
    await engine.start()
    await run_until_gap(db, engine, events, graceful=graceful)
    for channel, record in journaled.items():
        engine.journal_leg(channel, **record)  # type: ignore[arg-type]
    builder = await restart(db, engine, grace_s=5)
    await asyncio.sleep(0.3)
    await builder.flush()
    await builder.stop()
    return db.one()


async def test_call_ended_during_a_crash_gets_the_journal_times(db: Db) -> None:
    cdr, legs = await after_gap(
        db,
        ANSWERED,
        a={"ended_at": T0 + 25.4, "cause": 16},
        b={"ended_at": T0 + 25.5, "cause": 16},
    )
    assert (cdr.answered_at, cdr.ended_at, cdr.billsec, cdr.hangup_cause) == (
        at(2),
        at(25.5),
        24,
        16,
    )
    assert cdr.note and NOTE in cdr.note
    assert [leg.hangup_cause for leg in legs] == [16, 16]


async def test_answer_and_end_both_in_the_gap(db: Db) -> None:
    cdr, _ = await after_gap(
        db,
        RINGING,
        b={"answered_at": T0 + 5, "ended_at": T0 + 20, "cause": 16},
        a={"answered_at": T0 + 5, "ended_at": T0 + 20.2, "cause": 16},
    )
    assert (cdr.disposition, cdr.answered_at, cdr.billsec) == ("answered", at(5), 16)


async def test_busy_in_the_gap_keeps_the_engines_cause(db: Db) -> None:
    cdr, _ = await after_gap(
        db, RINGING, b={"ended_at": T0 + 3, "cause": 17}, a={"ended_at": T0 + 3.1, "cause": 17}
    )
    assert (cdr.disposition, cdr.billsec, cdr.hangup_cause) == ("busy", 0, 17)


async def test_graceful_stop_then_end_in_the_gap(db: Db) -> None:
    """SIGTERM: the call is not closed at the stop; its end comes from the journal."""
    cdr, _ = await after_gap(
        db,
        ANSWERED,
        graceful=True,
        b={"ended_at": T0 + 32, "cause": 16},
        a={"ended_at": T0 + 32, "cause": 16},
    )
    assert (cdr.ended_at, cdr.billsec) == (at(32), 30)


async def test_graceful_stop_records_the_exact_stop_time(db: Db) -> None:
    """Without a journal a call lost at a graceful stop ends when the stop happened, not
    when its last event was seen (up to a heartbeat earlier)."""
    first = FakeEngine()
    await first.start()
    await run_until_gap(db, first, ANSWERED, graceful=True)
    stopped = time.time()
    builder = await restart(db, FakeEngine(), grace_s=0.05)  # an engine without the journal
    await asyncio.sleep(0.3)
    await builder.flush()
    cdr, _ = db.one()
    assert abs(cdr.ended_at.timestamp() - stopped) < 2
    await builder.stop()


async def test_stop_while_the_engine_is_away_does_not_vouch_for_its_calls(db: Db) -> None:
    engine = FakeEngine()
    await engine.start()
    builder = CdrBuilder(engine, db.store(), node=NODE)
    await builder.start()
    await play(engine, builder, *ANSWERED)
    engine.connected = False  # the link dropped: calls may end unseen from now on
    await builder.stop()
    builder = await restart(db, FakeEngine(), grace_s=0.05)
    await asyncio.sleep(0.3)
    await builder.flush()
    cdr, _ = db.one()
    assert cdr.ended_at == at(2)  # when last seen, not the stop
    await builder.stop()


async def test_live_channel_answered_in_the_gap_takes_the_journal_answer(db: Db) -> None:
    engine = FakeEngine()
    await engine.start()
    await run_until_gap(db, engine, RINGING, graceful=False)
    engine.journal_leg("b", answered_at=T0 + 4)
    engine.journal_leg("a", answered_at=T0 + 4)
    builder = await restart(db, engine)
    # The adapter's reconciliation finds both channels up: the answer is approximate...
    await play(engine, builder, alive_again("a", "a", 30, user="101"))
    await play(engine, builder, alive_again("b", "a", 30, user="102"))
    # ... until the journal is read back.
    await builder.read_back_journal()
    await play(engine, builder, end("b", 40), end("a", 40))
    cdr, _ = db.one()
    assert (cdr.answered_at, cdr.billsec) == (at(4), 36)
    await builder.stop()


async def test_heartbeat_prunes_the_journal_once_nothing_waits(db: Db) -> None:
    engine = FakeEngine()
    await engine.start()
    engine.journal_leg("old", answered_at=T0, ended_at=T0 + 1, cause=16)
    builder = CdrBuilder(engine, db.store(), node=NODE, heartbeat_s=0.05, journal_prune_s=0)
    await builder.start()
    await play(engine, builder, *ANSWERED)
    await asyncio.sleep(0.2)
    # The live call's answers stay; the long-ended leg is gone.
    assert set(engine.journal_records) == {"a", "b"}
    await builder.stop()


async def test_no_prune_while_channels_wait_to_be_read_back(db: Db) -> None:
    engine = FakeEngine()
    await engine.start()
    await run_until_gap(db, engine, ANSWERED, graceful=False)
    engine.connected = False
    builder = CdrBuilder(
        engine, db.store(), node=NODE, grace_s=60, heartbeat_s=0.05, journal_prune_s=0
    )
    engine.journal = _never_answers  # type: ignore[method-assign]
    engine.journal_leg("b", ended_at=T0 + 5, cause=16)
    await builder.start()
    await engine.start()
    await asyncio.sleep(0.2)
    assert "b" in engine.journal_records
    await builder.stop()


async def _never_answers(leg_ids: object) -> dict[str, LegRecord]:
    raise TimeoutError


def test_apply_record_ignores_a_channel_already_ended() -> None:
    call = OpenCall(key="a", started=T0, last_seen=T0)
    track = call.add_channel("a", T0)
    track.ended, track.cause = T0 + 9, 17
    assert not apply_record(call, track, LegRecord("a", ended_at=T0 + 10, cause=16))
    assert (track.ended, track.cause, call.notes) == (T0 + 9, 17, [])


def test_legs_to_read_back() -> None:
    call = OpenCall(key="a", started=T0, last_seen=T0)
    for name in "abcd":
        call.add_channel(name, T0)
    call.channels["a"].confirmed = False
    call.channels["b"].approximate = True
    call.channels["c"].ended = T0 + 1
    call.channels["c"].confirmed = False
    assert legs_to_read_back([call]) == ["a", "b"]
