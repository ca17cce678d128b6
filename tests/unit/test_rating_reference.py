"""The fast rater against the plain reference on many random tariffs and calls, and a
smoke run of the rating benchmark."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bench import rating as bench
from orchestrator.core.errors import ValidationError
from orchestrator.pricing import (
    Charge,
    Period,
    Rate,
    Rounding,
    Tariff,
    TariffVersion,
    Unrated,
    rate,
    reference_rate,
)

# Zones with DST, half-hour offsets, and Lord Howe's half-hour DST change.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = 400 * 86_400  # a bit more than a year: every DST change of 2026


def money(rng: random.Random) -> Decimal:
    """0 to 10 places, including values that give exact ties when rounded."""
    places = rng.choice((0, 1, 2, 3, 4, 4, 5, 10))
    return Decimal(rng.randrange(0, 5 * 10**places)).scaleb(-places)


def periods(rng: random.Random) -> tuple[Period, ...]:
    chosen: list[Period] = []
    for index in range(rng.randint(0, 3)):
        days = frozenset(rng.sample(range(7), rng.randint(1, 7)))
        start = time(rng.randrange(24), rng.choice((0, 30)), rng.choice((0, 0, 59)))
        end = time(rng.randrange(24), rng.choice((0, 30)))
        fee = money(rng) if rng.random() < 0.3 else None
        candidate = Period(f"p{index}", days, start, end, money(rng), fee)
        try:  # keep it only if it does not overlap the others
            Rate("1", "probe", Decimal(1), periods=(*chosen, candidate))
        except ValidationError:
            continue
        chosen.append(candidate)
    return tuple(chosen)


def random_rate(rng: random.Random, prefix: str) -> Rate:
    return Rate(
        prefix,
        f"r{prefix}",
        money(rng),
        connection_fee=money(rng) if rng.random() < 0.3 else Decimal(0),
        first_increment=rng.choice((1, 6, 30, 60, 60)),
        next_increment=rng.choice((1, 6, 30, 60)),
        free_seconds=rng.choice((0, 0, 0, 5, 30)),
        minimum_charge=money(rng) if rng.random() < 0.3 else Decimal(0),
        periods=periods(rng),
    )


def random_tariff(rng: random.Random) -> Tariff:
    prefixes = {"".join(rng.choices("0123", k=rng.randint(1, 5))) for _ in range(150)}
    if rng.random() < 0.5:
        prefixes.add("")
    first = [random_rate(rng, p) for p in sorted(prefixes)]
    # A second version sharing most rates, changing some, from some second of the span.
    second = [random_rate(rng, r.prefix) if rng.random() < 0.2 else r for r in first]
    switch = START + timedelta(seconds=rng.randrange(SPAN))
    gap = timedelta(seconds=rng.choice((0, 0, 3600)))
    return Tariff(
        name="random",
        currency="EUR",
        rounding=rng.choice(list(Rounding)),
        precision=rng.choice((0, 2, 2, 4, 10)),
        timezone=rng.choice(ZONES),
        versions=(
            TariffVersion("a", START, tuple(first), effective_to=switch),
            TariffVersion("b", switch + gap, tuple(second)),
        ),
    )


def random_call(rng: random.Random, tariff: Tariff) -> tuple[str, datetime, int]:
    number = "".join(rng.choices("01234", k=rng.randint(0, 8)))
    if rng.random() < 0.05:
        number = rng.choice(("+", "x", "+" + number, number + "#"))
    start = START + timedelta(
        seconds=rng.randrange(-86_400, SPAN), microseconds=rng.choice((0, 999_999))
    )
    if rng.random() < 0.2:  # on a version change, to the second
        start = tariff.versions[1].effective_from + timedelta(seconds=rng.randint(-1, 1))
    duration = rng.choice((0, 0, 1, 5, 6, 7, 29, 30, 31, 59, 60, 61, rng.randint(0, 7200)))
    return number, start, duration


def same(fast: Charge | Unrated, reference: Charge | Unrated) -> bool:
    return fast == reference and str(getattr(fast, "amount", "")) == str(
        getattr(reference, "amount", "")
    )


@pytest.mark.parametrize("seed", range(8))
def test_fast_rater_matches_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    tariff = random_tariff(rng)
    # The same versions under every rounding rule, at a few precisions.
    variants = [
        replace(tariff, rounding=rule, precision=precision)
        for rule in Rounding
        for precision in (0, 2, 4, 10)
    ]
    for _ in range(1500):
        number, start, duration = random_call(rng, tariff)
        for variant in rng.sample(variants, 4):
            fast = rate(variant, number=number, start=start, duration_s=duration)
            reference = reference_rate(variant, number=number, start=start, duration_s=duration)
            assert same(fast, reference), (variant, number, start, duration, fast, reference)


def test_reference_prefix_match_is_the_linear_scan() -> None:
    rng = random.Random(99)
    tariff = random_tariff(rng)
    rates = tariff.versions[0].rates
    for _ in range(500):
        number = "".join(rng.choices("0123", k=rng.randint(1, 7)))
        matching = [r for r in rates if number.startswith(r.prefix)]
        start = tariff.versions[0].effective_from
        result = rate(tariff, number=number, start=start, duration_s=1)
        if matching:
            assert isinstance(result, Charge)
            assert result.rate is max(matching, key=lambda r: len(r.prefix))
        else:
            assert isinstance(result, Unrated)


def test_rating_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # Tiny sizes, so the benchmark's code cannot rot; its speed is make bench's (a time
    # limit here would only measure how loaded the machine is).
    options = bench.RatingOptions(prefixes=1500, cdrs=4000, sample=400, chunk=1500)
    assert bench.run(options) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["rating_exact"] == "1 bool"
    assert lines["rating_sample_checked"] == "400 CDRs"
    for name in ("rating_cdrs_per_s", "rating_cdrs_per_cpu_s", "rating_peak_memory"):
        value, unit = lines[name].split()[:2]
        assert float(value) > 0 and unit in ("CDRs/s", "MiB")


def half_hours() -> tuple[Period, ...]:
    """48 half-hour periods: any error in the local time shows as the wrong period."""
    every_day = frozenset(range(7))
    slots = [time(h, m) for h in range(24) for m in (0, 30)]
    return tuple(
        Period(f"h{i:02d}", every_day, slots[i], slots[(i + 1) % 48], Decimal(i)) for i in range(48)
    )


@pytest.mark.parametrize("zone", ["Australia/Lord_Howe", "Europe/Berlin", "America/St_Johns"])
def test_local_time_around_every_offset_change(zone: str) -> None:
    # Lord Howe changes by 30 minutes at 02:00 local (not on a UTC hour), St John's is
    # UTC-3:30/-2:30: the hour that holds a change must not be cached with one offset.
    tariff = Tariff(
        name="zones",
        currency="EUR",
        rounding=Rounding.HALF_UP,
        precision=2,
        timezone=zone,
        versions=(TariffVersion("v", START, (Rate("", "all", Decimal(1), periods=half_hours()),)),),
    )
    local_zone = ZoneInfo(zone)
    changes = []
    moment = START
    while moment < START + timedelta(days=366):
        later = moment + timedelta(hours=1)
        if moment.astimezone(local_zone).utcoffset() != later.astimezone(local_zone).utcoffset():
            changes.append(moment)
        moment = later
    assert len(changes) == 2
    for hour in changes:
        # Minute by minute, from the hour before to the hour after, in order, so the
        # first call of the changing hour is before the change.
        for minute in range(-60, 120):
            start = hour + timedelta(minutes=minute)
            fast = rate(tariff, number="1", start=start, duration_s=60)
            reference = reference_rate(tariff, number="1", start=start, duration_s=60)
            assert same(fast, reference), (start, fast, reference)
