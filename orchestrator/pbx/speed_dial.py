"""Speed dial by feature code (docs/pbx.md, "Speed dial"): the handlers of the actions
``speed_dial`` (program, ``*74``) and ``speed_dial_call`` (call, ``*0``).

=============================  ===============================================  ==============
dialed (default codes)         does                                             you hear
=============================  ===============================================  ==============
``*74<slot><number>``          slot (2 digits) -> number (``*7405102``)         SETTING_ON
``*74<slot>``                  empties the slot                                 SETTING_OFF
``*0<slot>``                   calls the slot's number from this phone          (the call)
=============================  ===============================================  ==============

A number the phone could not dial itself (not an extension of the tenant, no outbound
route takes it, the phone's own extension) is refused with FEATURE_INVALID and nothing
changes; an empty slot says SPEED_DIAL_EMPTY. Calling a slot hands the phone's call to
the tenant's dialplan with the stored digits (:meth:`IvrCall.transfer_dialed`), so it
is exactly a call the phone dialed: an extension with its forwards and blacklist, an
outside number with its outbound route, prepaid authorization, rating and CDR.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.pbx.dispatch import CodeContext, Handler
from orchestrator.store.ext_features import clear_speed_dial, set_speed_dial, speed_dial_number

__all__ = ["SpeedDials", "speed_dial_handlers"]

_SLOT = re.compile(r"[0-9]{2}")


@dataclass(slots=True)
class SpeedDials:
    """The speed-dial table of the store, for the call flows (read and written per call)."""

    sessions: Callable[[], Session]

    async def number(self, extension_id: int, slot: str) -> str | None:
        def read() -> str | None:
            with self.sessions() as session:
                return speed_dial_number(session, extension_id, slot)

        return await asyncio.to_thread(read)

    async def program(self, extension_id: int, slot: str, number: str) -> None:
        """Set (``number``) or empty (``""``) the slot; ValidationError if not dialable."""

        def write() -> None:
            with self.sessions() as session:
                if number:
                    set_speed_dial(session, extension_id, slot, number)
                else:
                    clear_speed_dial(session, extension_id, slot)

        await asyncio.to_thread(write)


def _program(dials: SpeedDials) -> Handler:
    async def speed_dial(call: IvrCall, ctx: CodeContext) -> None:
        slot, number = ctx.argument[:2], ctx.argument[2:]
        if not _SLOT.fullmatch(slot):
            await call.play(Prompt.FEATURE_INVALID)
            return
        try:
            await dials.program(ctx.extension_id, slot, number)
        except (ValidationError, NotFoundError) as exc:
            call.log.info("speed dial %s of %s refused: %s", slot, ctx.number, exc)
            await call.play(Prompt.FEATURE_INVALID)
            return
        call.log.info("speed dial %s of %s: %s", slot, ctx.number, number or "cleared")
        await call.play(Prompt.SETTING_ON if number else Prompt.SETTING_OFF)

    return speed_dial


def _call(dials: SpeedDials) -> Handler:
    async def speed_dial_call(call: IvrCall, ctx: CodeContext) -> None:
        slot = ctx.argument
        if not _SLOT.fullmatch(slot):
            await call.play(Prompt.FEATURE_INVALID)
            return
        number = await dials.number(ctx.extension_id, slot)
        if number is None:
            await call.play(Prompt.SPEED_DIAL_EMPTY)
            return
        call.log.info("speed dial %s of %s: calling %s", slot, ctx.number, number)
        await call.transfer_dialed(number)

    return speed_dial_call


def speed_dial_handlers(dials: SpeedDials) -> dict[str, Handler]:
    """The handlers, by action, to register on the feature-code dispatcher."""
    return {"speed_dial": _program(dials), "speed_dial_call": _call(dials)}
