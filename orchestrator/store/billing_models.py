"""The billing API's data shapes: what it accepts (``XCreate``/``XUpdate``) and returns.

The tables are in :mod:`orchestrator.store.models` (billing section). Money fields are
:class:`~decimal.Decimal`: send them as JSON strings (``"0.0125"``) to be sure no float
ever touches them; a JSON number is read from its text, but a client library may have
rounded it before sending. The rules (prefixes, increments, overlaps) are checked by the
pure model in :mod:`orchestrator.billing.tariff` when a version is stored, so they live
in one place.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlmodel import SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models import AccountKind


# -- tariffs -----------------------------------------------------------------
class PeriodIn(SQLModel):
    name: str
    weekdays: list[int] = Field(description="0 = Monday ... 6 = Sunday")
    start: time
    end: time = Field(description="not after start: crosses midnight; 00:00-00:00 all day")
    price_per_minute: Decimal
    connection_fee: Decimal | None = None


class RateIn(SQLModel):
    prefix: str = Field(default="", description="0-20 digits; '' is the default route")
    description: str = ""
    price_per_minute: Decimal
    connection_fee: Decimal = Decimal(0)
    first_increment: StoreInt = 60
    next_increment: StoreInt = 60
    free_seconds: StoreInt = 0
    minimum_charge: Decimal = Decimal(0)
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
    credit_limit: Decimal = Field(default=Decimal(0), description="postpaid: how far below 0")
    product_id: StoreInt | None = None
    is_default: bool = Field(default=False, description="pays for extensions without one")
    enabled: bool = True


class AccountUpdate(SQLModel):
    name: str | None = None
    kind: AccountKind | None = None
    credit_limit: Decimal | None = None
    product_id: StoreInt | None = None
    is_default: bool | None = None
    enabled: bool | None = None


class AccountPublic(SQLModel):
    id: StoreInt
    tenant_id: StoreInt
    name: str
    kind: str
    currency: str
    balance: Decimal = Field(description="the sum of the account's transactions")
    reserved: Decimal = Field(default=Decimal(0), description="held for prepaid calls")
    available: Decimal = Field(default=Decimal(0), description="balance - reserved")
    credit_limit: Decimal
    product_id: StoreInt | None
    is_default: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class TransactionCreate(SQLModel):
    kind: str = Field(default="topup", description="topup (a credit) or adjustment (+/-)")
    amount: Decimal
    description: str = ""


class TransactionPublic(SQLModel):
    id: StoreInt
    account_id: StoreInt
    kind: str
    amount: Decimal
    balance_after: Decimal
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
    amount: Decimal
    currency: str | None
    tariff_id: StoreInt | None
    version: str | None
    prefix: str | None
    explanation: dict[str, Any]
    superseded_by: StoreInt | None
    created_at: datetime
