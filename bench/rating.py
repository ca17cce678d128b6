"""Rating 1,000,000 CDRs against a 100,000-prefix tariff on one core, exactly.

Everything is generated from a fixed seed, so runs compare:

* the tariff: about 240 country codes, each with operator prefixes up to 10 digits
  (100,000 prefixes in all), prices with 4 places, the increments 60/60, 30/6, 1/1,
  6/6 and 60/1, some free seconds, minimum charges and connection fees, and on 80 % of
  the rates three periods (weekday peak 08:00-18:00, a night 22:00-06:00 that crosses
  midnight, the weekend). Two versions: the second, from 2026-03-16, changes 1 % of
  the prices. Timezone Europe/Berlin (March 2026: the clocks change on the 29th);
* the CDRs: numbers under those prefixes (1 % that no rate matches), starts spread
  over March 2026, durations 25 % zero (unanswered), the rest exponential around
  2.5 minutes up to 2 hours.

The CDRs are made and rated in chunks (a batch rater streams them too); only
``rate_many`` over each chunk is timed, in this one process. Then a sample of the
results is compared, field by field, with :func:`reference_rate`, the plain Decimal
implementation, and the sample's total with the reference's total.
"""

from __future__ import annotations

import gc
import random
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from decimal import Decimal

from orchestrator.pricing import (
    WEEKEND,
    WORKDAYS,
    Charge,
    Period,
    Rate,
    Rounding,
    Tariff,
    TariffVersion,
    Unrated,
    rate_many,
    rater_for,
    reference_rate,
)

MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
CORRECTION = datetime(2026, 3, 16, tzinfo=UTC)
MONTH_SECONDS = 31 * 86_400
INCREMENTS = ((60, 60), (30, 6), (1, 1), (6, 6), (60, 1))
NIGHTS = frozenset({0, 1, 2, 3})  # Mon-Thu nights: Friday's would run into the weekend
AIM_CDRS_PER_S = 100_000


@dataclass(frozen=True, slots=True)
class RatingOptions:
    prefixes: int = 100_000
    cdrs: int = 1_000_000
    sample: int = 10_000
    chunk: int = 100_000
    seed: int = 5


# `python -m bench --smoke`
SMOKE = RatingOptions(prefixes=200, cdrs=2000, sample=100, chunk=1000)


