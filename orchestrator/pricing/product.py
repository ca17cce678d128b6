"""Products: which tariff rates which service of an account.

An account (a tenant, a customer) is on one product; the product names a tariff per
service direction, so outgoing, incoming, forwarded, conference and voicemail legs are each
rated by their own tariff. This is the plain model; storing products and the
account-to-product assignment (with its dates) belongs to the store layer.

Example::

    retail = Product("retail", {Service.OUTGOING: outgoing, Service.FORWARDED: outgoing})
    charge = retail.rate(Service.OUTGOING, number="4930123456", start=start, duration_s=90)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from orchestrator.core.errors import ValidationError
from orchestrator.pricing.charge import Charge, Unrated, UnratedReason
from orchestrator.pricing.rater import rate
from orchestrator.pricing.tariff import Tariff, _name

__all__ = ["Product", "Service"]


class Service(StrEnum):
    """What a leg of a call was, for rating: each has its own tariff in a product."""

    OUTGOING = "outgoing"
    INCOMING = "incoming"
    FORWARDED = "forwarded"
    CONFERENCE = "conference"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, slots=True)
class Product:
    """A named set of tariffs by service. A service without a tariff is not rated."""

    name: str
    tariffs: Mapping[Service, Tariff]

    def __post_init__(self) -> None:
        _name(self.name, "product.name")
        tariffs: dict[Service, Tariff] = {}
        for service, tariff in dict(self.tariffs).items():
            try:
                key = Service(service)
            except ValueError:
                raise ValidationError(
                    f"product.tariffs: unknown service {service!r}; one of {', '.join(Service)}",
                    field="product.tariffs",
                ) from None
            if not isinstance(tariff, Tariff):
                raise ValidationError(
                    f"product.tariffs: {key} must map to a Tariff", field="product.tariffs"
                )
            tariffs[key] = tariff
        # Read-only, so a product shared between accounts cannot be changed through one.
        object.__setattr__(self, "tariffs", MappingProxyType(tariffs))

    def tariff_for(self, service: Service) -> Tariff | None:
        return self.tariffs.get(service)

    def rate(
        self, service: Service, *, number: str, start: datetime, duration_s: int
    ) -> Charge | Unrated:
        """Rate a leg of ``service`` with this product's tariff for it."""
        tariff = self.tariffs.get(service)
        if tariff is None:
            return Unrated(
                number,
                start,
                duration_s,
                "",
                UnratedReason.NO_TARIFF,
                f"product {self.name!r} has no tariff for {service} calls",
            )
        return rate(tariff, number=number, start=start, duration_s=duration_s)
