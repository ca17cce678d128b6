"""The engine queues benchmark's bookkeeping: when a step is steady, calls/s, callers' file."""

from __future__ import annotations

import collections

import pytest

from bench.queues_engine import Step
from bench.queues_engine_setup import Seat, Tenant, caller_lines
from bench.traffic import Phone

MAX_WAIT = 2.0


def served(calls: int, *, wait: float = 0.1, rate: float = 10.0) -> Step:
    """A step in which every one of ``calls`` callers reached an agent after ``wait``."""
    return Step(
        rate=rate,
        offered=calls,
        dequeued=collections.Counter(answered=calls),
        waits=[wait] * calls,
        answer_times=[1000 + i / rate for i in range(calls)],
    )


def test_a_step_where_every_caller_reached_an_agent_soon_is_steady() -> None:
    step = served(100)
    assert step.failed == 0
    assert step.steady(MAX_WAIT)
    assert step.routed_per_s == pytest.approx(10.0)


@pytest.mark.parametrize(
    "change",
    [
        {"sip_failed": 1},  # SIPp failed a call
        {"far_end_bye": 1},  # the orchestrator hung a caller up
        {"errors": 1},  # the orchestrator logged a failure (a flow, a command)
        {"left_waiting": 1},  # someone still waiting after the step
        {"waits": [0.1] * 98 + [2.5] * 2},  # the p99 of the waits is too long
        {"dequeued": collections.Counter(answered=99, abandoned=1)},  # a caller gave up
        {"answer_times": [1000 + i / 9 for i in range(100)]},  # 9 of 10 calls/s: a backlog
    ],
)
def test_any_failure_or_a_long_wait_makes_a_step_unsteady(change: dict[str, object]) -> None:
    step = served(100)
    for name, value in change.items():
        setattr(step, name, value)
    assert not step.steady(MAX_WAIT)


def test_no_call_is_no_steady_step_and_no_rate() -> None:
    step = Step(rate=5.0)
    assert not step.steady(MAX_WAIT)
    assert step.routed_per_s == 0.0


def test_callers_take_turns_over_tenants_then_queues() -> None:
    def tenant(index: int, queues: int) -> Tenant:
        domain = f"t{index}.example"
        caller = Phone("2000", f"pw{index}", domain)
        access = [f"+1555000{index}{q}" for q in range(queues)]
        seat = Seat(Phone("1000", "x", domain), 1, "q00")
        return Tenant(index, caller, [f"q{q:02d}" for q in range(queues)], access, [seat])

    lines = caller_lines([tenant(1, 2), tenant(2, 1)]).splitlines()
    assert lines[0] == "SEQUENTIAL"
    assert [line.split(";")[:2] for line in lines[1:]] == [
        ["+155500010", "t1.example"],
        ["+155500020", "t2.example"],
        ["+155500011", "t1.example"],
    ]
    assert lines[1].split(";")[2:] == [
        "2000",
        "[authentication username=2000 password=pw1]",
    ]
