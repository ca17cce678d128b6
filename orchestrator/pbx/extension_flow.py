"""The builtin IVR flow ``pbx_extension``: a call to a managed extension.

The tenant's dialplan sends calls for an extension with any call setting on (see
:func:`~orchestrator.store.models.call_settings.is_managed`) into the orchestrator
(flow ``pbx.ext``, routing ``dialed`` = the extension number). The flow applies the
extension's settings without answering the caller (who hears ringback):

0. the extension's blacklist (:mod:`orchestrator.pbx.blacklist`): a blocked caller is
   rejected (21) or hears "not in service" and is hung up; nothing rings;
1. DND: busy (hang up 17) or, in voicemail mode, the mailbox;
2. ``forward_all``: the target;
3. phone not registered (``Engine.endpoint_states``): ``forward_unreachable``, else the
   mailbox, else hang up 20;
4. otherwise the phone rings ``no_answer_ring_s`` (call waiting off and the phone on a
   call: busy at once). Busy: ``forward_busy`` / mailbox / 17. No answer:
   ``forward_no_answer`` / follow-me / mailbox / 19.

Forwarding to an extension applies *that* extension's settings in the same flow. The
extensions visited are remembered: a forward that would revisit one is ignored (A->B->A:
B's forward back to A is ignored, so B rings) and at most :data:`MAX_HOPS` forwards are
followed, so forwarding loops cannot multiply calls. A forward whose target is gone is
ignored likewise. Forwarding to a number is authorized like an outbound call (prepaid
money reserved, refused when there is none) and cut off when the money runs out; the
caller ID is the tenant's outbound route's if it sets one, else the original caller's.

While the phone rings, the ringing is registered in a
:class:`~orchestrator.pbx.ringing.RingingRegistry` (when the flow has one): a phone
dialing ``*98``/``*97<ext>`` may claim it, and then the ringing phone is hung up and the
caller is connected with the picker's leg instead (:mod:`orchestrator.pbx.pickup`). So
are the extensions a follow-me rings (the registry goes to ``ring_all``).

Voicemail is reached through a :class:`VoicemailDepositor` (the voicemail package's);
follow-me through :class:`RingAll` (the follow-me package's ``ring_all``). Without them
those steps are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.core.call import LegState
from orchestrator.core.errors import (
    OrchestratorError,
    PaymentRequiredError,
    ValidationError,
)
from orchestrator.core.events import Event, LegCreated, LegStateChanged
from orchestrator.core.prompts import Prompt
from orchestrator.cti.authorizer import CallAuthorizer
from orchestrator.ivr.call import DialResult, IvrCall
from orchestrator.pbx.blacklist import REJECTED, Block, blocking
from orchestrator.pbx.ringing import Pickable, RingingRegistry, connect_picker, settle

log = logging.getLogger("orchestrator.pbx")

FLOW = "pbx_extension"
#: The most forwards one call follows (A -> B -> C ... ).
MAX_HOPS = 5
# Q.850 causes the flow ends a call with.
BUSY, NO_ANSWER, UNREACHABLE, UNALLOCATED = 17, 19, 20, 1
# Dial causes that mean the phone could not be reached at all (not registered...).
_UNREACHABLE_CAUSES = frozenset({1, 3, 20, 27})
# How often the flow looks whether a forwarded number answered (to start its limit).
_ANSWER_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Line:
    """An extension as the flow needs it: where its phone is and its settings."""

    extension_id: int
    number: str
    endpoint: str  # <sip user>@<tenant domain>
    settings: Any  # CallSettingsPublic (or anything with its attributes)
    blacklist: tuple[Block, ...] = ()


class Lines(Protocol):
    async def line(self, tenant_id: int, number: str) -> Line | None:
        """The enabled extension ``number`` of the tenant, or None."""
        ...


class VoicemailDepositor(Protocol):
    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        """Take a message for the extension (``reason`` "busy"/"unavailable"); False when
        it has no mailbox (the flow goes on)."""
        ...


async def deposit(
    voicemail: VoicemailDepositor, call: IvrCall, tenant_id: int, line: Line, reason: str
) -> bool:
    """A message of ``call`` for ``line``'s mailbox; False when it has none. The time in
    the mailbox is a voicemail xDR of the call, on the extension's account
    (docs/cdrs.md): the ``voicemail`` notices around the deposit, whoever sends the
    call there (the extension flow, a schedule, a park fallback)."""
    call.notify("voicemail", phase="start", extension=line.number)
    taken: bool | None = None  # None: the caller left during the deposit
    try:
        taken = await voicemail.deposit(call, tenant_id, line.extension_id, reason)
    finally:
        call.notify("voicemail", phase="end", extension=line.number, taken=taken is not False)
    return taken


class RingAll(Protocol):
    async def __call__(
        self,
        call: IvrCall,
        steps: Sequence[Mapping[str, Any]],
        *,
        mode: str,
        forwarded_by: str = "",
        pickup: Pickable | None = None,
    ) -> DialResult:
        """Follow-me: ring the steps (sequential/simultaneous), connect the first to
        accept; returns like :meth:`IvrCall.dial` (``forwarded_by``: as its). ``pickup``:
        register the extensions rung there, so that a phone may pick the call up."""
        ...


# Forwarding to a number is authorized as a click-to-call's external leg is: the same
# shape (orchestrator.rating.clicktocall implements it).
NumberAuthorizer = CallAuthorizer


#: Whether the phone at an endpoint is on a call now (call waiting off).
InCall = Callable[[str], bool]


@dataclass(slots=True)
class _Route:
    """One call's way through the extensions."""

    tenant_id: int
    visited: list[str] = field(default_factory=list)
    hops: int = 0


