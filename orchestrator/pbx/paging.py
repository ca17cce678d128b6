"""Intercom and paging: the feature code ``paging`` (``*46<number>``).

``*46<extension>`` is an intercom call to one phone, ``*46<group>`` pages every member
of a paging group (:mod:`orchestrator.store.paging`: a group is read first). Each phone
paged is called with the auto-answer headers
(:data:`~orchestrator.core.sip_headers.AUTO_ANSWER`: ``Call-Info ...;answer-after=0``
and ``Alert-Info ...alert-autoanswer``, both, as makers differ), so it answers on its
speaker by itself, and joins a conference *muted*: everyone paged hears the pager, and
only the pager is heard (the pager hears nothing back). Phones that cannot take a page
are skipped: the pager's own, one not registered (``Engine.endpoint_states`` says
``offline``), one busy in a call (``in_call``). A phone that does not answer within
:data:`RING_S` is given up.

The page ends when the pager hangs up (every paged phone is hung up) or when every
paged phone has hung up (the pager is hung up). Nothing to page (no such group or
extension, or every phone skipped) is ``FEATURE_INVALID`` / ``FEATURE_NOT_AVAILABLE``.
Each paged leg is the pager's call's dialed leg (``IvrCall.adopt``), so the CDR of the
page ties every leg. Built on the seam and the :class:`~orchestrator.ivr.call.IvrCall`
only, it runs alike on every engine (the conference is each engine's own: an Asterisk
mixing bridge, a FreeSWITCH mod_conference room)::

    handlers.register("paging", paging_handler(targets_of, in_call=busy))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from orchestrator.core.call import LegState
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegEvent,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
)
from orchestrator.core.prompts import Prompt
from orchestrator.core.sip_headers import AUTO_ANSWER
from orchestrator.core.targets import Routing, SipUser
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.errors import CallerHungUp, CallTransferred
from orchestrator.pbx.dispatch import CodeContext, Handler

log = logging.getLogger("orchestrator.pbx")

__all__ = ["RING_S", "PageTarget", "PageTargets", "paging_handler"]

# Auto-answer phones answer at once; one that rings this long is not taking the page.
RING_S = 8.0


@dataclass(frozen=True, slots=True)
class PageTarget:
    """A phone to page: its extension number and SIP endpoint (``<user>@<domain>``)."""

    number: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class PageTargets:
    """What ``*46<number>`` reaches: ``kind`` "group" or "intercom", ``name`` the group's
    name or the extension number, and the phones."""

    kind: str
    name: str
    targets: list[PageTarget]


# (tenant id, the digits after the code) -> what they page, or None.
TargetsLookup = Callable[[int, str], Awaitable[PageTargets | None]]
# A SIP endpoint -> whether its phone is in an answered call now.
InCall = Callable[[str], bool]


def paging_handler(targets_of: TargetsLookup, *, in_call: InCall | None = None) -> Handler:
    """The handler of the ``paging`` action (see the module doc)."""

    async def page(call: IvrCall, ctx: CodeContext) -> None:
        found = await targets_of(ctx.tenant_id, ctx.argument) if ctx.argument else None
        if found is None:
            call.log.info("paging %r from %s: no such group or extension", ctx.argument, ctx.number)
            await call.play(Prompt.FEATURE_INVALID)
            return
        targets = await _reachable(call, ctx, found.targets, in_call)
        if not targets:
            call.log.info("paging %s %s from %s: no phone to page", found.kind, found.name,
                          ctx.number)  # fmt: skip
            await call.play(Prompt.FEATURE_NOT_AVAILABLE)
            return
        call.notify("page", kind=found.kind, name=found.name,
                    targets=[t.number for t in targets])  # fmt: skip
        await _Page(call, ctx).run(targets)

    return page


async def _reachable(
    call: IvrCall, ctx: CodeContext, targets: list[PageTarget], in_call: InCall | None
) -> list[PageTarget]:
    """``targets`` without the pager's own phone, the busy ones and those not registered."""
    out = [t for t in targets if t.endpoint != ctx.endpoint and t.number != ctx.number]
    if in_call is not None:
        out = [t for t in out if not in_call(t.endpoint)]
    if not out:
        return out
    try:
        states = await call.engine.endpoint_states([t.endpoint for t in out])
    except OrchestratorError as exc:  # cannot tell: call them and see
        call.log.info("paging: reachability unknown: %s", exc)
        return out
    return [t for t in out if states.get(t.endpoint) != "offline"]


