"""Data functions for conference rooms (model: orchestrator/store/models/conference_rooms.py).

A room is reached by an IVR app of the flow ``conference_room`` whose settings name it
(``{"room": "<name>"}``), and through that app by its access numbers (DIDs). ``scope``
is the tenant a tenant admin acts for (``None`` for a system admin): other tenants'
rooms answer 404. PINs come in clear (``pin``, ``moderator_pin``) and are stored only
as salted scrypt hashes (:mod:`orchestrator.store.pins`). Example::

    room = create_room(session=s, data=ConferenceRoomCreate(
        tenant_id=1, name="board", number="800", pin="1234", moderator_pin="9876",
        wait_for_moderator=True))
    get_room(s, 1, "board")   # what the call flow reads on each call
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, ValidationError
from orchestrator.ivr.media import media_item
from orchestrator.store._common import (
    bump_config,
    commit,
    exists,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import (
    ConferenceRoom,
    ConferenceRoomCreate,
    ConferenceRoomPublic,
    ConferenceRoomUpdate,
    Extension,
    IvrApp,
    RingGroup,
    utcnow,
)
from orchestrator.store.pins import check_pin, hash_pin, verify_pin

__all__ = [
    "ROOM_FLOW",
    "create_room",
    "delete_room",
    "get_room",
    "list_rooms",
    "public_room",
    "read_room",
    "update_room",
]

ROOM_FLOW = "conference_room"
_FLAGS = (
    "wait_for_moderator",
    "end_when_moderator_leaves",
    "announce_join_leave",
    "record",
    "locked",
    "muted_on_join",
)
_NOT_NULL = ("name", "number", "max_participants", *_FLAGS)


def public_room(room: ConferenceRoom) -> ConferenceRoomPublic:
    """The API's view: no PIN, no hash; whether each PIN is set."""
    return ConferenceRoomPublic.model_validate(
        {
            **room.model_dump(exclude={"pin_hash", "moderator_pin_hash"}),
            "has_pin": room.pin_hash is not None,
            "has_moderator_pin": room.moderator_pin_hash is not None,
        }
    )


def _sound(value: Any, field: str) -> str | None:
    if value is None:
        return None
    try:
        item = media_item(value)
    except ValidationError:
        item = ""
    if not item.startswith(("sound:", "prompt:")):
        raise ValidationError(
            f"{field}: must be a sound name ('sound:custom/chime') or a stock prompt",
            field=field,
        )
    return item


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    """Check every given field; PINs become ``*_hash`` (None removes one)."""
    refuse_nulls(values, *(k for k in _NOT_NULL if k in values))
    out: dict[str, Any] = {}
    if "name" in values:
        out["name"] = v.ivr_name(values["name"], field="name")
    if "number" in values:
        out["number"] = v.extension_number(values["number"], field="number")
    for flag in _FLAGS:
        if flag in values:
            if not isinstance(values[flag], bool):
                raise ValidationError(f"{flag}: must be true or false", field=flag)
            out[flag] = values[flag]
    if "max_participants" in values:
        out["max_participants"] = v.bounded_int(
            values["max_participants"], 2, 200, field="max_participants"
        )
    for field in ("join_sound", "leave_sound"):
        if field in values:
            out[field] = _sound(values[field], field)
    pins = {f: values[f] for f in ("pin", "moderator_pin") if f in values}
    for field, pin in pins.items():
        if pin is not None:
            check_pin(pin, field=field)
    if pins.get("pin") is not None and pins.get("pin") == pins.get("moderator_pin"):
        raise ValidationError(
            "moderator_pin: must differ from pin (the PIN says who is a moderator)",
            field="moderator_pin",
        )
    for field, pin in pins.items():
        out[f"{field}_hash"] = None if pin is None else hash_pin(pin)
    return out


def _check_rules(room: ConferenceRoom) -> None:
    """Rules across fields, on the room as it would be saved."""
    if room.moderator_pin_hash is None:
        for rule in ("wait_for_moderator", "end_when_moderator_leaves"):
            if getattr(room, rule):
                raise ValidationError(
                    f"{rule}: needs a moderator_pin (nobody could be a moderator)", field=rule
                )


def _check_distinct(room: ConferenceRoom, raw: dict[str, Any]) -> None:
    """A new PIN must not be the room's other PIN kept as it is (only a hash is kept,
    so it is tried against it)."""
    for new, other in (("pin", "moderator_pin"), ("moderator_pin", "pin")):
        pin = raw.get(new)
        if pin is not None and other not in raw and verify_pin(pin, getattr(room, f"{other}_hash")):
            raise ValidationError(
                f"{new}: must differ from {other} (the PIN says who is a moderator)", field=new
            )


