"""What every driver does (:class:`Driver`); the event recorder and far-end script they share."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core.call import Leg
from orchestrator.core.engine import Engine
from orchestrator.core.events import (
    EngineDisconnected,
    Event,
    LegCreated,
    LegHungUp,
    LegStateChanged,
)
from orchestrator.core.targets import Routing

# What an originated target does: answers, is busy, does not answer (rings until the
# originate's timeout), or rejects the call.
Outcome = Literal["answer", "busy", "no_answer", "reject"]


class NotSeen(TimeoutError):
    """An awaited event did not come; the message lists the last ones that did."""


class Events:
    """Collects an engine's events; :meth:`wait_for` returns the first matching one."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[Event] = []
        self._cond = asyncio.Condition()
        self.unsubscribe = engine.subscribe(self._on)

    async def _on(self, event: Event) -> None:
        async with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def find(self, pred: Callable[[Event], bool]) -> Any:
        return next((e for e in self.events if pred(e)), None)

    def all(self, pred: Callable[[Event], bool]) -> list[Any]:
        return [e for e in self.events if pred(e)]

    async def wait_for(self, pred: Callable[[Event], bool], timeout: float = 10.0) -> Any:
        try:
            async with asyncio.timeout(timeout), self._cond:
                await self._cond.wait_for(lambda: self.find(pred) is not None)
        except TimeoutError:
            recent = "\n  ".join(repr(e) for e in self.events[-15:])
            raise NotSeen(f"not seen in {timeout:g} s; the last events:\n  {recent}") from None
        return self.find(pred)

    async def leg_created(self, leg_id: str, timeout: float = 10.0) -> LegCreated:
        event: LegCreated = await self.wait_for(
            lambda e: isinstance(e, LegCreated) and e.leg_id == leg_id, timeout
        )
        return event

    async def hung_up(self, leg_id: str, timeout: float = 10.0) -> LegHungUp:
        event: LegHungUp = await self.wait_for(
            lambda e: isinstance(e, LegHungUp) and e.leg_id == leg_id, timeout
        )
        return event

    async def up(self, leg_id: str, timeout: float = 10.0) -> Event:
        """The leg is answered (``LegCreated`` or ``LegStateChanged`` with state up)."""
        return await self.wait_for(  # type: ignore[no-any-return]
            lambda e: (
                isinstance(e, LegCreated | LegStateChanged)
                and e.leg_id == leg_id
                and e.state == "up"
            ),
            timeout,
        )


@dataclass(frozen=True, slots=True)
class FarEnd:
    """What the far end of an incoming call does once the leg is answered.

    ``kind``: ``wait`` (silent), ``dtmf`` (keys ``digits`` after ``after`` seconds),
    ``audio`` (speaks: plays a sound at us), ``talk`` (silent ``after`` seconds, then
    speaks for about 2 s, then silent again: one talking start and stop), ``read``
    (collects what we key, up to ``#``;
    :meth:`Driver.far_end_heard` tells), ``hangup`` (hangs up after ``after`` seconds;
    worlds only).
    """

    kind: Literal["wait", "dtmf", "audio", "talk", "read", "hangup"] = "wait"
    digits: str = ""
    after: int = 1

    @classmethod
    def dtmf(cls, digits: str, after: int = 1) -> FarEnd:
        return cls("dtmf", digits, after)

    @classmethod
    def talks(cls, after: int = 1) -> FarEnd:
        return cls("talk", "", after)

    @classmethod
    def hangs_up(cls, after: int) -> FarEnd:
        return cls("hangup", "", after)


@dataclass(slots=True)
class Incoming:
    """A call that arrived: ``leg_id`` is the leg under the orchestrator's control."""

    leg_id: str
    far: FarEnd
    key: str = ""  # the far end's own handle (what far_end_heard reads)


class Driver(abc.ABC):
    """The engine's side of the tests for one engine (see the module docstring)."""

    kind: str
    engine: Engine
    events: Events
    # Whether a recording holds what was said and played (the real engine), not silence
    # as long as it ran (the FakeEngine and the FreeSWITCH peer write that).
    records_audio = False
    # A tenant whose number "300" answers and stays (transfer's Extension target).
    tenant = "zzconformance"

    @abc.abstractmethod
    async def start(self) -> None:
        """Make :attr:`engine` (connected) and :attr:`events`."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Hang up what the test left and stop every engine object made."""

    @abc.abstractmethod
    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        """A call arrives (ringing, not answered) and is under the orchestrator's control:
        returns once its ``LegCreated`` is in :attr:`events`."""

    @abc.abstractmethod
    async def originate(
        self,
        outcome: Outcome,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 10,
        variables: dict[str, str] | None = None,
        routing: Routing | None = None,
    ) -> Leg:
        """``engine.originate`` to a target that does ``outcome``: the suite's one
        originate (the only place that knows which typed target does what on the engine)."""

    @abc.abstractmethod
    async def caller_hangs_up(self, leg_id: str) -> None:
        """The far end of ``leg_id`` hangs up (normal clearing), behind the engine
        object's back (also while its link is down)."""

    @abc.abstractmethod
    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        """The digits a ``read`` far end collected (up to ``#``, which ends it)."""

    @abc.abstractmethod
    async def drop_link(self) -> None:
        """The control link drops (the engine runs on); returns at ``EngineDisconnected``.
        The engine object reconnects on its own, after :meth:`link_back` at the latest."""

    @abc.abstractmethod
    async def link_back(self) -> None:
        """Let the dropped link come back (the reconnect the engine object makes)."""

    async def stall(self) -> None:
        """The engine stops answering with its links open (SIGSTOP, a deadlock); returns
        at the ``EngineDisconnected`` the engine object reports once it noticed by
        itself (Asterisk's events WebSocket heartbeat, FreeSWITCH's ESL probe: each
        within 15 s), resumed again if it never does."""
        await self._freeze()
        try:
            await self.events.wait_for(lambda e: isinstance(e, EngineDisconnected), 25)
        except BaseException:
            await self.resume()
            raise

    @abc.abstractmethod
    async def _freeze(self) -> None:
        """Stop the engine answering (see :meth:`stall`)."""

    @abc.abstractmethod
    async def resume(self) -> None:
        """The stalled engine answers again (SIGCONT); nothing if it is not stalled."""

    @abc.abstractmethod
    async def restart(self, kept: set[str]) -> None:
        """The orchestrator restarts: :attr:`engine` stops (the engine keeps its calls), a
        new engine object on the same engine with ``kept_legs = kept`` starts and becomes
        :attr:`engine` (with new :attr:`events`); returns once it is connected."""

    @abc.abstractmethod
    async def dialplan_call(self, *, answered: bool = True) -> tuple[str, str]:
        """A call the engine switches on its own, not under the orchestrator's control (two
        phones in dialplan): returns the (caller, callee) channel ids once both are up and
        talking (``answered``), or while the callee still rings. :meth:`close` ends it."""

    @abc.abstractmethod
    async def exists(self, leg_id: str) -> bool:
        """Whether the engine still has the channel ``leg_id`` (asked behind our back)."""

    async def gone(self, leg_id: str, timeout: float = 5) -> None:
        """Wait until the engine has no channel ``leg_id`` any more."""
        async with asyncio.timeout(timeout):
            # Asked of the engine itself: there is no event for a channel we do not own.
            while await self.exists(leg_id):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def answered_call(self, far: FarEnd | None = None) -> Incoming:
        """An incoming call the orchestrator answered (the far end starts its part)."""
        call = await self.incoming(far=far)
        await self.engine.answer(call.leg_id)
        await self.events.up(call.leg_id)
        return call
