"""Rating: the price of a call under a tariff, exact, about a million calls in seconds.

:func:`rate` picks the tariff version in force when the call started, the rate with
the longest prefix of the number, the period the call started in, then bills
increments after the free seconds and rounds once. :func:`rate_many` does the same
for a batch, turning bad records into :class:`~orchestrator.pricing.charge.Unrated`
instead of raising.

How it stays exact and fast (see docs/billing.md, "Rating"):

* Money is integers. A version's prices are scaled to integers of ``10**-scale``
  (``scale``: the fewest places that hold all of them, at most 10). A call's amount is
  the fraction ``(fee * 60 + price * billed_s) / (60 * 10**scale)``; rounding it to
  ``precision`` places is an integer division whose remainder decides the rule. No
  intermediate result is ever rounded, so the charge is exact. Decimal appears once
  per call, for the result, from a cache of the amounts already seen.
* Prefixes: one dict per version from prefix to rate; a number is probed with its
  first N digits for each prefix length the version has, longest first. (Int keys,
  one parse and a division per probe, measured slower than slicing the string.)
* Periods: the rate's windows compiled into boundaries over the seconds of the week
  (one bisect); the local time comes from the UTC time plus the timezone's offset,
  cached per hour in which the offset does not change.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from orchestrator.core.errors import ValidationError
from orchestrator.pricing.charge import Charge, Unrated, UnratedReason
from orchestrator.pricing.schedule import DAY, WEEK, compile_windows
from orchestrator.pricing.tariff import (
    EXACT,
    MONEY_DECIMALS_MAX,
    Period,
    Rate,
    Rounding,
    Tariff,
    TariffVersion,
)

__all__ = ["Rater", "rate", "rate_many", "rater_for"]

_FOREVER = 1 << 62  # a time after every version's end
_HOUR = 3600
_CACHE_MAX = 200_000  # cached amounts / offsets before a cache starts over
_POW10 = tuple(10**n for n in range(64))

# Rounding rules as small ints for the hot path; UP and CEILING agree (no negative charges).
_HALF_UP, _HALF_EVEN, _UP, _DOWN = range(4)
_RULES = {
    Rounding.HALF_UP: _HALF_UP,
    Rounding.HALF_EVEN: _HALF_EVEN,
    Rounding.UP: _UP,
    Rounding.CEILING: _UP,
    Rounding.DOWN: _DOWN,
}
_new_charge = tuple.__new__  # Charge(...) without the keyword-argument machinery

# A compiled rate, a plain tuple so the hot path unpacks it in one step:
# (rate, week bounds or None, period per bound, price, fee * 60, free s, first, next,
#  minimum * 60), money in integers of the version's unit (10**-scale).
_Compiled = tuple[
    Rate,
    tuple[int, ...] | None,
    tuple[tuple[Period | None, int, int], ...],
    int, int, int, int, int, int,
]  # fmt: skip
# A compiled version: (start, end) in seconds since the rater's base, rates by prefix,
# prefix lengths longest first, the version's id, the denominator 60 * 10**scale.
_CompiledVersion = tuple[int, int, dict[str, _Compiled], tuple[int, ...], str, int]


def _seconds(moment: datetime, base: datetime) -> int:
    delta = moment - base
    return delta.days * DAY + delta.seconds


def _money_values(rate: Rate) -> Iterator[Decimal]:
    yield rate.price_per_minute
    yield rate.connection_fee
    yield rate.minimum_charge
    for period in rate.periods:
        yield period.price_per_minute
        if period.connection_fee is not None:
            yield period.connection_fee


class Rater:
    """A tariff compiled for rating; :func:`rater_for` keeps one per tariff.

    ``rater.rate(number, start, duration_s)`` rates one call (see :func:`rate`). It is
    a closure made by the constructor rather than a method: reading the compiled
    tariff from closure cells instead of ``self`` attributes is a measurable share of
    the few microseconds a call takes.
    """

    rate: Callable[[str, datetime, int], Charge | Unrated]

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        # Every price as an integer of 10**-10 (no price has more places), by value.
        self._units: dict[Decimal, int] = {}
        # By (id(rate), divisor): versions share most of their rates.
        self._compiled: dict[tuple[int, int], _Compiled] = {}
        # Times are seconds since midnight UTC before the first version, not Unix time:
        # they stay below 2**30 for 34 years, and such ints are Python's fastest.
        first = min(v.effective_from for v in tariff.versions).astimezone(UTC)
        self._base = datetime.combine(first.date(), datetime.min.time(), UTC)
        versions = tuple(self._version(v) for v in tariff.versions)
        self._units.clear()
        self._compiled.clear()
        self.rate = _rate_function(tariff, versions, self._base)

    def _unit(self, value: Decimal) -> int:
        units = self._units.get(value)
        if units is None:
            units = self._units[value] = int(value.scaleb(MONEY_DECIMALS_MAX, EXACT))
        return units

    def _version(self, version: TariffVersion) -> _CompiledVersion:
        base = self._base
        # The version's scale: the fewest places that hold all its prices exactly. Small
        # scales keep the hot path's integers within one machine word.
        common = 0
        for r in version.rates:
            for value in _money_values(r):
                common = math.gcd(common, self._unit(value))
        strip = 0
        while strip < MONEY_DECIMALS_MAX and common % _POW10[strip + 1] == 0:
            strip += 1
        by_prefix = {}
        for r in version.rates:
            entry = self._compiled.get((id(r), strip))
            if entry is None:
                entry = self._compiled[id(r), strip] = self._compile(r, _POW10[strip])
            by_prefix[r.prefix] = entry
        return (
            _seconds(version.effective_from, base),
            _FOREVER if version.effective_to is None else _seconds(version.effective_to, base),
            by_prefix,
            tuple(sorted({len(p) for p in by_prefix}, reverse=True)),
            version.id,
            60 * _POW10[MONEY_DECIMALS_MAX - strip],
        )

    def _compile(self, rate: Rate, divisor: int) -> _Compiled:
        def units(value: Decimal) -> int:
            return self._unit(value) // divisor

        price = units(rate.price_per_minute)
        fee60 = units(rate.connection_fee) * 60
        bounds = None
        periods: tuple[tuple[Period | None, int, int], ...] = ()
        if rate.periods:
            bounds, values = compile_windows(rate.windows)
            by_index = [
                (
                    p,
                    units(p.price_per_minute),
                    fee60 if p.connection_fee is None else units(p.connection_fee) * 60,
                )
                for p in rate.periods
            ]
            base = (None, price, fee60)
            periods = tuple(by_index[i] if i >= 0 else base for i in values)
        return (
            rate, bounds, periods, price, fee60, rate.free_seconds, rate.first_increment,
            rate.next_increment, units(rate.minimum_charge) * 60,
        )  # fmt: skip


def _rate_function(
    tariff: Tariff, versions: tuple[_CompiledVersion, ...], base: datetime
) -> Callable[[str, datetime, int], Charge | Unrated]:
    """The hot path: everything it needs is in its closure. Times are seconds since
    ``base`` (a midnight UTC)."""
    base_second_of_week = base.weekday() * DAY
    name, currency, zone_name = tariff.name, tariff.currency, tariff.timezone
    rounding, precision = tariff.rounding, tariff.precision
    rule = _RULES[rounding]
    mul = 10**precision
    zone = ZoneInfo(zone_name)
    amounts: dict[int, Decimal] = {}
    offsets: dict[int, int] = {}
    messages = {
        UnratedReason.NO_VERSION: "no version of the tariff is in force at that time",
        UnratedReason.NO_RATE: "no rate's prefix matches the number (and no default rate)",
        UnratedReason.INVALID_NUMBER: "the number is not digits (with an optional '+')",
    }

    def amount_of(quotient: int) -> Decimal:
        if len(amounts) >= _CACHE_MAX:
            amounts.clear()
        # The quotient's digits with the exponent -precision ("0.00" for 0 at 2 places).
        amount = amounts[quotient] = Decimal(quotient).scaleb(-precision, EXACT)
        return amount

    zero = Decimal(0).scaleb(-precision, EXACT)

    def offset_at(moment: int) -> int:
        offset = (base + timedelta(seconds=moment)).astimezone(zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has an offset
        return offset.days * DAY + offset.seconds

    def offset_of(moment: int) -> int:
        """The zone's UTC offset at ``moment``, cached for an hour in which it is constant."""
        hour = moment // _HOUR
        first = offset_at(hour * _HOUR)
        if first != offset_at(hour * _HOUR + _HOUR - 1):
            return offset_at(moment)  # the hour of a change: not cached
        if len(offsets) >= _CACHE_MAX:
            offsets.clear()
        offsets[hour] = first
        return first

    def unrated(number: str, start: datetime, duration_s: int, reason: str) -> Unrated:
        return Unrated(number, start, duration_s, name, reason, messages[reason])

    def rate(number: str, start: datetime, duration_s: int) -> Charge | Unrated:
        try:
            delta = start - base
        except TypeError:
            raise ValidationError(
                "start: must be a timezone-aware datetime", field="start"
            ) from None
        if duration_s.__class__ is not int or duration_s < 0:
            raise ValidationError(
                "duration_s: must be a whole number of seconds >= 0", field="duration_s"
            )
        moment = delta.days * DAY + delta.seconds  # floor: microseconds never matter
        for compiled in versions:
            if compiled[0] <= moment < compiled[1]:
                break
        else:
            return unrated(number, start, duration_s, UnratedReason.NO_VERSION)
        _, _, by_prefix, lengths, version, den = compiled
        digits = number[1:] if number[:1] == "+" else number
        if not (digits.isdigit() and digits.isascii()):
            return unrated(number, start, duration_s, UnratedReason.INVALID_NUMBER)
        get = by_prefix.get
        # Longest prefix first. A length beyond the number probes the whole number,
        # which is then the longest match anyway, so no length check is needed.
        for length in lengths:
            found = get(digits[:length])
            if found is not None:
                break
        else:
            return unrated(number, start, duration_s, UnratedReason.NO_RATE)
        rate_, bounds, periods, price, fee60, free, first, step, min60 = found

        if not duration_s:
            return _new_charge(
                Charge,
                (zero, currency, number, start, 0, 0, name, version, zone_name, rate_,
                 None, False, rounding, precision),
            )  # fmt: skip
        period = None
        if bounds is not None:
            offset = offsets.get(moment // _HOUR)
            if offset is None:
                offset = offset_of(moment)
            second = (moment + offset + base_second_of_week) % WEEK
            period, price, fee60 = periods[bisect_right(bounds, second) - 1]

        chargeable = duration_s - free
        if chargeable <= 0:
            billed = 0
        elif chargeable <= first:
            billed = first
        else:
            billed = first + (chargeable - first + step - 1) // step * step
        total = fee60 + price * billed
        minimum = False
        if billed and total < min60:
            total = min60
            minimum = True

        quotient, remainder = divmod(total * mul, den)
        if remainder and rule != _DOWN:
            if rule == _UP:
                quotient += 1
            else:
                twice = remainder * 2
                if twice > den or (twice == den and (rule == _HALF_UP or quotient & 1)):
                    quotient += 1
        amount = amounts.get(quotient)
        if amount is None:
            amount = amount_of(quotient)
        return _new_charge(
            Charge,
            (amount, currency, number, start, duration_s, billed, name, version, zone_name,
             rate_, period, minimum, rounding, precision),
        )  # fmt: skip

    return rate


def rater_for(tariff: Tariff) -> Rater:
    """The tariff's compiled :class:`Rater`, built on first use and kept with the tariff."""
    rater: Rater | None = tariff._rater
    if rater is None:
        rater = Rater(tariff)
        # A frozen dataclass: the cache is the one field set after construction.
        object.__setattr__(tariff, "_rater", rater)
    return rater


def rate(tariff: Tariff, *, number: str, start: datetime, duration_s: int) -> Charge | Unrated:
    """Rate one call: ``number`` dialled (digits, optional leading "+"), ``start`` (aware;
    the call's start decides the version and the period), ``duration_s`` billable
    seconds from answer (0: not answered, no charge).

    Returns a :class:`Charge`, or :class:`Unrated` when no version or rate applies.
    Raises :class:`ValidationError` for a naive ``start`` or a bad ``duration_s``.

    >>> charge = rate(tariff, number="4930123456", start=start, duration_s=125)  # doctest: +SKIP
    >>> print(charge.explain())  # doctest: +SKIP
    """
    return rater_for(tariff).rate(number, start, duration_s)


def rate_many(
    tariff: Tariff, calls: Iterable[tuple[str, datetime, int]]
) -> Iterator[Charge | Unrated]:
    """Rate ``(number, start, duration_s)`` records in order; a record that cannot be
    rated, even a malformed one, gives :class:`Unrated` and the batch goes on."""
    rater = rater_for(tariff)
    for number, start, duration_s in calls:
        try:
            yield rater.rate(number, start, duration_s)
        except (ValidationError, AttributeError, TypeError) as exc:
            message = exc.message if isinstance(exc, ValidationError) else str(exc)
            yield Unrated(
                str(number), start, duration_s, tariff.name, UnratedReason.INVALID_CALL, message
            )
