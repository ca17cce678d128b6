"""Tariff rates from CSV: a header line names the columns, then one rate a line.

All or nothing: every line must have exactly as many fields as the header (a
description with a comma must be quoted: ``49301,"Berlin, city",0.05``), every money
field is a plain decimal, and each rate is checked by the pure model as it is read, so
a bad line is an error naming its line number and the import stores nothing. Nothing
is stored here (:func:`orchestrator.store.tariffs.add_version` stores the version).
Blank lines are skipped; an empty field takes the column's default.
"""

from __future__ import annotations

import csv
import io
from datetime import time
from decimal import Decimal
from typing import Any

from orchestrator.core.errors import ValidationError
from orchestrator.store.billing_models import PRICE, PeriodIn, RateIn
from orchestrator.store.tariffs import MAX_RATES, to_rate

# CSV columns; "increments" ("30/6") may stand for first_increment and next_increment.
CSV_COLUMNS = (
    "prefix", "description", "price_per_minute", "connection_fee", "first_increment",
    "next_increment", "free_seconds", "minimum_charge", "periods",
)  # fmt: skip
_ALIASES = {"price": "price_per_minute", "fee": "connection_fee", "minimum": "minimum_charge"}


def _csv_money(value: str, field: str) -> Decimal:
    """The JSON API's rule for prices (no sign, exponent, NaN or 10+ integer digits)."""
    try:
        return PRICE.parse(value.strip())
    except ValueError:
        raise ValidationError(
            f"{field}: not a price: {value[:40]!r} ({PRICE.hint})", field=field
        ) from None


def _csv_periods(text: str) -> list[PeriodIn]:
    """``name|weekdays|HH:MM|HH:MM|price[|fee]`` entries separated by ``;``; weekdays are
    digits, 0 = Monday (``01234`` = Mon-Fri)."""
    periods = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        parts = entry.split("|")
        if len(parts) not in (5, 6) or not parts[1].isdigit():
            raise ValidationError(
                "periods: expected name|weekdays|start|end|price[|fee]", field="periods"
            )
        try:
            start, end = time.fromisoformat(parts[2]), time.fromisoformat(parts[3])
        except ValueError:
            raise ValidationError("periods: bad time", field="periods") from None
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
    # strict: a quote left open or a stray one is an error, not a silently merged field.
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise ValidationError(f"line 1: {exc}", field="csv", line=1) from None
    if not first or not any(h.strip() for h in first):
        raise ValidationError("csv: empty", field="csv")
    header = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in first]
    unknown = set(header) - {*CSV_COLUMNS, "increments"}
    if unknown or "price_per_minute" not in header or len(set(header)) != len(header):
        raise ValidationError(
            f"csv: columns must be among {', '.join(CSV_COLUMNS)}, increments "
            f"(price_per_minute required, each once); unknown: {sorted(unknown)}",
            field="csv",
        )
    rates = []
    while True:
        try:
            fields = next(reader, None)
        except csv.Error as exc:  # e.g. a quote never closed
            line = reader.line_num
            raise ValidationError(f"line {line}: {exc}", field="csv", line=line) from None
        if fields is None:
            break
        line = reader.line_num  # a quoted field may span lines: the row's last line
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            # A short row used to take silent defaults and an unquoted comma shifted
            # every later field (a description "Berlin,1" made the price 1).
            raise ValidationError(
                f"line {line}: {len(fields)} fields, the header has {len(header)} "
                "(quote a field that contains a comma)",
                field="csv",
                line=line,
            )
        try:
            rate = _csv_rate(dict(zip(header, fields, strict=True)))
        except ValidationError as exc:
            raise ValidationError(f"line {line}: {exc}", **{"line": line, **exc.details}) from None
        except ValueError as exc:
            raise ValidationError(f"line {line}: {exc}", field="csv", line=line) from None
        rates.append(rate)
        if len(rates) > MAX_RATES:
            raise ValidationError(f"csv: at most {MAX_RATES} rates", field="csv")
    return rates


def _csv_rate(row: dict[str, str]) -> RateIn:
    values: dict[str, Any] = {}
    for key, raw in row.items():
        value = raw.strip()
        if value == "" and key != "prefix":
            continue
        if key in ("price_per_minute", "connection_fee", "minimum_charge"):
            values[key] = _csv_money(value, key)
        elif key == "increments":
            first, _, step = value.partition("/")
            values["first_increment"], values["next_increment"] = first, step or first
        elif key == "periods":
            values[key] = _csv_periods(value)
        else:
            values[key] = value
    rate = RateIn.model_validate(values)
    to_rate(rate)
    return rate
