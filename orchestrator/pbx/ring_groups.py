"""The builtin IVR flow ``pbx_ring_group``: a call to a ring group's number.

The tenant's dialplan sends calls for a ring group's number (dialed by a phone, or a DID
routed ``ring_group:<number>``) into the orchestrator (flow ``pbx.rg``, routing
``dialed`` = the number). The flow reads the group per call (a change applies to the
next call, no engine reload), rings its members with :func:`~orchestrator.pbx.ringer.ring`
and connects the first to take the call; the caller hears ringback meanwhile:

- ``simultaneous``: every member at once, each for its own ``ring_s``;
- ``sequential``: one member after the other, in the listed order;
- ``round_robin``: one after the other, starting with the member after the last one the
  previous call rang (remembered in the store per group, so it survives a restart).

The group's ``timeout_s`` bounds the whole ringing. Nobody took the call (or nobody
could be rung): the *fallback* — ``extension:<n>`` (a blind transfer: what the tenant's
dialplan does for n applies, forwarding and voicemail included), ``voicemail:<n>``
(extension n's mailbox takes a message), ``ivr:<name>`` (that IVR app's flow takes the
call), else the call is hung up (17 when every member was busy, else 19). Every rung
leg is dialed for the caller's call (:meth:`~orchestrator.ivr.call.IvrCall.adopt`), so
the call's CDR ties each of them. A call nobody took is published as
``ring_group_unanswered`` (the tenant's event stream, so the WebSocket and webhooks;
the event's call names the member extensions, so a member's own subscription sees it).

With the ringing registry (``ringing``), the members' phones may be picked up while they
ring (``*98`` from a phone in a pickup group with the member, ``*97<member>``): the picker
gets the caller, the other members stop ringing, and the group's flow ends there (no
fallback); ``call_picked_up`` names the group (:mod:`orchestrator.pbx.pickup`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.core.errors import OrchestratorError, ValidationError
from orchestrator.ivr.call import DialResult, IvrCall
from orchestrator.pbx import ring_group_rules as rules
from orchestrator.pbx.extension_flow import Lines, VoicemailDepositor, dialed
from orchestrator.pbx.ring_group_rules import Member
from orchestrator.pbx.ringer import Leg, RoundHook, ring
from orchestrator.pbx.ringing import Pickable, RingingRegistry

log = logging.getLogger("orchestrator.pbx")

FLOW = "pbx_ring_group"
BUSY, NO_ANSWER, UNALLOCATED = 17, 19, 1


@dataclass(frozen=True, slots=True)
class Group:
    """A ring group as the flow needs it (members checked)."""

    id: int
    tenant_id: int
    name: str
    number: str
    strategy: str
    members: tuple[Member, ...]
    timeout_s: int
    fallback: str = "hangup"
    rr_next: int = 0


class Groups(Protocol):
    async def group(self, tenant_id: int, number: str) -> Group | None:
        """The tenant's ring group dialed as ``number``, or None."""
        ...

    async def next_start(self, group_id: int, start: int) -> None:
        """Remember the member a round-robin group's next call starts with."""
        ...


#: Runs the tenant's IVR app ``name`` on the call; False when there is no such app.
RunIvr = Callable[[IvrCall, str], Awaitable[bool]]
#: Publishes one tenant event: (event name, tenant id, the "call" snapshot, details) —
#: the CTI event stream's ``publish``.
Publish = Callable[[str, int, dict[str, Any], dict[str, Any]], Any]


