"""Data functions for tariffs, their versions and rates.

Every tariff version is checked by the pure model (:mod:`orchestrator.pricing.tariff`)
before it is stored: the tariff with the new version added must be a valid
:class:`~orchestrator.pricing.Tariff` (no overlapping versions, unique prefixes, sane
increments, money as Decimal), so the rules live in one place. Versions are never
edited: a new one whose ``effective_from`` falls in an open-ended version closes that
one there; ``replaces`` corrects a version (the old one is kept, marked
``superseded_by``, for the charges it explains; re-rate the period afterwards). A
correction that would leave part of the replaced version's period without any version
is refused unless ``allow_gap`` says so: re-rating such a period refunds its calls.

``scope`` is the tenant a tenant admin acts for (None: a system admin); global tariffs
(``tenant_id`` None) follow the rules of :mod:`orchestrator.store.billing`. Rates as
CSV: :mod:`orchestrator.store.tariff_csv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import pricing
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import commit, page, refuse_nulls
from orchestrator.store.billing import (
    check_name_free,
    check_visible,
    owner_for_write,
    visible_list,
)
from orchestrator.store.billing_models import (
    PeriodIn,
    RateIn,
    TariffCreate,
    TariffUpdate,
    TariffVersionCreate,
)
from orchestrator.store.models import (
    BillingProduct,
    BillingRate,
    BillingTariff,
    BillingTariffVersion,
    utcnow,
)

MAX_RATES = 200_000  # per version; the benchmark's tariff has 100,000 prefixes


# -- tariffs ---------------------------------------------------------------------------
def _tariff_header(values: dict[str, Any], base: BillingTariff | None = None) -> dict[str, Any]:
    """Check name/currency/rounding/precision/timezone with the pure model's own rules."""
    refuse_nulls(values, "name", "currency", "rounding", "precision", "timezone")
    merged = {
        "name": base.name if base else None,
        "currency": base.currency if base else None,
        "rounding": base.rounding if base else "ROUND_HALF_UP",
        "precision": base.precision if base else 2,
        "timezone": base.timezone if base else "UTC",
        **values,
    }
    probe = pricing.Tariff(
        name=merged["name"],
        currency=merged["currency"],
        rounding=merged["rounding"],
        precision=merged["precision"],
        timezone=merged["timezone"],
        versions=(_PROBE_VERSION,),
    )
    return {k: getattr(probe, k) if k != "rounding" else str(probe.rounding) for k in values}


_PROBE_VERSION = pricing.TariffVersion(
    "probe",
    datetime(2000, 1, 1, tzinfo=UTC),
    rates=(pricing.Rate("", "probe", Decimal(0)),),
)


def create_tariff(session: Session, data: TariffCreate, scope: int | None) -> BillingTariff:
    values = data.model_dump()
    tenant_id = owner_for_write(session, values.pop("tenant_id"), scope)
    values = _tariff_header(values)
    check_name_free(session, BillingTariff, tenant_id, values["name"])
    tariff = BillingTariff(tenant_id=tenant_id, **values)
    session.add(tariff)
    commit(session, tariff, what="tariff")
    return tariff


def read_tariff(
    session: Session, tariff_id: int, scope: int | None, *, write: bool = False
) -> BillingTariff:
    tariff = session.get(BillingTariff, tariff_id)
    check_visible(tariff, scope, "tariff", tariff_id, write=write)
    assert tariff is not None
    return tariff


def list_tariffs(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[BillingTariff], int]:
    stmt = visible_list(select(BillingTariff), BillingTariff, tenant_id, scope)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(BillingTariff.id))


def versions_of(session: Session, tariff_id: int) -> list[BillingTariffVersion]:
    return list(
        session.exec(
            select(BillingTariffVersion)
            .where(BillingTariffVersion.tariff_id == tariff_id)
            .order_by(col(BillingTariffVersion.effective_from), col(BillingTariffVersion.id))
        ).all()
    )


def update_tariff(
    session: Session, tariff_id: int, data: TariffUpdate, scope: int | None
) -> BillingTariff:
    """Change name, rounding, precision or timezone (a correction: re-rate after it)."""
    tariff = read_tariff(session, tariff_id, scope, write=True)
    values = _tariff_header(data.model_dump(exclude_unset=True), tariff)
    if "name" in values:
        check_name_free(session, BillingTariff, tariff.tenant_id, values["name"], tariff_id)
    for key, value in values.items():
        setattr(tariff, key, value)
    tariff.revision += 1
    tariff.updated_at = utcnow()
    session.add(tariff)
    commit(session, tariff, what="tariff")
    return tariff


