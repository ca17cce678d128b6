"""``/api/v1/conference-rooms``: a tenant's PIN conference rooms (docs/conferences.md, Rooms).

Tenant admins manage their tenant's rooms (others answer 404), system admins any. PINs
are write-only: given in clear on create/update, stored hashed, shown only as
``has_pin`` / ``has_moderator_pin``; ``null`` removes one. Callers reach a room through
an IVR app of the flow ``conference_room`` with the settings ``{"room": "<name>"}``.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page
from orchestrator.bounds import StoreInt
from orchestrator.store import conference_rooms as rooms
from orchestrator.store.models import (
    ConferenceRoomCreate,
    ConferenceRoomPublic,
    ConferenceRoomUpdate,
)

router = APIRouter(
    prefix="/api/v1/conference-rooms", tags=["conference-rooms"], dependencies=[RequireAdmin]
)


@router.get("")
def list_rooms(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[ConferenceRoomPublic]:
    """Conference rooms visible to the caller, by tenant and name."""
    rows, total = rooms.list_rooms(
        session=session,
        offset=page.offset,
        limit=page.limit,
        tenant_id=tenant_id,
        scope=user.scope,
    )
    return Page[ConferenceRoomPublic](
        items=[rooms.public_room(r) for r in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_room(
    session: SessionDep, user: CurrentUser, data: ConferenceRoomCreate, config: ConfigStateDep
) -> ConferenceRoomPublic:
    """Create a room in ``tenant_id`` (PINs hashed with scrypt; hashing runs off the loop);
    its number is dialable from the tenant's phones once the dialplan is applied."""
    room = await run_in_threadpool(rooms.create_room, session=session, data=data, scope=user.scope)
    await config.changed(room.tenant_id)
    return rooms.public_room(room)


@router.get("/{room_id}")
def read_room(session: SessionDep, user: CurrentUser, room_id: StoreInt) -> ConferenceRoomPublic:
    return rooms.public_room(rooms.read_room(session=session, room_id=room_id, scope=user.scope))


@router.patch("/{room_id}")
async def update_room(
    session: SessionDep,
    user: CurrentUser,
    room_id: StoreInt,
    data: ConferenceRoomUpdate,
    config: ConfigStateDep,
) -> ConferenceRoomPublic:
    """Change a room (only the fields given); renaming is 409 while an IVR app names it."""
    room = await run_in_threadpool(
        rooms.update_room, session=session, room_id=room_id, data=data, scope=user.scope
    )
    if data.number is not None or data.name is not None:
        await config.changed(room.tenant_id)
    return rooms.public_room(room)


@router.delete("/{room_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_room(
    session: SessionDep, user: CurrentUser, room_id: StoreInt, config: ConfigStateDep
) -> None:
    """Delete a room; 409 while an IVR app names it."""
    room = await run_in_threadpool(
        rooms.delete_room, session=session, room_id=room_id, scope=user.scope
    )
    await config.changed(room.tenant_id)