class ExtensionFlow:
    """The ``pbx_extension`` flow (register an instance in the IVR registry's builtins)."""

    def __init__(
        self,
        lines: Lines,
        *,
        voicemail: VoicemailDepositor | None = None,
        ring_all: RingAll | None = None,
        authorizer: NumberAuthorizer | None = None,
        in_call: InCall | None = None,
        ringing: RingingRegistry | None = None,
    ) -> None:
        self.lines = lines
        self.voicemail = voicemail
        self.ring_all = ring_all
        self.authorizer = authorizer
        self.in_call = in_call
        self.ringing = ringing

    async def __call__(self, call: IvrCall) -> None:
        if not call.tenant.isdigit():
            await call.hangup(UNALLOCATED)
            return
        route = _Route(int(call.tenant))
        line = await self.lines.line(route.tenant_id, dialed(call))
        if line is None:
            call.log.info("pbx: no extension %r in tenant %s", dialed(call), call.tenant)
            await call.hangup(UNALLOCATED)
            return
        await self._extension(call, route, line)

    # -- one extension -------------------------------------------------------------------
    async def _extension(self, call: IvrCall, route: _Route, line: Line) -> None:
        route.visited.append(line.number)
        s = line.settings
        call.log.info("pbx: extension %s (visited %s)", line.number, route.visited)
        if await self._blocked(call, line):
            return
        if s.dnd:
            if s.dnd_mode == "voicemail" and await self._mailbox(call, route, line, "busy"):
                return
            await call.hangup(BUSY)
            return
        if s.forward_all and await self._forward(call, route, line, s.forward_all, "busy"):
            return
        if await self._offline(call, line):
            await self._unreachable(call, route, line)
            return
        if not s.call_waiting and self.in_call is not None and self.in_call(line.endpoint):
            result = DialResult("busy", BUSY)
        else:
            result = await self._ring(call, route, line)
        if result.answered:
            return
        if result.cause in _UNREACHABLE_CAUSES:
            await self._unreachable(call, route, line)
        elif result.status == "busy":
            await self._busy(call, route, line)
        else:
            await self._no_answer(call, route, line)

    async def _blocked(self, call: IvrCall, line: Line) -> bool:
        """End the call if the extension's blacklist takes the caller's number."""
        block = blocking(line.blacklist, call.caller)
        if block is None:
            return False
        call.log.info("pbx: extension %s blocks caller %s (%s %s: %s)", line.number,
                      call.caller, block.match, block.number, block.action)  # fmt: skip
        if block.action == "prompt":
            await call.answer()
            await call.play(Prompt.CALL_BLOCKED)
        await call.hangup(REJECTED)
        return True

    # -- ringing the phone, which another phone may pick up ----------------------------
    async def _ring(self, call: IvrCall, route: _Route, line: Line) -> DialResult:
        """Ring the extension's phone; a pickup claimed meanwhile takes the call instead."""
        dialing = call.dial(f"extension:{line.number}", timeout=line.settings.no_answer_ring_s)
        if self.ringing is None:
            return await dialing
        registry = self.ringing
        entry = registry.register(
            tenant_id=route.tenant_id, number=line.number, call_id=call.id, caller=call.caller
        )

        def watch(event: Event) -> None:
            # Synchronous, in engine order: the phone answering and a claim cannot both win.
            if (
                isinstance(event, LegCreated | LegStateChanged)
                and event.state == LegState.UP
                and event.leg_id != call.id
            ):
                registry.answered(entry)

        stop = call.listen(watch)
        dial = asyncio.ensure_future(dialing)
        claimed = asyncio.ensure_future(entry.claimed.wait())
        try:
            await asyncio.wait({dial, claimed}, return_when=asyncio.FIRST_COMPLETED)
            if entry.state != "claimed":
                return await dial
            # A picker took it: stop ringing the phone (the dial hangs its leg up).
            dial.cancel()
            await asyncio.gather(dial, return_exceptions=True)
            call.log.info("pbx: the call ringing at %s is picked up", line.number)
            return await connect_picker(call, registry, entry)
        finally:
            stop()
            registry.unregister(entry)
            for task in (dial, claimed):
                if not task.done():
                    task.cancel()
            await asyncio.gather(dial, claimed, return_exceptions=True)
            settle(entry)

    async def _unreachable(self, call: IvrCall, route: _Route, line: Line) -> None:
        target = line.settings.forward_unreachable
        if target and await self._forward(call, route, line, target, "unavailable"):
            return
        if not await self._mailbox(call, route, line, "unavailable"):
            await call.hangup(UNREACHABLE)

    async def _busy(self, call: IvrCall, route: _Route, line: Line) -> None:
        target = line.settings.forward_busy
        if target and await self._forward(call, route, line, target, "busy"):
            return
        if not await self._mailbox(call, route, line, "busy"):
            await call.hangup(BUSY)

    async def _no_answer(self, call: IvrCall, route: _Route, line: Line) -> None:
        s = line.settings
        if s.forward_no_answer and await self._forward(
            call, route, line, s.forward_no_answer, "unavailable"
        ):
            return
        if s.follow_me_enabled and await self._follow_me(call, line):
            return
        if not await self._mailbox(call, route, line, "unavailable"):
            await call.hangup(NO_ANSWER)

    async def _offline(self, call: IvrCall, line: Line) -> bool:
        try:
            states = await call.engine.endpoint_states([line.endpoint])
        except OrchestratorError as exc:  # cannot tell: ring it and see
            call.log.info("pbx: reachability of %s unknown: %s", line.endpoint, exc)
            return False
        return states.get(line.endpoint) == "offline"

    # -- where a forward goes ------------------------------------------------------------
    async def _forward(
        self, call: IvrCall, route: _Route, line: Line, target: str, reason: str
    ) -> bool:
        """Follow ``target``; False when it is ignored (a loop, the hop limit, gone...)."""
        kind, _, value = target.partition(":")
        if target == "voicemail":
            return await self._mailbox(call, route, line, reason)
        if route.hops >= MAX_HOPS:
            call.log.warning("pbx: forward %s -> %s ignored: %d forwards already",
                             line.number, target, route.hops)  # fmt: skip
            return False
        if kind == "extension":
            if value in route.visited:
                call.log.info("pbx: forward %s -> %s ignored: a loop (%s)",
                              line.number, value, " -> ".join(route.visited))  # fmt: skip
                return False
            other = await self.lines.line(route.tenant_id, value)
            if other is None:
                call.log.info("pbx: forward %s -> %s ignored: no such extension",
                              line.number, value)  # fmt: skip
                return False
            route.hops += 1
            await self._extension(call, route, other)
            return True
        if kind == "number":
            route.hops += 1
            return await self._number(call, route, line, value)
        call.log.warning("pbx: forward %s -> %r ignored: not a destination", line.number, target)
        return False

    async def _number(self, call: IvrCall, route: _Route, line: Line, number: str) -> bool:
        """Dial an external number, authorized and cut off like an outbound call."""
        limit: float | None = None
        if self.authorizer is not None:
            try:
                limit = await self.authorizer.authorize(
                    tenant_id=route.tenant_id,
                    call_id=call.id,
                    account=None,
                    extension=line.number,
                    numbers=[number],
                )
            except PaymentRequiredError as exc:
                call.log.info("pbx: forward %s -> %s refused: %s", line.number, number, exc)
                return False
        try:
            result = await self._dial_limited(call, f"number:{number}", limit, line.number)
        except OrchestratorError as exc:  # no route any more...
            call.log.warning("pbx: forward %s -> %s failed: %s", line.number, number, exc)
            result = DialResult("failed", 38)
        if not result.answered:
            if self.authorizer is not None:
                await self.authorizer.release(call.id)
            await call.hangup(BUSY if result.status == "busy" else NO_ANSWER)
        return True

    async def _dial_limited(
        self, call: IvrCall, destination: str, limit: float | None, forwarded_by: str
    ) -> DialResult:
        """:meth:`IvrCall.dial` on ``forwarded_by``'s behalf, hung up ``limit`` seconds
        after the far end answered."""
        dial = asyncio.ensure_future(call.dial(destination, timeout=60, forwarded_by=forwarded_by))
        if limit is None:
            return await dial
        try:
            # The flow never answers the caller itself: it is answered when the far end is.
            while not dial.done() and not call.answered:
                await asyncio.wait({dial}, timeout=_ANSWER_POLL_S * call.timescale)
            if not dial.done():
                done, _ = await asyncio.wait({dial}, timeout=limit * call.timescale)
                if not done:
                    call.log.info("pbx: forwarded call cut off after %.0f s (money)", limit)
                    dial.cancel()
                    await asyncio.gather(dial, return_exceptions=True)
                    await call.hangup()
                    return DialResult("answered", 16, "", limit)
            return dial.result()
        finally:
            if not dial.done():
                dial.cancel()
                await asyncio.gather(dial, return_exceptions=True)

    async def _mailbox(self, call: IvrCall, route: _Route, line: Line, reason: str) -> bool:
        if self.voicemail is None:
            return False
        return await deposit(self.voicemail, call, route.tenant_id, line, reason)

    async def _follow_me(self, call: IvrCall, line: Line) -> bool:
        plan = line.settings.follow_me or {}
        steps = plan.get("steps") or []
        if self.ring_all is None or not steps:
            return False
        mode = plan.get("mode", "sequential")
        try:
            if self.ringing is None:
                result = await self.ring_all(call, steps, mode=mode, forwarded_by=line.number)
            else:
                # The steps' phones may be picked up as the extension's own could.
                pickable = Pickable(self.ringing, int(call.tenant), forwarded_by=line.number)
                result = await self.ring_all(
                    call, steps, mode=mode, forwarded_by=line.number, pickup=pickable
                )
        except ValidationError as exc:  # a stored list no longer valid: on as if unset
            call.log.warning("extension %s: follow-me skipped: %s", line.number, exc)
            return False
        return result.answered


def dialed(call: IvrCall) -> str:
    """The extension number the caller dialed: the routing's ``dialed`` (the dialplan's
    argument), else the application's settings, else the leg's called number."""
    number = call.routing.get("dialed") if call.routing is not None else ""
    return number or str(call.settings.get("dialed", "")) or call.called
