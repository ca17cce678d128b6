"""The builtin IVR flow ``conference_room``: an access number into a PIN conference room.

An IVR application with the flow key ``conference_room`` and the settings
``{"room": "<room name>"}`` (a room of the app's tenant, /api/v1/conference-rooms);
route DIDs to the app as to any IVR app. The caller:

1. is answered; a locked room (``locked``) says so ("the conference is locked") and
   hangs up;
2. is asked for the PIN ("please enter the conference PIN", then ``#`` or a pause):
   the moderator PIN makes a moderator, the participant PIN a participant; a room with
   only a moderator PIN lets anyone in as a participant on ``#`` alone; a wrong PIN
   hears "that PIN is invalid", three wrong ones "goodbye" and the call ends;
3. hears "please wait for the leader" if the room waits for a moderator and none is
   there (then music until one joins), or "you are the only person in this
   conference" if nobody is;
4. joins the room's conference (:class:`~orchestrator.conferences.rooms.RoomHost`); a
   conference locked through the API or full ("the conference is full") refuses.

Once in, the call belongs to the conference (its leg is kept), and the flow ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from orchestrator.conferences.rooms import Room, RoomHost
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.store.conference_rooms import ROOM_FLOW
from orchestrator.store.pins import verify_pin

log = logging.getLogger("orchestrator.conferences.rooms")

__all__ = ["PIN_TRIES", "ROOM_FLOW", "ask_pin", "room_flow"]
PIN_TRIES = 3
RoomLookup = Callable[[int, str], Awaitable[Room | None]]


async def ask_pin(call: IvrCall, room: Room) -> bool | None:
    """Ask for the PIN up to PIN_TRIES times: True for a moderator, False for a
    participant, None when no try was right. A room without PINs asks nothing."""
    if room.pin_hash is None and room.moderator_pin_hash is None:
        return False
    for _ in range(PIN_TRIES):
        await call.play(Prompt.CONFERENCE_PIN, barge_in=True)
        # Keys pressed during "invalid PIN" are the next try (a phone that types ahead).
        # Secret: the PIN never reaches the IVR's recent calls (shown to admins) or logs.
        digits = await call.collect(12, first_timeout=10, inter_timeout=5, secret=True)
        # scrypt costs tens of milliseconds of CPU: off the event loop.
        if await asyncio.to_thread(verify_pin, digits, room.moderator_pin_hash):
            return True
        if room.pin_hash is None:
            if digits == "":
                return False  # an open room: "#" alone is a participant
        elif await asyncio.to_thread(verify_pin, digits, room.pin_hash):
            return False
        await call.play(Prompt.CONFERENCE_BAD_PIN)
    return None


def room_flow(host: RoomHost, lookup: RoomLookup) -> Callable[[IvrCall], Awaitable[None]]:
    """The ``conference_room`` flow over ``host``; ``lookup(tenant_id, name)`` reads the
    room from the store (None: no such room)."""

    async def conference_room(call: IvrCall) -> None:
        name = str(call.settings.get("room", ""))
        room = await lookup(int(call.tenant), name) if call.tenant.isdigit() else None
        await call.answer()
        if room is None:
            call.log.warning("IVR app %s: no conference room %r in tenant %s",
                             call.app, name, call.tenant)  # fmt: skip
            await call.play(Prompt.SORRY, Prompt.TRY_AGAIN_LATER)
            return
        if room.locked:
            await call.play(Prompt.CONFERENCE_LOCKED, Prompt.GOODBYE)
            return
        moderator = await ask_pin(call, room)
        if moderator is None:
            await call.play(Prompt.GOODBYE)
            return
        present, moderators = await host.status(room)
        if room.wait_for_moderator and not moderator and not moderators:
            await call.play(Prompt.CONFERENCE_WAIT_FOR_MODERATOR)
        elif present == 0:
            await call.play(Prompt.CONFERENCE_ONLY_PERSON)
        outcome = await host.enter(room, call.id, number=call.caller, moderator=moderator)
        if outcome == "locked":
            await call.play(Prompt.CONFERENCE_LOCKED, Prompt.GOODBYE)
        elif outcome == "full":
            await call.play(Prompt.CONFERENCE_FULL, Prompt.GOODBYE)

    return conference_room