@dataclass(slots=True)
class _Paged:
    target: PageTarget
    deadline: float
    joined: bool = False
    done: bool = False


@dataclass(slots=True)
class _Page:
    call: IvrCall
    ctx: CodeContext
    legs: dict[str, _Paged] = field(default_factory=dict)
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def _check(self) -> None:
        if self.call.hung_up:
            raise CallerHungUp("the pager hung up", leg_id=self.call.id)
        if self.call.transferred:
            raise CallTransferred("the pager was transferred", leg_id=self.call.id)

    async def run(self, targets: list[PageTarget]) -> None:
        call, engine = self.call, self.call.engine
        conference = engine.new_id()
        stop = call.listen(self.queue.put_nowait)
        try:
            await engine.conferences.create(conference)
            try:
                await engine.conferences.join(conference, call.id, moderator=True)
            except OrchestratorError:
                self._check()  # the pager gone meanwhile: CallerHungUp, not a fault
                raise
            for target in targets:
                await self._dial(target)
            await self._serve(conference)
        finally:
            stop()
            for leg_id, paged in self.legs.items():
                paged.done = True
                await call.release(leg_id)
            try:
                await engine.conferences.end(conference)
            except OrchestratorError as exc:
                call.log.debug("paging: ending %s: %s", conference, exc)

    async def _dial(self, target: PageTarget) -> None:
        call = self.call
        loop = asyncio.get_running_loop()
        leg_id = call.engine.new_id()
        self.legs[leg_id] = _Paged(target, loop.time() + RING_S * call.timescale)
        call.adopt(leg_id, f"extension:{target.number}")
        try:
            await call.engine.originate(
                SipUser(target.endpoint),
                leg_id=leg_id,
                caller_id=self.ctx.number,
                timeout=RING_S,
                routing=Routing("dial", {"call": call.id}),
                headers=AUTO_ANSWER,
            )
        except OrchestratorError as exc:
            call.log.warning("paging: calling %s failed: %s", target.number, exc)
            self.legs[leg_id].done = True
            await call.release(leg_id)

    async def _serve(self, conference: str) -> None:
        """Join each paged phone as it answers, until the pager or every phone is gone."""
        call = self.call
        loop = asyncio.get_running_loop()
        while any(not p.done for p in self.legs.values()):
            self._check()
            ringing = [p.deadline for p in self.legs.values() if not p.done and not p.joined]
            timeout = max(0.0, min(ringing) - loop.time()) if ringing else None
            try:
                event = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                for leg_id, p in self.legs.items():
                    if not p.done and not p.joined and p.deadline <= loop.time():
                        call.log.info("paging: %s did not answer", p.target.number)
                        p.done = True
                        await call.release(leg_id)
                continue
            await self._apply(conference, event)
        self._check()
        if not any(p.joined for p in self.legs.values()):
            await call.play(Prompt.FEATURE_NOT_AVAILABLE)

    async def _apply(self, conference: str, event: Event) -> None:
        if not isinstance(event, LegEvent):
            return
        p = self.legs.get(event.leg_id)
        if p is None or p.done:
            return
        call = self.call
        if isinstance(event, LegCreated | LegStateChanged) and event.state == LegState.UP:
            if p.joined:
                return
            try:
                await call.engine.conferences.join(conference, event.leg_id, muted=True)
            except OrchestratorError as exc:
                call.log.info("paging: %s answered but could not join: %s", p.target.number, exc)
                p.done = True
                await call.release(event.leg_id)
                return
            p.joined = True
            call.notify("paged", leg_id=event.leg_id, number=p.target.number)
        elif isinstance(event, LegHungUp | LegLeftApp):
            p.done = True
            await call.release(event.leg_id)
