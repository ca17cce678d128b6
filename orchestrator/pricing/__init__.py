"""Pricing, the pure tariff engine: tariffs, exact charges in Decimal, explanations, products.

Engine-neutral and free of persistence: it imports nothing but the core (errors) and
the validators. :mod:`orchestrator.rating` is the service that applies it to stored CDRs
and books the charges. See docs/billing.md.

Example::

    from orchestrator.pricing import rate
    charge = rate(tariff, number="4930123456", start=start, duration_s=125)
    if charge.rated:
        print(charge.amount, charge.currency)
        print(charge.explain())
"""

from orchestrator.pricing.charge import Charge, Unrated, UnratedReason, rerate_delta
from orchestrator.pricing.product import Product, Service
from orchestrator.pricing.rater import Rater, rate, rate_many, rater_for
from orchestrator.pricing.reference import reference_rate
from orchestrator.pricing.tariff import (
    EVERY_DAY,
    WEEKEND,
    WORKDAYS,
    Period,
    Rate,
    Rounding,
    Tariff,
    TariffVersion,
    money,
)

__all__ = [
    "EVERY_DAY",
    "WEEKEND",
    "WORKDAYS",
    "Charge",
    "Period",
    "Product",
    "Rate",
    "Rater",
    "Rounding",
    "Service",
    "Tariff",
    "TariffVersion",
    "Unrated",
    "UnratedReason",
    "money",
    "rate",
    "rate_many",
    "rater_for",
    "reference_rate",
    "rerate_delta",
]
