"""The rating rules written the plain way, to check the fast rater against.

:func:`reference_rate` follows docs/billing.md step by step with :class:`Decimal`
arithmetic at 60 digits and ``quantize``, ``datetime.astimezone`` and
:meth:`Period.covers`, a loop for the increments, and every prefix of the number
looked up in a plain dict: none of :class:`~orchestrator.pricing.rater.Rater`'s
integer money, offset caches or compiled week schedules. Tests and the benchmark
compare the two on many calls; it is slow and not meant for production.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from orchestrator.pricing.charge import Charge, Unrated, UnratedReason
from orchestrator.pricing.tariff import EXACT, Rate, Tariff, TariffVersion

__all__ = ["reference_rate"]

# Per version, its rates by prefix: (the version, the table), keyed by id(version);
# the version is kept alive by the entry, so its id cannot be reused.
_tables: dict[int, tuple[TariffVersion, dict[str, Rate]]] = {}


def _table(version: TariffVersion) -> dict[str, Rate]:
    entry = _tables.get(id(version))
    if entry is None:
        entry = _tables[id(version)] = (version, {r.prefix: r for r in version.rates})
    return entry[1]


def reference_rate(
    tariff: Tariff, *, number: str, start: datetime, duration_s: int
) -> Charge | Unrated:
    """What :func:`~orchestrator.pricing.rater.rate` must return, computed plainly."""

    def unrated(reason: str, message: str) -> Unrated:
        return Unrated(number, start, duration_s, tariff.name, reason, message)

    version = tariff.version_at(start)
    if version is None:
        return unrated(
            UnratedReason.NO_VERSION, "no version of the tariff is in force at that time"
        )
    digits = number.removeprefix("+")
    if not digits or any(c not in "0123456789" for c in digits):
        return unrated(
            UnratedReason.INVALID_NUMBER, "the number is not digits (with an optional '+')"
        )
    table = _table(version)
    candidates = [digits[:n] for n in range(len(digits), -1, -1) if digits[:n] in table]
    if not candidates:
        return unrated(
            UnratedReason.NO_RATE, "no rate's prefix matches the number (and no default rate)"
        )
    rate = table[candidates[0]]
    quantum = Decimal(1).scaleb(-tariff.precision)

    def charge(amount: Decimal, billed: int, period: object, minimum: bool) -> Charge:
        return Charge(
            amount=amount.quantize(quantum, rounding=tariff.rounding.value),
            currency=tariff.currency,
            number=number,
            start=start,
            duration_s=duration_s,
            billed_s=billed,
            tariff=tariff.name,
            version=version.id,
            timezone=tariff.timezone,
            rate=rate,
            period=period,  # type: ignore[arg-type]
            minimum_applied=minimum,
            rounding=tariff.rounding,
            precision=tariff.precision,
        )

    if duration_s == 0:
        return charge(Decimal(0), 0, None, False)

    local = start.astimezone(ZoneInfo(tariff.timezone))
    period = next((p for p in rate.periods if p.covers(local)), None)
    price = rate.price_per_minute if period is None else period.price_per_minute
    fee = rate.connection_fee
    if period is not None and period.connection_fee is not None:
        fee = period.connection_fee

    chargeable = max(0, duration_s - rate.free_seconds)
    billed = 0
    if chargeable > 0:
        billed = rate.first_increment
        while billed < chargeable:
            billed += rate.next_increment

    with localcontext(EXACT):
        amount = fee + price * billed / 60
        minimum = billed > 0 and amount < rate.minimum_charge
        if minimum:
            amount = rate.minimum_charge
        return charge(amount, billed, period, minimum)
