"""``/api/v1/rating``: run the rating batch, re-rate a period, read charges.

``POST /run`` rates every xDR not yet rated (what the scheduled batch does every
minute). ``POST /rerate`` rates the calls started in ``[from, to)`` again with the
current tariffs and books each difference on the paying account as a ``rerate``
transaction; the old charge is kept (superseded). Both are idempotent. Charges carry
their explanation (rate, increments, rounding). A tenant admin acts on its tenant only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, PageDep, RequireAdmin, ServicesDep, SessionDep, SystemAdmin
from api.schemas import Page, page_of
from orchestrator.bounds import IsoDateTime, StoreInt
from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.rating import RatingService
from orchestrator.store._common import page as page_rows
from orchestrator.store._common import tenant_filter
from orchestrator.store.billing import read_account
from orchestrator.store.billing_models import ChargePublic, Money
from orchestrator.store.models import LegCharge

router = APIRouter(prefix="/api/v1/rating", tags=["billing"], dependencies=[RequireAdmin])


class RunResult(BaseModel):
    charges: StoreInt = Field(description="charges booked by this run")


class RerateRequest(BaseModel):
    from_: IsoDateTime = Field(alias="from")
    to: IsoDateTime
    tenant_id: StoreInt | None = None
    account_id: StoreInt | None = None


class RerateResponse(BaseModel):
    checked: StoreInt
    changed: StoreInt
    first_rated: StoreInt
    delta: dict[str, Money]
    details: list[dict[str, Any]]


def service(services: ServicesDep) -> RatingService:
    """The app's rating service, or one over the app's database (the API-only app)."""
    if services.rating is None:
        services.rating = RatingService(services.session_factory)
    return services.rating


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment


@router.post("/run")
async def run(services: ServicesDep, _admin: SystemAdmin) -> RunResult:
    """Rate every xDR not rated yet (the scheduled batch, now)."""
    return RunResult(charges=await run_in_threadpool(service(services).run_batch))


@router.post("/rerate")
async def rerate(
    services: ServicesDep, session: SessionDep, user: CurrentUser, data: RerateRequest
) -> RerateResponse:
    """Rate ``[from, to)`` again (UTC if no offset) and book the differences. One
    re-rating of a tenant (or of all tenants) runs at a time, in every service process
    on the database: another one answers 409 at once (``details.lease``, ``since``)."""
    since, until = _utc(data.from_), _utc(data.to)
    if until <= since:
        raise ValidationError("to: must be after from", field="to")
    tenant_id = tenant_filter(data.tenant_id, user.scope)
    if data.account_id is not None:
        account = read_account(session, data.account_id, user.scope)
        tenant_id = account.tenant_id
    result = await run_in_threadpool(
        service(services).rerate,
        since,
        until,
        tenant_id=tenant_id,
        account_id=data.account_id,
    )
    return RerateResponse(
        checked=result.checked,
        changed=result.changed,
        first_rated=result.first_rated,
        delta=result.delta,
        details=result.details,
    )


@router.get("/charges")
def list_charges(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    cdr_id: StoreInt | None = None,
    account_id: StoreInt | None = None,
    current: bool = True,
) -> Page[ChargePublic]:
    """Charges with their explanations, newest first; ``current=false`` shows the
    superseded ones too (a re-rated leg's history)."""
    stmt = select(LegCharge)
    tenant = tenant_filter(None, user.scope)
    if tenant is not None:
        stmt = stmt.where(LegCharge.tenant_id == tenant)
    if cdr_id is not None:
        stmt = stmt.where(LegCharge.cdr_id == cdr_id)
    if account_id is not None:
        stmt = stmt.where(LegCharge.account_id == account_id)
    if current:
        stmt = stmt.where(col(LegCharge.superseded_by).is_(None))
    rows, total = page_rows(
        session, stmt, offset=page.offset, limit=page.limit, order_by=col(LegCharge.id).desc()
    )
    return page_of(ChargePublic, rows, total, offset=page.offset, limit=page.limit)


@router.get("/charges/{charge_id}")
def read_charge(session: SessionDep, user: CurrentUser, charge_id: StoreInt) -> ChargePublic:
    row = session.get(LegCharge, charge_id)
    if row is None or (user.scope is not None and row.tenant_id != user.scope):
        raise NotFoundError(f"charge {charge_id} not found", charge_id=charge_id)
    return ChargePublic.model_validate(row)