class RingGroupFlow:
    """The ``pbx_ring_group`` flow (register an instance in the IVR registry's builtins)."""

    def __init__(
        self,
        groups: Groups,
        *,
        lines: Lines | None = None,
        voicemail: VoicemailDepositor | None = None,
        run_ivr: RunIvr | None = None,
        publish: Publish | None = None,
        ringing: RingingRegistry | None = None,
    ) -> None:
        self.groups = groups
        self.ringing = ringing
        self.lines = lines
        self.voicemail = voicemail
        self.run_ivr = run_ivr
        self.publish = publish

    async def __call__(self, call: IvrCall) -> None:
        if not call.tenant.isdigit():
            await call.hangup(UNALLOCATED)
            return
        group = await self.groups.group(int(call.tenant), dialed(call))
        if group is None:
            call.log.info("pbx: no ring group %r in tenant %s", dialed(call), call.tenant)
            await call.hangup(UNALLOCATED)
            return
        call.log.info("pbx: ring group %s (%s, %d members)", group.number, group.strategy,
                      len(group.members))  # fmt: skip
        call.notify("ring_group", number=group.number, name=group.name, strategy=group.strategy)
        result = await self._ring(call, group)
        if result.answered:
            return
        call.notify("ring_group_unanswered", number=group.number, status=result.status)
        self._unanswered(call, group, result)
        await self._fallback(call, group, result)

    def _unanswered(self, call: IvrCall, group: Group, result: DialResult) -> None:
        if self.publish is None:
            return
        extensions = [
            m.destination.removeprefix("extension:")
            for m in group.members
            if m.destination.startswith("extension:")
        ]
        about = {"id": call.id, "tenant_id": group.tenant_id, "extensions": extensions}
        details = {
            "ring_group": group.number,
            "name": group.name,
            "strategy": group.strategy,
            "status": result.status,
            "caller": call.caller,
            "fallback": group.fallback,
        }
        try:
            self.publish("ring_group_unanswered", group.tenant_id, about, details)
        except Exception:  # an event lost must not lose the call its fallback
            call.log.exception("could not publish ring_group_unanswered")

    async def _ring(self, call: IvrCall, group: Group) -> DialResult:
        if not group.members:
            return DialResult("no_answer", NO_ANSWER)
        count = len(group.members)
        start = group.rr_next % count if group.strategy == "round_robin" else 0
        on_round: RoundHook | None = None
        if group.strategy == "round_robin":

            async def on_round(i: int) -> None:
                # Round i rings member start+i: the next call starts after it.
                try:
                    await self.groups.next_start(group.id, (start + i + 1) % count)
                except Exception:  # the call rings on; the next one starts here again
                    call.log.exception("ring group %s: round-robin position not saved",
                                       group.number)  # fmt: skip

        rounds = [
            [Leg(m.destination, float(m.ring_s), m.confirm) for m in members]
            for members in rules.rounds(group.members, group.strategy, start=start)
        ]
        pickup = None
        if self.ringing is not None:
            pickup = Pickable(self.ringing, group.tenant_id, group.number, group.name)
        return await ring(
            call, rounds, total_s=float(group.timeout_s), on_round=on_round, pickup=pickup
        )

    async def _fallback(self, call: IvrCall, group: Group, result: DialResult) -> None:
        cause = BUSY if result.status == "busy" else NO_ANSWER
        try:
            kind, target = rules.parse_fallback(group.fallback)
        except ValidationError as exc:  # a row written by hand: hang up
            call.log.warning("ring group %s: fallback ignored: %s", group.number, exc)
            kind, target = "hangup", ""
        if kind == "extension":
            try:
                await call.transfer(f"extension:{target}")
                return
            except (OrchestratorError, ValidationError) as exc:
                call.log.warning("ring group %s: fallback %s: %s", group.number, target, exc)
        taken = False
        if kind == "voicemail":
            taken = await self._mailbox(call, group, target)
        elif kind == "ivr" and self.run_ivr is not None:
            taken = await self.run_ivr(call, target)
        if not taken:
            await call.hangup(cause)

    async def _mailbox(self, call: IvrCall, group: Group, number: str) -> bool:
        if self.lines is None or self.voicemail is None:
            return False
        line = await self.lines.line(group.tenant_id, number)
        if line is None:
            call.log.info("ring group %s: no extension %s for voicemail", group.number, number)
            return False
        return await self.voicemail.deposit(call, group.tenant_id, line.extension_id, "unavailable")
