"""Bulk DID import from CSV: all rows or none.

The file has a header line naming the columns ``number,pricing_batch`` and
optionally ``tenant_id`` and ``destination`` (any order)::

    number,pricing_batch,tenant_id,destination
    +12065552453,seattle-2024,1,extension:101
    +12065552454,seattle-2024,,

Every row is checked before anything is written; if any is bad, a
:class:`ValidationError` lists each problem with its line number
(``details["errors"] == [{"line": 3, "field": "number", "message": ...}, ...]``)
and the database is left untouched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import ValidationError
from orchestrator.store._common import bump_config, commit
from orchestrator.store.dids import DESTINATION_TABLES
from orchestrator.store.models import Did, Tenant

REQUIRED = ("number", "pricing_batch")
OPTIONAL = ("tenant_id", "destination")
MAX_ROWS = 10_000
_CHUNK = 500


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class _Rows:
    """Parsed rows plus the problems found, keyed by line number."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.errors: list[dict[str, Any]] = []

    def error(self, line: int, field: str, message: str) -> None:
        self.errors.append({"line": line, "field": field, "message": message})


def _parse(text: str, result: _Rows) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        result.error(1, "header", "the file is empty")
        return
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        result.error(
            1,
            "header",
            f"columns must be {','.join(REQUIRED)}[,{','.join(OPTIONAL)}] "
            f"(missing: {missing or '-'}, unknown: {unknown or '-'})",
        )
        return
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(result.rows) >= MAX_ROWS:
            result.error(line, "file", f"more than {MAX_ROWS} rows; split the file")
            return
        if len(record) != len(header):
            result.error(line, "row", f"expected {len(header)} columns, got {len(record)}")
            continue
        row = dict(zip(header, (cell.strip() for cell in record), strict=True))
        result.rows.append((line, _check_row(line, row, result)))


def _check_row(line: int, row: dict[str, str], result: _Rows) -> dict[str, Any]:
    clean: dict[str, Any] = {"tenant_id": None, "destination": None}
    checks = (("number", v.e164), ("pricing_batch", v.pricing_batch))
    for field, check in checks:
        try:
            clean[field] = check(row[field], field=field)
        except ValidationError as exc:
            result.error(line, field, exc.message)
    if row.get("tenant_id"):
        tenant = row["tenant_id"]
        if tenant.isascii() and tenant.isdigit() and len(tenant) < 10:
            clean["tenant_id"] = int(tenant)
        else:
            result.error(line, "tenant_id", "tenant_id: must be a tenant's numeric id")
    if row.get("destination"):
        try:
            clean["destination"] = v.parse_destination(row["destination"])
        except ValidationError as exc:
            result.error(line, "destination", exc.message)
    return clean


def _check_against_db(session: Session, result: _Rows) -> None:
    numbers = [row["number"] for _, row in result.rows if row.get("number")]
    existing: set[str] = set()
    for chunk in _chunks(numbers):
        existing.update(session.exec(select(Did.number).where(col(Did.number).in_(chunk))).all())
    tenant_ids = sorted({row["tenant_id"] for _, row in result.rows if row["tenant_id"]})
    tenants: set[int] = set()
    # (tenant, kind, target) of every destination that exists.
    targets: set[tuple[int, str, str]] = set()
    for chunk in _chunks(tenant_ids):
        tenants.update(
            tid
            for tid in session.exec(select(Tenant.id).where(col(Tenant.id).in_(chunk))).all()
            if tid is not None
        )
        for kind, (model, key, _what) in DESTINATION_TABLES.items():
            stmt = select(model.tenant_id, key).where(col(model.tenant_id).in_(chunk))
            targets.update((tid, kind, value) for tid, value in session.exec(stmt).all())
    first_line: dict[str, int] = {}
    for line, row in result.rows:
        number, tenant_id, dest = row.get("number"), row["tenant_id"], row["destination"]
        if number in existing:
            result.error(line, "number", f"number: DID {number} already exists")
        elif number is not None and number in first_line:
            result.error(line, "number", f"number: {number} is also on line {first_line[number]}")
        elif number is not None:
            first_line[number] = line
        if tenant_id is not None and tenant_id not in tenants:
            result.error(line, "tenant_id", f"tenant_id: no tenant {tenant_id}")
        if dest is not None and tenant_id is None:
            result.error(line, "destination", "destination: needs a tenant_id")
        elif (
            dest is not None
            and dest.kind in DESTINATION_TABLES
            and tenant_id in tenants
            and (tenant_id, dest.kind, dest.target) not in targets
        ):
            what = DESTINATION_TABLES[dest.kind][2]
            result.error(
                line,
                "destination",
                f"destination: tenant {tenant_id} has no {what} {dest.target}",
            )


def import_dids_csv(*, session: Session, content: bytes | str) -> list[Did]:
    """Create every DID listed in the CSV ``content``, or none (see the module docstring)."""
    result = _Rows()
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                "the CSV file must be UTF-8",
                errors=[{"line": 0, "field": "file", "message": str(exc)}],
            ) from exc
    _parse(content, result)
    if not result.errors and not result.rows:
        result.error(2, "file", "no rows to import")
    if result.rows:
        _check_against_db(session, result)
    if result.errors:
        lines = sorted({error["line"] for error in result.errors})
        raise ValidationError(
            f"{len(lines)} bad line(s) in the CSV (first: line {lines[0]}); nothing was imported",
            errors=result.errors,
        )
    dids = [
        Did(
            number=row["number"],
            pricing_batch=row["pricing_batch"],
            tenant_id=row["tenant_id"],
            destination=str(row["destination"]) if row["destination"] else None,
        )
        for _, row in result.rows
    ]
    session.add_all(dids)
    bump_config(session, *(did.tenant_id for did in dids))
    # No refresh: ids are set by the flush and nothing else is server-side.
    commit(session, what="DID import")
    return dids
