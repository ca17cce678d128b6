"""The builtin IVR flow ``pbx_inbound``: a call to a DID routed by office hours, or to a
DID of a tenant with a blacklist (docs/pbx.md, "Office hours, holidays and night mode").

The tenant's dialplan (both engines) hands such calls to the IVR flow ``pbx.in`` with
the DID (``call.routing``: ``dialed``). The flow, without answering first:

1. checks the caller number against the tenant's blacklist: an entry of action
   ``reject`` hangs up unanswered with Q.850 21 (call rejected); ``prompt`` answers,
   plays :attr:`Prompt.SORRY` and :attr:`Prompt.GOODBYE`, and hangs up;
2. reads the DID's destination; ``schedule:<name>`` is evaluated at the call's time
   (:func:`orchestrator.pbx.schedule.evaluate`; the clock is injectable for tests) with
   the tenant's night mode;
3. sends the call on: ``extension:<n>`` by a blind transfer (the extension's own
   dialplan applies: its phone, or the managed extension's flow), ``ring_group:<n>`` by
   a blind transfer to the group's number (the tenant's dialplan hands it to the ring
   group's flow), ``ivr:<name>`` by running that IVR app on the call,
   ``voicemail:<n>`` (a schedule's or holiday's only) by taking a message for
   extension n's mailbox (as a ring group's fallback does; reason ``unavailable``),
   ``hangup`` (or a destination gone since: the extension, its mailbox) by hanging up
   with 21.

Every decision is noted on the call (``inbound`` notify, for the runner's observers and
logs) and kept as the call variables ``inbound_state`` / ``inbound_destination``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.pbx.extension_flow import Lines, VoicemailDepositor, deposit
from orchestrator.pbx.schedule import Clock, Decision, Hours, evaluate, utc_now
from orchestrator.validation import parse_destination

log = logging.getLogger("orchestrator.pbx")

__all__ = ["INBOUND_FLOW", "REJECTED", "InboundFlow", "InboundPlan", "InboundRoutes", "RunApp"]

INBOUND_FLOW = "pbx_inbound"
#: Q.850 21, call rejected: a blacklisted caller, a DID that routes nowhere.
REJECTED = 21
UNALLOCATED = 1


@dataclass(frozen=True, slots=True)
class InboundPlan:
    """What the store says about one call: the DID's destination (None: not the
    tenant's DID), the blacklist action for this caller (``""``: not listed), the
    schedule the DID names (None: none, or gone) and the tenant's night mode."""

    destination: str | None
    blacklist_action: str = ""
    hours: Hours | None = None
    night_mode: bool = False


class InboundRoutes(Protocol):
    async def plan(self, tenant_id: int, did: str, caller: str) -> InboundPlan: ...


#: Runs the tenant's IVR app ``name`` on the call (the IVR's own lookup and registry).
RunApp = Callable[[IvrCall, str], Awaitable[None]]


class InboundFlow:
    """The ``pbx_inbound`` flow (register an instance in the IVR registry's builtins)."""

    def __init__(
        self,
        routes: InboundRoutes,
        *,
        run_app: RunApp | None = None,
        clock: Clock = utc_now,
        lines: Lines | None = None,
        voicemail: VoicemailDepositor | None = None,
    ) -> None:
        self.routes = routes
        self.run_app = run_app
        self.clock = clock
        self.lines = lines
        self.voicemail = voicemail

    async def __call__(self, call: IvrCall) -> None:
        did = (call.routing.get("dialed") if call.routing is not None else "") or call.called
        if not call.tenant.isdigit():
            await call.hangup(UNALLOCATED)
            return
        plan = await self.routes.plan(int(call.tenant), did, call.caller)
        if plan.blacklist_action:
            call.log.info("inbound %s: caller %r is blacklisted (%s)", did, call.caller,
                          plan.blacklist_action)  # fmt: skip
            call.notify("inbound", state="blacklisted", blacklist=plan.blacklist_action)
            if plan.blacklist_action == "prompt":
                await call.answer()
                await call.play(Prompt.SORRY, Prompt.GOODBYE)
                await call.hangup()
            else:
                await call.hangup(REJECTED)
            return
        if plan.destination is None:
            call.log.info("inbound: %r is no DID of tenant %s", did, call.tenant)
            await call.hangup(UNALLOCATED)
            return
        destination, state = plan.destination, "direct"
        if destination.startswith("schedule:"):
            if plan.hours is None:
                await self._send(call, "hangup", "no_schedule")
                return
            decision: Decision = evaluate(plan.hours, self.clock(), night_mode=plan.night_mode)
            call.log.info("inbound %s: %s at %s (%s) -> %s", did, destination, decision.local,
                          decision.state, decision.destination)  # fmt: skip
            destination, state = decision.destination, decision.state
        await self._send(call, destination, state)

    async def _send(self, call: IvrCall, destination: str, state: str) -> None:
        call.notify("inbound", state=state, destination=destination)
        call.variables["inbound_state"] = state
        call.variables["inbound_destination"] = destination
        if destination.startswith("voicemail:"):
            # Not a DID destination (parse_destination knows none): a schedule's only.
            if not await self._mailbox(call, destination.removeprefix("voicemail:")):
                await call.hangup(REJECTED)
            return
        try:
            target = parse_destination(destination)
        except ValidationError:
            target = parse_destination("hangup")
        if target.kind == "extension":
            try:
                await call.transfer(f"extension:{target.target}")
                return
            except (NotFoundError, ValidationError) as exc:
                call.log.info("inbound: %s is gone: %s", destination, exc)
        elif target.kind == "ring_group":
            # The group's number is no extension of the store: dialed as the tenant's
            # phones dial it, which reaches the pbx_ring_group flow.
            await call.transfer_dialed(target.target)
            return
        elif target.kind == "ivr" and self.run_app is not None:
            await self.run_app(call, target.target)
            return
        await call.hangup(REJECTED)

    async def _mailbox(self, call: IvrCall, number: str) -> bool:
        """A message for extension ``number``'s mailbox; False when there is none (the
        extension or its mailbox was deleted since the schedule was written)."""
        if self.lines is None or self.voicemail is None:
            return False
        tenant_id = int(call.tenant)
        line = await self.lines.line(tenant_id, number)
        if line is None:
            call.log.info("inbound: no extension %s for voicemail", number)
            return False
        taken = await deposit(self.voicemail, call, tenant_id, line, "unavailable")
        if not taken:
            call.log.info("inbound: extension %s has no mailbox", number)
        return taken
