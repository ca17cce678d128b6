"""``/api/v1/dids``: public numbers, the inventory and their destinations.

A system admin manages the inventory; a tenant admin sees only its tenant's
DIDs and may change only their destination.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, UploadFile, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep, SystemAdmin
from api.schemas import BulkImportResult, Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import ValidationError
from orchestrator.store import dids
from orchestrator.store.did_import import import_dids_csv
from orchestrator.store.models import DidCreate, DidPublic, DidUpdate

router = APIRouter(prefix="/api/v1/dids", tags=["dids"], dependencies=[RequireAdmin])

MAX_CSV_BYTES = 2 * 1024 * 1024


@router.get("")
def list_dids(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    tenant_id: StoreInt | None = None,
    unassigned: Annotated[bool | None, Query(description="true: inventory only")] = None,
    pricing_batch: Annotated[str | None, Query(max_length=40)] = None,
    number_prefix: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[DidPublic]:
    rows, total = dids.list_dids(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        unassigned=unassigned,
        pricing_batch=pricing_batch,
        number_prefix=number_prefix,
        scope=user.scope,
    )
    return page_of(DidPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_did(
    session: SessionDep, _admin: SystemAdmin, data: DidCreate, config: ConfigStateDep
) -> DidPublic:
    """Add a DID to the inventory (system admin)."""
    did = await run_in_threadpool(dids.create_did, session=session, data=data)
    await config.changed(did.tenant_id)
    return DidPublic.model_validate(did)


@router.post("/bulk", status_code=status.HTTP_201_CREATED)
async def import_dids(
    session: SessionDep, _admin: SystemAdmin, file: UploadFile, config: ConfigStateDep
) -> BulkImportResult:
    """Import DIDs from a CSV file: ``number,pricing_batch[,tenant_id,destination]``.

    All or nothing: if any line is bad, the 422 response lists every problem
    with its line number (``details.errors``) and nothing is written.
    """
    content = await file.read(MAX_CSV_BYTES + 1)
    if len(content) > MAX_CSV_BYTES:
        raise ValidationError(f"the CSV file is larger than {MAX_CSV_BYTES} bytes", field="file")
    created = await run_in_threadpool(import_dids_csv, session=session, content=content)
    await config.changed(*(did.tenant_id for did in created))
    return BulkImportResult(created=len(created))


@router.get("/{did_id}")
def read_did(session: SessionDep, user: CurrentUser, did_id: StoreInt) -> DidPublic:
    return DidPublic.model_validate(dids.get_did(session=session, did_id=did_id, scope=user.scope))


@router.patch("/{did_id}")
async def update_did(
    session: SessionDep,
    user: CurrentUser,
    did_id: StoreInt,
    data: DidUpdate,
    config: ConfigStateDep,
) -> DidPublic:
    """Change a DID; moving it between tenants reconfigures both."""
    did, tenants = await run_in_threadpool(
        dids.update_did, session=session, did_id=did_id, data=data, scope=user.scope
    )
    await config.changed(*tenants)
    return DidPublic.model_validate(did)


@router.delete("/{did_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_did(
    session: SessionDep, user: CurrentUser, did_id: StoreInt, config: ConfigStateDep
) -> None:
    """Remove a DID from the inventory (system admin)."""
    # Visibility first, so another tenant's DID is 404 rather than 403.
    await run_in_threadpool(dids.get_did, session=session, did_id=did_id, scope=user.scope)
    user.require_system_admin()
    did = await run_in_threadpool(dids.delete_did, session=session, did_id=did_id)
    await config.changed(did.tenant_id)