def _check_free(session: Session, room: ConferenceRoom) -> None:
    for field in ("name", "number"):
        column = getattr(ConferenceRoom, field)
        stmt = select(ConferenceRoom.id).where(
            ConferenceRoom.tenant_id == room.tenant_id,
            column == getattr(room, field),
            ConferenceRoom.id != room.id,
        )
        if exists(session, stmt):
            raise ConflictError(
                f"a conference room with {field} {getattr(room, field)} already exists",
                field=field,
            )
    stmt = select(Extension.id).where(
        Extension.tenant_id == room.tenant_id, Extension.number == room.number
    )
    if exists(session, stmt):
        raise ConflictError(f"number: {room.number} is an extension of this tenant", field="number")
    stmt = select(RingGroup.id).where(
        RingGroup.tenant_id == room.tenant_id, RingGroup.number == room.number
    )
    if exists(session, stmt):
        raise ConflictError(f"number: {room.number} is a ring group of this tenant", field="number")


def _apps_naming(session: Session, room: ConferenceRoom) -> list[str]:
    """The names of the tenant's ``conference_room`` IVR apps that reach this room."""
    stmt = select(IvrApp).where(IvrApp.tenant_id == room.tenant_id, IvrApp.app == ROOM_FLOW)
    return sorted(a.name for a in session.exec(stmt).all() if a.settings.get("room") == room.name)


def create_room(
    *, session: Session, data: ConferenceRoomCreate, scope: int | None = None
) -> ConferenceRoom:
    """Create a room in ``data.tenant_id``; name and number unique within the tenant."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    raw = data.model_dump(exclude={"tenant_id"})
    values = _fields(raw)
    room = ConferenceRoom(**values, tenant_id=tenant_id)
    _check_rules(room)
    _check_free(session, room)
    session.add(room)
    bump_config(session, tenant_id)  # its number is in the tenant's dialplan
    commit(session, room, what="conference room")
    return room


def read_room(*, session: Session, room_id: int, scope: int | None = None) -> ConferenceRoom:
    """The room ``room_id`` (if visible in ``scope``), or :class:`NotFoundError`."""
    return read_scoped(
        session, ConferenceRoom, room_id, scope, what="conference room", room_id=room_id
    )


def get_room(session: Session, tenant_id: int, name: str) -> ConferenceRoom | None:
    """The tenant's room called ``name``, or None: the call flow's lookup."""
    stmt = select(ConferenceRoom).where(
        ConferenceRoom.tenant_id == tenant_id, ConferenceRoom.name == name
    )
    return session.exec(stmt).first()


def list_rooms(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[ConferenceRoom], int]:
    """One page of rooms, by tenant and name."""
    return page_by_tenant(
        session,
        ConferenceRoom,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=(ConferenceRoom.tenant_id, ConferenceRoom.name),
    )


def update_room(
    *, session: Session, room_id: int, data: ConferenceRoomUpdate, scope: int | None = None
) -> ConferenceRoom:
    """Change the fields given; renaming is refused while an IVR app names the room."""
    room = read_room(session=session, room_id=room_id, scope=scope)
    raw = data.model_dump(exclude_unset=True)
    values = _fields(raw)
    if values.get("name", room.name) != room.name:
        apps = _apps_naming(session, room)
        if apps:
            raise ConflictError(
                f"IVR apps {', '.join(apps)} reach room {room.name}; change them first",
                ivr_apps=apps,
            )
    # Checked on a copy, so a refused change leaves the session's row untouched.
    _check_distinct(room, raw)
    candidate = ConferenceRoom.model_validate({**room.model_dump(), **values})
    _check_rules(candidate)
    _check_free(session, candidate)
    room.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(room)
    if "number" in values or "name" in values:
        bump_config(session, room.tenant_id)
    commit(session, room, what="conference room")
    return room


def delete_room(*, session: Session, room_id: int, scope: int | None = None) -> ConferenceRoom:
    """Delete a room; refused (409) while an IVR app names it."""
    room = read_room(session=session, room_id=room_id, scope=scope)
    apps = _apps_naming(session, room)
    if apps:
        raise ConflictError(
            f"IVR apps {', '.join(apps)} reach room {room.name}; change them first",
            ivr_apps=apps,
        )
    session.delete(room)
    bump_config(session, room.tenant_id)
    commit(session, what="conference room")
    return room
