"""Attended (consultative) transfer of a two-party call the orchestrator connected.

The party that stays (``held``) is disconnected and put on hold (music on hold); the
other party (the ``transferer``) hears ringback while the ``target`` is called; when the
target answers it is connected with the transferer (the consultation). Then:

======================================  ==============================================
what happens                            outcome
======================================  ==============================================
``complete`` while talking              held + target connected, transferer hung up
``complete`` while the target rings     transferer hung up now; held + target connected
                                        when the target answers (music until then)
``cancel``; target busy, no answer,     target dropped, held + transferer reconnected
or hangs up
transferer hangs up, target answered    completes (as PBXs do)
transferer hangs up, target ringing     as ``complete`` while ringing
held party hangs up                     the consultation becomes the call: transferer
                                        and target (once it answers) talk on
held and transferer both gone           target dropped; the call ends
======================================  ==============================================

Events: ``transfer_started``, ``transferred`` (the call goes on with the new party:
``details.attended`` is true) and ``transfer_cancelled`` (``details.reason``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.targets import Routing
from orchestrator.cti.authorizer import CallAuthorizer
from orchestrator.cti.commands import AttendedTransferParams, destination
from orchestrator.cti.errors import CallStateError, TransferStateError
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg, CallRegistry, CallState
from orchestrator.ivr.directory import Directory, Target

log = logging.getLogger("orchestrator.cti")

# Margin on top of the target's ring time for the engine to report the outcome.
ENGINE_MARGIN_S = 10.0
# How long a transfer asked for right after both parties answered waits for their connection.
CONNECT_WAIT_S = 2.0
# The role of the consulted party's leg until the transfer completes.
TARGET_ROLE = "target"
# The music-on-hold class the held party hears while set aside.
MUSIC = "default"


class ConsultState(enum.StrEnum):
    RINGING = "ringing"  # the target is being called
    TALKING = "talking"  # the target answered and talks with the transferer


@dataclass(slots=True, eq=False)
class Consultation:
    """One attended transfer in progress on ``call`` (``call.transfer`` while it lasts)."""

    call: ActiveCall
    held: CallLeg
    transferer: CallLeg
    target: CallLeg
    to: str
    kind: str  # the target's: "extension" or "number"
    ring_s: float
    state: ConsultState = ConsultState.RINGING
    # Set when the transferer left (or asked to complete) before the target answered.
    complete_on_answer: bool = False
    # Prepaid: the seconds an external target may talk from its answer (None: no limit).
    limit: float | None = None
    done: bool = False
    ringback: str = ""  # the playback id of the transferer's ringback (Engine.new_id)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "to": self.to,
            "held_leg": self.held.id,
            "transferer_leg": self.transferer.id,
            "target_leg": self.target.id,
            "complete_on_answer": self.complete_on_answer,
        }


class AttendedTransfers:
    """Starts, completes and cancels consultations; one watcher task per consultation."""

    def __init__(
        self, engine: Engine, calls: CallRegistry, tasks: set[asyncio.Task[None]], max_s: float
    ) -> None:
        self.engine = engine
        self.calls = calls
        self._tasks = tasks
        self.max_s = max_s

    # -- commands --------------------------------------------------------------------
    async def begin(
        self,
        call: ActiveCall,
        args: AttendedTransferParams,
        directory: Directory,
        *,
        connected: Callable[[], bool],
        authorizer: CallAuthorizer | None = None,
    ) -> dict[str, Any]:
        """Check the call, resolve the target, and start the consultation.

        ``connected()``: whether the call's driver has connected both parties.
        ``authorizer``: asked before an external target rings (prepaid billing); a refusal
        (PaymentRequiredError) leaves the call as it was.
        """
        if call.transfer is not None:
            raise TransferStateError(
                "an attended transfer is already in progress on this call; "
                "complete or cancel it first",
                call_id=call.id,
            )
        if call.kind not in (CallKind.CLICK_TO_CALL, CallKind.ORIGINATE):
            raise CallStateError(
                "attended transfer applies to click-to-call and originated calls; "
                "use transfer (blind) on this call",
                call_id=call.id,
                kind=str(call.kind),
            )
        held = call.leg(args.leg)
        other = call.leg("b" if args.leg == "a" else "a")
        if held is not None and other is not None and held.up and other.up:
            # Both answered: the driver connects them in a moment (clients see "up" first).
            await call.wait_until(lambda: connected() or call.ended, CONNECT_WAIT_S)
        if (
            held is None
            or other is None
            or not (held.up and other.up)
            or not connected()
            or call.state is not CallState.ANSWERED
        ):
            raise CallStateError(
                "both parties must be connected (and not on hold) for an attended transfer",
                call_id=call.id,
                state=str(call.state),
            )
        # Resolved before anything changes: a bad destination leaves the call as it was.
        target = await directory.resolve(str(call.tenant_id), destination(args.to))
        limit = None
        if authorizer is not None and target.kind == "number":
            # Reserved under the call's id with its other legs: rating its CDR releases it.
            limit = await authorizer.authorize(
                tenant_id=call.tenant_id,
                call_id=call.id,
                account=call.account,
                extension=call.caller if call.caller in call.extensions else None,
                numbers=[target.number],
            )
        c = await self.start(call, held, other, target, ring_s=args.timeout)
        c.limit = limit
        return c.to_dict()

    async def start(
        self,
        call: ActiveCall,
        held: CallLeg,
        transferer: CallLeg,
        target: Target,
        *,
        ring_s: float,
    ) -> Consultation:
        """Hold ``held``, call ``target``; :meth:`begin` checked the call's state."""
        leg = self.calls.add_leg(call, self.engine.new_id(), TARGET_ROLE, target.number)
        c = Consultation(call, held, transferer, leg, target.number, target.kind, ring_s)
        c.ringback = self.engine.new_id()
        call.transfer = c
        async with c.lock:
            try:
                await self.engine.disconnect(held.id)
                await self.engine.hold(held.id, MUSIC)
                with contextlib.suppress(OrchestratorError):
                    # The transferer waits in silence otherwise; the target's answer ends it.
                    await self.engine.play(transferer.id, "tone:ring", playback_id=c.ringback)
                self.calls.publish(call, "transfer_started", **c.to_dict())
                # A number through a trunk with its own caller ID shows the trunk's.
                caller_id = target.caller_id if target.kind == "number" else ""
                await self.engine.originate(
                    target.dial,
                    leg_id=leg.id,
                    caller_id=caller_id or transferer.number,
                    timeout=ring_s,
                    routing=Routing("cti", {"call": call.id}),
                )
            except OrchestratorError as exc:
                await self._cancel(c, reason="failed", error=exc.error_id)
                raise
        self.calls.ringing(call, leg_id=leg.id, role=TARGET_ROLE)
        task = asyncio.create_task(self._watch(c), name=f"cti-xfer-{call.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return c

    async def complete(self, call: ActiveCall) -> dict[str, Any]:
        """Connect the held party with the target; the transferer leaves."""
        c = self._current(call)
        async with c.lock:
            if c.done:
                raise self._none(call)
            if c.held.gone or c.target.gone:
                # The watcher is about to act on it; nothing left to complete.
                raise TransferStateError(
                    "the held party or the target hung up: nothing to complete", call_id=call.id
                )
            if c.state is ConsultState.TALKING:
                await self._complete(c, by="command")
            else:
                # The target still rings: it meets the held party when it answers.
                c.complete_on_answer = True
                await self._drop(c.transferer)
                call.changed()
            return c.to_dict()

    async def cancel(self, call: ActiveCall) -> dict[str, Any]:
        """Drop the target and reconnect the held party with the transferer."""
        c = self._current(call)
        async with c.lock:
            if c.done:
                raise self._none(call)
            if c.complete_on_answer:
                raise TransferStateError(
                    "the transfer is already completing (the transferer left)", call_id=call.id
                )
            details = c.to_dict()
            await self._cancel(c, reason="cancelled")
            return details

    def _current(self, call: ActiveCall) -> Consultation:
        c = call.transfer
        if not isinstance(c, Consultation) or c.done:
            raise self._none(call)
        return c

    @staticmethod
    def _none(call: ActiveCall) -> TransferStateError:
        return TransferStateError("no attended transfer in progress on this call", call_id=call.id)

    # -- what the parties do ------------------------------------------------------------
    async def _watch(self, c: Consultation) -> None:
        loop = asyncio.get_running_loop()
        ring_deadline = loop.time() + c.ring_s + ENGINE_MARGIN_S
        try:
            while not c.done:
                ringing = c.state is ConsultState.RINGING
                wait = ring_deadline - loop.time() if ringing else self.max_s
                ready = await c.call.wait_until(lambda: c.done or _decidable(c), max(wait, 0.0))
                async with c.lock:
                    if not c.done:
                        await self._step(c, timed_out=not ready)
        except OrchestratorError as exc:
            log.warning("attended transfer on call %s: %s", c.call.id, exc)
            async with c.lock:
                if not c.done:
                    await self._cancel(c, reason="failed", error=exc.error_id)
        finally:
            if not c.done:  # cancelled (service stopping): leave nothing behind
                with contextlib.suppress(Exception):
                    await self._cancel(c, reason="stopped")

    async def _step(self, c: Consultation, *, timed_out: bool) -> None:
        held, xfer, target = c.held, c.transferer, c.target
        if c.state is ConsultState.RINGING:
            if target.gone or timed_out or (held.gone and xfer.gone):
                await self._cancel(c, reason=_failure(target, timed_out, held))
            elif xfer.gone and not c.complete_on_answer:
                c.complete_on_answer = True  # the transferer hung up: complete on answer
            elif target.up:
                self._paid_from_answer(c)
                if held.gone:
                    await self._consult(c)
                    await self._held_left(c)
                elif c.complete_on_answer:
                    await self._complete(c, by="transferer_hung_up")
                else:
                    await self._consult(c)
        elif target.gone:
            await self._cancel(c, reason="target_hung_up")
        elif held.gone:
            await self._held_left(c)
        elif xfer.gone:
            await self._complete(c, by="transferer_hung_up")

    def _paid_from_answer(self, c: Consultation) -> None:
        """A prepaid target talks at most ``limit`` seconds: the call's driver ends the
        call then, as it does when a click-to-call's own paid legs run out."""
        if c.limit is not None:
            until = asyncio.get_running_loop().time() + c.limit
            c.call.paid_until = min(c.call.paid_until, until)
            c.call.changed()

    async def _consult(self, c: Consultation) -> None:
        """The target answered: it is connected with the transferer."""
        with contextlib.suppress(OrchestratorError):
            await self.engine.stop_playback(c.ringback)
        await self.engine.connect(c.transferer.id, c.target.id)
        c.state = ConsultState.TALKING
        self.calls.publish(c.call, "transfer_answered", **c.to_dict())

    async def _held_left(self, c: Consultation) -> None:
        """The held party hung up: the transferer and the target simply talk on."""
        c.target.role = c.held.role
        self.calls.drop_leg(c.call, c.held.id)
        if c.kind == "extension":
            self.calls.add_extension(c.call, c.target.number)
        await self._end(c, "transfer_cancelled", reason="held_hung_up")

    async def _complete(self, c: Consultation, *, by: str) -> None:
        call, held, xfer, target = c.call, c.held, c.transferer, c.target
        with contextlib.suppress(OrchestratorError):
            await self.engine.stop_playback(c.ringback)
        await self._drop(xfer)
        with contextlib.suppress(OrchestratorError):
            await self.engine.unhold(held.id)
        await self.engine.connect(held.id, target.id)
        # The target takes the transferer's place (its role): hold, blind transfer and
        # the leg list go on working on a two-party call.
        target.role = xfer.role
        self.calls.drop_leg(call, xfer.id)
        if c.kind == "extension":
            self.calls.add_extension(call, target.number)
        await self._end(
            c,
            "transferred",
            attended=True,
            by=by,
            leg_id=target.id,
            number=target.number,
            role=target.role,
            replaced_leg=xfer.id,
        )

    async def _cancel(self, c: Consultation, *, reason: str, **details: Any) -> None:
        call, held, xfer, target = c.call, c.held, c.transferer, c.target
        with contextlib.suppress(OrchestratorError):
            await self.engine.stop_playback(c.ringback)
        await self._drop(target)
        if not held.gone and not xfer.gone:
            with contextlib.suppress(OrchestratorError):
                await self.engine.unhold(held.id)
            with contextlib.suppress(OrchestratorError):
                await self.engine.connect(held.id, xfer.id)
        self.calls.drop_leg(call, target.id)
        await self._end(c, "transfer_cancelled", reason=reason, **details)

    async def _end(self, c: Consultation, event: str, **details: Any) -> None:
        c.done = True
        payload = {**c.to_dict(), **details}
        c.call.transfer = None
        self.calls.publish(c.call, event, **payload)
        c.call.changed()

    async def _drop(self, leg: CallLeg) -> None:
        if leg.gone:
            return
        with contextlib.suppress(OrchestratorError):
            await self.engine.hangup(leg.id, 16)


def _decidable(c: Consultation) -> bool:
    """Whether something happened that the watcher must act on."""
    held, xfer, target = c.held, c.transferer, c.target
    if c.state is ConsultState.RINGING:
        return (
            target.up
            or target.gone
            or (held.gone and xfer.gone)
            or (xfer.gone and not c.complete_on_answer)
        )
    return target.gone or held.gone or xfer.gone


def _failure(target: CallLeg, timed_out: bool, held: CallLeg) -> str:
    if held.gone and not target.gone and not timed_out:
        return "held_hung_up"
    if target.cause == 17:
        return "busy"
    if timed_out or target.cause in (18, 19):
        return "no_answer"
    return "target_hung_up" if target.cause == 16 else "failed"