def report(name: str, value: float, unit: str, aim: str = "") -> None:
    """One result line on stdout, ``name: value unit``, and the aim after ``#``."""
    text = f"{value:.1f}" if unit in ("MiB", "s") else str(round(value))
    print(f"{name}: {text} {unit}" + (f"  # aim {aim}" if aim else ""), flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the tariff ---------------------------------------------------------------------
def country_codes() -> list[str]:
    """About 240 codes shaped like the ITU's: 1 and 7, two-digit, three-digit."""
    two = [20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49]
    two += [51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86]
    two += [90, 91, 92, 93, 94, 95, 98]
    three = [c for c in range(210, 300) if c // 10 not in (27,)]
    three += [*range(350, 360), *range(370, 390), *range(420, 424), *range(500, 510)]
    three += [*range(590, 600), *range(670, 693), *range(850, 857), *range(880, 887)]
    three += [*range(960, 999)]
    return ["1", "7", *map(str, two), *map(str, three)]


def price(rng: random.Random, low: int, high: int) -> Decimal:
    """A price with 4 places, from low/10^4 to high/10^4."""
    return Decimal(rng.randint(low, high)).scaleb(-4)


def make_rate(rng: random.Random, prefix: str, increments: tuple[int, int]) -> Rate:
    base = price(rng, 50, 9000)
    periods: tuple[Period, ...] = ()
    if rng.random() < 0.8:
        periods = (
            Period("peak", WORKDAYS, wall(8), wall(18), price_per_minute=base * 2),
            Period("night", NIGHTS, wall(22), wall(6), price_per_minute=price(rng, 10, 900)),
            Period(
                "weekend",
                WEEKEND,
                wall(0),
                wall(0),
                price_per_minute=price(rng, 10, 900),
                connection_fee=Decimal(0),
            ),
        )
    return Rate(
        prefix,
        f"Destination {prefix}",
        price_per_minute=base,
        connection_fee=price(rng, 100, 500) if rng.random() < 0.2 else Decimal(0),
        first_increment=increments[0],
        next_increment=increments[1],
        free_seconds=5 if rng.random() < 0.1 else 0,
        minimum_charge=Decimal("0.0100") if rng.random() < 0.1 else Decimal(0),
        periods=periods,
    )


def make_tariff(options: RatingOptions) -> tuple[Tariff, list[str]]:
    """The tariff and its prefixes (in the first version's order)."""
    rng = random.Random(options.seed)
    codes = country_codes()
    prefixes: dict[str, tuple[int, int]] = {}
    for code in codes:
        prefixes[code] = rng.choice(INCREMENTS)
    # Big countries get more operator prefixes; lengths up to 10 digits.
    weights = [rng.paretovariate(1.2) for _ in codes]
    while len(prefixes) < options.prefixes:
        code = rng.choices(codes, weights)[0]
        extra = rng.randint(1, 10 - len(code))
        prefix = code + "".join(rng.choices("0123456789", k=extra))
        prefixes.setdefault(prefix, prefixes[code])
    rates = [make_rate(rng, p, inc) for p, inc in list(prefixes.items())[: options.prefixes]]
    corrected = [make_rate(rng, r.prefix, (60, 60)) if rng.random() < 0.01 else r for r in rates]
    tariff = Tariff(
        name="bench",
        currency="EUR",
        rounding=Rounding.HALF_UP,
        precision=2,
        timezone="Europe/Berlin",
        versions=(
            TariffVersion("2026-03", MONTH_START, rates=tuple(rates), effective_to=CORRECTION),
            TariffVersion("2026-03-fix", CORRECTION, rates=tuple(corrected)),
        ),
    )
    return tariff, [r.prefix for r in rates]


# -- the CDRs -----------------------------------------------------------------------
def make_cdrs(
    rng: random.Random, prefixes: list[str], count: int
) -> list[tuple[str, datetime, int]]:
    cdrs = []
    digits = "0123456789"
    for _ in range(count):
        if rng.random() < 0.01:
            number = "0" + "".join(rng.choices(digits, k=10))  # no rate starts with 0
        else:
            prefix = rng.choice(prefixes)
            tail = max(1, rng.randint(11, 12) - len(prefix))
            number = prefix + "".join(rng.choices(digits, k=tail))
        start = MONTH_START + timedelta(seconds=rng.randrange(MONTH_SECONDS))
        duration = 0 if rng.random() < 0.25 else min(7200, 1 + int(rng.expovariate(1 / 150)))
        cdrs.append((number, start, duration))
    return cdrs


# -- the run ------------------------------------------------------------------------
def same(fast: Charge | Unrated, reference: Charge | Unrated) -> bool:
    """Field by field, and the amounts also as text (same places, not only same value)."""
    if fast != reference:
        return False
    return not isinstance(fast, Charge) or str(fast.amount) == str(reference.amount)


def run(options: RatingOptions) -> int:
    """Run the benchmark, print its lines; return 1 when a result was not exact."""
    started = time.perf_counter()
    tariff, prefixes = make_tariff(options)
    progress(f"rating: tariff of {len(prefixes)} prefixes made in "
             f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    started = time.perf_counter()
    rater_for(tariff)
    build_s = time.perf_counter() - started
    # What a long-running batch rater does after loading its tariffs: move them out of
    # the cyclic garbage collector's sight. Otherwise its full collections, triggered
    # by the charges made, walk the ~2 million objects of a 100k-prefix tariff again
    # and again (about 10 % of the time, measured).
    gc.collect()
    gc.freeze()
    try:
        return _run(options, tariff, prefixes, build_s)
    finally:
        gc.unfreeze()


def _run(options: RatingOptions, tariff: Tariff, prefixes: list[str], build_s: float) -> int:

    rng = random.Random(options.seed + 1)
    every = max(1, options.cdrs // options.sample)
    sample: list[tuple[tuple[str, datetime, int], Charge | Unrated]] = []
    rated = unrated = 0
    total = Decimal(0)
    elapsed = cpu = 0.0
    done = 0
    while done < options.cdrs:
        cdrs = make_cdrs(rng, prefixes, min(options.chunk, options.cdrs - done))
        started, cpu_started = time.perf_counter(), time.process_time()
        results = list(rate_many(tariff, cdrs))
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        for index in range(-done % every, len(cdrs), every):
            sample.append((cdrs[index], results[index]))
        for result in results:
            if isinstance(result, Charge):
                rated += 1
                total += result.amount
            else:
                unrated += 1
        done += len(cdrs)
    # ru_maxrss: the process's peak resident set (KiB on Linux): interpreter, tariff,
    # compiled index, one chunk of CDRs and results; taken before the reference check.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    mismatches = 0
    fast_total = reference_total = Decimal(0)
    for (number, start, duration), fast in sample:
        reference = reference_rate(tariff, number=number, start=start, duration_s=duration)
        if not same(fast, reference):
            mismatches += 1
            if mismatches <= 5:
                progress(f"rating: MISMATCH {number} {start} {duration}: {fast} != {reference}")
        if isinstance(fast, Charge):
            fast_total += fast.amount
        if isinstance(reference, Charge):
            reference_total += reference.amount
    exact = mismatches == 0 and fast_total == reference_total
    progress(
        f"rating: {rated} charges, {unrated} unrated, total {total} EUR; sample of "
        f"{len(sample)}: {fast_total} EUR, reference {reference_total} EUR"
    )
    report("rating_index_build_s", build_s, "s")
    report("rating_cdrs_per_s", options.cdrs / elapsed, "CDRs/s", f">= {AIM_CDRS_PER_S:,}")
    report("rating_cdrs_per_cpu_s", options.cdrs / cpu, "CDRs/s")
    report("rating_peak_memory", peak_mib, "MiB")
    report("rating_sample_checked", len(sample), "CDRs")
    report("rating_exact", int(exact), "bool")
    return 0 if exact else 1
