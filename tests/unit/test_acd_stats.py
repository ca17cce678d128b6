"""Queue figures from a scripted day with known answers, and their rebuild from storage."""

from __future__ import annotations

import json
import random

import pytest

from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.stats import QueueStats

T0 = 1_700_000_000.0
SL = 20.0


def ev(type_: str, t: float, **fields: object) -> AcdEvent:
    return AcdEvent(type=type_, tenant_id=1, timestamp=T0 + t, **fields)  # type: ignore[arg-type]


def scenario() -> list[AcdEvent]:
    """10 calls: 7 answered (waits 5..40 s), 2 abandoned, 1 timed out; 2 still waiting."""
    events: list[AcdEvent] = [
        ev("agent_state", 0, agent_id="a1", state="available", queues=("support",)),
        ev("agent_state", 0, agent_id="a2", state="available", queues=("support",)),
        ev("agent_state", 0, agent_id="a3", state="available", queues=("support", "sales")),
        ev("agent_state", 0, agent_id="a4", state="available", queues=("sales",)),
    ]
    answered = [(5, 60), (10, 120), (15, 180), (20, 60), (25, 120), (30, 180), (40, 300)]
    t = 10.0
    for n, (wait, talk) in enumerate(answered):
        call = f"c{n}"
        events.append(ev("queued", t, queue="support", call_id=call, position=1, kind="live"))
        events.append(
            ev(
                "dequeued",
                t + wait,
                queue="support",
                call_id=call,
                reason="answered",
                agent_id="a1",
                wait_s=wait,
                sl_threshold_s=SL,
            )
        )
        events.append(
            ev(
                "completed",
                t + wait + talk + 10,
                queue="support",
                call_id=call,
                agent_id="a1",
                talk_s=talk,
                wrapup_s=10,
            )
        )
        t += 400
    for call, reason, wait in (
        ("c7", "abandoned", 50),
        ("c8", "abandoned", 3),
        ("c9", "timeout", 90),
    ):
        events.append(ev("queued", t, queue="support", call_id=call, kind="live"))
        events.append(
            ev("dequeued", t + wait, queue="support", call_id=call, reason=reason, wait_s=wait)
        )
        t += 100
    # Now (t = 3110): two callers waiting since 3110 and 3120, one callback kept.
    events += [
        ev("queued", t, queue="support", call_id="w1", kind="live"),
        ev("queued", t + 10, queue="support", call_id="w2", kind="live"),
        ev("queued", t + 12, queue="support", call_id="cb1", kind="callback"),
        ev("agent_state", t + 20, agent_id="a2", state="on_call", queues=("support",)),
        ev(
            "agent_state",
            t + 25,
            agent_id="a3",
            state="paused",
            reason="lunch",
            queues=("support",),
        ),
        ev("queued", t + 30, queue="sales", call_id="s1", kind="live"),
    ]
    return events


def test_known_answers() -> None:
    stats = QueueStats.rebuild(scenario())
    f = stats.figures(1, "support")
    assert (f.answered, f.abandoned, f.timed_out, f.overflowed) == (7, 2, 1, 0)
    assert f.answered_within_sl == 4  # waits 5, 10, 15 and 20 (at the threshold counts)
    assert f.service_level == pytest.approx(4 / 7)
    assert f.service_level_with_abandoned == pytest.approx(4 / 9)
    assert f.asa_s == pytest.approx(145 / 7)
    assert f.completed == 7
    assert f.aht_s == pytest.approx((1020 + 70) / 7)
    assert (f.waiting, f.callbacks_waiting) == (2, 1)
    # The last event is at t+30, the oldest waiting caller came at t.
    assert f.longest_wait_s == pytest.approx(30)
    assert stats.figures(1, "support", now=T0 + 3110 + 60).longest_wait_s == pytest.approx(60)
    assert f.agents == {"available": 1, "on_call": 1, "paused": 1}
    sales = stats.figures(1, "sales")
    assert sales.waiting == 1 and sales.agents == {"available": 1}
    assert sales.service_level is None and sales.asa_s is None and sales.aht_s is None


def test_rebuilt_from_stored_json_gives_the_same_figures() -> None:
    events = scenario()
    live = QueueStats()
    for event in events:
        live(event)
    stored = [json.dumps(e.to_dict()) for e in events]
    rebuilt = QueueStats.rebuild(AcdEvent.from_dict(json.loads(s)) for s in stored)
    for tenant, queue in live.queues():
        assert rebuilt.figures(tenant, queue) == live.figures(tenant, queue)


def test_reset_keeps_waiting_calls_and_agents() -> None:
    stats = QueueStats.rebuild(scenario())
    stats.reset()
    f = stats.figures(1, "support")
    assert (f.answered, f.abandoned, f.completed) == (0, 0, 0)
    assert (f.waiting, f.callbacks_waiting) == (2, 1)
    assert f.agents == {"available": 1, "on_call": 1, "paused": 1}


def test_callbacks_are_counted_apart() -> None:
    stats = QueueStats.rebuild(
        [
            ev("queued", 0, queue="q", call_id="x", kind="live"),
            ev("dequeued", 5, queue="q", call_id="x", reason="callback", wait_s=5),
            ev("queued", 5, queue="q", call_id="x", kind="callback"),
            ev("callback_result", 30, queue="q", call_id="x", reason="connected", kind="callback"),
        ]
    )
    f = stats.figures(1, "q")
    assert (f.callbacks_requested, f.callbacks_connected, f.callbacks_waiting) == (1, 1, 0)
    assert (f.waiting, f.answered, f.abandoned) == (0, 0, 0)


def test_from_dict_ignores_unknown_keys() -> None:
    data = ev("queued", 0, queue="q", call_id="x").to_dict() | {"new_field": 1}
    assert AcdEvent.from_dict(data).call_id == "x"


def test_the_agent_index_follows_logins_logouts_and_queue_changes() -> None:
    """Per-queue agent counts stay what a scan of every agent gives (in its order too)."""
    Row = tuple[str, tuple[str, ...]]

    def scanned(agents: dict[tuple[int, str], Row], tenant: int, queue: str) -> list:
        counts: dict[str, int] = {}
        for (t, _), (state, queues) in agents.items():
            if t == tenant and queue in queues:
                counts[state] = counts.get(state, 0) + 1
        return list(counts.items())

    def agent_state(tenant: int, agent: str, state: str, queues: tuple[str, ...]) -> AcdEvent:
        return AcdEvent(type="agent_state", tenant_id=tenant, timestamp=T0, agent_id=agent,
                        state=state, queues=queues)  # fmt: skip

    rng = random.Random(7)
    stats = QueueStats()
    truth: dict[tuple[int, str], Row] = {}
    queues, states = ("q1", "q2", "q3"), ("available", "paused", "on_call", "logged_out")
    for step in range(600):
        tenant, agent = rng.choice((1, 2)), rng.choice(("a1", "a2", "a3", "a4", "a5"))
        state = rng.choice(states)
        # A logout leaves every queue; otherwise logins to, and logouts from, some of them.
        joined = () if state == "logged_out" else tuple(q for q in queues if rng.random() < 0.5)
        truth[(tenant, agent)] = (state, joined)
        stats(agent_state(tenant, agent, state, joined))
        for t in (1, 2):
            for q in queues:
                assert list(stats.figures(t, q).agents.items()) == scanned(truth, t, q), step
    # Everyone logs out: no queue shows an agent, and the index keeps no empty queue.
    for tenant, agent in truth:
        stats(agent_state(tenant, agent, "logged_out", ()))
    assert all(stats.figures(t, q).agents == {} for t in (1, 2) for q in queues)
    assert not stats._members
