"""The tariff model: tariffs, their versions, rates and time-of-day periods.

Plain frozen dataclasses, validated when built (a bad value raises
:class:`~orchestrator.core.errors.ValidationError` naming the field). Money is
:class:`~decimal.Decimal`, never a float: a float is refused outright, because
``0.1`` as a float is not one tenth and every charge computed from it would be off.

Example::

    from datetime import UTC, datetime, time
    from decimal import Decimal as D

    peak = Period("peak", WORKDAYS, time(8), time(18), price_per_minute=D("0.05"))
    tariff = Tariff(
        name="retail",
        currency="EUR",
        rounding=Rounding.HALF_UP,
        precision=2,
        timezone="Europe/Berlin",
        versions=(
            TariffVersion(
                id="2026-01",
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                rates=(
                    Rate("49", "Germany", price_per_minute=D("0.02"), periods=(peak,)),
                    Rate("4917", "Germany mobile", price_per_minute=D("0.09"),
                         first_increment=30, next_increment=6),
                ),
            ),
        ),
    )
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Context, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.core.errors import ValidationError
from orchestrator.pricing.schedule import Window, compile_windows
from orchestrator.validation import bounded_int, description

__all__ = [
    "EVERY_DAY",
    "EXACT",
    "MONEY_DECIMALS_MAX",
    "WEEKEND",
    "WORKDAYS",
    "Period",
    "Rate",
    "Rounding",
    "Tariff",
    "TariffVersion",
    "exact_sum",
    "money",
]

WORKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
EVERY_DAY = frozenset(range(7))

# Prices with more places than this are not real prices; the bound also keeps the
# integer arithmetic of the rater small.
MONEY_DECIMALS_MAX = 10
MONEY_MAX = Decimal(10) ** 9
PRECISION_MAX = 10
INCREMENT_MAX = 3600
FREE_SECONDS_MAX = 86_400

# Money arithmetic here never rounds: 60 digits hold any price, fee or amount many
# times over, and using our own context keeps a caller's decimal context (a small
# precision, say) from changing a charge.
EXACT = Context(prec=60)


def exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of ``amounts`` in :data:`EXACT` (never rounded, whatever the caller's context)."""
    total = Decimal(0)
    for amount in amounts:
        total = EXACT.add(total, amount)
    return total


