"""Ring several destinations for one caller and connect the first that takes the call.

The machinery behind follow-me (:mod:`orchestrator.pbx.follow_me`), built on the
:class:`~orchestrator.ivr.call.IvrCall` of the caller's flow and nothing of an engine's
own, so it runs alike on Asterisk, FreeSWITCH and the FakeEngine (ring groups,
:mod:`orchestrator.pbx.ring_groups`, are the same thing with other rounds)::

    result = await ring(call, [[Leg("extension:101", 20, False)],
                               [Leg("number:+447700900123", 25, True)]])

Each *round* is a list of destinations rung at the same time, each for its own ring
time; the next round starts when every leg of the previous one failed. A leg that
answers is connected with the caller at once, or, when it must ``confirm``, first hears
"press 1 to accept the call" (:attr:`Prompt.FOLLOW_ME_ACCEPT`) and is connected only if
it presses 1 within :data:`CONFIRM_S`; another key, silence or hanging up declines it
(a mobile's voicemail "answering" a leg never presses 1, so it never gets the caller).
The first leg to take the call wins; every other leg is hung up. The caller hears
ringing meanwhile (the engine's ringback while the call is unanswered, a ring tone once
it is). Legs are dialed as :meth:`IvrCall.dial` dials them (the call's directory, its
routing, the ``dial`` notification the CDRs join them by), so an external number leaves
through the tenant's outbound route and is rated as any leg a flow dials.

``total_s`` bounds the whole ringing (a ring group's total timeout): no leg rings past
it and no round starts after it. ``on_round(i)`` is awaited before round ``i`` rings
(a round-robin group remembers there where it stopped).

Call pickup: with ``pickup`` (a :class:`~orchestrator.pbx.ringing.Pickable`), every
``extension:`` leg is registered in the ringing registry while it rings, so a phone
dialing ``*98``/``*97<ext>`` may take the call. A claim ends the ringing as a winner
would: every leg still ringing is hung up and the caller is connected with the picker's
leg instead (:func:`~orchestrator.pbx.ringing.connect_picker`); the result is
``answered``, so a ring group's fallback does not run. The claim and a leg answering are
decided synchronously (the registry in the event listener, the winner checked against
the claim before it is connected): exactly one of them gets the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from orchestrator.core.call import Leg as EngineLeg
from orchestrator.core.call import LegState
from orchestrator.core.errors import LegGoneError, OrchestratorError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegEvent,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    PlaybackFinished,
)
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing
from orchestrator.ivr.call import DIAL_STATUS, DialResult, IvrCall
from orchestrator.ivr.errors import CallEnded, CallerHungUp, CallTransferred
from orchestrator.pbx.ringing import Pickable, Ringing, connect_picker, settle

log = logging.getLogger("orchestrator.pbx")

# How long an answered leg that must confirm has to press the key, after the prompt.
CONFIRM_S = 10.0
ACCEPT_KEY = "1"
# The prompt itself is a few seconds; this bounds a confirmation whatever the engine does.
_PROMPT_GUARD_S = 30.0
# When no leg took the call: the most telling status of the legs' (someone could have
# answered > all busy > refused > no such number > anything else).
_PREFERENCE = ("no_answer", "busy", "rejected", "unallocated", "failed")


@dataclass(frozen=True, slots=True)
class Leg:
    """One destination to ring: ``extension:<n>`` or ``number:<digits>``."""

    destination: str
    ring_s: float
    confirm: bool = False


@dataclass(slots=True)
class _Verdict:
    """A confirmation ended: the leg pressed the accept key, or not."""

    leg_id: str
    accepted: bool


@dataclass(slots=True)
class _Wake:
    """Queued by a claim, so that a round waiting for events looks at it."""


@dataclass(slots=True)
class _Ringing:
    id: str
    leg: Leg
    deadline: float
    callee: IvrCall | None = None  # the answered leg as a call, to prompt and collect
    answered: bool = False
    done: bool = False
    confirming: asyncio.Task[None] | None = field(default=None, repr=False)
    entry: Ringing | None = None  # its registration for call pickup


#: Awaited with a round's index before the round rings.
RoundHook = Callable[[int], Awaitable[None]]


async def ring(
    call: IvrCall,
    rounds: Sequence[Sequence[Leg]],
    *,
    caller_id: str | None = None,
    forwarded_by: str = "",
    total_s: float | None = None,
    on_round: RoundHook | None = None,
    pickup: Pickable | None = None,
) -> DialResult:
    """Ring ``rounds`` (see the module doc) for ``call``; returns like :meth:`IvrCall.dial`.

    ``answered`` (with the talk time, once the winner hung up), else the most telling
    status of the legs (``no_answer`` when nobody took it, or when ``total_s`` ran out).
    If the caller hangs up, :class:`CallerHungUp` is raised and every leg is hung up.
    ``forwarded_by``: as :meth:`IvrCall.dial`'s (follow-me rings on an extension's behalf).
    ``pickup``: the extension legs may be picked up (the module doc).
    """
    ringer = _Ringer(call, caller_id, forwarded_by)
    ringer.pickup = pickup
    if total_s is not None:
        ringer.until = ringer.loop.time() + total_s * call.timescale
    ringer.on_round = on_round
    return await ringer.run(rounds)


class _Ringer:
    def __init__(self, call: IvrCall, caller_id: str | None, forwarded_by: str = "") -> None:
        self.call = call
        self.caller_id = caller_id
        self.forwarded_by = forwarded_by
        self.loop = asyncio.get_running_loop()
        self.until = float("inf")  # no leg rings past it (the total timeout)
        self.on_round: RoundHook | None = None
        self.queue: asyncio.Queue[Event | _Verdict | _Wake] = asyncio.Queue()
        self.legs: dict[str, _Ringing] = {}
        self.failures: list[DialResult] = []
        self.ringback = ""  # the ring tone's playback id, while it plays to an answered caller
        self.pickup: Pickable | None = None
        self.picked: Ringing | None = None  # set (synchronously) when a picker claims

    def _check(self) -> None:
        if self.call.hung_up:
            raise CallerHungUp("the caller hung up", leg_id=self.call.id)
        if self.call.transferred:
            raise CallTransferred("the call was transferred", leg_id=self.call.id)

    def _on_event(self, event: Event) -> None:
        # Synchronous, in engine order: a confirming leg's waiters must see its keys and
        # playbacks even while the loop below is busy with another leg.
        leg_id = event.leg_id if isinstance(event, LegEvent | PlaybackFinished) else ""
        ringing = self.legs.get(leg_id)
        if ringing is not None and ringing.callee is not None:
            ringing.callee.deliver(event)
        if (
            ringing is not None
            and ringing.entry is not None
            and self.pickup is not None
            and isinstance(event, LegCreated | LegStateChanged)
            and event.state == LegState.UP
        ):
            # In engine order, against a claim: a phone that takes the call at once has
            # it unless a picker was first; one that must confirm is no longer ringing.
            if ringing.leg.confirm:
                self.pickup.registry.unregister(ringing.entry)
            else:
                self.pickup.registry.answered(ringing.entry)
        self.queue.put_nowait(event)

    def _on_claim(self, entry: Ringing) -> None:
        # Inside the registry's claim: no leg may win from now on.
        if self.picked is None:
            self.picked = entry
        elif entry is not self.picked:  # cannot happen (siblings end): never leave it waiting
            settle(entry)
        self.queue.put_nowait(_Wake())

    async def run(self, rounds: Sequence[Sequence[Leg]]) -> DialResult:
        self._check()
        stop = self.call.listen(self._on_event)
        try:
            await self._ringback_on()
            for i, legs in enumerate(rounds):
                if self.loop.time() >= self.until or self.picked is not None:
                    break
                if self.on_round is not None:
                    await self.on_round(i)
                winner = await self._round(legs)
                if self.picked is not None:
                    return await self._picked_up(self.picked)
                if winner is not None:
                    return await self._connect(winner)
            if self.picked is not None:
                return await self._picked_up(self.picked)
            return _failure(self.failures)
        finally:
            stop()
            for ringing in list(self.legs.values()):
                await self._end(ringing)
            await self._ringback_off()
            if self.picked is not None:
                settle(self.picked)

    # -- one round ----------------------------------------------------------------------
    async def _round(self, legs: Sequence[Leg]) -> _Ringing | None:
        """Ring ``legs`` at once; the leg that took the call, or None when all failed."""
        live = [r for leg in legs if (r := await self._dial(leg)) is not None]
        while self.picked is None and any(not r.done for r in live):
            self._check()
            ringing = [r.deadline for r in live if not r.done and not r.answered]
            timeout = max(0.0, min(ringing) - self.loop.time()) if ringing else None
            try:
                item = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                for r in live:
                    if not r.done and not r.answered and r.deadline <= self.loop.time():
                        await self._fail(r, "no_answer", 19)
                continue
            if self.picked is not None:
                return None
            winner = await self._take(item)
            if winner is not None:
                return winner
        return None

    async def _take(self, item: Event | _Verdict | _Wake) -> _Ringing | None:
        """Apply one event (or a confirmation's verdict); the winner if it makes one."""
        if isinstance(item, _Verdict):
            r = self.legs.get(item.leg_id)
            if r is None or r.done:
                return None
            if item.accepted:
                return await self._won(r)
            self.call.notify("follow_me_declined", leg_id=r.id)
            await self._fail(r, "no_answer", 19)
            return None
        if not isinstance(item, LegEvent):
            return None
        r = self.legs.get(item.leg_id)
        if r is None or r.done:
            return None
        if isinstance(item, LegCreated | LegStateChanged) and item.state == LegState.UP:
            if r.answered:
                return None
            r.answered = True
            if not r.leg.confirm:
                return await self._won(r)
            r.confirming = asyncio.create_task(self._confirm(r), name=f"follow-me-{r.id}")
        elif isinstance(item, LegHungUp | LegLeftApp):
            cause = item.cause if isinstance(item, LegHungUp) else 16
            # Answered, then gone before accepting: it did not take the call.
            status = "no_answer" if r.answered else DIAL_STATUS.get(cause, "failed")
            await self._fail(r, status, cause)
        return None

    async def _won(self, r: _Ringing) -> _Ringing | None:
        """``r`` took the call, unless a picker was first (then it is hung up). No
        ``await`` before the verdict: a claim cannot slip in between."""
        if self.pickup is not None:
            wins = self.picked is None and (
                r.entry is None or r.leg.confirm or self.pickup.registry.answered(r.entry)
            )
            if wins:  # nobody may pick the call up at the other phones now
                for other in self.legs.values():
                    if other.entry is not None:
                        self.pickup.registry.unregister(other.entry)
            else:
                self.call.log.info("ringer: %s answered, but the call was picked up", r.id)
                await self._fail(r, "no_answer", 19)
                return None
        return r

    async def _dial(self, leg: Leg) -> _Ringing | None:
        """Originate one leg; None (and a failure noted) if it cannot even be dialed."""
        call = self.call
        try:
            target = await call.directory.resolve(call.tenant, leg.destination)
        except OrchestratorError as exc:
            call.log.warning("follow-me: %s cannot be dialed: %s", leg.destination, exc)
            self.failures.append(DialResult("unallocated", 1))
            return None
        leg_id = call.engine.new_id()
        deadline = min(self.loop.time() + leg.ring_s * call.timescale, self.until)
        left = deadline - self.loop.time()
        r = _Ringing(leg_id, leg, deadline)
        self.legs[leg_id] = r
        call.adopt(leg_id, leg.destination, forwarded_by=self.forwarded_by)
        pickup = self.pickup
        # Not once a picker took the call (it may have while we resolved the target).
        if pickup is not None and self.picked is None and leg.destination.startswith("extension:"):
            r.entry = pickup.registry.register(
                tenant_id=pickup.tenant_id,
                number=leg.destination.removeprefix("extension:"),
                call_id=call.id,
                caller=call.caller,
                leg_id=leg_id,
                ring_group=pickup.ring_group,
                ring_group_name=pickup.ring_group_name,
                forwarded_by=pickup.forwarded_by,
                on_claim=self._on_claim,
            )
        try:
            engine_leg = await call.engine.originate(
                target.dial,
                leg_id=leg_id,
                caller_id=self.caller_id or target.caller_id or call.caller,
                # The engine's own timeout, as a backstop: the deadline above ends it first.
                timeout=max(1.0, min(leg.ring_s, left / call.timescale + 1)),
                routing=Routing("dial", {"call": call.id}),
            )
        except OrchestratorError as exc:
            call.log.warning("follow-me: dialing %s failed: %s", leg.destination, exc)
            await self._fail(r, "failed", 0)
            return None
        if leg.confirm:
            r.callee = IvrCall(
                call.engine,
                call.engine.leg(leg_id) or engine_leg or EngineLeg(id=leg_id),
                tenant=call.tenant,
                app=call.app,
                directory=call.directory,
                timescale=call.timescale,
            )
        return r

    async def _confirm(self, r: _Ringing) -> None:
        """Prompt the answered leg; its verdict goes to the queue (never raises)."""
        assert r.callee is not None
        accepted = False
        try:
            async with asyncio.timeout((CONFIRM_S + _PROMPT_GUARD_S) * self.call.timescale):
                await r.callee.play(Prompt.FOLLOW_ME_ACCEPT, barge_in=True)
                key = await r.callee.collect(1, first_timeout=CONFIRM_S, terminator="")
                accepted = key == ACCEPT_KEY
        except (CallEnded, OrchestratorError, TimeoutError) as exc:
            log.debug("follow-me leg %s: no confirmation: %s", r.id, exc)
        self.queue.put_nowait(_Verdict(r.id, accepted))

    async def _fail(self, r: _Ringing, status: str, cause: int) -> None:
        self.failures.append(DialResult(status, cause, r.id))
        await self._end(r)

    async def _end(self, r: _Ringing) -> None:
        """Stop a leg: its confirmation, then the leg itself (hung up unless gone)."""
        r.done = True
        if r.entry is not None and self.pickup is not None:
            self.pickup.registry.unregister(r.entry)
        if r.confirming is not None and not r.confirming.done():
            r.confirming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await r.confirming
        await self.call.release(r.id)

    # -- the winner -----------------------------------------------------------------------
    async def _connect(self, winner: _Ringing) -> DialResult:
        """Connect the caller with ``winner`` until one of them hangs up."""
        for r in list(self.legs.values()):
            if r is not winner and not r.done:
                await self._end(r)
        await self._ringback_off()
        call = self.call
        await call.answer()
        try:
            await call.engine.connect(call.id, winner.id)
        except CallEnded:
            raise
        except LegGoneError as exc:
            if exc.details.get("leg_id") != winner.id:
                raise CallerHungUp("the caller hung up", leg_id=call.id) from None
            # It accepted, then hung up before we could connect it: a call of no length.
            return DialResult("answered", 16, winner.id, 0.0)
        started = self.loop.time()
        call.notify("connected", leg_id=winner.id)
        while True:
            item = await self.queue.get()
            self._check()
            if isinstance(item, LegHungUp | LegLeftApp) and item.leg_id == winner.id:
                cause = item.cause if isinstance(item, LegHungUp) else 16
                return DialResult("answered", cause, winner.id, self.loop.time() - started)

    async def _picked_up(self, entry: Ringing) -> DialResult:
        """A picker claimed one of the legs: hang every leg up, connect the picker."""
        assert self.pickup is not None
        for r in list(self.legs.values()):
            if not r.done:
                await self._end(r)
        await self._ringback_off()
        self.call.log.info("ringer: the call ringing at %s is picked up", entry.number)
        return await connect_picker(self.call, self.pickup.registry, entry)

    # -- what the caller hears ----------------------------------------------------------------
    async def _ringback_on(self) -> None:
        call = self.call
        if not call.answered:
            await call.ring()
            return
        self.ringback = call.engine.new_id()
        try:
            await call.engine.play(call.id, ["tone:ring"], playback_id=self.ringback)
        except OrchestratorError as exc:  # the caller gone shows at the next check
            call.log.debug("follow-me ring tone: %s", exc)
            self.ringback = ""

    async def _ringback_off(self) -> None:
        playback, self.ringback = self.ringback, ""
        if playback:
            try:
                await self.call.engine.stop_playback(playback)
            except OrchestratorError as exc:
                self.call.log.debug("follow-me ring tone: %s", exc)


def _failure(failures: Sequence[DialResult]) -> DialResult:
    if not failures:
        return DialResult("no_answer", 19)
    rank = {status: i for i, status in enumerate(_PREFERENCE)}
    return min(failures, key=lambda f: rank.get(f.status, len(rank)))
