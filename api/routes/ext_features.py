"""An extension's speed dials and blacklist (docs/pbx.md, "Speed dial", "Blocking callers").

Two routers over the same data functions (orchestrator/store/ext_features.py):

- ``/api/v1/extensions/{extension_id}/speed-dials`` and ``.../blacklist``: tenant admins
  for their tenant's extensions (another tenant's answer 404), system admins for any;
- ``/api/v1/me/speed-dials`` and ``/api/v1/me/blacklist``: a self-care ``user`` (or an
  agent) for its own extension, taken from the token, never from the request.

Every value is checked first (422 and nothing changed); a blacklist that becomes
non-empty or empty turns the extension's *managed* state over, and the tenant's
configuration is applied before the answer (its calls now run through the
``pbx_extension`` flow, which checks the caller). Roles: docs/roles.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, RequireAdmin, SessionDep
from api.routes.me import OwnPhoneDep
from orchestrator.bounds import StoreInt
from orchestrator.store import ext_features as store
from orchestrator.store.models import (
    BlacklistEntryIn,
    BlacklistPublic,
    BlacklistPut,
    SpeedDialSet,
    SpeedDialsPublic,
    SpeedDialsPut,
)

router = APIRouter(
    prefix="/api/v1/extensions/{extension_id}", tags=["speed-dials", "blacklist"],
    dependencies=[RequireAdmin],
)  # fmt: skip
me_router = APIRouter(prefix="/api/v1/me", tags=["self-care"])

Slot = Annotated[str, Path(max_length=8, description="two digits, 00 to 99")]


# -- the shared bodies of both routers ----------------------------------------------------------
async def _applied(config: ConfigStateDep, change: store.BlacklistChange) -> BlacklistPublic:
    if change.flipped:
        await config.changed(change.tenant_id)
    return change.blacklist


async def _replace_blacklist(
    session: SessionDep,
    config: ConfigStateDep,
    ext_id: int,
    scope: int | None,
    data: BlacklistPut,
) -> BlacklistPublic:
    entries = [e.model_dump() for e in data.entries]
    change = await run_in_threadpool(store.replace_blacklist, session, ext_id, entries, scope=scope)
    return await _applied(config, change)


async def _add_blocked(
    session: SessionDep,
    config: ConfigStateDep,
    ext_id: int,
    scope: int | None,
    data: BlacklistEntryIn,
) -> BlacklistPublic:
    change = await run_in_threadpool(
        store.add_blocked, session, ext_id, data.model_dump(), scope=scope
    )
    return await _applied(config, change)


async def _remove_blocked(
    session: SessionDep, config: ConfigStateDep, ext_id: int, scope: int | None, entry_id: int
) -> None:
    change = await run_in_threadpool(store.remove_blocked, session, ext_id, entry_id, scope=scope)
    await _applied(config, change)


# -- tenant admins: any extension of their tenant --------------------------------------------------
@router.get("/speed-dials")
def read_speed_dials(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt
) -> SpeedDialsPublic:
    """The extension's speed dials, by slot."""
    return store.get_speed_dials(session, extension_id, scope=user.scope)


@router.put("/speed-dials")
def replace_speed_dials(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt, data: SpeedDialsPut
) -> SpeedDialsPublic:
    """Replace the whole table (slots left out are emptied)."""
    entries = [e.model_dump() for e in data.entries]
    return store.replace_speed_dials(session, extension_id, entries, scope=user.scope)


@router.put("/speed-dials/{slot}")
def set_speed_dial(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt, slot: Slot, data: SpeedDialSet
) -> SpeedDialsPublic:
    """Program one slot (``00``-``99``) with a number the phone could dial."""
    return store.set_speed_dial(session, extension_id, slot, data.number, scope=user.scope)


@router.delete("/speed-dials/{slot}", status_code=status.HTTP_204_NO_CONTENT)
def clear_speed_dial(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt, slot: Slot
) -> None:
    """Empty one slot (an empty one stays empty: 204 too)."""
    store.clear_speed_dial(session, extension_id, slot, scope=user.scope)