def delete_tariff(session: Session, tariff_id: int, scope: int | None) -> None:
    """Delete a tariff no product uses (409 otherwise); charges keep their explanation."""
    tariff = read_tariff(session, tariff_id, scope, write=True)
    users = [p.name for p in session.exec(select(BillingProduct)).all() if tariff_id in _ids(p)]
    if users:
        raise ConflictError(f"tariff {tariff_id} is used by products {users}", products=users)
    session.delete(tariff)
    session.commit()


def _ids(product: BillingProduct) -> set[int]:
    return {int(v) for v in (product.tariffs or {}).values()}


# -- versions and rates ----------------------------------------------------------------
def _period(p: PeriodIn) -> pricing.Period:
    return pricing.Period(
        name=p.name,
        weekdays=frozenset(p.weekdays),
        start=p.start,
        end=p.end,
        price_per_minute=p.price_per_minute,
        connection_fee=p.connection_fee,
    )


def to_rate(r: RateIn) -> pricing.Rate:
    """The pure model's rate (it validates every field)."""
    return pricing.Rate(
        prefix=r.prefix,
        description=r.description,
        price_per_minute=r.price_per_minute,
        connection_fee=r.connection_fee,
        first_increment=r.first_increment,
        next_increment=r.next_increment,
        free_seconds=r.free_seconds,
        minimum_charge=r.minimum_charge,
        periods=tuple(_period(p) for p in r.periods),
    )


def _period_json(p: pricing.Period) -> dict[str, Any]:
    return {
        "name": p.name,
        "weekdays": sorted(p.weekdays),
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "price_per_minute": str(p.price_per_minute),
        "connection_fee": None if p.connection_fee is None else str(p.connection_fee),
    }


