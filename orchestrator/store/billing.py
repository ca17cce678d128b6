"""Data functions for products and accounts, and the visibility rules tariffs share.

A product names a tariff per service (:mod:`orchestrator.store.tariffs` holds the
tariffs); an account pays for calls: the extensions assigned to it, or every extension of
its tenant if it is the default one.

``scope`` is the tenant a tenant admin acts for (None: a system admin). Global tariffs
and products (``tenant_id`` None) are visible to every tenant and changed by system
admins only. Accounts' ledger and the rating service: :mod:`orchestrator.store.ledger`
and :mod:`orchestrator.rating`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import pricing
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.pricing.tariff import money
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
    ProductCreate,
    ProductUpdate,
)
from orchestrator.store.models import (
    Account,
    AccountExtension,
    AccountKind,
    BillingProduct,
    BillingTariff,
    Extension,
    utcnow,
)


# -- visibility (of tariffs and products) ---------------------------------------------
def check_visible(row: Any, scope: int | None, what: str, object_id: int, *, write: bool) -> None:
    """Tenant rows are visible to their tenant; global rows (tenant_id None) to all, but
    only a system admin may change them."""
    if row is None or (scope is not None and row.tenant_id not in (scope, None)):
        raise NotFoundError(f"{what} {object_id} not found", id=object_id)
    if write and scope is not None and row.tenant_id is None:
        raise NotFoundError(f"{what} {object_id} not found", id=object_id)


def owner_for_write(session: Session, tenant_id: int | None, scope: int | None) -> int | None:
    """The owner of a new tariff or product: None (global) only for a system admin."""
    if tenant_id is None:
        if scope is not None:
            raise ValidationError(
                "tenant_id: a tenant admin must name its tenant", field="tenant_id"
            )
        return None
    return tenant_for_write(session, tenant_id, scope)


def visible_list(stmt: Any, model: Any, tenant_id: int | None, scope: int | None) -> Any:
    """``stmt`` narrowed to the rows the caller sees: its tenant's and the global ones."""
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(sa.or_(model.tenant_id == only, col(model.tenant_id).is_(None)))
    return stmt


def check_name_free(
    session: Session, model: Any, tenant_id: int | None, name: str, own_id: int | None = None
) -> None:
    """Names are unique within a tenant, and among the global rows."""
    stmt = select(model.id).where(model.name == name)
    stmt = stmt.where(
        col(model.tenant_id).is_(None) if tenant_id is None else model.tenant_id == tenant_id
    )
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)
    if exists(session, stmt):
        raise ConflictError(f"name {name!r} is already used", field="name")


# -- products --------------------------------------------------------------------------
def _product_tariffs(
    session: Session, tariffs: dict[str, int], tenant_id: int | None
) -> dict[str, int]:
    out = {}
    for service, tariff_id in tariffs.items():
        try:
            key = pricing.Service(service)
        except ValueError:
            raise ValidationError(
                f"tariffs: unknown service {service!r}; one of {', '.join(pricing.Service)}",
                field="tariffs",
            ) from None
        row = session.get(BillingTariff, tariff_id)
        if row is None or row.tenant_id not in (tenant_id, None):
            raise ValidationError(f"tariffs: no tariff {tariff_id}", field="tariffs")
        out[str(key)] = int(tariff_id)
    return out


def create_product(session: Session, data: ProductCreate, scope: int | None) -> BillingProduct:
    tenant_id = owner_for_write(session, data.tenant_id, scope)
    name = pricing.tariff._name(data.name, "name")
    check_name_free(session, BillingProduct, tenant_id, name)
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
    check_visible(product, scope, "product", product_id, write=write)
    assert product is not None
    return product


def list_products(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[BillingProduct], int]:
    stmt = visible_list(select(BillingProduct), BillingProduct, tenant_id, scope)
    return page(session, stmt, offset=offset, limit=limit, order_by=col(BillingProduct.id))


def update_product(
    session: Session, product_id: int, data: ProductUpdate, scope: int | None
) -> BillingProduct:
    product = read_product(session, product_id, scope, write=True)
    values = data.model_dump(exclude_unset=True)
    refuse_nulls(values, "name", "tariffs")
    if "name" in values:
        product.name = pricing.tariff._name(values["name"], "name")
        check_name_free(session, BillingProduct, product.tenant_id, product.name, product_id)
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
        values["name"] = pricing.tariff._name(values["name"], "name")
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
