"""``/api/v1/me``: self-care, the caller's own things (docs/pbx.md, "Self-care").

Every role may ask who it is (``GET /api/v1/me``). The rest is about the caller's own
extension, so it is for the roles that have one: a self-care ``user`` (which has
nothing else) and an ``agent``; admins and supervisors get 403 (they read an
extension's things through the tenant's routes). Nothing here takes an extension or a
tenant from the request: both come from the token. Roles: docs/roles.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import AnyCaller, ConfigStateDep, PageDep, ServicesDep, SessionDep
from api.routes.call_settings import apply_change
from api.schemas import Page
from orchestrator.bounds import IsoDateTime
from orchestrator.cdr.disposition import Direction, Disposition
from orchestrator.pbx.settings import get_settings
from orchestrator.store import self_care
from orchestrator.store.models import CallSettingsPatch, CallSettingsPublic, MePublic, MyCallPublic

router = APIRouter(prefix="/api/v1/me", tags=["self-care"])


def get_call_filter(
    since: Annotated[
        IsoDateTime | None, Query(alias="from", description="start time at or after (ISO 8601)")
    ] = None,
    until: Annotated[
        IsoDateTime | None, Query(alias="to", description="start time before (ISO 8601)")
    ] = None,
    disposition: Disposition | None = None,
    direction: Direction | None = None,
) -> self_care.OwnCallFilter:
    return self_care.OwnCallFilter(
        since=since,
        until=until,
        disposition=str(disposition) if disposition else None,
        direction=str(direction) if direction else None,
    )


CallFilterDep = Annotated[self_care.OwnCallFilter, Depends(get_call_filter)]


@dataclass(frozen=True, slots=True)
class OwnPhone:
    tenant_id: int
    extension_id: int
    number: str


def get_own_phone(me: AnyCaller) -> OwnPhone:
    """The caller's own extension; 403 (before anything else) for a role without one."""
    return OwnPhone(*me.require_own_phone())


OwnPhoneDep = Annotated[OwnPhone, Depends(get_own_phone)]


@router.get("")
def read_me(session: SessionDep, me: AnyCaller) -> MePublic:
    """Who the caller is: its role, tenant and (a user's, an agent's) extension."""
    return self_care.whoami(session=session, user_id=me.user_id)


@router.get("/calls")
def my_calls(
    phone: OwnPhoneDep, session: SessionDep, page: PageDep, where: CallFilterDep
) -> Page[MyCallPublic]:
    """The own extension's calls (caller or callee), newest first; filters as
    ``/api/v1/cdrs`` (``from``, ``to``, ``disposition``, ``direction``)."""
    rows, total = self_care.own_calls(
        session=session,
        tenant_id=phone.tenant_id,
        extension_id=phone.extension_id,
        where=where,
        offset=page.offset,
        limit=page.limit,
    )
    return Page[MyCallPublic](items=list(rows), total=total, offset=page.offset, limit=page.limit)


@router.get("/call-settings")
def my_call_settings(phone: OwnPhoneDep, session: SessionDep) -> CallSettingsPublic:
    """The own extension's forwarding, DND, call waiting and follow-me."""
    return get_settings(session, phone.extension_id, scope=phone.tenant_id)


@router.patch("/call-settings")
async def change_my_call_settings(
    phone: OwnPhoneDep,
    services: ServicesDep,
    session: SessionDep,
    config: ConfigStateDep,
    data: CallSettingsPatch,
) -> CallSettingsPublic:
    """Change the own extension's settings: the fields given, checked as an admin's
    change is (a forward to a number goes through the tenant's outbound routes and is
    authorized and rated on the extension's account when a call follows it)."""
    changes = data.model_dump(exclude_unset=True)
    return await apply_change(
        services, session, phone.tenant_id, config, phone.extension_id, changes, replace=False
    )
