"""Tariff rates from CSV: a header line names the columns, then one rate a line.

Each rate is checked by the pure model as it is read, so a bad line is an error naming
its line number; nothing is stored here (:func:`orchestrator.store.tariffs.add_version`
stores the version).
"""

from __future__ import annotations

import csv
import io
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from orchestrator.core.errors import ValidationError
from orchestrator.store.billing_models import PeriodIn, RateIn
from orchestrator.store.tariffs import MAX_RATES, to_rate

# CSV columns; "increments" ("30/6") may stand for first_increment and next_increment.
CSV_COLUMNS = (
    "prefix", "description", "price_per_minute", "connection_fee", "first_increment",
    "next_increment", "free_seconds", "minimum_charge", "periods",
)  # fmt: skip
_ALIASES = {"price": "price_per_minute", "fee": "connection_fee", "minimum": "minimum_charge"}


def _csv_money(value: str, field: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ValidationError(f"{field}: not a decimal number: {value!r}", field=field) from None


def _csv_periods(text: str, line: int) -> list[PeriodIn]:
    """``name|weekdays|HH:MM|HH:MM|price[|fee]`` entries separated by ``;``; weekdays are
    digits, 0 = Monday (``01234`` = Mon-Fri)."""
    periods = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        parts = entry.split("|")
        if len(parts) not in (5, 6) or not parts[1].isdigit():
            raise ValidationError(
                f"line {line}: periods: expected name|weekdays|start|end|price[|fee]",
                field="periods",
                line=line,
            )
        try:
            start, end = time.fromisoformat(parts[2]), time.fromisoformat(parts[3])
        except ValueError:
            raise ValidationError(f"line {line}: periods: bad time", field="periods") from None
        periods.append(
            PeriodIn(
                name=parts[0],
                weekdays=[int(d) for d in parts[1]],
                start=start,
                end=end,
                price_per_minute=_csv_money(parts[4], "periods"),
                connection_fee=_csv_money(parts[5], "periods") if len(parts) == 6 else None,
            )
        )
    return periods


def parse_rates_csv(text: str) -> list[RateIn]:
    """Rates from CSV (a header line names the columns, see :data:`CSV_COLUMNS`)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ValidationError("csv: empty", field="csv")
    header = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in reader.fieldnames]
    unknown = set(header) - {*CSV_COLUMNS, "increments"}
    if unknown or "price_per_minute" not in header:
        raise ValidationError(
            f"csv: columns must be among {', '.join(CSV_COLUMNS)}, increments "
            f"(price_per_minute required); unknown: {sorted(unknown)}",
            field="csv",
        )
    reader.fieldnames = header
    rates = []
    for line, row in enumerate(reader, start=2):
        try:
            rate = _csv_rate(row, line)
        except ValidationError as exc:
            raise ValidationError(f"line {line}: {exc}", **{"line": line, **exc.details}) from None
        except ValueError as exc:
            raise ValidationError(f"line {line}: {exc}", field="csv", line=line) from None
        rates.append(rate)
        if len(rates) > MAX_RATES:
            raise ValidationError(f"csv: at most {MAX_RATES} rates", field="csv")
    return rates


def _csv_rate(row: dict[str | Any, str | Any], line: int) -> RateIn:
    values: dict[str, Any] = {}
    for key, raw in row.items():
        value = (raw or "").strip() if isinstance(raw, str) else ""
        if key is None or (value == "" and key != "prefix"):
            continue
        if key in ("price_per_minute", "connection_fee", "minimum_charge"):
            values[key] = _csv_money(value, key)
        elif key == "increments":
            first, _, step = value.partition("/")
            values["first_increment"], values["next_increment"] = first, step or first
        elif key == "periods":
            values[key] = _csv_periods(value, line)
        else:
            values[key] = value
    rate = RateIn.model_validate(values)
    to_rate(rate)
    return rate
