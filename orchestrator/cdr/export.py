"""CDRs as CSV: a stable column order, ISO 8601 UTC timestamps, exact decimals.

Columns (documented in docs/cdrs.md; new ones are only ever appended)::

    id, uuid, call_id, tenant_id, direction, caller_number, caller_name,
    caller_extension, called_number, called_extension, answered_by, started_at,
    answered_at, ended_at, duration_s, billsec, disposition, hangup_cause, account,
    charge, currency, recordings, leg_count, note

Empty cells are nulls; ``recordings`` are space-separated names. Text a spreadsheet
would run as a formula (``=``, ``@``, or ``+``/``-`` not followed by a digit, e.g. in a
caller name sent by a carrier) is prefixed with ``'``; phone numbers such as
``+4930...`` are left as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestrator.store.models import Cdr

COLUMNS: tuple[str, ...] = (
    "id",
    "uuid",
    "call_id",
    "tenant_id",
    "direction",
    "caller_number",
    "caller_name",
    "caller_extension",
    "called_number",
    "called_extension",
    "answered_by",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "billsec",
    "disposition",
    "hangup_cause",
    "account",
    "charge",
    "currency",
    "recordings",
    "leg_count",
    "note",
)


def cell(value: Any) -> str:
    """One CSV cell: see the module doc for how each type is written."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list):
        return " ".join(cell(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not text[1:2].isdigit()):
        return "'" + text
    return text


def row(cdr: Cdr) -> list[str]:
    return [cell(getattr(cdr, name)) for name in COLUMNS]


def csv_lines(cdrs: Iterable[Cdr]) -> Iterator[str]:
    """The header, then one CSV line per CDR (``\\r\\n`` line ends, RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take(values: list[str]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield take(list(COLUMNS))
    for cdr in cdrs:
        yield take(row(cdr))
