"""How long a prepaid call may last: the seconds the money buys, checked against a
brute-force search over every duration, for fees, increments, free seconds, minimums
and each rounding rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orchestrator.pricing import Charge, Rate, Rounding, Tariff, TariffVersion, Unrated, rate
from orchestrator.rating import Authorization, max_duration
from orchestrator.rating.prepaid import max_joint_duration

D = Decimal
START = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def _tariff(rate_: Rate, rounding: Rounding = Rounding.HALF_UP, precision: int = 2) -> Tariff:
    version = TariffVersion("v", datetime(2026, 1, 1, tzinfo=UTC), rates=(rate_,))
    return Tariff("t", "EUR", rounding, precision, "UTC", versions=(version,))


def _brute(tariff: Tariff, available: Decimal, cap: int) -> int:
    best = 0
    for seconds in range(1, cap + 1):
        charge = rate(tariff, number="4930", start=START, duration_s=seconds)
        assert isinstance(charge, Charge)
        if charge.amount <= available:
            best = seconds
    return best


@pytest.mark.parametrize("seed", range(40))
def test_max_duration_matches_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    rate_ = Rate(
        "49", "DE",
        price_per_minute=D(rnd.choice(["0.01", "0.0125", "0.6", "1.99", "0"])),
        connection_fee=D(rnd.choice(["0", "0.05", "0.004"])),
        first_increment=rnd.choice([1, 30, 60]),
        next_increment=rnd.choice([1, 6, 60]),
        free_seconds=rnd.choice([0, 0, 5]),
        minimum_charge=D(rnd.choice(["0", "0.10"])),
    )  # fmt: skip
    tariff = _tariff(rate_, rnd.choice(list(Rounding)), rnd.choice([0, 2, 4]))
    available = D(rnd.choice(["0.01", "0.05", "0.10", "0.37", "1", "2.5"]))
    cap = 600
    result = max_duration(tariff, number="4930", start=START, available=available, cap_s=cap)
    assert isinstance(result, tuple)
    seconds, amount = result
    assert seconds == _brute(tariff, available, cap)
    if seconds:
        charge = rate(tariff, number="4930", start=START, duration_s=seconds)
        assert isinstance(charge, Charge) and charge.amount == amount <= available


def test_increments_are_honoured() -> None:
    # 60/60 at 1.20 a minute: 1.00 buys nothing (the first minute costs 1.20) ...
    tariff = _tariff(Rate("49", "DE", D("1.20")))
    assert max_duration(tariff, number="49", start=START, available=D("1"), cap_s=3600) == (
        0,
        D(0),
    )
    # ... and 2.50 buys two whole minutes, not 125 s.
    assert max_duration(tariff, number="49", start=START, available=D("2.50"), cap_s=3600) == (
        120,
        D("2.40"),
    )


def test_two_legs_paid_together_share_the_money() -> None:
    # Leg 1: 0.60/min by the second; leg 2: 1.20/min by the minute. With 2.00, 60 s cost
    # 0.60 + 1.20 = 1.80; 61 s would cost 0.61 + 2.40. Alone, leg 1 could have 200 s.
    by_second = _tariff(Rate("44", "UK", D("0.60"), first_increment=1, next_increment=1))
    by_minute = _tariff(Rate("49", "DE", D("1.20")))
    legs = [(by_second, "4420"), (by_minute, "4930")]
    result = max_joint_duration(legs, start=START, available=D("2.00"), cap_s=3600)
    assert result == (60, [D("0.60"), D("1.20")])
    assert max_joint_duration(legs, start=START, available=D("1.20"), cap_s=3600) == (
        0,
        [D(0), D(0)],
    )
    unknown = max_joint_duration(
        [(by_second, "4420"), (by_minute, "33")], start=START, available=D(5), cap_s=60
    )
    assert isinstance(unknown, Unrated) and unknown.reason == "no-rate"


def test_an_unknown_destination_is_unrated() -> None:
    tariff = _tariff(Rate("49", "DE", D("1.20")))
    result = max_duration(tariff, number="33", start=START, available=D(5), cap_s=60)
    assert isinstance(result, Unrated) and result.reason == "no-rate"


def test_the_dialplan_answers_are_plain_tokens() -> None:
    assert Authorization("limit", max_ms=2500).answer() == "limit_2500"
    assert Authorization("unlimited").answer() == "unlimited"
    assert Authorization("refuse").answer() == "refuse_21"
    assert Authorization("refuse", cause=41).answer() == "refuse_41"
