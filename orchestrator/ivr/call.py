"""The ``call`` object an IVR flow receives: ``async def flow(call: IvrCall) -> None``.

Everything a flow does goes through here, on any :class:`~orchestrator.core.Engine`
(Asterisk, FreeSWITCH, or the :class:`~orchestrator.core.FakeEngine` of the flow
tests). Example::

    async def flow(call: IvrCall) -> None:
        await call.answer()
        number = await call.play_and_collect(
            "sound:custom/enter-registration", max_digits=8, validate=r"[0-9]{8}"
        )
        if number is None:
            await call.play("goodbye")
            return
        await call.play("you-entered", f"digits:{number}")
        await call.transfer("102")

Rules the object keeps so a flow cannot hurt the platform:

- every wait has a timeout; the runner also bounds the whole flow (the app's
  ``max_duration_s``), so no flow holds a channel forever;
- once the caller hangs up, the flow gets :class:`CallerHungUp` at its next await on
  the call (and at once if it is waiting on the call), so its ``finally`` runs;
- media names, digits and destinations are checked before they reach the engine.

Events reach the object through :meth:`deliver`, called by the runner in engine
order; a waiter is always registered before the command that causes its event is
sent, because an engine may report the event before it answers the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.call import Leg, LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegDtmf,
    LegEvent,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    PlaybackFinished,
    RecordingFinished,
)
from orchestrator.core.targets import Extension, Routing
from orchestrator.ivr.directory import Directory
from orchestrator.ivr.errors import CallerHungUp, CallTransferred
from orchestrator.ivr.media import media_list
from orchestrator.validation import display_name

log = logging.getLogger("orchestrator.ivr")

_DTMF = re.compile(r"[0-9*#A-D]")
_CALLER_ID = re.compile(r"\+?[0-9]{1,20}")
_DIALED = re.compile(r"[0-9]{2,20}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Q.850 causes a failed dial reports, as DialResult.status.
DIAL_STATUS = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected", 1: "unallocated"}
# Longest a single engine round trip (play start, connect...) may take before we give up.
COMMAND_TIMEOUT = 10.0

Observer = Callable[["IvrCall", str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Recording:
    name: str
    state: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.state == "done"


@dataclass(slots=True)
class DialResult:
    """How a :meth:`IvrCall.dial` ended.

    ``status``: ``answered`` (then ``talk_seconds`` is how long the parties talked),
    ``busy``, ``no_answer``, ``rejected``, ``unallocated`` or ``failed``.
    """

    status: str
    cause: int = 0
    leg_id: str = ""
    talk_seconds: float = 0.0

    @property
    def answered(self) -> bool:
        return self.status == "answered"


@dataclass(slots=True)
class _Waiter:
    match: Callable[[Event], bool]
    future: asyncio.Future[Event]


class _DialedGone(Exception):
    """The dialed leg went as it was being connected (carries the engine's error)."""

    def __init__(self, error: LegGoneError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Child:
    """A leg this call dialed; its events come here, not to a flow of its own."""

    leg_id: str
    answered: bool = False
    gone: bool = False
    left: bool = False  # the engine took it out of our control (LegLeftApp): not hung up
    cause: int = 0
    events: list[Event] = field(default_factory=list)


class IvrCall:
    """One caller's leg under a flow's control."""

    def __init__(
        self,
        engine: Engine,
        leg: Leg,
        *,
        tenant: str,
        app: str,
        directory: Directory,
        settings: Mapping[str, Any] | None = None,
        timescale: float = 1.0,
        observer: Observer | None = None,
        on_child: Callable[[str, IvrCall | None], None] | None = None,
        routing: Routing | None = None,
    ) -> None:
        self.engine = engine
        # How the call reached the orchestrator (the dialplan's arguments): a builtin
        # flow reads e.g. routing.get("endpoint") / routing.get("dialed") from it.
        self.routing = routing
        self.leg = leg
        self.tenant = tenant
        self.app = app
        self.directory = directory
        self.settings: Mapping[str, Any] = dict(settings or {})
        self.variables: dict[str, str] = {}
        # Timeouts are multiplied by this: the flow harness runs flows at 1/1000 speed.
        self.timescale = timescale
        self.log = logging.LoggerAdapter(log, {"call_id": leg.id, "app": app})
        self._observer = observer
        self._on_child = on_child
        self._waiters: list[_Waiter] = []
        self._digits: deque[str] = deque()
        self._children: dict[str, _Child] = {}
        self._listeners: list[Callable[[Event], None]] = []
        # Set by the runner when an event arrives; the next command reports the delay.
        self.woke_at: float | None = None
        self.on_latency: Callable[[float], None] | None = None
        # The call queues (an AcdService) behind :meth:`queue`, set by the runner.
        self.queues: Any = None
        self.hung_up = False
        self.hung_up_by = ""  # "caller" or "flow"
        self.transferred = False
        # The engine took the leg out of the orchestrator's control (LegLeftApp) without
        # the flow asking: a phone blind-transferred the call the flow had connected.
        # The flow may run on (its dial ends with the other party), but the leg is no
        # longer its own: not hung up by it, and the engine may hand it to a new flow.
        self.left = False
        self.hangup_cause: int | None = None

    # -- identity -----------------------------------------------------------
    @property
    def id(self) -> str:
        return self.leg.id

    @property
    def caller(self) -> str:
        """The caller's number as the engine reported it."""
        return self.leg.caller_number

    @property
    def called(self) -> str:
        """The number the caller dialed (the access number)."""
        return self.leg.called_number

    @property
    def answered(self) -> bool:
        return self.leg.state is LegState.UP

    # -- events from the runner ----------------------------------------------
    def let_go(self, leg_id: str) -> bool:
        """Whether the engine took ``leg_id``, this call's leg or one it dialed, out of
        the flow's control (LegLeftApp): the engine may hand it over again, to a flow of
        its own."""
        if leg_id == self.id:
            return self.left
        child = self._children.get(leg_id)
        return child is not None and child.left

    def deliver(self, event: Event) -> None:
        """Take one engine event about this call's leg or a leg it dialed (never blocks)."""
        for listener in list(self._listeners):
            listener(event)
        leg_id = event.leg_id if isinstance(event, LegEvent) else ""
        child = self._children.get(leg_id)
        if child is not None:
            child.events.append(event)
            if isinstance(event, LegCreated | LegStateChanged) and event.state == LegState.UP:
                child.answered = True
            elif isinstance(event, LegHungUp):
                child.gone, child.cause = True, event.cause
            elif isinstance(event, LegLeftApp):
                # A phone's blind transfer moved the dialed party (the caller's phone
                # parked it): the dial ends, the leg is not the flow's to hang up.
                child.left = True
        elif leg_id == self.id:
            if isinstance(event, LegDtmf):
                self._digits.append(event.digit)
                self._notify("dtmf", digit=event.digit)
            elif isinstance(event, LegHungUp):
                self.leg.transition(LegState.HUNG_UP, at=event.timestamp)
                self._caller_gone(event.cause)
                return
            elif isinstance(event, LegStateChanged):
                self.leg.transition(LegState(event.state), at=event.timestamp)
            elif isinstance(event, LegLeftApp) and not (self.hung_up or self.transferred):
                self.left = True
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.match(event):
                waiter.future.set_result(event)

    def _caller_gone(self, cause: int) -> None:
        if self.hung_up:
            return
        self.hung_up, self.hangup_cause = True, cause
        self.hung_up_by = self.hung_up_by or "caller"
        # The leg itself moves only on the engine's LegHungUp: it is the engine's own
        # object, and marked here (on hangup()) the engine would drop that event as a
        # repeat, so whoever else follows the leg (a queue) would never see it go.
        self._notify("hung_up", cause=cause)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(CallerHungUp("the caller hung up", leg_id=self.id))

    def _notify(self, action: str, **details: Any) -> None:
        if self._observer is not None:
            try:
                self._observer(self, action, details)
            except Exception:
                self.log.exception("IVR observer failed on %s", action)

    # -- waiting ------------------------------------------------------------------
    def _check(self) -> None:
        if self.hung_up:
            raise CallerHungUp("the caller hung up", leg_id=self.id)
        if self.transferred:
            raise CallTransferred("the call was transferred", leg_id=self.id)

    def _expect(self, match: Callable[[Event], bool]) -> _Waiter:
        """Register interest in an event *before* sending the command that causes it."""
        waiter = _Waiter(match, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        return waiter

    async def _wait(self, waiter: _Waiter, timeout: float | None) -> Event | None:
        """The awaited event, or None after ``timeout`` seconds (scaled)."""
        try:
            if timeout is None:
                return await waiter.future
            return await asyncio.wait_for(waiter.future, timeout * self.timescale)
        except TimeoutError:
            return None
        finally:
            self._drop(waiter)

    def _drop(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if not waiter.future.done():
            waiter.future.cancel()
        elif not waiter.future.cancelled():
            waiter.future.exception()  # retrieved: no "never retrieved" warning

    async def _command(self, waiter: _Waiter | None, coro: Any) -> None:
        """Send a command; a leg that vanished meanwhile is the caller hanging up."""
        if self.on_latency is not None and self.woke_at is not None:
            self.on_latency(time.perf_counter() - self.woke_at)
            self.woke_at = None
        try:
            await coro
        except LegGoneError:
            if waiter is not None:
                self._drop(waiter)
            if not self.hung_up:
                self._caller_gone(16)
            raise CallerHungUp("the caller hung up", leg_id=self.id) from None

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raises :class:`CallerHungUp` at once if the caller hangs up."""
        self._check()
        await self._wait(self._expect(lambda e: False), seconds)

    # -- answering and media --------------------------------------------------------
    async def answer(self) -> None:
        self._check()
        if self.answered:
            return
        await self._command(None, self.engine.answer(self.id))
        self.leg.transition(LegState.UP)
        self._notify("answered")

    async def ring(self) -> None:
        """Let the caller hear ringback before the flow answers."""
        self._check()
        await self._command(None, self.engine.ring(self.id))

    async def play(self, *media: str | Sequence[str], barge_in: bool = False) -> str | None:
        """Play prompts in order and wait until they end.

        With ``barge_in``, a key the caller presses stops the prompts (and a key already
        pressed skips them); the key stays in the buffer for the next :meth:`collect`
        and is returned. Returns None when the prompts played to the end.
        """
        self._check()
        items = media_list(media)
        if barge_in and self._digits:
            return self._digits[0]
        playback_id = self.engine.new_id()
        done = self._expect(
            lambda e: isinstance(e, PlaybackFinished) and e.playback_id == playback_id
        )
        key = (
            self._expect(lambda e: isinstance(e, LegDtmf) and e.leg_id == self.id)
            if barge_in
            else None
        )
        self._notify("play", media=items)
        try:
            await self._command(done, self.engine.play(self.id, items, playback_id=playback_id))
            waiting = [done.future] if key is None else [done.future, key.future]
            # A prompt list can be long, but not endless: 10 minutes at most.
            finished, _ = await asyncio.wait(
                waiting, timeout=600 * self.timescale, return_when=asyncio.FIRST_COMPLETED
            )
            for fut in finished:
                fut.result()  # CallerHungUp surfaces here
            if done.future not in finished:
                await self.engine.stop_playback(playback_id)  # barged in, or far too long
            if key is not None and key.future in finished:
                return self._digits[0] if self._digits else None
            return None
        finally:
            self._drop(done)
            if key is not None:
                self._drop(key)

    async def say_digits(self, digits: str) -> None:
        await self.play(f"digits:{digits}")

    async def say_number(self, number: int) -> None:
        await self.play(f"number:{int(number)}")

    # -- collecting digits -----------------------------------------------------------
    def flush_digits(self) -> str:
        """Drop (and return) keys pressed but not collected yet."""
        pressed = "".join(self._digits)
        self._digits.clear()
        return pressed

    async def _next_digit(self, timeout: float) -> str | None:
        if not self._digits:
            waiter = self._expect(lambda e: isinstance(e, LegDtmf) and e.leg_id == self.id)
            if await self._wait(waiter, timeout) is None:
                return None
        return self._digits.popleft()

    async def collect(
        self,
        max_digits: int = 1,
        *,
        first_timeout: float = 5.0,
        inter_timeout: float = 3.0,
        terminator: str = "#",
        secret: bool = False,
    ) -> str:
        """Collect up to ``max_digits`` keys; ``""`` if none came within ``first_timeout``.

        Stops early on the ``terminator`` key (not included) or when no key came within
        ``inter_timeout`` after the previous one. Keys pressed during a prompt count.
        ``secret`` (a PIN): observers (the recent calls of ``GET .../recent-calls``, the
        flow tests) see one ``*`` per key, never the keys.
        """
        self._check()
        if not 1 <= max_digits <= 64:
            raise ValidationError("max_digits must be 1..64", max_digits=max_digits)
        self._notify("collect", max_digits=max_digits)
        digits = ""
        timeout = first_timeout
        while len(digits) < max_digits:
            digit = await self._next_digit(timeout)
            if digit is None or (terminator and digit in terminator):
                break
            digits += digit
            timeout = inter_timeout
        self._notify("collected", digits="*" * len(digits) if secret else digits)
        return digits

    async def play_and_collect(
        self,
        prompt: str | Sequence[str],
        *,
        max_digits: int = 1,
        min_digits: int = 1,
        retries: int = 3,
        validate: str | re.Pattern[str] | Callable[[str], bool] | None = None,
        invalid_prompt: str | Sequence[str] | None = "invalid",
        timeout_prompt: str | Sequence[str] | None = None,
        first_timeout: float = 5.0,
        inter_timeout: float = 3.0,
        terminator: str = "#",
    ) -> str | None:
        """Prompt, collect and check, up to ``retries`` times; None if never valid.

        ``validate`` is a regular expression the whole input must match or a function
        returning True for valid input. A wrong answer hears ``invalid_prompt`` before
        the next try; no answer hears ``timeout_prompt`` (if given).
        """
        check = _validator(validate)
        for _attempt in range(max(1, retries)):
            await self.play(prompt, barge_in=True)
            digits = await self.collect(
                max_digits,
                first_timeout=first_timeout,
                inter_timeout=inter_timeout,
                terminator=terminator,
            )
            if len(digits) >= min_digits and check(digits):
                return digits
            retry_prompt = timeout_prompt if not digits else invalid_prompt
            self.flush_digits()
            if retry_prompt:
                await self.play(retry_prompt)
        return None

    # -- recording -------------------------------------------------------------------
    async def record(
        self,
        name: str | None = None,
        *,
        max_duration: float = 60,
        max_silence: float = 5,
        beep: bool = True,
        terminate_on: str = "#",
        fmt: str = "wav",
    ) -> Recording:
        """Record the caller until silence, ``max_duration`` or the ``terminate_on`` key."""
        self._check()
        if not 1 <= max_duration <= 3600:
            raise ValidationError("max_duration must be 1..3600 s", max_duration=max_duration)
        name = name or f"ivr/{uuid.uuid4().hex}"
        finished = self._expect(lambda e: isinstance(e, RecordingFinished) and e.recording == name)
        self._notify("record", recording=name)
        await self._command(
            finished,
            self.engine.record(
                self.id,
                name,
                fmt=fmt,
                max_duration=max_duration,
                max_silence=max_silence,
                beep=beep,
                terminate_on=terminate_on,
            ),
        )
        event = await self._wait(finished, max_duration + COMMAND_TIMEOUT)
        if event is None:
            await self.engine.stop_recording(name)
            return Recording(name, "done", max_duration)
        assert isinstance(event, RecordingFinished)
        return Recording(name, event.state, event.duration)

    # -- caller ID and variables ----------------------------------------------------
    async def set_caller_id(self, number: str, name: str = "") -> None:
        """The caller ID presented on the next :meth:`dial` or transfer."""
        self._check()
        if not _CALLER_ID.fullmatch(number):
            raise ValidationError("caller ID number must be digits", caller_id=number)
        name = display_name(name, field="caller_id_name") if name else ""
        await self._command(None, self.engine.set_caller_id(self.id, number, name))

    async def set_variable(self, name: str, value: str) -> None:
        """A call variable, kept with the call (and on the engine's channel)."""
        self._check()
        if not _VARIABLE.fullmatch(name) or len(str(value)) > 1024:
            raise ValidationError("bad variable", name=name)
        self.variables[name] = str(value)
        await self._command(None, self.engine.set_variable(self.id, f"ORCH_{name}", str(value)))

    # -- ending, transferring, dialing ----------------------------------------------
    async def hangup(self, cause: int = 16) -> None:
        """Hang up the caller (Q.850 ``cause``: 16 normal, 17 busy, 21 rejected...)."""
        if self.hung_up or self.transferred or self.left:
            return
        self.hung_up_by = self.hung_up_by or "flow"
        with contextlib.suppress(LegGoneError):
            await self.engine.hangup(self.id, cause)
        self._caller_gone(cause)

    async def transfer(self, destination: str) -> None:
        """Blind transfer: the call leaves the flow for ``destination``.

        ``"102"`` / ``"extension:102"`` or ``"number:+442079460000"``. After it, the
        flow should return; further call operations raise :class:`CallTransferred`.
        """
        self._check()
        target = await self.directory.resolve(self.tenant, destination)
        await self._command(None, self.engine.transfer(self.id, target.transfer))
        self.transferred = True
        self._notify("transferred", destination=destination, kind=target.kind)

    async def transfer_dialed(self, digits: str) -> None:
        """Blind transfer into the tenant's dialplan as if the caller's phone had dialed
        ``digits`` (2 to 20 digits): an extension with its settings, or an outbound route
        with its authorization and rating. What a speed dial does with the calling phone.
        """
        self._check()
        if not isinstance(digits, str) or not _DIALED.fullmatch(digits):
            raise ValidationError("dialed digits must be 2 to 20 digits", field="digits")
        await self._command(None, self.engine.transfer(self.id, Extension(self.tenant, digits)))
        self.transferred = True
        self._notify("transferred", destination=f"dialed:{digits}", kind="dialed")

    async def dial(
        self,
        destination: str,
        *,
        timeout: float = 30,
        caller_id: str | None = None,
        forwarded_by: str = "",
    ) -> DialResult:
        """Call ``destination`` and, when it answers, connect it with the caller.

        Returns once the dialed party hangs up (``answered``, with the talk time) or
        when the dial fails (``busy``, ``no_answer``...); the flow goes on with the
        caller. If the caller hangs up, :class:`CallerHungUp` is raised and the dialed
        leg is hung up. ``forwarded_by``: the extension on whose behalf the call is sent
        on (a forward); the dialed leg is then recorded as a forwarded leg, rated on that
        extension's account (docs/cdrs.md).
        """
        self._check()
        if not 1 <= timeout <= 300:
            raise ValidationError("dial timeout must be 1..300 s", timeout=timeout)
        target = await self.directory.resolve(self.tenant, destination)
        child = _Child(self.engine.new_id())
        self._children[child.leg_id] = child
        if self._on_child is not None:
            self._on_child(child.leg_id, self)
        try:
            reached = self._expect(
                lambda e: (
                    e.leg_id == child.leg_id  # type: ignore[attr-defined]
                    and (
                        isinstance(e, LegHungUp)
                        or (isinstance(e, LegCreated | LegStateChanged) and e.state == LegState.UP)
                    )
                )
            )
            if not self.answered:
                await self._command(reached, self.engine.ring(self.id))
            self._notify_dial(destination, child.leg_id, forwarded_by)
            await self.engine.originate(
                target.dial,
                leg_id=child.leg_id,
                caller_id=caller_id or target.caller_id or self.caller,
                timeout=timeout,
                routing=Routing("dial", {"call": self.id}),
            )
            event = await self._wait(reached, timeout + COMMAND_TIMEOUT)
            if event is None or isinstance(event, LegHungUp) or not child.answered:
                cause = child.cause or (event.cause if isinstance(event, LegHungUp) else 19)
                return DialResult(DIAL_STATUS.get(cause, "failed"), cause, child.leg_id)
            # The dialed party answered: answer the caller too and connect them.
            await self.answer()
            ended = self._expect(
                lambda e: isinstance(e, LegHungUp | LegLeftApp) and e.leg_id == child.leg_id
            )
            try:
                await self._command(ended, self._connect(child.leg_id))
            except _DialedGone as gone:
                raise gone.error from None
            started = asyncio.get_running_loop().time()
            self._notify("connected", leg_id=child.leg_id)
            await self._wait(ended, None)
            talk = asyncio.get_running_loop().time() - started
            return DialResult("answered", child.cause or 16, child.leg_id, talk)
        finally:
            await self._end_child(child)

    async def _connect(self, child_id: str) -> None:
        """Connect the caller with the dialed leg; the dialed leg gone is not the caller
        hanging up (it propagates as LegGoneError, as it always did)."""
        try:
            await self.engine.connect(self.id, child_id)
        except LegGoneError as exc:
            if exc.details.get("leg_id") == child_id:
                raise _DialedGone(exc) from None
            raise

    async def _end_child(self, child: _Child) -> None:
        # Cleanup must finish even when the flow is being cancelled or the caller left.
        if not (child.gone or child.left):
            try:
                await self.engine.hangup(child.leg_id)
            except Exception as exc:  # already gone is fine
                self.log.debug("dialed leg %s: %s", child.leg_id, exc)
        self._children.pop(child.leg_id, None)
        if self._on_child is not None:
            self._on_child(child.leg_id, None)

    # -- hooks for features that ring several legs (orchestrator.pbx.follow_me) ----------
    def adopt(
        self, leg_id: str, destination: str, *, forwarded_by: str = "", retrieved: bool = False
    ) -> None:
        """Have the engine's events about ``leg_id`` (a leg about to be dialed for this
        call) come to this call, and tell observers it is dialed (``dial``), as
        :meth:`dial` does (``forwarded_by`` too); :meth:`release` ends it.
        ``retrieved``: a parked call this call takes back (the ``dial`` says so: it is a
        party of this call, but keeps its own CDR, which ties this call's leg instead)."""
        self._children[leg_id] = _Child(leg_id)
        if self._on_child is not None:
            self._on_child(leg_id, self)
        if retrieved:
            self._notify("dial", destination=destination, leg_id=leg_id, retrieved=True)
        else:
            self._notify_dial(destination, leg_id, forwarded_by)

    def _notify_dial(self, destination: str, leg_id: str, forwarded_by: str) -> None:
        if forwarded_by:
            self._notify("dial", destination=destination, leg_id=leg_id,
                         forwarded_by=forwarded_by)  # fmt: skip
        else:
            self._notify("dial", destination=destination, leg_id=leg_id)

    async def release(self, leg_id: str) -> None:
        """Hang up an adopted leg (unless it is gone) and stop routing its events here."""
        child = self._children.get(leg_id)
        if child is not None:
            await self._end_child(child)

    def listen(self, handler: Callable[[Event], None]) -> Callable[[], None]:
        """Have ``handler`` see every event delivered to this call (its leg's and its
        dialed legs'), before the call takes it; returns the function that stops it."""
        self._listeners.append(handler)

        def stop() -> None:
            if handler in self._listeners:
                self._listeners.remove(handler)

        return stop

    def notify(self, action: str, **details: Any) -> None:
        """Tell the call's observers (the flow tests, CDRs, recent calls) about ``action``."""
        self._notify(action, **details)

    # -- CTI hold ---------------------------------------------------------------------
    async def hold(self) -> None:
        self._check()
        await self._command(None, self.engine.hold(self.id))
        self._notify("held")

    async def unhold(self) -> None:
        self._check()
        await self._command(None, self.engine.unhold(self.id))
        self._notify("unheld")

    # -- call queues --------------------------------------------------------------------
    async def queue(self, name: str, **options: Any) -> Any:
        """Hand the caller to the tenant's call queue ``name``; returns once it is settled.

        The result is the ACD's ``QueueResult`` (``outcome`` answered, abandoned,
        overflow, timeout or callback; see docs/queues.md). ``options``: ``priority``,
        ``required_skills``, ``caller``. The queues are the runner's (``runner.queues``,
        set by the service); a flow run without them gets :class:`NotFoundError`.
        """
        self._check()
        if self.queues is None:
            raise NotFoundError("no call queues in this service", queue=name)
        tenant = int(self.tenant) if self.tenant.isdigit() else 0
        return await self.queues.enqueue(self, tenant_id=tenant, queue=name, **options)


def _validator(validate: object) -> Callable[[str], bool]:
    if validate is None:
        return lambda _digits: True
    if isinstance(validate, str | re.Pattern):
        pattern = re.compile(validate) if isinstance(validate, str) else validate
        return lambda digits: pattern.fullmatch(digits) is not None
    if callable(validate):
        return lambda digits: bool(validate(digits))
    raise ValidationError("validate must be a regular expression or a function")
