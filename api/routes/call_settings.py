"""``/api/v1/extensions/{extension_id}/call-settings``: an extension's forwarding, do not
disturb, call waiting and follow-me (docs/pbx.md, "Forwarding and do not disturb").

Tenant admins act on their own tenant's extensions (another tenant's answer 404),
system admins on any. ``PUT`` replaces every setting (a field left out goes back to its
default), ``PATCH`` changes only the fields given. Every value is checked first (422
and nothing changed on any bad one); destinations are stored only in their checked form.
When the change turns the extension's *managed* state over (its calls now do or no
longer run through the orchestrator), the tenant's configuration is applied before the
answer. Each change is published as ``call_settings_changed`` (WebSocket, webhooks).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, RequireAdmin, ServicesDep, SessionDep
from orchestrator.bounds import StoreInt
from orchestrator.pbx.settings import SettingsChange, get_settings, update_settings
from orchestrator.store.models import CallSettingsPatch, CallSettingsPublic, CallSettingsPut

router = APIRouter(
    prefix="/api/v1/extensions/{extension_id}/call-settings",
    tags=["call-settings"],
    dependencies=[RequireAdmin],
)


@router.get("")
def read_call_settings(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt
) -> CallSettingsPublic:
    """The extension's settings (the defaults if never changed)."""
    return get_settings(session, extension_id, scope=user.scope)


async def apply_change(
    services: ServicesDep,
    session: SessionDep,
    scope: int | None,
    config: ConfigStateDep,
    extension_id: int,
    changes: dict[str, Any],
    *,
    replace: bool,
) -> CallSettingsPublic:
    """Change the settings (422 and nothing changed on a bad value), apply the tenant when
    the extension's managed state flipped, publish the change. Also self-care's."""
    change: SettingsChange = await run_in_threadpool(
        update_settings, session, extension_id, scope=scope, replace=replace, **changes
    )
    if change.flipped:
        await config.changed(change.tenant_id)
    if services.call_settings is not None:  # the events (not in the API-only app)
        await services.call_settings.changed(change, reapply=False)
    return change.settings


@router.put("")
async def replace_call_settings(
    services: ServicesDep,
    session: SessionDep,
    user: CurrentUser,
    extension_id: StoreInt,
    data: CallSettingsPut,
    config: ConfigStateDep,
) -> CallSettingsPublic:
    """Replace every setting; a field left out goes back to its default."""
    changes = data.model_dump(exclude_unset=True)
    return await apply_change(
        services, session, user.scope, config, extension_id, changes, replace=True
    )


@router.patch("")
async def change_call_settings(
    services: ServicesDep,
    session: SessionDep,
    user: CurrentUser,
    extension_id: StoreInt,
    data: CallSettingsPatch,
    config: ConfigStateDep,
) -> CallSettingsPublic:
    """Change the fields given; ``null`` turns a forward (or follow_me) off."""
    changes = data.model_dump(exclude_unset=True)  # a null dnd... is refused (422)
    return await apply_change(
        services, session, user.scope, config, extension_id, changes, replace=False
    )
