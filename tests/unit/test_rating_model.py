"""The tariff model refuses what it cannot rate exactly; products; re-rating deltas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import ROUND_DOWN, localcontext
from decimal import Decimal as D
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.pricing import (
    WORKDAYS,
    Charge,
    Period,
    Product,
    Rate,
    Rounding,
    Service,
    Tariff,
    TariffVersion,
    Unrated,
    UnratedReason,
    rate,
    rerate_delta,
)

FROM = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ONE = (Rate("4", "a", D(1)),)


def make_tariff(*rates: Rate, currency: str = "EUR", **fields: Any) -> Tariff:
    values: dict[str, Any] = {
        "name": "test",
        "currency": currency,
        "rounding": Rounding.HALF_UP,
        "precision": 2,
        "timezone": "UTC",
        "versions": (TariffVersion("v1", FROM, rates or (Rate("49", "DE", D("0.60")),)),),
    }
    values.update(fields)
    return Tariff(**values)


INVALID: list[tuple[str, Callable[[], object]]] = [
    ("float", lambda: Rate("49", "DE", 0.6)),  # type: ignore[arg-type]
    ("Decimal", lambda: Rate("49", "DE", "0.6")),  # type: ignore[arg-type]
    ("from 0", lambda: Rate("49", "DE", D("-0.01"))),
    ("from 0", lambda: Rate("49", "DE", D("NaN"))),
    ("from 0", lambda: Rate("49", "DE", D("Infinity"))),
    ("from 0", lambda: Rate("49", "DE", D("0.00000000001"))),  # 11 places
    ("from 0", lambda: Rate("49", "DE", D("1E9"))),
    ("from 0", lambda: Rate("49", "DE", D("1"), connection_fee=D("-1"))),
    ("from 0", lambda: Rate("49", "DE", D("1"), minimum_charge=D("-0"))),
    ("first_increment", lambda: Rate("49", "DE", D("1"), first_increment=0)),
    ("next_increment", lambda: Rate("49", "DE", D("1"), next_increment=0)),
    ("next_increment", lambda: Rate("49", "DE", D("1"), next_increment=True)),
    ("free_seconds", lambda: Rate("49", "DE", D("1"), free_seconds=-1)),
    ("prefix", lambda: Rate("49a", "DE", D("1"))),
    ("prefix", lambda: Rate("+49", "DE", D("1"))),
    ("prefix", lambda: Rate("4" * 21, "DE", D("1"))),
    ("description", lambda: Rate("49", "DE\n", D("1"))),
    ("Period", lambda: Rate("49", "DE", D("1"), periods=[])),  # type: ignore[arg-type]
    (
        "overlap",
        lambda: Rate(
            "49",
            "DE",
            D("1"),
            periods=(
                Period("day", WORKDAYS, time(8), time(18), D("1")),
                Period("eve", frozenset({4}), time(17), time(20), D("1")),
            ),
        ),
    ),
    (
        "overlap",  # Sunday night runs into Monday morning
        lambda: Rate(
            "49",
            "DE",
            D("1"),
            periods=(
                Period("sun", frozenset({6}), time(22), time(7), D("1")),
                Period("mon", frozenset({0}), time(6), time(9), D("1")),
            ),
        ),
    ),
    (
        "unique",
        lambda: Rate(
            "49",
            "DE",
            D("1"),
            periods=(
                Period("p", frozenset({0}), time(1), time(2), D("1")),
                Period("p", frozenset({1}), time(1), time(2), D("1")),
            ),
        ),
    ),
    ("weekdays", lambda: Period("p", frozenset({7}), time(1), time(2), D("1"))),
    ("weekdays", lambda: Period("p", frozenset(), time(1), time(2), D("1"))),
    ("weekdays", lambda: Period("p", {1}, time(1), time(2), D("1"))),  # type: ignore[arg-type]
    ("period.start", lambda: Period("p", WORKDAYS, time(1, tzinfo=UTC), time(2), D("1"))),
    ("period.end", lambda: Period("p", WORKDAYS, time(1), "02:00", D("1"))),  # type: ignore[arg-type]
    ("period.name", lambda: Period("", WORKDAYS, time(1), time(2), D("1"))),
    ("Decimal", lambda: Period("p", WORKDAYS, time(1), time(2), D("1"), 0.5)),  # type: ignore[arg-type]
    ("twice", lambda: TariffVersion("v", FROM, (Rate("4", "a", D(1)), Rate("4", "b", D(2))))),
    ("non-empty", lambda: TariffVersion("v", FROM, ())),
    ("aware", lambda: TariffVersion("v", datetime(2026, 1, 1), (Rate("4", "a", D(1)),))),
    (
        "whole second",
        lambda: TariffVersion("v", FROM.replace(microsecond=5), (Rate("4", "a", D(1)),)),
    ),
    ("after", lambda: TariffVersion("v", FROM, (Rate("4", "a", D(1)),), FROM)),
    ("version.id", lambda: TariffVersion("v\n", FROM, (Rate("4", "a", D(1)),))),
    ("currency", lambda: make_tariff(currency="eur")),
    ("rounding", lambda: make_tariff(rounding="ROUND_05UP")),
    ("precision", lambda: make_tariff(precision=11)),
    ("timezone", lambda: make_tariff(timezone="Mars/Olympus")),
    ("timezone", lambda: make_tariff(timezone="../../etc/passwd")),
    ("tariff.name", lambda: make_tariff(name="")),
    ("non-empty", lambda: make_tariff(versions=())),
    (
        "unique",
        lambda: make_tariff(versions=(TariffVersion("v", FROM, (Rate("4", "a", D(1)),)),) * 2),
    ),
    (
        "overlap",
        lambda: make_tariff(
            versions=(
                TariffVersion("a", FROM, (Rate("4", "a", D(1)),), FROM + timedelta(days=2)),
                TariffVersion("b", FROM + timedelta(days=1), (Rate("4", "a", D(1)),)),
            )
        ),
    ),
    (
        "overlap",  # an open-ended version before another
        lambda: make_tariff(
            versions=(
                TariffVersion("a", FROM, (Rate("4", "a", D(1)),)),
                TariffVersion("b", FROM + timedelta(days=1), (Rate("4", "a", D(1)),)),
            )
        ),
    ),
]


@pytest.mark.parametrize(("message", "build"), INVALID)
def test_invalid_tariffs_are_refused(message: str, build: Callable[[], object]) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        build()
    assert info.value.details.get("field")


def test_valid_edge_values() -> None:
    rate_ = Rate("", "default", D("999999999.9999999999"), first_increment=3600, free_seconds=0)
    assert rate_.prefix == ""
    tariff = make_tariff(rate_, rounding="ROUND_HALF_EVEN", precision=10, timezone="Asia/Kolkata")
    assert tariff.rounding is Rounding.HALF_EVEN
    # Adjacent versions (one ends where the next starts) are fine, in any order.
    later = FROM + timedelta(days=30)
    make_tariff(
        versions=(
            TariffVersion("b", later, (rate_,)),
            TariffVersion("a", FROM, (rate_,), effective_to=later),
        )
    )
    # Adjacent periods too, and a whole-day window (start == end).
    Rate(
        "1", "x", D("1"),
        periods=(
            Period("day", WORKDAYS, time(8), time(18), D("2")),
            Period("eve", frozenset({0, 1, 2, 3}), time(18), time(8), D("1")),
            Period("weekend", frozenset({5, 6}), time(0), time(0), D("0.5")),
        ),
    )  # fmt: skip


def test_biggest_charge_is_exact() -> None:
    big = make_tariff(
        Rate("1", "x", D("999999999.9999999999"), connection_fee=D("999999999.9999999999")),
        precision=10,
    )
    charge = rate(big, number="1", start=START, duration_s=7200)
    assert isinstance(charge, Charge)
    # fee + price x 120 minutes = 121 x 999999999.9999999999
    assert charge.amount == D("120999999999.9999999879")


# -- products -----------------------------------------------------------------------
def test_product_rates_each_service_with_its_tariff() -> None:
    outgoing = make_tariff(Rate("49", "DE", D("0.60")), name="out")
    forwarded = make_tariff(Rate("49", "DE", D("0.30")), name="fwd")
    product = Product("retail", {Service.OUTGOING: outgoing, "forwarded": forwarded})  # type: ignore[dict-item]
    kwargs: dict[str, Any] = {"number": "4930", "start": START, "duration_s": 60}
    out = product.rate(Service.OUTGOING, **kwargs)
    fwd = product.rate(Service.FORWARDED, **kwargs)
    assert isinstance(out, Charge) and isinstance(fwd, Charge)
    assert (out.tariff, str(out.amount), fwd.tariff, str(fwd.amount)) == (
        "out", "0.60", "fwd", "0.30",
    )  # fmt: skip
    incoming = product.rate(Service.INCOMING, **kwargs)
    assert isinstance(incoming, Unrated) and incoming.reason == UnratedReason.NO_TARIFF
    assert product.tariff_for(Service.CONFERENCE) is None
    with pytest.raises(TypeError):
        product.tariffs[Service.INCOMING] = outgoing  # type: ignore[index]


@pytest.mark.parametrize("tariffs", [{"voicemail": "x"}, {Service.OUTGOING: "not a tariff"}])
def test_product_refuses_unknown_services_and_non_tariffs(tariffs: dict[Any, Any]) -> None:
    with pytest.raises(ValidationError, match=r"product\.tariffs"):
        Product("retail", tariffs)


# -- re-rating ----------------------------------------------------------------------
def test_rerate_books_the_difference() -> None:
    first = make_tariff(Rate("49", "DE", D("0.60")))
    corrected = make_tariff(Rate("49", "DE", D("0.45")))
    old = rate(first, number="4930", start=START, duration_s=90)
    new = rate(corrected, number="4930", start=START, duration_s=90)
    assert isinstance(old, Charge) and isinstance(new, Charge)
    assert (old.amount, new.amount) == (D("1.20"), D("0.90"))
    assert rerate_delta(old, new) == D("-0.30")
    assert str(rerate_delta(old, new)) == "-0.30"
    assert rerate_delta(old, old) == 0
    # Rated for the first time (before: unrated or nothing): the whole amount.
    unrated = rate(first, number="33", start=START, duration_s=90)
    assert isinstance(unrated, Unrated)
    assert rerate_delta(unrated, new) == D("0.90")
    assert rerate_delta(None, new) == D("0.90")
    assert rerate_delta(new, unrated) == D("-0.90")


def test_rerate_refuses_a_currency_change() -> None:
    eur = rate(make_tariff(), number="49", start=START, duration_s=60)
    usd = rate(make_tariff(currency="USD"), number="49", start=START, duration_s=60)
    with pytest.raises(ValidationError, match="EUR to USD"):
        rerate_delta(eur, usd)


def test_rater_is_built_once_per_tariff() -> None:
    tariff = make_tariff()
    rate(tariff, number="49", start=START, duration_s=1)
    compiled = tariff._rater
    rate(tariff, number="49", start=START, duration_s=1)
    assert tariff._rater is compiled is not None
    # The cache is no part of equality or the repr.
    assert tariff == make_tariff() and "_rater" not in repr(tariff)


def test_start_with_a_fixed_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    tariff = make_tariff()
    a = rate(tariff, number="49", start=START.astimezone(plus_two), duration_s=60)
    assert isinstance(a, Charge) and str(a.amount) == "0.60"


def test_a_callers_decimal_context_does_not_change_charges() -> None:
    tariff = make_tariff(Rate("1", "x", D("123.4567")), precision=4)
    with localcontext(prec=3, rounding=ROUND_DOWN):
        charge = rate(tariff, number="1", start=START, duration_s=3600)
        assert isinstance(charge, Charge)
        assert str(charge.amount) == "7407.4020"  # 123.4567 x 60
        assert charge.unrounded_amount == D("7407.4020")
        assert charge.rounding_difference == 0
        assert rerate_delta(None, charge) == D("7407.4020")
