"""``/api/v1/cdrs``: call detail records, one per call, with their legs; CSV export.

A tenant admin or a supervisor sees its tenant's CDRs (an agent none); CDRs no tenant
could be told for (a call from an unknown trunk to an unknown number) only a system
admin sees. Filters: ``tenant_id``,
``extension`` (any party of the call), ``from``/``to`` (start time, ``from`` included,
``to`` excluded; ISO 8601, UTC when no offset is given), ``disposition``, ``direction``.
See docs/cdrs.md.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, PageDep, RequireSupervisor, SessionDep
from api.schemas import Page, page_of
from api.services import services_of
from orchestrator.bounds import IsoDateTime, StoreInt
from orchestrator.cdr.disposition import Direction, Disposition
from orchestrator.cdr.export import csv_lines
from orchestrator.store import cdrs
from orchestrator.store._common import tenant_filter
from orchestrator.store.models import CdrDetail, CdrLegPublic, CdrPublic

router = APIRouter(tags=["cdrs"], dependencies=[RequireSupervisor])


def get_filter(
    tenant_id: StoreInt | None = None,
    extension: Annotated[
        str | None, Query(pattern=r"^[0-9]{2,10}$", description="any party's extension")
    ] = None,
    since: Annotated[
        IsoDateTime | None, Query(alias="from", description="start time at or after (ISO 8601)")
    ] = None,
    until: Annotated[
        IsoDateTime | None, Query(alias="to", description="start time before (ISO 8601)")
    ] = None,
    disposition: Disposition | None = None,
    direction: Direction | None = None,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
) -> cdrs.CdrFilter:
    return cdrs.CdrFilter(
        tenant_id=tenant_id,
        extension=extension,
        since=since,
        until=until,
        disposition=str(disposition) if disposition else None,
        direction=str(direction) if direction else None,
        call_id=call_id,
    )


FilterDep = Annotated[cdrs.CdrFilter, Depends(get_filter)]


@router.get("/api/v1/cdrs")
def list_cdrs(
    session: SessionDep, user: CurrentUser, page: PageDep, where: FilterDep
) -> Page[CdrPublic]:
    """CDRs, newest first."""
    rows, total = cdrs.list_cdrs(
        session, where, offset=page.offset, limit=page.limit, scope=user.scope
    )
    return page_of(CdrPublic, rows, total, offset=page.offset, limit=page.limit)


@router.get(
    "/api/v1/cdrs.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CDRs as CSV, oldest first"}},
)
def export_cdrs(request: Request, user: CurrentUser, where: FilterDep) -> StreamingResponse:
    """Every matching CDR as CSV (no paging), oldest first; columns in docs/cdrs.md."""
    # Checked before the first byte goes out: a refused tenant is a 404, not a cut stream.
    tenant_filter(where.tenant_id, user.scope)
    sessions = services_of(request.app).session_factory
    scope = user.scope

    lines = csv_lines(cdrs.iter_cdrs(sessions, where, scope=scope))
    # The header and the first row are made here, so the first query runs before the 200:
    # if it fails the client gets an error status, not a CSV cut short that looks complete.
    head = list(itertools.islice(lines, 2))

    return StreamingResponse(
        itertools.chain(head, lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


@router.get("/api/v1/cdrs/{cdr_id}")
def read_cdr(session: SessionDep, user: CurrentUser, cdr_id: StoreInt) -> CdrDetail:
    """One CDR with its xDRs (legs and services) in order."""
    cdr, legs = cdrs.get_cdr(session, cdr_id, user.scope)
    detail = CdrDetail.model_validate(cdr, from_attributes=True)
    detail.legs = [CdrLegPublic.model_validate(leg) for leg in legs]
    return detail
