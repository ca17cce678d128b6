"""Call control for CTI clients: one service behind the WebSocket and REST APIs.

Every method takes the caller's ``scope`` (the only tenant it may see, or None for a
system admin): another tenant's call answers :class:`NotFoundError`, as in REST.

What a command does depends on the call:

=============  ===================  ====================  ===========================
command        remote-app call      Python-flow call      click-to-call / originate
=============  ===================  ====================  ===========================
answer, play,  through the call's   refused (409,         refused (409,
collect        IvrCall              call-not-remote)      call-not-remote)
hold, unhold   the caller           the caller            leg B hears music on hold
hangup         the caller           the caller            every leg
transfer       the caller (blind)   the caller (blind)    leg B goes, leg A hangs up
redirect       the caller, if it    the caller, if it     refused (409, call-state)
               is not answered      is not answered
attended_      refused (409,        refused (409,         consultation, see
transfer...    call-state)          call-state)           :mod:`orchestrator.cti.attended`
=============  ===================  ====================  ===========================

Example::

    service = CtiService(engine, directory)
    service.start(runner)
    call = await service.click_to_call(
        ClickToCallParams(tenant_id=1, a="101", b="+442079460000", account="acme"), scope=None
    )
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from orchestrator.core.engine import Engine
from orchestrator.core.errors import LegGoneError, NotFoundError, OrchestratorError
from orchestrator.core.targets import Routing
from orchestrator.cti import kept
from orchestrator.cti.attended import AttendedTransfers
from orchestrator.cti.authorizer import CallAuthorizer
from orchestrator.cti.commands import (
    COMMANDS,
    AttendedTransferParams,
    ClickToCallParams,
    CollectParams,
    HangupParams,
    OriginateParams,
    PlayParams,
    TransferParams,
    destination,
    parse,
)
from orchestrator.cti.errors import CallNotRemoteError, CallStateError, TransferStateError
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg, CallRegistry, CallState
from orchestrator.cti.remote import run_remote
from orchestrator.cti.stream import EventStream
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.directory import Directory, Target
from orchestrator.ivr.runner import IvrRunner

log = logging.getLogger("orchestrator.cti")

# No click-to-call holds its legs longer than this (seconds).
MAX_CALL_S = 4 * 3600
# Margin on top of a leg's ring time for the engine to report the outcome.
ENGINE_MARGIN_S = 10.0


class CtiService:
    """Calls, events and commands for CTI clients (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        directory: Directory,
        *,
        stream: EventStream | None = None,
        max_call_s: float = MAX_CALL_S,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.calls = CallRegistry(engine, stream)
        self.max_call_s = max_call_s
        self._tasks: set[asyncio.Task[None]] = set()
        # Click-to-call / originated calls whose two parties are connected.
        self.connected: set[str] = set()
        self.transfers = AttendedTransfers(engine, self.calls, self._tasks, max_call_s)
        # Prepaid authorization of click-to-call / originate (None: nobody is asked).
        self.authorizer: CallAuthorizer | None = None
        # Connected click-to-call calls kept across a restart (see .kept; None: not kept).
        self.keeper: kept.CallKeeper | None = None
        self.kept: dict[str, kept.KeptCall] = {}
        self.pending: list[kept.KeptCall] = []  # restored, until the engine is connected
        self.stopping = False
        # Calls handed over to another feature (a conference): their driver ends
        # without hanging up their legs.
        self.handed_over: set[str] = set()
        self._unwatch: Callable[[], None] | None = None

    @property
    def stream(self) -> EventStream:
        return self.calls.stream

    def start(self, runner: IvrRunner | None = None) -> None:
        self.stopping = False
        self.calls.start(runner)
        if self._unwatch is None:
            self._unwatch = self.engine.subscribe(lambda event: kept.on_event(self, event))

    def restore(self, records: list[kept.KeptCall]) -> None:
        """The click-to-call calls the last run kept (before the engine starts)."""
        kept.restore(self, records)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop following the engine; click-to-call drivers end (their legs hung up, but
        those of calls kept for the next run)."""
        self.stopping = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self.calls.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def remote_flow(self, call: IvrCall) -> None:
        """The ``remote`` IVR flow: the call waits for a CTI client to drive it."""
        await run_remote(self.calls, call)

    # -- queries -----------------------------------------------------------------------
    def list_calls(
        self,
        *,
        scope: int | None,
        tenant_id: int | None = None,
        extension: str | None = None,
        access_number: str | None = None,
    ) -> list[dict[str, Any]]:
        """Snapshots of the active calls the caller may see, filtered."""
        if scope is not None:
            if tenant_id is not None and tenant_id != scope:
                raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
            tenant_id = scope
        calls = self.calls.list(
            tenant_id=tenant_id, extension=extension, access_number=access_number
        )
        return [c.snapshot() for c in calls]

    def get_call(self, call_id: str, *, scope: int | None) -> dict[str, Any]:
        return self.calls.get(call_id, scope).snapshot()

    # -- commands ------------------------------------------------------------------------
    async def command(
        self, name: str, call_id: str, params: Any, *, scope: int | None, who: str
    ) -> dict[str, Any]:
        """Run the command ``name`` with ``params`` (a dict) on a call; its reply data."""
        model = COMMANDS.get(name)
        if model is None:
            raise NotFoundError(f"no command {name!r}", command=name, known=sorted(COMMANDS))
        args = parse(model, params or {})
        call = self.calls.get(call_id, scope)
        if call.kind is CallKind.DIALPLAN and not call.taken and name != "hangup":
            # Observed only: the engine's dialplan drives these channels, not us (until
            # Engine.take puts them under control).
            raise CallStateError(
                "a phone-to-phone call in the dialplan can only be hung up",
                call_id=call.id,
                command=name,
            )
        if name == "answer":
            await self._remote(call, who).answer()
        elif name == "play":
            assert isinstance(args, PlayParams)
            await self._remote(call, who).play(args.media)
        elif name == "collect":
            assert isinstance(args, CollectParams)
            return {"digits": await self._collect(self._remote(call, who), args)}
        elif name == "hangup":
            assert isinstance(args, HangupParams)
            await self._hangup(call, args.cause)
        elif name in ("transfer", "redirect"):
            assert isinstance(args, TransferParams)
            self._not_consulting(call)
            await self._transfer(call, destination(args.destination), redirect=name == "redirect")
        elif name == "attended_transfer":
            assert isinstance(args, AttendedTransferParams)
            transfer = await self.transfers.begin(
                call,
                args,
                self.directory,
                connected=lambda: call.id in self.connected,
                authorizer=self.authorizer,
            )
            return {"transfer": transfer}
        elif name == "complete_transfer":
            return {"transfer": await self.transfers.complete(call)}
        elif name == "cancel_transfer":
            return {"transfer": await self.transfers.cancel(call)}
        else:
            self._not_consulting(call)
            await self._hold(call, name == "hold", who)
        return {}

    @staticmethod
    def _not_consulting(call: ActiveCall) -> None:
        if call.transfer is not None:
            raise TransferStateError(
                "an attended transfer is in progress: complete or cancel it first",
                call_id=call.id,
            )

    def release(self, who: str) -> None:
        """A client went away: the remote-app calls it drove wait for another."""
        for call in self.calls.list():
            if call.control is not None:
                call.control.release(who)

    def _remote(self, call: ActiveCall, who: str) -> IvrCall:
        if not call.remote or call.ivr is None:
            raise CallNotRemoteError(
                f"call {call.id} is run by {_runner_of(call)}; only hangup, transfer, "
                "redirect and hold/unhold apply to it",
                call_id=call.id,
                kind=str(call.kind),
            )
        call.control.take(who)
        return call.ivr

    @staticmethod
    async def _collect(ivr: IvrCall, args: CollectParams) -> str:
        if args.prompt:
            await ivr.play(args.prompt, barge_in=True)
        return await ivr.collect(
            args.max_digits,
            first_timeout=args.first_timeout,
            inter_timeout=args.inter_timeout,
            terminator=args.terminator,
        )

    async def _hangup(self, call: ActiveCall, cause: int) -> None:
        if call.ivr is not None:
            await call.ivr.hangup(cause)
            return
        for leg in list(call.legs.values()):
            await self._hangup_leg(leg, cause)
        self.calls.end(call, CallState.HUNG_UP, cause=cause, by="command")

    async def _hangup_leg(self, leg: CallLeg, cause: int = 16) -> None:
        if leg.gone:
            return
        with contextlib.suppress(LegGoneError):
            await self.engine.hangup(leg.id, cause)

    async def _transfer(self, call: ActiveCall, where: str, *, redirect: bool) -> None:
        if redirect and (call.ivr is None or call.ivr.answered):
            raise CallStateError(
                "redirect applies to an incoming call not answered yet; use transfer",
                call_id=call.id,
                state=str(call.state),
            )
        if call.ivr is not None:
            await call.ivr.transfer(where)
            return
        b = call.leg("b")
        if b is None or not b.up:
            raise CallStateError(
                "the call is not connected yet: nothing to transfer", call_id=call.id
            )
        target = await self.directory.resolve(str(call.tenant_id), where)
        await self.engine.transfer(b.id, target.transfer)
        b.transferred = True
        self.calls.end(call, CallState.TRANSFERRED, destination=where, leg_id=b.id)

    async def _hold(self, call: ActiveCall, hold: bool, who: str) -> None:
        if call.ivr is not None:
            if call.remote:
                call.control.take(who)
            await (call.ivr.hold() if hold else call.ivr.unhold())
            return
        b = call.leg("b")
        if b is None or not b.up:
            raise CallStateError("the call is not connected yet: nothing to hold", call_id=call.id)
        await (self.engine.hold(b.id) if hold else self.engine.unhold(b.id))
        self.calls.set_held(call, hold, leg_id=b.id, by="orchestrator")

    # -- click-to-call and originate ----------------------------------------------------
    async def click_to_call(
        self, params: ClickToCallParams, *, scope: int | None
    ) -> dict[str, Any]:
        """Call leg A; when it answers, call leg B and connect them. Returns the new call."""
        return await self._connect(
            params.tenant_id,
            params.a,
            params.b,
            caller_id_a=params.caller_id_a,
            caller_id_b=params.caller_id_b,
            account=params.account,
            timeout=params.timeout,
            kind=CallKind.CLICK_TO_CALL,
            scope=scope,
        )

    async def originate(self, params: OriginateParams, *, scope: int | None) -> dict[str, Any]:
        """Ring an extension's phone; when it answers, dial the destination and connect."""
        return await self._connect(
            params.tenant_id,
            f"extension:{params.extension}",
            params.destination,
            caller_id_a=None,
            caller_id_b=params.caller_id,
            account=params.account,
            timeout=params.timeout,
            kind=CallKind.ORIGINATE,
            scope=scope,
        )

    async def _connect(
        self,
        tenant_id: int,
        a: str,
        b: str,
        *,
        caller_id_a: str | None,
        caller_id_b: str | None,
        account: str | None,
        timeout: float,
        kind: CallKind,
        scope: int | None,
    ) -> dict[str, Any]:
        if scope is not None and scope != tenant_id:
            raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
        tenant = str(tenant_id)
        # Both ends are resolved first: a bad leg B must not ring leg A for nothing.
        target_a = await self.directory.resolve(tenant, destination(a))
        target_b = await self.directory.resolve(tenant, destination(b))
        call = ActiveCall(
            id=self.engine.new_id(),
            tenant_id=tenant_id,
            kind=kind,
            caller=target_a.number,
            called=target_b.number,
            extensions=[t.number for t in (target_a, target_b) if t.kind == "extension"],
            account=account,
        )
        # Legs to external numbers are paid: refused (409) before anything rings, or
        # limited to the seconds the account can pay for.
        paid = (target_a.kind == "number", target_b.kind == "number")
        limit = None
        if self.authorizer is not None:
            limit = await self.authorizer.authorize(
                tenant_id=tenant_id,
                call_id=call.id,
                account=account,
                extension=target_a.number if target_a.kind == "extension" else None,
                numbers=[t.number for t, p in zip((target_a, target_b), paid, strict=True) if p],
            )
        leg_a = CallLeg(call.id, "a", target_a.number)
        call.legs[leg_a.id] = leg_a
        self.calls.add(call)
        try:
            await self.engine.originate(
                target_a.dial,
                leg_id=leg_a.id,
                caller_id=caller_id_a or target_b.number,
                timeout=timeout,
                routing=Routing("cti", {"call": call.id}),
            )
        except OrchestratorError as exc:
            self.calls.end(call, CallState.HUNG_UP, cause=0, error=exc.error_id)
            if self.authorizer is not None:
                await self.authorizer.release(call.id)
            raise
        self.calls.ringing(call, leg_id=leg_a.id, role="a")
        snapshot = call.snapshot()
        caller_id = caller_id_b or target_b.caller_id or target_a.number
        task = asyncio.create_task(
            self._drive(call, target_b, caller_id, timeout, limit=limit, paid=paid),
            name=f"cti-{kind}-{call.id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return snapshot

    async def _drive(
        self,
        call: ActiveCall,
        target_b: Target,
        caller_id: str,
        ring: float,
        *,
        limit: float | None = None,
        paid: tuple[bool, bool] = (False, False),
    ) -> None:
        """Leg A answered? call B; B answered? connect them; either leaves? end the call.

        ``limit``: the seconds a ``paid`` leg (A, B) may last from its answer (prepaid)."""
        a = call.legs[call.id]
        cause = 16
        loop = asyncio.get_running_loop()

        def left(timeout: float) -> float:
            return min(timeout, call.paid_until - loop.time())

        details: dict[str, Any] = {}
        try:
            await call.wait_until(lambda: a.up or a.gone, ring + ENGINE_MARGIN_S)
            if not a.up:
                cause = a.cause or 19
                return
            if limit is not None and paid[0]:
                call.paid_until = loop.time() + limit
            b = self.calls.add_leg(call, self.engine.new_id(), "b", target_b.number)
            ringback = self.engine.new_id()
            with contextlib.suppress(OrchestratorError):
                # Leg A waits in silence otherwise; connecting ends the tone.
                await self.engine.play(a.id, "tone:ring", playback_id=ringback)
            await self.engine.originate(
                target_b.dial,
                leg_id=b.id,
                caller_id=caller_id,
                timeout=ring,
                routing=Routing("cti", {"call": call.id}),
            )
            self.calls.ringing(call, leg_id=b.id, role="b")
            await call.wait_until(lambda: b.up or b.gone or a.gone, left(ring + ENGINE_MARGIN_S))
            if not (a.up and b.up):
                cause = b.cause or a.cause or 19
                return
            if limit is not None and paid[1]:
                call.paid_until = min(call.paid_until, loop.time() + limit)
            with contextlib.suppress(OrchestratorError):
                await self.engine.stop_playback(ringback)
            await self.engine.connect(a.id, b.id)
            self.connected.add(call.id)
            kept.keep(self, call)
            call.changed()
            # Two parties talk until one leaves; an attended transfer may replace one (and
            # bring the paid time forward: a prepaid external target).
            end_at = loop.time() + self.max_call_s
            while True:
                deadline, legs = call.paid_until, kept.connected_legs(call)
                over = await call.wait_until(
                    lambda: (
                        call_over(call)
                        or call.paid_until != deadline  # noqa: B023
                        or (call.transfer is None and kept.connected_legs(call) != legs)  # noqa: B023
                    ),
                    left(end_at - loop.time()),
                )
                if not over or call_over(call):
                    break
                if kept.connected_legs(call) != legs:
                    kept.keep(self, call)  # an attended transfer completed: other legs
            cause = next((leg.cause for leg in call.legs.values() if leg.gone), None) or 16
            if not over and loop.time() >= call.paid_until:
                log.info("call %s: the prepaid time (%s s) is used up", call.id, limit)
                details["cut_off"] = "prepaid-limit"
        except OrchestratorError as exc:
            log.warning("call %s (%s): %s", call.id, call.kind, exc)
            cause = 41
        finally:
            await self.finish(call, cause, **details)

    def hand_over(self, call: ActiveCall, destination: str) -> list[CallLeg]:
        """Take ``call`` out of CTI's control: its answered legs go on elsewhere (a
        conference). A click-to-call's coupling ends (a party hanging up no longer hangs
        up the other), its kept record and legs are released (the new owner keeps them),
        and the call's last event is ``transferred`` with ``destination``. A remote-app
        call's flow ends without hanging up the caller, whose leg the new owner must
        have kept (:meth:`Engine.keep`) first. Returns the legs that were up."""
        legs = [leg for leg in call.legs.values() if leg.up and not leg.gone]
        if call.kind in (CallKind.CLICK_TO_CALL, CallKind.ORIGINATE) or call.taken:
            # Its driver (a taken dialplan call has one too, see kept.taken) finishes
            # without hanging up the legs (see finish).
            self.handed_over.add(call.id)
        kept.release(self, call)
        self.connected.discard(call.id)
        self.calls.end(call, CallState.TRANSFERRED, destination=destination)
        return legs

    async def finish(self, call: ActiveCall, cause: int, **details: Any) -> None:
        """End a click-to-call: every leg hung up (their connection ends), ``hung_up``."""
        if call.id in self.handed_over:  # its legs live on elsewhere (see hand_over)
            self.handed_over.discard(call.id)
            return
        # Runs when the driver is cancelled too: no leg may outlive its call, but a kept
        # one (see .kept) when the service stops: the next run adopts it.
        if self.stopping and call.id in self.kept:
            self.connected.discard(call.id)
            return
        kept.release(self, call)
        self.connected.discard(call.id)
        for leg in list(call.legs.values()):
            try:
                await self._hangup_leg(leg)
            except Exception as exc:
                log.debug("leg %s: %s", leg.id, exc)
        self.calls.end(call, CallState.HUNG_UP, cause=cause, **details)


def call_over(call: ActiveCall) -> bool:
    """A connected call is over when fewer than two parties are left (and no consultation)."""
    if call.ended:
        return True
    return call.transfer is None and sum(not leg.gone for leg in call.legs.values()) < 2


def _runner_of(call: ActiveCall) -> str:
    if call.kind is CallKind.IVR:
        return f"the Python flow of IVR app {call.app!r}"
    return f"the orchestrator ({call.kind})"