_PREFIX = re.compile(r"[0-9]{0,20}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class Rounding(StrEnum):
    """How a charge is rounded to the tariff's precision; the values are the
    :mod:`decimal` module's names. Charges are never negative, so ``UP`` (away from
    zero) and ``CEILING`` give the same results; both are offered because carriers'
    contracts use both words."""

    HALF_UP = "ROUND_HALF_UP"
    HALF_EVEN = "ROUND_HALF_EVEN"
    UP = "ROUND_UP"
    DOWN = "ROUND_DOWN"
    CEILING = "ROUND_CEILING"


def money(value: Any, *, field: str) -> Decimal:
    """A price or fee: a finite, non-negative Decimal below 10^9 with at most 10 places."""
    if isinstance(value, float):
        raise ValidationError(
            f"{field}: money must be a Decimal, never a float (got {value!r})", field=field
        )
    if not isinstance(value, Decimal):
        raise ValidationError(f"{field}: must be a Decimal", field=field, value=repr(value)[:60])
    exponent = value.as_tuple().exponent
    if (
        not value.is_finite()
        or value.is_signed()
        or value >= MONEY_MAX
        or not isinstance(exponent, int)
        or exponent < -MONEY_DECIMALS_MAX
    ):
        raise ValidationError(
            f"{field}: must be from 0 to below 10^9 with at most {MONEY_DECIMALS_MAX} "
            f"decimal places (got {value})",
            field=field,
        )
    return value


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not _NAME.fullmatch(value):
        raise ValidationError(
            f"{field}: must be 1 to 64 of letters, digits, space, '_', '.', ':' or '-'",
            field=field,
            value=repr(value)[:60],
        )
    return value


def _wall_time(value: Any, field: str) -> int:
    if not isinstance(value, time) or value.tzinfo is not None or value.microsecond:
        raise ValidationError(
            f"{field}: must be a datetime.time without timezone or microseconds", field=field
        )
    return value.hour * 3600 + value.minute * 60 + value.second


def _aware(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{field}: must be a timezone-aware datetime", field=field)
    if value.microsecond:
        # Versions change on whole seconds; the rater compares whole Unix seconds.
        raise ValidationError(f"{field}: must be a whole second", field=field)
    return value


@dataclass(frozen=True, slots=True)
class Period:
    """A time-of-day/weekday window with its own per-minute price.

    The window is ``[start, end)`` local time on each of ``weekdays`` (0 = Monday);
    an ``end`` not after ``start`` crosses midnight into the next day. The period
    applying to a call is the one where the call *starts*: a call from 17:59 to 18:10
    is rated at the 08:00-18:00 price throughout, as carriers do. ``connection_fee``
    None keeps the rate's own fee.
    """

    name: str
    weekdays: frozenset[int]
    start: time
    end: time
    price_per_minute: Decimal
    connection_fee: Decimal | None = None

    def __post_init__(self) -> None:
        _name(self.name, "period.name")
        days = self.weekdays
        if (
            not isinstance(days, frozenset)
            or not days
            or not all(isinstance(d, int) and 0 <= d <= 6 for d in days)
        ):
            raise ValidationError(
                "period.weekdays: must be a non-empty frozenset of 0 (Monday) to 6 (Sunday)",
                field="period.weekdays",
            )
        _wall_time(self.start, "period.start")
        _wall_time(self.end, "period.end")
        money(self.price_per_minute, field="period.price_per_minute")
        if self.connection_fee is not None:
            money(self.connection_fee, field="period.connection_fee")

    @property
    def window(self) -> Window:
        """The window in the form :func:`~orchestrator.pricing.schedule.compile_windows` takes."""
        return (self.name, self.weekdays, self.start, self.end)

    def covers(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` (in the tariff's timezone) is in the window."""
        second = local.hour * 3600 + local.minute * 60 + local.second
        day = local.weekday()
        days = self.weekdays
        start = _wall_time(self.start, "start")
        end = _wall_time(self.end, "end")
        if start < end:
            return day in days and start <= second < end
        # Crossing midnight: tonight's window, or the rest of yesterday's.
        return (day in days and second >= start) or ((day - 1) % 7 in days and second < end)


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of the destinations starting with ``prefix`` ("" is the default route).

    Increments: the first ``first_increment`` seconds are billed as a block, then
    blocks of ``next_increment`` (60/60 per minute, 30/6, 1/1 per second). The first
    ``free_seconds`` of an answered call are not billed; ``minimum_charge`` is the
    least a call with billed seconds costs (connection fee included).
    """

    prefix: str
    description: str
    price_per_minute: Decimal
    connection_fee: Decimal = Decimal(0)
    first_increment: int = 60
    next_increment: int = 60
    free_seconds: int = 0
    minimum_charge: Decimal = Decimal(0)
    periods: tuple[Period, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ValidationError(
                "rate.prefix: must be 0 to 20 digits", field="rate.prefix", value=repr(self.prefix)
            )
        object.__setattr__(
            self, "description", description(self.description, field="rate.description")
        )
        money(self.price_per_minute, field="rate.price_per_minute")
        money(self.connection_fee, field="rate.connection_fee")
        money(self.minimum_charge, field="rate.minimum_charge")
        bounded_int(self.first_increment, 1, INCREMENT_MAX, field="rate.first_increment")
        bounded_int(self.next_increment, 1, INCREMENT_MAX, field="rate.next_increment")
        bounded_int(self.free_seconds, 0, FREE_SECONDS_MAX, field="rate.free_seconds")
        if not isinstance(self.periods, tuple) or not all(
            isinstance(p, Period) for p in self.periods
        ):
            raise ValidationError("rate.periods: must be a tuple of Period", field="rate.periods")
        if len({p.name for p in self.periods}) != len(self.periods):
            raise ValidationError(
                f"rate {self.prefix!r}: period names must be unique", field="rate.periods"
            )
        if self.periods:
            compile_windows(self.windows)  # refuses overlapping periods

    @property
    def windows(self) -> tuple[Window, ...]:
        return tuple((p.name, p.weekdays, p.start, p.end) for p in self.periods)


@dataclass(frozen=True, slots=True)
class TariffVersion:
    """The rates in force from ``effective_from`` (included) to ``effective_to``
    (excluded; None: until further notice). A correction is a new version."""

    id: str
    effective_from: datetime
    rates: tuple[Rate, ...]
    effective_to: datetime | None = None

    def __post_init__(self) -> None:
        _name(self.id, "version.id")
        _aware(self.effective_from, "version.effective_from")
        if self.effective_to is not None:
            _aware(self.effective_to, "version.effective_to")
            if self.effective_to <= self.effective_from:
                raise ValidationError(
                    f"version {self.id!r}: effective_to must be after effective_from",
                    field="version.effective_to",
                )
        if not isinstance(self.rates, tuple) or not self.rates:
            raise ValidationError(
                f"version {self.id!r}: rates must be a non-empty tuple of Rate",
                field="version.rates",
            )
        seen: set[str] = set()
        for rate in self.rates:
            if not isinstance(rate, Rate):
                raise ValidationError("version.rates: must be Rate objects", field="version.rates")
            if rate.prefix in seen:
                raise ValidationError(
                    f"version {self.id!r}: prefix {rate.prefix!r} appears twice",
                    field="version.rates",
                    prefix=rate.prefix,
                )
            seen.add(rate.prefix)

    def in_force(self, start: datetime) -> bool:
        return self.effective_from <= start and (
            self.effective_to is None or start < self.effective_to
        )


@dataclass(frozen=True, slots=True)
class Tariff:
    """A named price list: its currency, rounding, timezone (of its periods) and versions.

    Rounding happens once per call, on the total (connection fee + time, or the
    minimum charge), to ``precision`` decimal places with ``rounding``: never per
    increment, so a call's charge does not depend on how it is split.
    """

    name: str
    currency: str
    rounding: Rounding
    precision: int
    timezone: str
    versions: tuple[TariffVersion, ...]
    # The compiled form used by the rater (orchestrator.pricing.rater), built on first use.
    _rater: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _name(self.name, "tariff.name")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise ValidationError(
                "tariff.currency: must be an ISO 4217 code such as EUR", field="tariff.currency"
            )
        try:
            object.__setattr__(self, "rounding", Rounding(self.rounding))
        except ValueError:
            raise ValidationError(
                f"tariff.rounding: must be one of {', '.join(Rounding)}", field="tariff.rounding"
            ) from None
        bounded_int(self.precision, 0, PRECISION_MAX, field="tariff.precision")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValidationError(
                f"tariff.timezone: unknown timezone {self.timezone!r}", field="tariff.timezone"
            ) from None
        if not isinstance(self.versions, tuple) or not self.versions:
            raise ValidationError(
                "tariff.versions: must be a non-empty tuple of TariffVersion",
                field="tariff.versions",
            )
        if not all(isinstance(v, TariffVersion) for v in self.versions):
            raise ValidationError("tariff.versions: must be TariffVersion", field="tariff.versions")
        if len({v.id for v in self.versions}) != len(self.versions):
            raise ValidationError("tariff.versions: ids must be unique", field="tariff.versions")
        ordered = sorted(self.versions, key=lambda v: v.effective_from)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                raise ValidationError(
                    f"tariff {self.name!r}: versions {earlier.id!r} and {later.id!r} overlap",
                    field="tariff.versions",
                )

    def version_at(self, start: datetime) -> TariffVersion | None:
        """The version in force at ``start``, if any."""
        return next((v for v in self.versions if v.in_force(start)), None)
