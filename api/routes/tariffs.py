"""``/api/v1/tariffs`` and ``/api/v1/products``: price lists, their versions and rates.

A tariff belongs to a tenant, or is global (``tenant_id`` null: system admins create and
change it; every tenant may use it). Versions are never edited: ``POST .../versions``
adds one (JSON, or ``POST .../versions.csv`` with the rates as CSV), a new version inside
an open-ended one ends it there, and ``replaces`` corrects a version (then re-rate the
period: ``POST /api/v1/rating/rerate``; one that leaves part of the period without
a version needs ``allow_gap``). Money is sent as JSON strings. ``POST .../quote``
prices a call and explains it.
Products name a tariff per service (outgoing, incoming, forwarded, conference, voicemail). See
docs/billing.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page, page_of
from orchestrator import pricing
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import ValidationError
from orchestrator.store import billing as billing_store
from orchestrator.store import tariffs as store
from orchestrator.store.billing_models import (
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    Quote,
    RatePublic,
    TariffCreate,
    TariffPublic,
    TariffUpdate,
    TariffVersionCreate,
    TariffVersionPublic,
)
from orchestrator.store.models import BillingTariff
from orchestrator.store.tariff_csv import parse_rates_csv

router = APIRouter(prefix="/api/v1/tariffs", tags=["billing"], dependencies=[RequireAdmin])
products_router = APIRouter(
    prefix="/api/v1/products", tags=["billing"], dependencies=[RequireAdmin]
)

MAX_CSV_BYTES = 32 * 1024 * 1024


def _public(session: Any, tariff: BillingTariff) -> TariffPublic:
    out = TariffPublic.model_validate(tariff, from_attributes=True)
    assert tariff.id is not None
    out.versions = [
        TariffVersionPublic.model_validate(v, from_attributes=True)
        for v in store.versions_of(session, tariff.id)
    ]
    return out


@router.get("")
def list_tariffs(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[TariffPublic]:
    """The caller's tariffs and the global ones."""
    rows, total = store.list_tariffs(
        session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    return Page[TariffPublic](
        items=[_public(session, r) for r in rows], total=total, offset=page.offset,
        limit=page.limit,
    )  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED)
def create_tariff(session: SessionDep, user: CurrentUser, data: TariffCreate) -> TariffPublic:
    return _public(session, store.create_tariff(session, data, user.scope))


@router.get("/{tariff_id}")
def read_tariff(session: SessionDep, user: CurrentUser, tariff_id: StoreInt) -> TariffPublic:
    return _public(session, store.read_tariff(session, tariff_id, user.scope))


@router.patch("/{tariff_id}")
def update_tariff(
    session: SessionDep, user: CurrentUser, tariff_id: StoreInt, data: TariffUpdate
) -> TariffPublic:
    return _public(session, store.update_tariff(session, tariff_id, data, user.scope))


@router.delete("/{tariff_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tariff(session: SessionDep, user: CurrentUser, tariff_id: StoreInt) -> None:
    """Delete a tariff no product uses (409 otherwise)."""
    store.delete_tariff(session, tariff_id, user.scope)


@router.post("/{tariff_id}/versions", status_code=status.HTTP_201_CREATED)
async def add_version(
    session: SessionDep, user: CurrentUser, tariff_id: StoreInt, data: TariffVersionCreate
) -> TariffVersionPublic:
    """Add a version with its rates (validated by the rating model; 422 names the field)."""
    row = await run_in_threadpool(store.add_version, session, tariff_id, data, user.scope)
    return TariffVersionPublic.model_validate(row, from_attributes=True)


@router.post("/{tariff_id}/versions.csv", status_code=status.HTTP_201_CREATED)
async def import_version(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    tariff_id: StoreInt,
    label: Annotated[str, Query()],
    effective_from: Annotated[datetime, Query()],
    effective_to: Annotated[datetime | None, Query()] = None,
    replaces: Annotated[str | None, Query()] = None,
    allow_gap: Annotated[bool, Query()] = False,
) -> TariffVersionPublic:
    """Add a version whose rates are the request body as CSV (``text/csv``), a header
    line naming the columns: prefix, description, price_per_minute (or price),
    connection_fee (or fee), first_increment, next_increment (or increments "30/6"),
    free_seconds, minimum_charge (or minimum), periods (``name|01234|08:00|18:00|0.05``
    entries separated by ``;``). All or nothing: a line with more or fewer fields than
    the header (quote a description with a comma) or a field that does not parse is a
    422 naming the line, and nothing is stored. ``replaces``/``allow_gap`` as in JSON."""
    body = await request.body()
    if len(body) > MAX_CSV_BYTES:
        raise ValidationError(f"the CSV is larger than {MAX_CSV_BYTES} bytes", field="csv")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the CSV must be UTF-8", field="csv") from None
    rates = await run_in_threadpool(parse_rates_csv, text)
    data = TariffVersionCreate(
        label=label,
        effective_from=effective_from,
        effective_to=effective_to,
        replaces=replaces,
        allow_gap=allow_gap,
        rates=rates,
    )
    row = await run_in_threadpool(store.add_version, session, tariff_id, data, user.scope)
    return TariffVersionPublic.model_validate(row, from_attributes=True)


@router.get("/{tariff_id}/versions/{version_id}/rates")
def list_rates(
    session: SessionDep, user: CurrentUser, page: PageDep, tariff_id: StoreInt, version_id: StoreInt
) -> Page[RatePublic]:
    """A version's rates, by prefix."""
    rows, total = store.list_rates(
        session, tariff_id, version_id, user.scope, offset=page.offset, limit=page.limit
    )
    items = [RatePublic(id=r.id or 0, **store.rate_in(r).model_dump()) for r in rows]
    return Page[RatePublic](items=items, total=total, offset=page.offset, limit=page.limit)


@router.post("/{tariff_id}/quote")
def quote(
    session: SessionDep, user: CurrentUser, tariff_id: StoreInt, data: Quote
) -> dict[str, Any]:
    """Price a call with the tariff's current versions, with the explanation."""
    store.read_tariff(session, tariff_id, user.scope)
    tariff = store.load_tariff(session, tariff_id)
    if tariff is None:
        raise ValidationError("the tariff has no version yet", field="tariff_id")
    if data.start.utcoffset() is None:
        raise ValidationError("start: must have a timezone offset", field="start")
    return pricing.rate(
        tariff, number=data.number, start=data.start, duration_s=data.duration_s
    ).to_dict()


# -- products ------------------------------------------------------------------------
@products_router.get("")
def list_products(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[ProductPublic]:
    rows, total = billing_store.list_products(
        session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    return page_of(ProductPublic, rows, total, offset=page.offset, limit=page.limit)


@products_router.post("", status_code=status.HTTP_201_CREATED)
def create_product(session: SessionDep, user: CurrentUser, data: ProductCreate) -> ProductPublic:
    return ProductPublic.model_validate(billing_store.create_product(session, data, user.scope))


@products_router.get("/{product_id}")
def read_product(session: SessionDep, user: CurrentUser, product_id: StoreInt) -> ProductPublic:
    return ProductPublic.model_validate(billing_store.read_product(session, product_id, user.scope))


@products_router.patch("/{product_id}")
def update_product(
    session: SessionDep, user: CurrentUser, product_id: StoreInt, data: ProductUpdate
) -> ProductPublic:
    return ProductPublic.model_validate(
        billing_store.update_product(session, product_id, data, user.scope)
    )


@products_router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_product(session: SessionDep, user: CurrentUser, product_id: StoreInt) -> None:
    """Delete a product no account is on (409 otherwise)."""
    billing_store.delete_product(session, product_id, user.scope)
