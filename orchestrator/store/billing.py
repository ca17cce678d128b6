"""Data functions for tariffs (with versions and rates), products and accounts.

Every tariff version is checked by the pure model (:mod:`orchestrator.billing.tariff`)
before it is stored: the tariff with the new version added must be a valid
:class:`~orchestrator.billing.Tariff` (no overlapping versions, unique prefixes, sane
increments, money as Decimal), so the rules live in one place. Versions are never
edited: a new one whose ``effective_from`` falls in an open-ended version closes that
one there; ``replaces`` corrects a version (the old one is kept, marked
``superseded_by``, for the charges it explains; re-rate the period afterwards).

``scope`` is the tenant a tenant admin acts for (None: a system admin). Global tariffs
and products (``tenant_id`` None) are visible to every tenant and changed by system
admins only. Accounts, their ledger and the rating service: :mod:`orchestrator.store.ledger`
and :mod:`orchestrator.rating`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import billing
from orchestrator.billing.tariff import money
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page,
    refuse_nulls,
    tenant_filter,
    tenant_for_write,
)
from orchestrator.store.billing_models import (
    AccountCreate,
    AccountUpdate,
    PeriodIn,
    ProductCreate,
    ProductUpdate,
    RateIn,
    TariffCreate,
    TariffUpdate,
    TariffVersionCreate,
)
from orchestrator.store.models import (
    Account,
    AccountExtension,
    AccountKind,
    BillingProduct,
    BillingRate,
    BillingTariff,
    BillingTariffVersion,
    Extension,
    utcnow,
)

MAX_RATES = 200_000  # per version; the benchmark's tariff has 100,000 prefixes


# -- visibility ----------------------------------------------------------------------
def _visible(row: Any, scope: int | None, what: str, object_id: int, *, write: bool) -> None:
    """Tenant rows are visible to their tenant; global rows (tenant_id None) to all, but
    only a system admin may change them."""
    if row is None or (scope is not None and row.tenant_id not in (scope, None)):
        raise NotFoundError(f"{what} {object_id} not found", id=object_id)
    if write and scope is not None and row.tenant_id is None:
        raise NotFoundError(f"{what} {object_id} not found", id=object_id)


def _owner(session: Session, tenant_id: int | None, scope: int | None) -> int | None:
    if tenant_id is None:
        if scope is not None:
            raise ValidationError(
                "tenant_id: a tenant admin must name its tenant", field="tenant_id"
            )
        return None
    return tenant_for_write(session, tenant_id, scope)


def _visible_list(stmt: Any, model: Any, tenant_id: int | None, scope: int | None) -> Any:
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(sa.or_(model.tenant_id == only, col(model.tenant_id).is_(None)))
    return stmt


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
    probe = billing.Tariff(
        name=merged["name"],
        currency=merged["currency"],
        rounding=merged["rounding"],
        precision=merged["precision"],
        timezone=merged["timezone"],
        versions=(_PROBE_VERSION,),
    )
    return {k: getattr(probe, k) if k != "rounding" else str(probe.rounding) for k in values}


_PROBE_VERSION = billing.TariffVersion(
    "probe",
    datetime(2000, 1, 1, tzinfo=UTC),
    rates=(billing.Rate("", "probe", Decimal(0)),),
)


def create_tariff(session: Session, data: TariffCreate, scope: int | None) -> BillingTariff:
    values = data.model_dump()
    tenant_id = _owner(session, values.pop("tenant_id"), scope)
    values = _tariff_header(values)
    _check_name_free(session, BillingTariff, tenant_id, values["name"])
    tariff = BillingTariff(tenant_id=tenant_id, **values)
    session.add(tariff)
    commit(session, tariff, what="tariff")
    return tariff


def _check_name_free(
    session: Session, model: Any, tenant_id: int | None, name: str, own_id: int | None = None
) -> None:
    stmt = select(model.id).where(model.name == name)
    stmt = stmt.where(
        col(model.tenant_id).is_(None) if tenant_id is None else model.tenant_id == tenant_id
    )
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)
    if exists(session, stmt):
        raise ConflictError(f"name {name!r} is already used", field="name")


def read_tariff(
    session: Session, tariff_id: int, scope: int | None, *, write: bool = False
) -> BillingTariff:
    tariff = session.get(BillingTariff, tariff_id)
    _visible(tariff, scope, "tariff", tariff_id, write=write)
    assert tariff is not None
    return tariff


def list_tariffs(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[BillingTariff], int]:
    stmt = _visible_list(select(BillingTariff), BillingTariff, tenant_id, scope)
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
        _check_name_free(session, BillingTariff, tariff.tenant_id, values["name"], tariff_id)
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
def _period(p: PeriodIn) -> billing.Period:
    return billing.Period(
        name=p.name,
        weekdays=frozenset(p.weekdays),
        start=p.start,
        end=p.end,
        price_per_minute=p.price_per_minute,
        connection_fee=p.connection_fee,
    )


def to_rate(r: RateIn) -> billing.Rate:
    """The pure model's rate (it validates every field)."""
    return billing.Rate(
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


def _period_json(p: billing.Period) -> dict[str, Any]:
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
    new = billing.TariffVersion(
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
    windows = [
        billing.TariffVersion(
            v.label,
            v.effective_from,
            rates=_PROBE_VERSION.rates,
            effective_to=new.effective_from if v is closed else v.effective_to,
        )
        for v in active
    ]
    billing.Tariff(  # validates that no versions overlap
        tariff.name, tariff.currency, billing.Rounding(tariff.rounding), tariff.precision,
        tariff.timezone, versions=(*windows, billing.TariffVersion(
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


def load_tariff(session: Session, tariff_id: int) -> billing.Tariff | None:
    """The pure model of a stored tariff (its current versions), None without any."""
    tariff = session.get(BillingTariff, tariff_id)
    if tariff is None:
        return None
    versions = [v for v in versions_of(session, tariff_id) if v.superseded_by is None]
    if not versions:
        return None
    by_version: dict[int, list[billing.Rate]] = {v.id: [] for v in versions if v.id is not None}
    rows = session.exec(
        select(BillingRate).where(col(BillingRate.version_id).in_(list(by_version)))
    ).all()
    for row in rows:
        by_version[row.version_id].append(to_rate(rate_in(row)))
    return billing.Tariff(
        name=tariff.name,
        currency=tariff.currency,
        rounding=billing.Rounding(tariff.rounding),
        precision=tariff.precision,
        timezone=tariff.timezone,
        versions=tuple(
            billing.TariffVersion(
                v.label, v.effective_from, tuple(by_version[v.id]), v.effective_to
            )
            for v in versions
            if v.id is not None and by_version[v.id]
        ),
    )


# -- products --------------------------------------------------------------------------
def _product_tariffs(
    session: Session, tariffs: dict[str, int], tenant_id: int | None
) -> dict[str, int]:
    out = {}
    for service, tariff_id in tariffs.items():
        try:
            key = billing.Service(service)
        except ValueError:
            raise ValidationError(
                f"tariffs: unknown service {service!r}; one of {', '.join(billing.Service)}",
                field="tariffs",
            ) from None
        row = session.get(BillingTariff, tariff_id)
        if row is None or row.tenant_id not in (tenant_id, None):
            raise ValidationError(f"tariffs: no tariff {tariff_id}", field="tariffs")
        out[str(key)] = int(tariff_id)
    return out


def create_product(session: Session, data: ProductCreate, scope: int | None) -> BillingProduct:
    tenant_id = _owner(session, data.tenant_id, scope)
    name = billing.tariff._name(data.name, "name")
    _check_name_free(session, BillingProduct, tenant_id, name)
    product = BillingProduct(
        tenant_id=tenant_id, name=name, tariffs=_product_tariffs(session, data.tariffs, tenant_id)
    )
    session.add(product)
    commit(session, product, what="product")
    return product


def read_product(
    session: Session, product_id: int, scope: int | None, *, write: bool = False
) -> BillingProduct:
    product = session.get(BillingProduct, product_id)
    _visible(product, scope, "product", product_id, write=write)
    assert product is not None
    return product


def list_products(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[BillingProduct], int]:
    stmt = _visible_list(select(BillingProduct), BillingProduct, tenant_id, scope)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(BillingProduct.id))


def update_product(
    session: Session, product_id: int, data: ProductUpdate, scope: int | None
) -> BillingProduct:
    product = read_product(session, product_id, scope, write=True)
    values = data.model_dump(exclude_unset=True)
    refuse_nulls(values, "name", "tariffs")
    if "name" in values:
        product.name = billing.tariff._name(values["name"], "name")
        _check_name_free(session, BillingProduct, product.tenant_id, product.name, product_id)
    if "tariffs" in values:
        product.tariffs = _product_tariffs(session, values["tariffs"], product.tenant_id)
    product.updated_at = utcnow()
    session.add(product)
    commit(session, product, what="product")
    return product


def delete_product(session: Session, product_id: int, scope: int | None) -> None:
    product = read_product(session, product_id, scope, write=True)
    if exists(session, select(Account.id).where(Account.product_id == product_id)):
        raise ConflictError(f"product {product_id} is used by accounts", product_id=product_id)
    session.delete(product)
    session.commit()


# -- accounts ----------------------------------------------------------------------------
def _account_fields(session: Session, values: dict[str, Any], tenant_id: int) -> dict[str, Any]:
    refuse_nulls(values, "name", "kind", "credit_limit", "is_default", "enabled", "currency")
    if "name" in values:
        values["name"] = billing.tariff._name(values["name"], "name")
    if "currency" in values and not (
        isinstance(values["currency"], str)
        and len(values["currency"]) == 3
        and values["currency"].isascii()
        and values["currency"].isupper()
    ):
        raise ValidationError("currency: an ISO 4217 code such as EUR", field="currency")
    if "credit_limit" in values:
        values["credit_limit"] = money(values["credit_limit"], field="credit_limit")
    if "kind" in values:
        values["kind"] = str(AccountKind(values["kind"]))
    if values.get("product_id") is not None:
        product = session.get(BillingProduct, values["product_id"])
        if product is None or product.tenant_id not in (tenant_id, None):
            raise ValidationError(
                f"product_id: no product {values['product_id']}", field="product_id"
            )
    return values


def _single_default(session: Session, account: Account) -> None:
    if account.is_default:
        session.execute(
            sa.update(Account)
            .where(col(Account.tenant_id) == account.tenant_id, col(Account.id) != account.id)
            .values(is_default=False)
        )


def create_account(session: Session, data: AccountCreate, scope: int | None) -> Account:
    """A new account with a zero balance (top it up with a transaction)."""
    values = data.model_dump()
    tenant_id = tenant_for_write(session, values.pop("tenant_id"), scope)
    values = _account_fields(session, values, tenant_id)
    if exists(session, select(Account.id).where(Account.tenant_id == tenant_id,
                                                 Account.name == values["name"])):  # fmt: skip
        raise ConflictError(f"account {values['name']!r} exists", field="name")
    account = Account(tenant_id=tenant_id, **values)
    session.add(account)
    session.flush()
    _single_default(session, account)
    bump_config(session, tenant_id)  # the tenant's dialplan now asks before dialing out
    commit(session, account, what="account")
    return account


def read_account(session: Session, account_id: int, scope: int | None) -> Account:
    account = session.get(Account, account_id)
    if account is None or (scope is not None and account.tenant_id != scope):
        raise NotFoundError(f"account {account_id} not found", account_id=account_id)
    return account


def list_accounts(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[Account], int]:
    stmt = select(Account)
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(Account.tenant_id == only)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Account.id))


def update_account(
    session: Session, account_id: int, data: AccountUpdate, scope: int | None
) -> Account:
    """Change an account's settings; its balance changes only through transactions."""
    account = read_account(session, account_id, scope)
    values = _account_fields(session, data.model_dump(exclude_unset=True), account.tenant_id)
    if "name" in values and exists(session, select(Account.id).where(
            Account.tenant_id == account.tenant_id, Account.name == values["name"],
            Account.id != account_id)):  # fmt: skip
        raise ConflictError(f"account {values['name']!r} exists", field="name")
    for key, value in values.items():
        setattr(account, key, value)
    account.updated_at = utcnow()
    session.add(account)
    _single_default(session, account)
    bump_config(session, account.tenant_id)
    commit(session, account, what="account")
    return account


def delete_account(session: Session, account_id: int, scope: int | None) -> int:
    """Delete an account with no ledger lines (409 otherwise); returns its tenant."""
    from orchestrator.store.models import AccountTransaction

    account = read_account(session, account_id, scope)
    if exists(session, select(AccountTransaction.id).where(
            AccountTransaction.account_id == account_id)):  # fmt: skip
        raise ConflictError(
            f"account {account_id} has transactions: disable it instead", account_id=account_id
        )
    tenant_id = account.tenant_id
    session.delete(account)
    bump_config(session, tenant_id)
    session.commit()
    return tenant_id


# -- extensions → accounts ---------------------------------------------------------------
def _extension(session: Session, tenant_id: int, number: str) -> Extension:
    ext = session.exec(
        select(Extension).where(Extension.tenant_id == tenant_id, Extension.number == number)
    ).first()
    if ext is None:
        raise NotFoundError(f"extension {number} not found", extension=number)
    return ext


def assign_extension(session: Session, account_id: int, number: str, scope: int | None) -> None:
    """The account pays for the extension's calls from now on (replacing another)."""
    account = read_account(session, account_id, scope)
    ext = _extension(session, account.tenant_id, number)
    row = session.get(AccountExtension, ext.id)
    if row is None:
        assert ext.id is not None
        row = AccountExtension(extension_id=ext.id, account_id=account_id)
    row.account_id = account_id
    session.add(row)
    session.commit()


def unassign_extension(session: Session, account_id: int, number: str, scope: int | None) -> None:
    account = read_account(session, account_id, scope)
    ext = _extension(session, account.tenant_id, number)
    row = session.get(AccountExtension, ext.id)
    if row is None or row.account_id != account_id:
        raise NotFoundError(f"extension {number} is not assigned to account {account_id}")
    session.delete(row)
    session.commit()


def account_extensions(session: Session, account_id: int, scope: int | None) -> list[str]:
    read_account(session, account_id, scope)
    rows = session.exec(
        select(Extension.number)
        .join(AccountExtension, col(AccountExtension.extension_id) == col(Extension.id))
        .where(AccountExtension.account_id == account_id)
        .order_by(col(Extension.number))
    ).all()
    return list(rows)


def account_for_extension(session: Session, tenant_id: int, number: str | None) -> Account | None:
    """Who pays for an extension's calls: its account, else the tenant's default one."""
    if number is not None:
        found = session.exec(
            select(Account)
            .join(AccountExtension, col(AccountExtension.account_id) == col(Account.id))
            .join(Extension, col(Extension.id) == col(AccountExtension.extension_id))
            .where(Extension.tenant_id == tenant_id, Extension.number == number)
        ).first()
        if found is not None:
            return found
    return default_account(session, tenant_id)


def default_account(session: Session, tenant_id: int) -> Account | None:
    return session.exec(
        select(Account).where(Account.tenant_id == tenant_id, col(Account.is_default).is_(True))
    ).first()


def account_by_name(session: Session, tenant_id: int, name: str) -> Account | None:
    """A feature's ``account`` (click-to-call): the account's name, or its id."""
    found = session.exec(
        select(Account).where(Account.tenant_id == tenant_id, Account.name == name)
    ).first()
    if found is None and name.isdigit():
        row = session.get(Account, int(name))
        found = row if row is not None and row.tenant_id == tenant_id else None
    return found


def billing_mode(session: Session, tenant_id: int) -> str:
    """For the dialplan: "prepaid" if the tenant has a prepaid account, "postpaid" if it
    has only postpaid ones, "" without accounts (outbound calls are not authorized)."""
    kinds = set(session.exec(select(Account.kind).where(Account.tenant_id == tenant_id)).all())
    if AccountKind.PREPAID in kinds:
        return "prepaid"
    return "postpaid" if kinds else ""
