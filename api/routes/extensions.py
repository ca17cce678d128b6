"""``/api/v1/tenants/{tenant_id}/extensions``: a tenant's extensions (phones), and each
one's standing redirect (``.../{extension_id}/redirect``: agent busy/away).

Tenant admins act on their own tenant's extensions, system admins on any. Supervisors
read them (to pick whom to supervise), never their SIP credentials; an agent reads its
own extension and sets or clears its own redirect (docs/roles.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from api.deps import (
    ConfigStateDep,
    OwnExtensionId,
    PageDep,
    ReadableExtensionId,
    RequireAdmin,
    RequireSupervisor,
    SessionDep,
    VisibleTenantId,
)
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.store import crud, redirects
from orchestrator.store.models import (
    ExtensionCreate,
    ExtensionCreated,
    ExtensionPublic,
    ExtensionRedirect,
    ExtensionUpdate,
    SipCredentials,
)

router = APIRouter(prefix="/api/v1/tenants/{tenant_id}/extensions", tags=["extensions"])


@router.get("", dependencies=[RequireSupervisor])
def list_extensions(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    page: PageDep,
    number_prefix: Annotated[str | None, Query(max_length=10)] = None,
    name: Annotated[str | None, Query(max_length=80, description="part of any name")] = None,
) -> Page[ExtensionPublic]:
    """The tenant's extensions, by number (without SIP passwords)."""
    rows, total = crud.list_extensions(
        session=session,
        tenant_id=tenant_id,
        offset=page.offset,
        limit=page.limit,
        number_prefix=number_prefix,
        name=name,
    )
    return page_of(ExtensionPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[RequireAdmin])
async def create_extension(
    session: SessionDep, tenant_id: VisibleTenantId, data: ExtensionCreate, config: ConfigStateDep
) -> ExtensionCreated:
    """Create an extension; the response holds its generated SIP password, this once."""
    extension = await run_in_threadpool(
        crud.create_extension, session=session, tenant_id=tenant_id, data=data
    )
    await config.changed(tenant_id)
    return ExtensionCreated.model_validate(extension)


@router.get("/{extension_id}")
def read_extension(
    session: SessionDep, tenant_id: VisibleTenantId, extension_id: ReadableExtensionId
) -> ExtensionPublic:
    extension = crud.get_extension(session=session, tenant_id=tenant_id, extension_id=extension_id)
    return ExtensionPublic.model_validate(extension)


@router.get("/{extension_id}/sip-credentials", dependencies=[RequireAdmin])
def read_sip_credentials(
    session: SessionDep, tenant_id: VisibleTenantId, extension_id: StoreInt
) -> SipCredentials:
    """What a phone needs to register: user name, password and domain."""
    return crud.get_sip_credentials(session=session, tenant_id=tenant_id, extension_id=extension_id)


@router.patch("/{extension_id}", dependencies=[RequireAdmin])
async def update_extension(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    extension_id: StoreInt,
    data: ExtensionUpdate,
    config: ConfigStateDep,
) -> ExtensionPublic:
    extension = await run_in_threadpool(
        crud.update_extension,
        session=session,
        tenant_id=tenant_id,
        extension_id=extension_id,
        data=data,
    )
    await config.changed(tenant_id)
    return ExtensionPublic.model_validate(extension)


@router.delete(
    "/{extension_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[RequireAdmin]
)
async def delete_extension(
    session: SessionDep, tenant_id: VisibleTenantId, extension_id: StoreInt, config: ConfigStateDep
) -> None:
    """Delete an extension and its aliases; 409 while a DID routes to it or a ring group
    or the park lot falls back to it."""
    await run_in_threadpool(
        crud.delete_extension, session=session, tenant_id=tenant_id, extension_id=extension_id
    )
    await config.changed(tenant_id)


@router.put("/{extension_id}/redirect")
async def set_redirect(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    extension_id: OwnExtensionId,
    data: ExtensionRedirect,
    config: ConfigStateDep,
) -> ExtensionPublic:
    """Send the extension's calls elsewhere (phones, DIDs, IVR and CTI transfers alike).

    ``to``: another extension of the tenant (no loops) or a number one of its outbound
    routes matches. The tenant's configuration is applied before the answer.
    """
    extension = await run_in_threadpool(
        redirects.set_redirect,
        session=session,
        tenant_id=tenant_id,
        extension_id=extension_id,
        to=data.to,
        reason=data.reason,
    )
    await config.changed(tenant_id)
    return ExtensionPublic.model_validate(extension)


@router.delete("/{extension_id}/redirect")
async def clear_redirect(
    session: SessionDep,
    tenant_id: VisibleTenantId,
    extension_id: OwnExtensionId,
    config: ConfigStateDep,
) -> ExtensionPublic:
    """Calls to the extension ring its own phone again."""
    extension = await run_in_threadpool(
        redirects.clear_redirect, session=session, tenant_id=tenant_id, extension_id=extension_id
    )
    await config.changed(tenant_id)
    return ExtensionPublic.model_validate(extension)
