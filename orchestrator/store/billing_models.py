"""The billing API's data shapes: what it accepts (``XCreate``/``XUpdate``) and returns.

The tables are in :mod:`orchestrator.store.models.billing`. Money fields are
:data:`Price`, :data:`Amount` and :data:`Money`: JSON strings such as ``"0.0125"``,
read into :class:`~decimal.Decimal` from their text and given back the same way. A JSON
number is refused (422): JSON parsers, pydantic's included, read it as a binary float,
so ``0.01230000000000000001`` arrived as 0.0123 and was stored so. The rules
(prefixes, increments, overlaps) are checked by the pure model in
:mod:`orchestrator.pricing.tariff` when a version is stored, so they live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema
from sqlmodel import SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models import AccountKind


@dataclass(frozen=True, slots=True)
class MoneyText:
    """A rule for money as text: its pattern (in the OpenAPI too) and what to tell a
    client whose value does not match it."""

    pattern: str
    hint: str

    def parse(self, value: Any) -> Decimal:
        """A money field's value from a request: a decimal string (or a Decimal from our
        own code), never a number; :class:`ValueError` with :attr:`hint` otherwise."""
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(self.hint)
            return value
        if isinstance(value, int | float):  # bool too
            raise ValueError(f"a JSON number is refused (it may have been a float); {self.hint}")
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise ValueError(self.hint)
        return Decimal(value)

    def schema(self) -> WithJsonSchema:
        return WithJsonSchema({"type": "string", "pattern": self.pattern, "examples": ["0.0125"]})


# Prices, fees, minimums, credit limits: from 0 to below 10^9 with at most 10 places, as
# the pure model's money() checks; the pattern says as much to clients.
PRICE = MoneyText(
    r"^[0-9]{1,9}(\.[0-9]{1,10})?$",
    'send money as a JSON string of digits, e.g. "0.05" (at most 9 digits before the '
    "point and 10 after it, no sign)",
)
# A ledger amount a client posts: a price's size, either sign (an adjustment may debit).
AMOUNT = MoneyText(
    r"^-?[0-9]{1,9}(\.[0-9]{1,10})?$",
    'send money as a JSON string of digits, e.g. "10.00" or "-1.5" (an optional minus, '
    "at most 9 digits before the point and 10 after it)",
)
# Money in answers: balances and sums may outgrow a price; NUMERIC(24, 10) holds 14 digits.
ANSWER = MoneyText(r"^-?[0-9]{1,14}(\.[0-9]{1,10})?$", "money is a decimal string")

# format "f": never exponent notation (str(Decimal("1E-7")) is "1E-7").
_AS_TEXT = PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json")

Price = Annotated[Decimal, BeforeValidator(PRICE.parse), _AS_TEXT, PRICE.schema()]
"""A price, fee or limit a client sends (and gets back): see the module doc."""
Amount = Annotated[Decimal, BeforeValidator(AMOUNT.parse), _AS_TEXT, AMOUNT.schema()]
"""A ledger amount a client posts (either sign)."""
Money = Annotated[Decimal, BeforeValidator(ANSWER.parse), _AS_TEXT, ANSWER.schema()]
"""Money in an answer (a balance, a charge)."""


# -- tariffs -----------------------------------------------------------------
class PeriodIn(SQLModel):
    name: str
    weekdays: list[int] = Field(description="0 = Monday ... 6 = Sunday")
    start: time
    end: time = Field(description="not after start: crosses midnight; 00:00-00:00 all day")
    price_per_minute: Price
    connection_fee: Price | None = None


class RateIn(SQLModel):
    prefix: str = Field(default="", description="0-20 digits; '' is the default route")
    description: str = ""
    price_per_minute: Price
    connection_fee: Price = Decimal(0)
    first_increment: StoreInt = 60
    next_increment: StoreInt = 60
    free_seconds: StoreInt = 0
    minimum_charge: Price = Decimal(0)
    periods: list[PeriodIn] = []


class RatePublic(RateIn):
    id: StoreInt


class TariffCreate(SQLModel):
    tenant_id: StoreInt | None = Field(default=None, description="null: a global tariff (system)")
    name: str
    currency: str = Field(description="ISO 4217, e.g. EUR")
    rounding: str = "ROUND_HALF_UP"
    precision: StoreInt = 2
    timezone: str = Field(default="UTC", description="IANA zone of the periods' clock")


class TariffUpdate(SQLModel):
    name: str | None = None
    rounding: str | None = None
    precision: StoreInt | None = None
    timezone: str | None = None


class TariffVersionCreate(SQLModel):
    label: str = Field(description="the version's id, unique in the tariff, e.g. 2026-01")
    effective_from: datetime
    effective_to: datetime | None = None
    replaces: str | None = Field(
        default=None, description="a version's label: this one corrects it (re-rate after)"
    )
    allow_gap: bool = Field(
        default=False,
        description="with replaces: accept that part of the replaced version's period is "
        "left without any version (calls then are not rated); refused (422) otherwise",
    )
    rates: list[RateIn] = []


class TariffVersionPublic(SQLModel):
    id: StoreInt
    label: str
    effective_from: datetime
    effective_to: datetime | None
    superseded_by: StoreInt | None
    rate_count: StoreInt
    created_at: datetime


class TariffPublic(SQLModel):
    id: StoreInt
    tenant_id: StoreInt | None
    name: str
    currency: str
    rounding: str
    precision: StoreInt
    timezone: str
    revision: StoreInt
    created_at: datetime
    updated_at: datetime
    versions: list[TariffVersionPublic] = []


class Quote(SQLModel):
    """What a call would cost: ``POST /api/v1/tariffs/{id}/quote``."""

    number: str
    start: datetime
    duration_s: StoreInt


# -- products ----------------------------------------------------------------
class ProductCreate(SQLModel):
    tenant_id: StoreInt | None = None
    name: str
    tariffs: dict[str, int] = Field(
        default_factory=dict, description="service (outgoing, incoming, ...) -> tariff id"
    )


class ProductUpdate(SQLModel):
    name: str | None = None
    tariffs: dict[str, int] | None = None


class ProductPublic(ProductCreate):
    id: StoreInt
    created_at: datetime
    updated_at: datetime


# -- accounts ----------------------------------------------------------------
class AccountCreate(SQLModel):
    tenant_id: StoreInt
    name: str
    kind: AccountKind = AccountKind.PREPAID
    currency: str = "EUR"
    credit_limit: Price = Field(default=Decimal(0), description="postpaid: how far below 0")
    product_id: StoreInt | None = None
    is_default: bool = Field(default=False, description="pays for extensions without one")
    enabled: bool = True


class AccountUpdate(SQLModel):
    name: str | None = None
    kind: AccountKind | None = None
    credit_limit: Price | None = None
    product_id: StoreInt | None = None
    is_default: bool | None = None
    enabled: bool | None = None


class AccountPublic(SQLModel):
    id: StoreInt
    tenant_id: StoreInt
    name: str
    kind: str
    currency: str
    balance: Money = Field(description="the sum of the account's transactions")
    reserved: Money = Field(default=Decimal(0), description="held for prepaid calls")
    available: Money = Field(default=Decimal(0), description="balance - reserved")
    credit_limit: Money
    product_id: StoreInt | None
    is_default: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class TransactionCreate(SQLModel):
    kind: str = Field(default="topup", description="topup (a credit) or adjustment (+/-)")
    amount: Amount
    description: str = ""


class TransactionPublic(SQLModel):
    id: StoreInt
    account_id: StoreInt
    kind: str
    amount: Money
    balance_after: Money
    description: str
    charge_id: StoreInt | None
    detail: dict[str, Any]
    created_at: datetime


class ExtensionAssign(SQLModel):
    extension: str = Field(description="the extension number, in the account's tenant")


class ChargePublic(SQLModel):
    id: StoreInt
    leg_id: StoreInt
    cdr_id: StoreInt
    seq: StoreInt
    account_id: StoreInt | None
    service: str
    number: str
    started_at: datetime
    duration_s: StoreInt
    rated: bool
    reason: str | None
    amount: Money
    currency: str | None
    tariff_id: StoreInt | None
    version: str | None
    prefix: str | None
    explanation: dict[str, Any]
    superseded_by: StoreInt | None
    created_at: datetime