@router.get("/blacklist")
def read_blacklist(
    session: SessionDep, user: CurrentUser, extension_id: StoreInt
) -> BlacklistPublic:
    """The callers the extension does not take."""
    return store.get_blacklist(session, extension_id, scope=user.scope)


@router.put("/blacklist")
async def replace_blacklist(
    session: SessionDep,
    user: CurrentUser,
    config: ConfigStateDep,
    extension_id: StoreInt,
    data: BlacklistPut,
) -> BlacklistPublic:
    """Replace the whole list (``{"entries": []}``: nobody blocked)."""
    return await _replace_blacklist(session, config, extension_id, user.scope, data)


@router.post("/blacklist", status_code=status.HTTP_201_CREATED)
async def add_blocked(
    session: SessionDep,
    user: CurrentUser,
    config: ConfigStateDep,
    extension_id: StoreInt,
    data: BlacklistEntryIn,
) -> BlacklistPublic:
    """Block one more number or prefix; the answer is the whole list."""
    return await _add_blocked(session, config, extension_id, user.scope, data)


@router.delete("/blacklist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_blocked(
    session: SessionDep,
    user: CurrentUser,
    config: ConfigStateDep,
    extension_id: StoreInt,
    entry_id: StoreInt,
) -> None:
    """Unblock one entry."""
    await _remove_blocked(session, config, extension_id, user.scope, entry_id)


# -- self-care: the caller's own extension ---------------------------------------------------------
@me_router.get("/speed-dials")
def my_speed_dials(phone: OwnPhoneDep, session: SessionDep) -> SpeedDialsPublic:
    """The own extension's speed dials."""
    return store.get_speed_dials(session, phone.extension_id, scope=phone.tenant_id)


@me_router.put("/speed-dials")
def replace_my_speed_dials(
    phone: OwnPhoneDep, session: SessionDep, data: SpeedDialsPut
) -> SpeedDialsPublic:
    """Replace the own table (slots left out are emptied)."""
    entries = [e.model_dump() for e in data.entries]
    return store.replace_speed_dials(session, phone.extension_id, entries, scope=phone.tenant_id)


@me_router.put("/speed-dials/{slot}")
def set_my_speed_dial(
    phone: OwnPhoneDep, session: SessionDep, slot: Slot, data: SpeedDialSet
) -> SpeedDialsPublic:
    """Program one of the own slots (as ``*74<slot><number>`` from the phone does)."""
    return store.set_speed_dial(
        session, phone.extension_id, slot, data.number, scope=phone.tenant_id
    )


@me_router.delete("/speed-dials/{slot}", status_code=status.HTTP_204_NO_CONTENT)
def clear_my_speed_dial(phone: OwnPhoneDep, session: SessionDep, slot: Slot) -> None:
    """Empty one of the own slots."""
    store.clear_speed_dial(session, phone.extension_id, slot, scope=phone.tenant_id)


@me_router.get("/blacklist")
def my_blacklist(phone: OwnPhoneDep, session: SessionDep) -> BlacklistPublic:
    """The callers the own extension does not take."""
    return store.get_blacklist(session, phone.extension_id, scope=phone.tenant_id)


@me_router.put("/blacklist")
async def replace_my_blacklist(
    phone: OwnPhoneDep, session: SessionDep, config: ConfigStateDep, data: BlacklistPut
) -> BlacklistPublic:
    """Replace the own blacklist."""
    return await _replace_blacklist(session, config, phone.extension_id, phone.tenant_id, data)


@me_router.post("/blacklist", status_code=status.HTTP_201_CREATED)
async def add_my_blocked(
    phone: OwnPhoneDep, session: SessionDep, config: ConfigStateDep, data: BlacklistEntryIn
) -> BlacklistPublic:
    """Block one more caller for the own extension."""
    return await _add_blocked(session, config, phone.extension_id, phone.tenant_id, data)


@me_router.delete("/blacklist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_my_blocked(
    phone: OwnPhoneDep, session: SessionDep, config: ConfigStateDep, entry_id: StoreInt
) -> None:
    """Unblock one entry of the own blacklist."""
    await _remove_blocked(session, config, phone.extension_id, phone.tenant_id, entry_id)
