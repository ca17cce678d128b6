"""What every table shares: the metadata's naming convention, UTC timestamps, exact money.

Every feature module imports this one, so the naming convention is set before any
table is declared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Constraint names must be stable so later migrations can drop or alter them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset, so values read back from it are naive; this type
    stores UTC and returns aware datetimes, so the API always shows the offset.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A Decimal that round-trips exactly: NUMERIC(24, 10) on PostgreSQL, text on SQLite.

    SQLite would store NUMERIC as a float (and SQLAlchemy warns about it); text keeps
    every digit. Floats are refused: money never passes through binary floating point.
    Ten places hold every price and charge a tariff allows (billing: at most 10 places;
    migration 0007 widened the CDR columns from NUMERIC(18, 6)).
    """

    impl = sa.Numeric(24, 10, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(24, 10, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal (or str/int), never a float")
        amount = Decimal(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        amount = Decimal(str(value))
        if dialect.name != "sqlite" and amount.is_finite():
            # NUMERIC(24, 10) pads every value to 10 places: give back the digits that
            # matter (0.123456, not 0.1234560000), never in exponent notation.
            amount = amount.normalize()
            if amount.as_tuple().exponent > 0:  # type: ignore[operator]
                amount = amount.quantize(Decimal(1))
        return amount


def _moment(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable)
