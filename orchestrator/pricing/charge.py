"""What rating a call gives: a :class:`Charge` that explains itself, or :class:`Unrated`.

Both are immutable named tuples (cheap to make: the rater makes a million in
seconds). A :class:`Charge` keeps the :class:`~orchestrator.pricing.tariff.Rate` and
:class:`~orchestrator.pricing.tariff.Period` it used, so everything else (increments,
prices, the unrounded amount) is derived from them when asked for.

Re-rating: rate the CDR again with the corrected tariff and book
``rerate_delta(old, new)``; the first charge stays in the ledger, so the account's
history shows the original charge and the correction separately.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, Inexact, localcontext
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from orchestrator.core.errors import ValidationError
from orchestrator.pricing.schedule import describe_weekdays
from orchestrator.pricing.tariff import EXACT, Period, Rate, Rounding

__all__ = ["Charge", "Unrated", "UnratedReason", "rerate_delta"]


class UnratedReason:
    """Why a call could not be rated (``Unrated.reason``)."""

    NO_VERSION = "no-version"  # no version of the tariff in force when the call started
    NO_RATE = "no-rate"  # no prefix (not even "") matches the number
    INVALID_NUMBER = "invalid-number"  # not digits (an optional leading "+" aside)
    INVALID_CALL = "invalid-call"  # naive start time or bad duration (batch rating only)
    NO_TARIFF = "no-tariff"  # the product has no tariff for this service


class Unrated(NamedTuple):
    """A call that could not be rated, and why; batch rating returns this, not an error."""

    number: str
    start: datetime
    duration_s: int
    tariff: str
    reason: str
    message: str

    @property
    def rated(self) -> Literal[False]:
        """False: use it to tell an :class:`Unrated` from a :class:`Charge`."""
        return False

    def explain(self) -> str:
        return f"Call to {self.number} at {self.start.isoformat()} not rated: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rated": False,
            "number": self.number,
            "start": self.start.isoformat(),
            "duration_s": self.duration_s,
            "tariff": self.tariff,
            "reason": self.reason,
            "message": self.message,
        }


class Charge(NamedTuple):
    """The price of one call under one tariff version, rounded once per the tariff's rule."""

    amount: Decimal
    currency: str
    number: str
    start: datetime
    duration_s: int  # billable seconds from answer, as given
    billed_s: int  # after free seconds, in increments (0 for an unanswered call)
    tariff: str
    version: str
    timezone: str
    rate: Rate
    period: Period | None  # None: the rate's own price
    minimum_applied: bool
    rounding: Rounding
    precision: int

    @property
    def rated(self) -> Literal[True]:
        return True

    # -- what was applied, from the rate and the period ----------------------------
    @property
    def prefix(self) -> str:
        return self.rate.prefix

    @property
    def description(self) -> str:
        return self.rate.description

    @property
    def period_name(self) -> str | None:
        return self.period.name if self.period is not None else None

    @property
    def price_per_minute(self) -> Decimal:
        return (self.period or self.rate).price_per_minute

    @property
    def connection_fee(self) -> Decimal:
        if self.period is not None and self.period.connection_fee is not None:
            return self.period.connection_fee
        return self.rate.connection_fee

    @property
    def chargeable_s(self) -> int:
        """Seconds after the free seconds, before increments."""
        return max(0, self.duration_s - self.rate.free_seconds)

    @property
    def answered(self) -> bool:
        return self.duration_s > 0

    @property
    def unrounded_amount(self) -> Decimal:
        """The amount before rounding (to 60 digits: a price per minute over 60 can repeat)."""
        return self._unrounded()[0]

    @property
    def rounding_difference(self) -> Decimal:
        """``amount - unrounded_amount``: what rounding added (negative: took away)."""
        return EXACT.subtract(self.amount, self.unrounded_amount)

    def _unrounded(self) -> tuple[Decimal, bool]:
        if not self.answered:
            return Decimal(0), True
        if self.minimum_applied:
            return self.rate.minimum_charge, True
        with localcontext(EXACT) as context:
            context.clear_flags()
            time_part = self.price_per_minute * self.billed_s / 60
            exact = not context.flags[Inexact]
            return self.connection_fee + time_part, exact

    # -- explanation ----------------------------------------------------------------
    def explain(self) -> str:
        """Line by line: which rate and period, which increments, which rounding."""
        return "\n".join(self.explanation())

    def explanation(self) -> list[str]:
        rate = self.rate
        local = self.start.astimezone(ZoneInfo(self.timezone))
        lines = [
            f"Call to {self.number} at {local.isoformat()} ({self.timezone}, "
            f"{local.strftime('%A')}), {self.duration_s} s answered",
            f"Tariff {self.tariff!r} version {self.version!r}, currency {self.currency}",
            f"Rate {rate.prefix or '(default)'} {rate.description!r}: longest matching prefix",
        ]
        if not self.answered:
            lines.append("Not answered (0 s): no charge")
            lines.append(f"Amount: {self.amount} {self.currency}")
            return lines
        fee, price = self.connection_fee, self.price_per_minute
        if self.period is not None:
            p = self.period
            lines.append(
                f"Period {p.name!r} ({describe_weekdays(p.weekdays)} "
                f"{p.start:%H:%M}-{p.end:%H:%M}), where the call started: "
                f"{price} per minute, connection fee {fee}"
            )
        else:
            lines.append(f"Price {price} per minute, connection fee {fee}")
        if rate.free_seconds:
            lines.append(f"Free seconds: {rate.free_seconds} -> {self.chargeable_s} s chargeable")
        first, step = rate.first_increment, rate.next_increment
        if self.billed_s == 0:
            lines.append(f"Increments {first}/{step}: nothing left to bill")
        elif self.billed_s == first:
            lines.append(f"Increments {first}/{step}: first {first} s -> {self.billed_s} s billed")
        else:
            steps = (self.billed_s - first) // step
            lines.append(
                f"Increments {first}/{step}: {first} s + {steps} x {step} s "
                f"-> {self.billed_s} s billed"
            )
        unrounded, exact = self._unrounded()
        approx = "" if exact else " (repeating; shown to 60 digits)"
        if self.minimum_applied:
            lines.append(
                f"Amount: {fee} + {price} x {self.billed_s} / 60 is below the minimum charge "
                f"{rate.minimum_charge}: {unrounded}"
            )
        else:
            lines.append(f"Amount: {fee} + {price} x {self.billed_s} / 60 = {unrounded}{approx}")
            if self.billed_s and rate.minimum_charge:
                lines.append(f"Minimum charge {rate.minimum_charge}: not reached")
        lines.append(
            f"Rounded once, {self.rounding.value} to {self.precision} places: "
            f"{self.amount} {self.currency} (difference {self.rounding_difference:+})"
        )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The charge as JSON-ready values (money as strings, exact) for the REST API."""
        return {
            "rated": True,
            "amount": str(self.amount),
            "currency": self.currency,
            "number": self.number,
            "start": self.start.isoformat(),
            "duration_s": self.duration_s,
            "chargeable_s": self.chargeable_s,
            "billed_s": self.billed_s,
            "tariff": self.tariff,
            "version": self.version,
            "prefix": self.prefix,
            "description": self.description,
            "period": self.period_name,
            "price_per_minute": str(self.price_per_minute),
            "connection_fee": str(self.connection_fee),
            "first_increment": self.rate.first_increment,
            "next_increment": self.rate.next_increment,
            "free_seconds": self.rate.free_seconds,
            "minimum_charge": str(self.rate.minimum_charge),
            "minimum_applied": self.minimum_applied,
            "unrounded_amount": str(self.unrounded_amount),
            "rounding": self.rounding.value,
            "precision": self.precision,
            "rounding_difference": str(self.rounding_difference),
            "explanation": self.explanation(),
        }


def rerate_delta(old: Charge | Unrated | None, new: Charge | Unrated) -> Decimal:
    """What to book when a call is rated again: ``new - old`` (negative: a refund).

    An unrated (or never rated) call counts as 0, so rating it for the first time
    books its whole amount. Both charges must be in the same currency.

    >>> rerate_delta(first, corrected)   # doctest: +SKIP
    Decimal('-0.02')
    """
    before = old.amount if isinstance(old, Charge) else Decimal(0)
    after = new.amount if isinstance(new, Charge) else Decimal(0)
    if isinstance(old, Charge) and isinstance(new, Charge) and old.currency != new.currency:
        raise ValidationError(
            f"cannot re-rate from {old.currency} to {new.currency}: book them separately",
            field="currency",
        )
    return EXACT.subtract(after, before)
