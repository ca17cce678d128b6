"""Call pickup: answer, from one's own phone, a call ringing at another extension.

- ``*98`` (``group_pickup``): the call ringing longest at another member of any pickup
  group the picker is in;
- ``*97<ext>`` (``directed_pickup``): the call ringing longest at extension ``<ext>``
  (any extension whose ringing the orchestrator does: a managed one).

The picker's phone dialed a feature code, so it is already answered by the ``pbx_code``
flow, which runs the handler below. The handler claims a ringing call in the
:class:`~orchestrator.pbx.ringing.RingingRegistry` (race-free: of two pickers exactly one
gets it, the other hears "no call to pick up", :attr:`Prompt.PICKUP_NONE`). The phone
may ring for a call to its extension (``pbx_extension``,
:mod:`orchestrator.pbx.extension_flow`), for a ring group or for a follow-me (both
through :mod:`orchestrator.pbx.ringer`); the caller's flow then hangs up every phone
ringing for that caller, answers the caller and connects it with the picker's leg
(:func:`~orchestrator.pbx.ringing.connect_picker`); the handler waits until either
party hangs up, so both flows end together. The caller's CDR ties the picker's leg
(``dial`` with ``picked_up``: the ``picked_up`` xDR), and ``call_picked_up`` is
published on the tenant's stream (naming the ring group, if one rang the phone).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from orchestrator.core.errors import ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.pbx.dispatch import CodeContext, Handler
from orchestrator.pbx.ringing import Kind, RingingRegistry, until
from orchestrator.validation import extension_number

log = logging.getLogger("orchestrator.pbx")

__all__ = ["GroupLookup", "PickupHandlers"]

#: (tenant id, the picker's extension number) -> the other members of its pickup groups.
GroupLookup = Callable[[int, str], Awaitable[Sequence[str]]]


class PickupHandlers:
    """The ``group_pickup`` and ``directed_pickup`` handlers over one registry."""

    def __init__(self, registry: RingingRegistry, groups: GroupLookup) -> None:
        self.registry = registry
        self.groups = groups

    def handlers(self) -> dict[str, Handler]:
        return {"group_pickup": self.group_pickup, "directed_pickup": self.directed_pickup}

    async def group_pickup(self, call: IvrCall, ctx: CodeContext) -> None:
        numbers = await self.groups(ctx.tenant_id, ctx.number)
        await self._pick(call, ctx, [n for n in numbers if n != ctx.number], "group")

    async def directed_pickup(self, call: IvrCall, ctx: CodeContext) -> None:
        # The dispatcher let 1 to 20 digits through; an extension is 2 to 10.
        try:
            target = extension_number(ctx.argument, field="argument")
        except ValidationError:
            target = ""
        numbers = [target] if target and target != ctx.number else []
        await self._pick(call, ctx, numbers, "directed")

    async def _pick(self, call: IvrCall, ctx: CodeContext, numbers: list[str], kind: Kind) -> None:
        entry = self.registry.claim(
            ctx.tenant_id, numbers, picker_leg=call.id, picker_number=ctx.number, kind=kind
        )
        if entry is None:
            call.log.info("pickup (%s) by %s: nothing ringing at %s", kind, ctx.number, numbers)
            await call.play(Prompt.PICKUP_NONE)
            return
        pickup = entry.pickup
        assert pickup is not None
        try:
            # The caller's flow connects us (or finds the call gone): wait for its word.
            if not await until(call, pickup.outcome) or not pickup.outcome.result():
                await call.play(Prompt.PICKUP_NONE)
                return
            await until(call, pickup.caller_gone)
        finally:
            pickup.picker_gone.set()
