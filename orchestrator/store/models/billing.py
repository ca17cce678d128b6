"""Billing: tariffs, products, accounts, ledger, charges, rating leases.

Data functions: orchestrator/store/tariffs.py (tariffs, versions, rates),
orchestrator/store/billing.py (products, accounts), orchestrator/store/ledger.py
(transactions, charges, reservations) and orchestrator/store/leases.py; the rating
service is orchestrator/rating, the pure tariff engine orchestrator/pricing
(docs/billing.md). Migration 0007. Money columns are ExactDecimal (NUMERIC(24, 10) /
text): never a float. The API's shapes are in orchestrator/store/billing_models.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import ExactDecimal, UtcDateTime, _created, _moment


def _money(default: Any = None, nullable: bool = False) -> Any:
    return Field(default=default, sa_type=ExactDecimal, nullable=nullable)


class BillingTariff(SQLModel, table=True):
    """A stored tariff (``tenant_id`` None: a global one, managed by system admins)."""

    __tablename__ = "tariffs"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    name: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    rounding: str = Field(max_length=16)
    precision: StoreInt
    timezone: str = Field(max_length=64)
    # Bumped by every change (a new version, a new rounding...): the rater cache key.
    revision: StoreInt = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class BillingTariffVersion(SQLModel, table=True):
    """A version of a tariff; its rates are never edited. A correction replaces it by a
    new version (``superseded_by``), which keeps the old one for the charges it explains."""

    __tablename__ = "tariff_versions"
    __table_args__ = (sa.UniqueConstraint("tariff_id", "label"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tariff_id: StoreInt = Field(foreign_key="tariffs.id", ondelete="CASCADE", index=True)
    label: str = Field(max_length=64)
    effective_from: datetime = Field(sa_type=UtcDateTime, nullable=False)
    effective_to: datetime | None = _moment(nullable=True)
    superseded_by: StoreInt | None = None
    rate_count: StoreInt = 0
    created_at: datetime = _created()


class BillingRate(SQLModel, table=True):
    """One rate of a tariff version (see :class:`orchestrator.pricing.Rate`)."""

    __tablename__ = "tariff_rates"
    __table_args__ = (sa.UniqueConstraint("version_id", "prefix"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    version_id: StoreInt = Field(foreign_key="tariff_versions.id", ondelete="CASCADE")
    prefix: str = Field(max_length=20)
    description: str = Field(default="", max_length=200)
    price_per_minute: Decimal = _money()
    connection_fee: Decimal = _money(Decimal(0))
    first_increment: StoreInt = 60
    next_increment: StoreInt = 60
    free_seconds: StoreInt = 0
    minimum_charge: Decimal = _money(Decimal(0))
    # [{"name", "weekdays": [0..6], "start": "HH:MM:SS", "end", "price_per_minute",
    #   "connection_fee"}], money as strings.
    periods: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)


class BillingProduct(SQLModel, table=True):
    """A product: a tariff per service (``{"outgoing": tariff_id, ...}``)."""

    __tablename__ = "products"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    name: str = Field(max_length=64)
    tariffs: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class AccountKind(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class Account(SQLModel, table=True):
    """Who pays. ``balance`` is the sum of the account's transactions, kept in step with
    them in the same database transaction; ``version`` makes every change to the balance
    or the reservations a compare-and-set, so concurrent writers cannot lose one."""

    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=64)
    kind: str = Field(max_length=10)
    currency: str = Field(max_length=3)
    balance: Decimal = _money(Decimal(0))
    credit_limit: Decimal = _money(Decimal(0))
    product_id: StoreInt | None = Field(
        default=None, foreign_key="products.id", ondelete="SET NULL"
    )
    is_default: bool = False
    enabled: bool = True
    version: StoreInt = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class AccountExtension(SQLModel, table=True):
    """An extension whose calls an account pays (without one: the tenant's default)."""

    __tablename__ = "account_extensions"

    extension_id: StoreInt = Field(
        foreign_key="extensions.id", ondelete="CASCADE", primary_key=True
    )
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE", index=True)


class AccountTransaction(SQLModel, table=True):
    """One ledger line: positive credits the account (top-up), negative debits it."""

    __tablename__ = "account_transactions"
    __table_args__ = (sa.Index("ix_account_transactions_account_id_id", "account_id", "id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    kind: str = Field(max_length=12, description="topup, adjustment, charge, rerate")
    amount: Decimal = _money()
    balance_after: Decimal = _money()
    description: str = Field(default="", max_length=200)
    charge_id: StoreInt | None = Field(default=None, unique=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _created()


class LegCharge(SQLModel, table=True):
    """A rating of one xDR. ``seq`` 1 is the first rating, each re-rating that changed
    something adds the next; unique ``(leg_id, seq)`` makes booking exactly once."""

    __tablename__ = "leg_charges"
    __table_args__ = (
        sa.UniqueConstraint("leg_id", "seq"),
        sa.Index("ix_leg_charges_account_id_started_at", "account_id", "started_at"),
        sa.Index("ix_leg_charges_cdr_id", "cdr_id"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    leg_id: StoreInt = Field(foreign_key="cdr_legs.id", ondelete="CASCADE")
    cdr_id: StoreInt = Field(foreign_key="cdrs.id", ondelete="CASCADE")
    seq: StoreInt = 1
    account_id: StoreInt | None = Field(
        default=None, foreign_key="accounts.id", ondelete="SET NULL"
    )
    tenant_id: StoreInt | None = None
    service: str = Field(max_length=12)
    number: str = Field(default="", max_length=64)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    duration_s: StoreInt = 0
    rated: bool = True
    reason: str | None = Field(default=None, max_length=24)
    amount: Decimal = _money(Decimal(0))
    currency: str | None = Field(default=None, max_length=3)
    tariff_id: StoreInt | None = None
    version: str | None = Field(default=None, max_length=64)
    prefix: str | None = Field(default=None, max_length=20)
    explanation: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    superseded_by: StoreInt | None = None
    created_at: datetime = _created()


class Reservation(SQLModel, table=True):
    """Money held for a prepaid call while it lasts, released when its charge is booked
    (or when it expires: a call whose CDR never comes must not hold money forever)."""

    __tablename__ = "reservations"
    __table_args__ = (
        sa.Index("ix_reservations_account_id_expires_at", "account_id", "expires_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE")
    call_id: str = Field(max_length=64, index=True)
    number: str = Field(max_length=64)
    amount: Decimal = _money()
    max_duration_s: StoreInt
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class RatingLease(SQLModel, table=True):
    """Who re-rates what now, across every service process on the database: a row per
    scope (``rerate:all``, ``rerate:tenant:7``), inserted to take the lease (the primary
    key lets one writer win), renewed while the work runs, deleted at its end; a lease
    whose holder died expires (orchestrator/store/leases.py, migration 0012)."""

    __tablename__ = "rating_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=64, description="a random id of the lease's owner")
    detail: str = Field(default="", max_length=200, description="what it does, for the 409")
    acquired_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
