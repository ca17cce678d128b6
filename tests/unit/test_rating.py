"""Rating against hand-computed charges: increments, free seconds, minimum, fees, rounding,
periods, versions, prefixes. Every expected amount is worked out in the comment beside it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.pricing import (
    EVERY_DAY,
    WORKDAYS,
    Charge,
    Period,
    Rate,
    Rounding,
    Tariff,
    TariffVersion,
    Unrated,
    UnratedReason,
    rate,
    rate_many,
    reference_rate,
)

WED_NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
EPOCH_2026 = datetime(2026, 1, 1, tzinfo=UTC)


def tariff_of(
    *rates: Rate,
    rounding: Rounding = Rounding.HALF_UP,
    precision: int = 2,
    timezone: str = "UTC",
) -> Tariff:
    return Tariff(
        name="test",
        currency="EUR",
        rounding=rounding,
        precision=precision,
        timezone=timezone,
        versions=(TariffVersion("v1", EPOCH_2026, rates=rates),),
    )


def charge_of(
    tariff: Tariff, duration_s: int, *, number: str = "4930123", start: datetime = WED_NOON
) -> Charge:
    result = rate(tariff, number=number, start=start, duration_s=duration_s)
    assert isinstance(result, Charge), result
    # The fast path and the plain reference agree on every case here too.
    assert result == reference_rate(tariff, number=number, start=start, duration_s=duration_s)
    return result


def per_second(first: int, step: int, **extra: object) -> Tariff:
    """0.60 a minute: one cent a second, so billed seconds read straight off the amount."""
    return tariff_of(
        Rate("49", "Germany", D("0.60"), first_increment=first, next_increment=step, **extra)  # type: ignore[arg-type]
    )


# -- increments ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "step", "duration", "billed", "amount"),
    [
        (60, 60, 1, 60, "0.60"),  # the first minute is billed whole
        (60, 60, 60, 60, "0.60"),
        (60, 60, 61, 120, "1.20"),  # then whole minutes
        (60, 60, 3599, 3600, "36.00"),
        (30, 6, 1, 30, "0.30"),  # 30 s first
        (30, 6, 30, 30, "0.30"),
        (30, 6, 31, 36, "0.36"),  # then 6-second steps: 30 + 6
        (30, 6, 36, 36, "0.36"),
        (30, 6, 37, 42, "0.42"),  # 30 + 2 x 6
        (1, 1, 1, 1, "0.01"),
        (1, 1, 61, 61, "0.61"),
        (6, 6, 1, 6, "0.06"),
        (6, 6, 6, 6, "0.06"),
        (6, 6, 7, 12, "0.12"),
        (60, 1, 61, 61, "0.61"),  # a minute, then per second
    ],
)
def test_increments(first: int, step: int, duration: int, billed: int, amount: str) -> None:
    charge = charge_of(per_second(first, step), duration)
    assert charge.billed_s == billed
    assert charge.amount == D(amount) and str(charge.amount) == amount


# -- free seconds, minimum charge, connection fee --------------------------------------
@pytest.mark.parametrize(
    ("duration", "billed", "amount"),
    [
        (10, 0, "0.00"),  # all free
        (11, 60, "0.60"),  # 1 s beyond the free 10: a whole first minute
        (70, 60, "0.60"),
        (71, 120, "1.20"),
    ],
)
def test_free_seconds(duration: int, billed: int, amount: str) -> None:
    charge = charge_of(per_second(60, 60, free_seconds=10), duration)
    assert (charge.billed_s, str(charge.amount)) == (billed, amount)
    assert charge.chargeable_s == max(0, duration - 10)


def test_free_seconds_keep_the_connection_fee_but_not_the_minimum() -> None:
    tariff = per_second(60, 60, free_seconds=10, connection_fee=D("0.05"), minimum_charge=D("1"))
    charge = charge_of(tariff, 8)
    # Answered, all free: the fee (what setting up any answered call costs), no minimum.
    assert (charge.billed_s, str(charge.amount), charge.minimum_applied) == (0, "0.05", False)


def test_minimum_charge() -> None:
    tariff = tariff_of(Rate("49", "Germany", D("0.06"), minimum_charge=D("0.50")))
    low = charge_of(tariff, 30)  # 0.06 x 60 / 60 = 0.06 < 0.50
    assert (str(low.amount), low.minimum_applied) == ("0.50", True)
    assert low.unrounded_amount == D("0.50")
    high = charge_of(tariff, 600)  # 0.06 x 10 = 0.60 >= 0.50
    assert (str(high.amount), high.minimum_applied) == ("0.60", False)


def test_minimum_charge_counts_the_connection_fee() -> None:
    tariff = tariff_of(
        Rate("49", "DE", D("0.06"), connection_fee=D("0.10"), minimum_charge=D("0.50"))
    )
    assert str(charge_of(tariff, 30).amount) == "0.50"  # 0.10 + 0.06 = 0.16 < 0.50
    assert str(charge_of(tariff, 480).amount) == "0.58"  # 0.10 + 0.06 x 8 = 0.58


def test_connection_fee() -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60"), connection_fee=D("0.15")))
    charge = charge_of(tariff, 61)
    assert str(charge.amount) == "1.35"  # 0.15 + 0.60 x 120 / 60
    assert charge.connection_fee == D("0.15")


def test_unanswered_call_costs_nothing() -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60"), connection_fee=D("0.15"), minimum_charge=D("1")))
    charge = charge_of(tariff, 0)
    assert (str(charge.amount), charge.billed_s, charge.answered) == ("0.00", 0, False)
    assert "no charge" in charge.explain()


# -- rounding -----------------------------------------------------------------------
ROUNDING_CASES = [
    # price per minute, billed 60 s so amount = price; precision; expected by rule
    ("0.125", 2, {"HALF_UP": "0.13", "HALF_EVEN": "0.12", "UP": "0.13", "DOWN": "0.12"}),
    ("0.135", 2, {"HALF_UP": "0.14", "HALF_EVEN": "0.14", "UP": "0.14", "DOWN": "0.13"}),
    ("0.1251", 2, {"HALF_UP": "0.13", "HALF_EVEN": "0.13", "UP": "0.13", "DOWN": "0.12"}),
    ("0.1249", 2, {"HALF_UP": "0.12", "HALF_EVEN": "0.12", "UP": "0.13", "DOWN": "0.12"}),
    ("0.12", 2, {"HALF_UP": "0.12", "HALF_EVEN": "0.12", "UP": "0.12", "DOWN": "0.12"}),
    ("0.00125", 4, {"HALF_UP": "0.0013", "HALF_EVEN": "0.0012", "UP": "0.0013", "DOWN": "0.0012"}),
    ("0.00135", 4, {"HALF_UP": "0.0014", "HALF_EVEN": "0.0014", "UP": "0.0014", "DOWN": "0.0013"}),
    ("2.5", 0, {"HALF_UP": "3", "HALF_EVEN": "2", "UP": "3", "DOWN": "2"}),
]


@pytest.mark.parametrize(("price", "precision", "expected"), ROUNDING_CASES)
@pytest.mark.parametrize("rule", ["HALF_UP", "HALF_EVEN", "UP", "DOWN", "CEILING"])
def test_rounding_at_half_boundaries(
    price: str, precision: int, expected: dict[str, str], rule: str
) -> None:
    tariff = tariff_of(Rate("49", "DE", D(price)), rounding=Rounding[rule], precision=precision)
    charge = charge_of(tariff, 60)
    # CEILING and UP agree: charges are never negative.
    assert str(charge.amount) == expected["UP" if rule == "CEILING" else rule]
    assert charge.unrounded_amount == D(price)
    assert charge.rounding_difference == charge.amount - D(price)


@pytest.mark.parametrize(
    ("rule", "precision", "expected"),
    [
        # 0.01 a minute for 7 s (1/1) = 0.0011666... : never a tie, repeating
        (Rounding.HALF_UP, 2, "0.00"),
        (Rounding.UP, 2, "0.01"),
        (Rounding.DOWN, 4, "0.0011"),
        (Rounding.HALF_UP, 4, "0.0012"),
        (Rounding.HALF_EVEN, 4, "0.0012"),
        (Rounding.CEILING, 4, "0.0012"),
    ],
)
def test_rounding_of_a_repeating_amount(rule: Rounding, precision: int, expected: str) -> None:
    tariff = tariff_of(
        Rate("49", "DE", D("0.01"), first_increment=1, next_increment=1),
        rounding=rule,
        precision=precision,
    )
    charge = charge_of(tariff, 7)
    assert str(charge.amount) == expected
    assert "repeating" in charge.explain()


def test_rounding_happens_once_on_the_total() -> None:
    # Fee 0.004 and 0.006 of time: each would round to 0.00/0.01, the total 0.010 is 0.01.
    tariff = tariff_of(
        Rate("49", "DE", D("0.006"), connection_fee=D("0.004")), rounding=Rounding.DOWN
    )
    assert str(charge_of(tariff, 60).amount) == "0.01"


# -- periods ------------------------------------------------------------------------
PEAK = Period("peak", WORKDAYS, time(8), time(18), price_per_minute=D("1.20"))
NIGHT = Period("night", EVERY_DAY, time(22), time(6), price_per_minute=D("0.30"))


def day(weekday: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """2026-03-02 is a Monday (weekday 0)."""
    return datetime(2026, 3, 2 + weekday, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "period", "amount"),
    [
        (day(2, 7, 59, 59), None, "0.60"),  # the second before peak
        (day(2, 8), "peak", "1.20"),  # the first second of peak
        (day(2, 17, 59, 59), "peak", "1.20"),
        (day(2, 18), None, "0.60"),  # the end is excluded
        (day(4, 17), "peak", "1.20"),  # Friday
        (day(5, 10), None, "0.60"),  # Saturday: no peak
        (day(6, 23, 59, 59), "night", "0.30"),  # Sunday night ...
        (day(7, 0), "night", "0.30"),  # ... runs into Monday
        (day(7, 5, 59, 59), "night", "0.30"),
        (day(7, 6), None, "0.60"),
        (day(7, 8), "peak", "1.20"),
        (day(2, 21, 59, 59), None, "0.60"),
        (day(2, 22), "night", "0.30"),
    ],
)
def test_period_boundaries(start: datetime, period: str | None, amount: str) -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60"), periods=(PEAK, NIGHT)))
    charge = charge_of(tariff, 60, start=start)
    assert (charge.period_name, str(charge.amount)) == (period, amount)


@pytest.mark.parametrize(
    ("start", "in_period"),
    [
        (day(4, 21, 59, 59), False),
        (day(4, 22), True),  # Friday 22:00 opens the night ...
        (day(5, 0), True),  # ... through Saturday midnight
        (day(5, 5, 59, 59), True),
        (day(5, 6), False),
        (day(4, 3), False),  # Friday early morning: Thursday night is not listed
        (day(5, 23), False),  # Saturday night is not listed
    ],
)
def test_period_crossing_midnight(start: datetime, in_period: bool) -> None:
    friday_night = Period("fri-night", frozenset({4}), time(22), time(6), D("0.06"))
    tariff = tariff_of(Rate("49", "DE", D("0.60"), periods=(friday_night,)))
    assert (charge_of(tariff, 60, start=start).period_name == "fri-night") is in_period


def test_period_applies_for_the_whole_call_from_its_start() -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60"), periods=(PEAK,)))
    charge = charge_of(tariff, 20 * 60, start=day(2, 17, 59))  # 17:59 to 18:19
    assert (charge.period_name, str(charge.amount)) == ("peak", "24.00")  # 1.20 x 20


def test_period_connection_fee_overrides_the_rates() -> None:
    weekend = Period("weekend", frozenset({5, 6}), time(0), time(0), D("0.30"), D("0"))
    tariff = tariff_of(Rate("49", "DE", D("0.60"), connection_fee=D("0.10"), periods=(weekend,)))
    assert str(charge_of(tariff, 60, start=day(2, 12)).amount) == "0.70"  # 0.10 + 0.60
    assert str(charge_of(tariff, 60, start=day(5, 12)).amount) == "0.30"  # 0 + 0.30
    assert str(charge_of(tariff, 60, start=day(6, 23, 59, 59)).amount) == "0.30"


@pytest.mark.parametrize(
    ("start", "period"),
    [
        (datetime(2026, 3, 27, 7, 0, tzinfo=UTC), "peak"),  # Fri 08:00 CET (UTC+1)
        (datetime(2026, 3, 27, 6, 59, 59, tzinfo=UTC), None),  # 07:59:59 CET
        (datetime(2026, 3, 30, 6, 0, tzinfo=UTC), "peak"),  # Mon 08:00 CEST (UTC+2)
        (datetime(2026, 3, 30, 5, 59, 59, tzinfo=UTC), None),
        (datetime(2026, 3, 30, 15, 59, 59, tzinfo=UTC), "peak"),  # 17:59:59 CEST
        (datetime(2026, 3, 30, 16, 0, tzinfo=UTC), None),
        # The change itself: 01:00 UTC on 29 March is 02:00 CET -> 03:00 CEST.
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), None),  # 01:59:59 CET
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "early"),  # 03:00 CEST
        # And back: 01:00 UTC on 25 October is 03:00 CEST -> 02:00 CET.
        (datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), None),  # 02:59:59 CEST
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), None),  # 02:00 CET
        (datetime(2026, 10, 25, 1, 59, 59, tzinfo=UTC), None),  # 02:59:59 CET
        (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "early"),  # 03:00 CET
    ],
)
def test_periods_in_the_tariffs_timezone_across_dst(start: datetime, period: str | None) -> None:
    early = Period("early", frozenset({6}), time(3), time(4), D("0.01"))  # Sundays
    tariff = tariff_of(Rate("49", "DE", D("0.60"), periods=(PEAK, early)), timezone="Europe/Berlin")
    assert charge_of(tariff, 60, start=start).period_name == period


def test_start_in_any_timezone() -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60"), periods=(PEAK,)), timezone="Europe/Berlin")
    berlin = datetime(2026, 3, 4, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    new_york = berlin.astimezone(ZoneInfo("America/New_York"))
    assert charge_of(tariff, 60, start=berlin) == charge_of(tariff, 60, start=new_york)._replace(
        start=berlin
    )
    assert charge_of(tariff, 60, start=new_york).period_name == "peak"


# -- versions -----------------------------------------------------------------------
def versioned() -> Tariff:
    switch = datetime(2026, 3, 1, tzinfo=UTC)
    return Tariff(
        name="test",
        currency="EUR",
        rounding=Rounding.HALF_UP,
        precision=2,
        timezone="UTC",
        versions=(
            TariffVersion("old", EPOCH_2026, (Rate("49", "DE", D("0.60")),), switch),
            TariffVersion("new", switch, (Rate("49", "DE", D("0.30")),)),
        ),
    )


@pytest.mark.parametrize(
    ("start", "version", "amount"),
    [
        (datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), "old", "0.60"),
        (datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC), "old", "0.60"),
        (datetime(2026, 3, 1, tzinfo=UTC), "new", "0.30"),  # exactly at the change
        (datetime(2026, 3, 1, 1, 0, tzinfo=ZoneInfo("Europe/Berlin")), "new", "0.30"),
        (datetime(2026, 3, 1, 0, 59, 59, tzinfo=ZoneInfo("Europe/Berlin")), "old", "0.60"),
        (datetime(2030, 1, 1, tzinfo=UTC), "new", "0.30"),  # open-ended
    ],
)
def test_version_in_force_at_the_start(start: datetime, version: str, amount: str) -> None:
    charge = charge_of(versioned(), 60, start=start)
    assert (charge.version, str(charge.amount)) == (version, amount)


def test_no_version_in_force() -> None:
    result = rate(
        versioned(), number="49", start=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        duration_s=60,
    )  # fmt: skip
    assert isinstance(result, Unrated) and result.reason == UnratedReason.NO_VERSION
    assert not result.rated


# -- prefixes -----------------------------------------------------------------------
PREFIXED = tariff_of(
    Rate("4", "Europe 4", D("0.04")),
    Rate("49", "Germany", D("0.49")),
    Rate("4930", "Berlin", D("0.30")),
    Rate("", "World", D("1.00")),
)


@pytest.mark.parametrize(
    ("number", "prefix"),
    [
        ("4930123456", "4930"),  # the longest of 4, 49, 4930
        ("4940123456", "49"),
        ("41", "4"),
        ("4930", "4930"),  # the number is the prefix
        ("49", "49"),  # shorter than the longest prefix
        ("+4930123", "4930"),  # a leading + is ignored
        ("5", ""),  # the default route
        ("12345678901234567890123", ""),
    ],
)
def test_longest_prefix(number: str, prefix: str) -> None:
    assert charge_of(PREFIXED, 60, number=number).prefix == prefix


def test_no_matching_rate_is_unrated() -> None:
    tariff = tariff_of(Rate("49", "DE", D("0.60")))
    result = rate(tariff, number="3312345", start=WED_NOON, duration_s=60)
    assert isinstance(result, Unrated)
    assert (result.reason, result.tariff) == (UnratedReason.NO_RATE, "test")
    assert "no rate" in result.explain()
    assert result == reference_rate(tariff, number="3312345", start=WED_NOON, duration_s=60)


@pytest.mark.parametrize("number", ["", "+", "49a", "49 30", "4930\n", "\u0664\u0669", "++49"])
def test_invalid_numbers_are_unrated(number: str) -> None:
    result = rate(PREFIXED, number=number, start=WED_NOON, duration_s=60)
    assert isinstance(result, Unrated) and result.reason == UnratedReason.INVALID_NUMBER


def test_bad_calls_raise_one_by_one_and_are_unrated_in_a_batch() -> None:
    naive = datetime(2026, 3, 4, 12, 0)
    with pytest.raises(ValidationError, match="aware"):
        rate(PREFIXED, number="49", start=naive, duration_s=60)
    for duration in (-1, 1.5, True):
        with pytest.raises(ValidationError, match="duration_s"):
            rate(PREFIXED, number="49", start=WED_NOON, duration_s=duration)  # type: ignore[arg-type]
    calls = [("49", WED_NOON, 60), ("49", naive, 60), ("49", WED_NOON, -5), ("x", WED_NOON, 1)]
    results = list(rate_many(PREFIXED, calls))
    assert [r.rated for r in results] == [True, False, False, False]
    assert [getattr(r, "reason", None) for r in results[1:]] == [
        UnratedReason.INVALID_CALL,
        UnratedReason.INVALID_CALL,
        UnratedReason.INVALID_NUMBER,
    ]


# -- explanation --------------------------------------------------------------------
def test_explain_names_every_step() -> None:
    tariff = tariff_of(
        Rate(
            "4930", "Berlin", D("0.60"), connection_fee=D("0.05"), first_increment=30,
            next_increment=6, free_seconds=5, minimum_charge=D("0.10"), periods=(PEAK,),
        ),
        rounding=Rounding.HALF_EVEN,
    )  # fmt: skip
    charge = charge_of(tariff, 43, number="493012345", start=day(2, 9))
    # 43 - 5 free = 38 s -> 30 + 2 x 6 = 42 s; 0.05 + 1.20 x 42 / 60 = 0.89
    assert (charge.billed_s, str(charge.amount)) == (42, "0.89")
    text = charge.explain()
    for part in (
        "4930 'Berlin'",
        "version 'v1'",
        "Period 'peak' (Mon-Fri 08:00-18:00)",
        "Free seconds: 5 -> 38 s chargeable",
        "Increments 30/6: 30 s + 2 x 6 s -> 42 s billed",
        "0.05 + 1.20 x 42 / 60 = 0.89",
        "Minimum charge 0.10: not reached",
        "ROUND_HALF_EVEN to 2 places: 0.89 EUR",
    ):
        assert part in text, (part, text)
    data = json.loads(json.dumps(charge.to_dict()))
    assert data["amount"] == "0.89" and data["billed_s"] == 42 and data["period"] == "peak"
    assert data["explanation"] == text.splitlines()
    assert data["start"] == "2026-03-04T09:00:00+00:00"


def test_unrated_to_dict() -> None:
    result = rate(PREFIXED, number="x", start=WED_NOON, duration_s=3)
    assert json.loads(json.dumps(result.to_dict()))["reason"] == "invalid-number"


def test_charges_are_immutable() -> None:
    charge = charge_of(PREFIXED, 60)
    with pytest.raises(AttributeError):
        charge.amount = D("0")  # type: ignore[misc]
    assert charge.start + timedelta(0) == WED_NOON
