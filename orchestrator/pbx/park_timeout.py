"""What happens to a parked call nobody took back: the parker's phone rings again, then
the lot's *fallback* gets the call (:class:`ParkFallback`), as a ring group's fallback
does: ``extension:<n>`` (a blind transfer), ``voicemail:<n>`` (extension n's mailbox
takes a message), ``ivr:<name>`` (the tenant's IVR app runs on the call),
``ring_group:<n>`` (dialed as the tenant's phones dial it) or ``hangup``.

The ring-back leg is dialed from the parked caller's :class:`~orchestrator.ivr.IvrCall`,
whose observers are the IVR runner's: the CDR builder ties the ring-back leg, the
fallback and the park's service span to the parked caller's CDR.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError, ValidationError
from orchestrator.ivr import IvrCall
from orchestrator.pbx.extension_flow import Lines, deposit
from orchestrator.pbx.voicemail.deposit import VoicemailDepositor
from orchestrator.store.park import Lot, parse_fallback

log = logging.getLogger("orchestrator.pbx")

__all__ = ["ParkFallback", "first_of", "ring_back"]

# Hang-up causes: nobody answered (the ring-back), as a ring group's fallback ends.
NO_ANSWER = 19
RunIvr = Callable[[IvrCall, str], Awaitable[bool]]


@dataclass(slots=True)
class ParkFallback:
    """Routes a parked call to its lot's fallback (see the module doc). Without
    ``voicemail``/``lines`` (or ``run_ivr``) those fallbacks hang up."""

    voicemail: VoicemailDepositor | None = None
    lines: Lines | None = None
    run_ivr: RunIvr | None = None

    async def route(self, call: IvrCall, tenant_id: int, fallback: str) -> None:
        """Send ``call`` to ``fallback``; it ends hung up unless it was transferred."""
        try:
            kind, target = parse_fallback(fallback)
        except ValidationError as exc:  # a row written around the API: hang up
            call.log.warning("park: fallback %r ignored: %s", fallback, exc)
            kind, target = "hangup", ""
        call.notify("park_fallback", fallback=fallback, kind=kind)
        try:
            if kind == "extension":
                await call.transfer(f"extension:{target}")
                return
            if kind == "ring_group":
                # The group's number is no extension of the store: dialed as the
                # tenant's phones dial it, which reaches the pbx_ring_group flow.
                await call.transfer_dialed(target)
                return
            if kind == "voicemail":
                await self._mailbox(call, tenant_id, target)
            elif kind == "ivr" and self.run_ivr is not None:
                await self.run_ivr(call, target)
        except (OrchestratorError, ValidationError) as exc:
            call.log.warning("park: fallback %s failed: %s", fallback, exc)
        if not call.transferred:
            await call.hangup(NO_ANSWER)

    async def _mailbox(self, call: IvrCall, tenant_id: int, number: str) -> bool:
        if self.lines is None or self.voicemail is None:
            return False
        line = await self.lines.line(tenant_id, number)
        if line is None:
            call.log.info("park: no extension %s for the voicemail fallback", number)
            return False
        return await deposit(self.voicemail, call, tenant_id, line, "unavailable")


async def ring_back(
    engine: Engine, call: IvrCall, parker: str, lot: Lot, fallback: ParkFallback
) -> None:
    """Off hold, ring the parker's extension for the lot's ``ringback_s``; nobody
    answers (or there is no parker): the lot's fallback."""
    await engine.unhold(call.id)
    if parker:
        result = await call.dial(f"extension:{parker}", timeout=lot.ringback_s)
        if result.answered:
            await call.hangup()  # they talked, and the parker hung up
            return
    await fallback.route(call, lot.tenant_id, lot.fallback)


async def first_of(call: IvrCall, event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` or ``seconds`` (scaled by the call): True when the time ran
    out first; CallerHungUp (a CallEnded) if ``call`` hangs up first."""
    sleeping = asyncio.ensure_future(call.sleep(seconds))
    waiting = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({sleeping, waiting}, return_when="FIRST_COMPLETED")
    finally:
        for task in (sleeping, waiting):
            task.cancel()
        await asyncio.gather(sleeping, waiting, return_exceptions=True)
    if waiting in done:
        return False
    sleeping.result()
    return True