def add_version(
    session: Session, tariff_id: int, data: TariffVersionCreate, scope: int | None
) -> BillingTariffVersion:
    """Store a new version of the tariff (see the module doc for ``replaces``)."""
    tariff = read_tariff(session, tariff_id, scope, write=True)
    if not data.rates:
        raise ValidationError("rates: a version needs at least one rate", field="rates")
    if len(data.rates) > MAX_RATES:
        raise ValidationError(f"rates: at most {MAX_RATES} per version", field="rates")
    rates = tuple(to_rate(r) for r in data.rates)
    new = pricing.TariffVersion(
        data.label, data.effective_from, rates=rates, effective_to=data.effective_to
    )
    active = [v for v in versions_of(session, tariff_id) if v.superseded_by is None]
    if any(v.label == data.label for v in versions_of(session, tariff_id)):
        raise ConflictError(f"version {data.label!r} exists", field="label")
    replaced = None
    if data.replaces is not None:
        replaced = next((v for v in active if v.label == data.replaces), None)
        if replaced is None:
            raise ValidationError(
                f"replaces: no current version {data.replaces!r}", field="replaces"
            )
        active.remove(replaced)
    closed = None
    for v in active:
        # A new version inside an open-ended one ends it there ("new prices from ...").
        if v.effective_to is None and v.effective_from < new.effective_from:
            closed = v
    if replaced is not None and not data.allow_gap:
        covers = [
            (v.effective_from, new.effective_from if v is closed else v.effective_to)
            for v in active
        ]
        gaps = uncovered(
            (replaced.effective_from, replaced.effective_to),
            [*covers, (new.effective_from, new.effective_to)],
        )
        if gaps:
            shown = [(a.isoformat(), b.isoformat() if b else None) for a, b in gaps]
            raise ValidationError(
                f"replaces: {data.replaces!r} would leave {_spans(shown)} without a version "
                "(calls there could not be rated); start the new version where the "
                "replaced one starts, or send allow_gap: true",
                field="replaces",
                gaps=shown,
            )
    windows = [
        pricing.TariffVersion(
            v.label,
            v.effective_from,
            rates=_PROBE_VERSION.rates,
            effective_to=new.effective_from if v is closed else v.effective_to,
        )
        for v in active
    ]
    pricing.Tariff(  # validates that no versions overlap
        tariff.name, tariff.currency, pricing.Rounding(tariff.rounding), tariff.precision,
        tariff.timezone, versions=(*windows, pricing.TariffVersion(
            new.id, new.effective_from, rates=_PROBE_VERSION.rates, effective_to=new.effective_to
        )),
    )  # fmt: skip
    row = BillingTariffVersion(
        tariff_id=tariff_id,
        label=new.id,
        effective_from=new.effective_from,
        effective_to=new.effective_to,
        rate_count=len(rates),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    session.execute(
        sa.insert(BillingRate),
        [
            {
                "version_id": row.id,
                "prefix": r.prefix,
                "description": r.description,
                "price_per_minute": r.price_per_minute,
                "connection_fee": r.connection_fee,
                "first_increment": r.first_increment,
                "next_increment": r.next_increment,
                "free_seconds": r.free_seconds,
                "minimum_charge": r.minimum_charge,
                "periods": [_period_json(p) for p in r.periods],
            }
            for r in rates
        ],
    )
    if closed is not None:
        closed.effective_to = new.effective_from
        session.add(closed)
    if replaced is not None:
        replaced.superseded_by = row.id
        session.add(replaced)
    tariff.revision += 1
    tariff.updated_at = utcnow()
    session.add(tariff)
    commit(session, row, what="tariff version")
    return row


Span = tuple[datetime, datetime | None]  # [from, to), None: open-ended


def uncovered(window: Span, covers: Sequence[Span]) -> list[Span]:
    """The parts of ``window`` that none of ``covers`` contains."""
    gaps: list[Span] = []
    start, end = window
    for c_from, c_to in sorted(covers, key=lambda c: c[0]):
        if end is not None and c_from >= end:
            break
        if c_to is not None and c_to <= start:
            continue
        if c_from > start:
            gaps.append((start, c_from))
        if c_to is None:
            return gaps
        start = c_to
        if end is not None and start >= end:
            return gaps
    gaps.append((start, end))
    return gaps


def _spans(shown: list[tuple[str, str | None]]) -> str:
    return ", ".join(f"[{a}, {b or 'open end'})" for a, b in shown)


def list_rates(
    session: Session, tariff_id: int, version_id: int, scope: int | None, *, offset: int, limit: int
) -> tuple[Sequence[BillingRate], int]:
    read_tariff(session, tariff_id, scope)
    version = session.get(BillingTariffVersion, version_id)
    if version is None or version.tariff_id != tariff_id:
        raise NotFoundError(f"version {version_id} not found", version_id=version_id)
    stmt = select(BillingRate).where(BillingRate.version_id == version_id)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(BillingRate.prefix))


def rate_in(row: BillingRate) -> RateIn:
    return RateIn(
        prefix=row.prefix,
        description=row.description,
        price_per_minute=row.price_per_minute,
        connection_fee=row.connection_fee,
        first_increment=row.first_increment,
        next_increment=row.next_increment,
        free_seconds=row.free_seconds,
        minimum_charge=row.minimum_charge,
        periods=[PeriodIn.model_validate(p) for p in row.periods or []],
    )


def load_tariff(session: Session, tariff_id: int) -> pricing.Tariff | None:
    """The pure model of a stored tariff (its current versions), None without any."""
    tariff = session.get(BillingTariff, tariff_id)
    if tariff is None:
        return None
    versions = [v for v in versions_of(session, tariff_id) if v.superseded_by is None]
    if not versions:
        return None
    by_version: dict[int, list[pricing.Rate]] = {v.id: [] for v in versions if v.id is not None}
    rows = session.exec(
        select(BillingRate).where(col(BillingRate.version_id).in_(list(by_version)))
    ).all()
    for row in rows:
        by_version[row.version_id].append(to_rate(rate_in(row)))
    return pricing.Tariff(
        name=tariff.name,
        currency=tariff.currency,
        rounding=pricing.Rounding(tariff.rounding),
        precision=tariff.precision,
        timezone=tariff.timezone,
        versions=tuple(
            pricing.TariffVersion(
                v.label, v.effective_from, tuple(by_version[v.id]), v.effective_to
            )
            for v in versions
            if v.id is not None and by_version[v.id]
        ),
    )
