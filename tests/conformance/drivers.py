"""Drivers: the engine's side of a conformance test, one per engine.

A contract test says what happens in telephony words ("a call arrives and the caller keys
12# after a second", "dial a target that is busy", "the control link drops") and the
driver makes it happen on its engine, so the tests name no engine internals. The
FakeEngine's driver plays the far end with its scripting hooks; the Asterisk driver with
Local channels into a test-only dialplan context (the far half runs the far end's part)
and a REST-only ARI client that acts behind the adapter's back. A FreeSWITCH driver
implements the same methods (loopback channels and its own dialplan).

Every originate of the suite goes through :meth:`Driver.originate`, the one place that
knows how a target is spelled for the engine.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core.call import Leg
from orchestrator.core.engine import Engine
from orchestrator.core.errors import CallError, LegGoneError, NotFoundError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegHungUp,
    LegStateChanged,
    PlaybackStarted,
)
from orchestrator.core.fake import FakeEngine

# What an originated target does: answers, is busy, does not answer (rings until the
# originate's timeout), or rejects the call.
Outcome = Literal["answer", "busy", "no_answer", "reject"]


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
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: self.find(pred) is not None)
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
    ``audio`` (speaks: plays a sound at us), ``read`` (collects what we key, up to ``#``;
    :meth:`Driver.far_end_heard` tells), ``hangup`` (hangs up after ``after`` seconds;
    worlds only).
    """

    kind: Literal["wait", "dtmf", "audio", "read", "hangup"] = "wait"
    digits: str = ""
    after: int = 1

    @classmethod
    def dtmf(cls, digits: str, after: int = 1) -> FarEnd:
        return cls("dtmf", digits, after)

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
        app_args: Sequence[str] = (),
    ) -> Leg:
        """``engine.originate`` to a target that does ``outcome``: the suite's one
        originate (the seam's target type changes here only)."""

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

    @abc.abstractmethod
    async def restart(self, kept: set[str]) -> None:
        """The orchestrator restarts: :attr:`engine` stops (the engine keeps its calls), a
        new engine object on the same engine with ``kept_legs = kept`` starts and becomes
        :attr:`engine` (with new :attr:`events`); returns once it is connected."""

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


# -- FakeEngine -----------------------------------------------------------------------


# How long the FakeDriver's playbacks last (others: 0.05 s).
MEDIA_SECONDS = {"sound:tt-monkeys": 10.0}


class FakeDriver(Driver):
    """The FakeEngine's driver: plays the far end with its scripting hooks."""

    kind = "fake"

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._engines: list[FakeEngine] = []

    @property
    def fake(self) -> FakeEngine:
        assert isinstance(self.engine, FakeEngine)
        return self.engine

    async def start(self) -> None:
        await self._use(FakeEngine(auto_finish_playback=False))

    async def _use(self, fake: FakeEngine) -> None:
        self.engine, self.events = fake, Events(fake)
        self._engines.append(fake)
        fake.subscribe(self._on_event)
        await fake.start()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, PlaybackStarted):
            self._spawn(self._play_out(event.playback_id))

    async def _play_out(self, playback_id: str) -> None:
        """A playback lasts as long as its media (unless stopped), as on a real engine."""
        media = next(c[2] for c in self.fake.commands if c[0] == "play" and c[3] == playback_id)
        await asyncio.sleep(sum(MEDIA_SECONDS.get(m, 0.05) for m in media))
        if ("stop_playback", playback_id) not in self.fake.commands:
            await self.fake.finish_playback(playback_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        far = far or FarEnd()
        leg = await self.fake.incoming_call(caller=caller, called=called)
        if far.kind == "dtmf":
            self._spawn(self._keys_after_answer(leg.id, far))
        return Incoming(leg.id, far)

    async def _keys_after_answer(self, leg_id: str, far: FarEnd) -> None:
        await self.events.up(leg_id, timeout=60)
        await asyncio.sleep(far.after)
        if self.fake.legs[leg_id].alive:
            await self.fake.dtmf(leg_id, far.digits)

    async def originate(
        self,
        outcome: Outcome,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 10,
        variables: dict[str, str] | None = None,
        app_args: Sequence[str] = (),
    ) -> Leg:
        leg = await self.fake.originate(
            f"SIP/{outcome}@conformance.example",
            leg_id=leg_id,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            app_args=app_args,
        )
        self._spawn(self._target(leg.id, outcome, timeout))
        return leg

    async def _target(self, leg_id: str, outcome: Outcome, timeout: float) -> None:
        await asyncio.sleep(0.05)  # the target's answer comes after the request
        if outcome == "answer":
            with contextlib.suppress(LegGoneError):
                await self.fake.remote_answer(leg_id)
            return
        if outcome == "no_answer":
            await asyncio.sleep(timeout)
        await self.fake.remote_hangup(leg_id, {"busy": 17, "no_answer": 19, "reject": 21}[outcome])

    async def caller_hangs_up(self, leg_id: str) -> None:
        await self.fake.remote_hangup(leg_id)

    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        sent = "".join(
            c[2] for c in self.fake.commands if c[0] == "send_dtmf" and c[1] == call.leg_id
        )
        return sent.split("#", 1)[0]

    async def drop_link(self) -> None:
        await self.fake.drop_link()

    async def link_back(self) -> None:
        await self.fake.reconnect()

    async def restart(self, kept: set[str]) -> None:
        old = self.fake
        await old.stop()
        self.events.unsubscribe()
        new = old.restarted()
        new.kept_legs |= kept
        await self._use(new)

    async def exists(self, leg_id: str) -> bool:
        # After restarted(), a swept leg is in no engine object's channels any more.
        return leg_id in self.fake.channels


# -- Asterisk -------------------------------------------------------------------------

# The test-only dialplan (written into the instance's tenants directory by the fixture).
# Incoming calls: a Local channel whose ;2 half runs CONTEXT_IN (into our Stasis app,
# ringing: the leg under control) and whose ;1 half, once answered, runs the far end's
# extension in CONTEXT_FAR. Originate targets: Local channels into CONTEXT_OUT.
CONTEXT_IN = "zz-conformance-in"
CONTEXT_FAR = "zz-conformance-far"
CONTEXT_OUT = "zz-conformance-out"
DB_FAMILY = "conformance"
DIALPLAN = f"""; written by tests/conformance (drivers.py), removed at the end
[{CONTEXT_IN}]
exten => _X.,1,Stasis(${{CONF_APP}},incoming)
 same => n,Hangup()
[{CONTEXT_FAR}]
exten => wait,1,Wait(60)
 same => n,Hangup()
; bye-<after> ("n", "x", "z" are pattern characters: none in these names)
exten => _bye-X,1,Wait(${{EXTEN:4}})
 same => n,Hangup()
exten => audio,1,Playback(tt-monkeys)
 same => n,Wait(60)
 same => n,Hangup()
; dtmf-<after>-<digits>
exten => _dtmf-X-.,1,Wait(${{CUT(EXTEN,-,2)}})
 same => n,SendDTMF(${{CUT(EXTEN,-,3)}},150)
 same => n,Wait(60)
 same => n,Hangup()
; read-<key>: what we key in goes to AstDB {DB_FAMILY}/<key>
exten => _read-.,1,Read(DIGITS,,8,,,10)
 same => n,Set(DB({DB_FAMILY}/${{EXTEN:5}})=${{DIGITS}})
 same => n,Wait(10)
 same => n,Hangup()
[{CONTEXT_OUT}]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => busy,1,Busy()
exten => no_answer,1,Ringing()
 same => n,Wait(60)
 same => n,Hangup()
exten => reject,1,Hangup(21)
"""


class AsteriskDriver(Driver):
    """The real Asterisk's driver: Local channels into :data:`DIALPLAN`.

    Each driver registers its own Stasis app (``conformance-<hex>``) and id prefix, so it
    neither sees nor sweeps the channels of other tests, and a new test never re-registers
    an app whose old events socket Asterisk is still tearing down.
    """

    kind = "asterisk"

    def __init__(self, asterisk: Any) -> None:
        from orchestrator.engines.asterisk.ari import AriClient

        self.asterisk = asterisk
        self.app = f"conformance-{uuid.uuid4().hex[:8]}"
        self.prefix = f"cf{uuid.uuid4().hex[:4]}-"
        self.creds = asterisk.credentials()
        self.url = f"http://{asterisk.bind_address}:{asterisk.ports.http}/ari"
        self._engines: list[Any] = []
        # REST only (never run_events): acts behind the adapter's back.
        self.ari = AriClient(
            self.url, str(self.creds["ari_user"]), str(self.creds["ari_password"]), self.app
        )
        self._far: list[str] = []

    def _make(self) -> Any:
        from orchestrator.engines.asterisk.adapter import AsteriskEngine

        return AsteriskEngine(
            ari_url=self.url,
            ari_user=str(self.creds["ari_user"]),
            ari_password=str(self.creds["ari_password"]),
            ami_host=self.asterisk.bind_address,
            ami_port=self.asterisk.ports.ami,
            ami_user=str(self.creds["ami_user"]),
            ami_password=str(self.creds["ami_password"]),
            app=self.app,
            id_prefix=self.prefix,
            # One registration of a subscribe-all app per service is what the engine
            # tests exercise (see tests/engine/test_adapter.py); legs are what we test.
            observe_channels=False,
            # A slow first retry leaves time to act while the link is down.
            backoff=(1.0, 5.0),
        )

    async def start(self) -> None:
        await self.ari.__aenter__()
        await self._use(self._make())

    async def _use(self, engine: Any) -> None:
        self.engine, self.events = engine, Events(engine)
        self._engines.append(engine)
        await engine.start()
        await engine.wait_connected(15)

    async def close(self) -> None:
        engine = self.engine
        if engine.status().connected:
            for leg_id in list(engine.legs):
                with contextlib.suppress(LegGoneError, CallError):
                    await engine.hangup(leg_id)
        for channel_id in self._far:
            with contextlib.suppress(LegGoneError, NotFoundError, CallError):
                await self.ari.hangup(channel_id)
        for made in self._engines:
            await made.stop()
        await self.ari.__aexit__(None, None, None)

    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        far = far or FarEnd()
        key = uuid.uuid4().hex[:12]
        exten = {
            "wait": "wait",
            "audio": "audio",
            "dtmf": f"dtmf-{far.after}-{far.digits}",
            "read": f"read-{key}",
        }[far.kind]
        leg_id = f"{self.prefix}in-{key}"
        far_id = f"{self.prefix}far-{key}"
        self._far.append(far_id)
        await self.ari.post(
            "/channels",
            {
                "endpoint": f"Local/{called}@{CONTEXT_IN}",
                "context": CONTEXT_FAR,
                "extension": exten,
                "priority": 1,
                "callerId": f'"Caller" <{caller}>',
                "timeout": 60,
                "channelId": far_id,
                "otherChannelId": leg_id,
            },
            # "__": inherited by the ;2 half, whose dialplan enters our app.
            {"variables": {"__CONF_APP": self.app}},
        )
        await self.events.leg_created(leg_id)
        return Incoming(leg_id, far, key)

    async def originate(
        self,
        outcome: Outcome,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 10,
        variables: dict[str, str] | None = None,
        app_args: Sequence[str] = (),
    ) -> Leg:
        leg: Leg = await self.engine.originate(
            f"Local/{outcome}@{CONTEXT_OUT}",
            leg_id=leg_id,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            app_args=app_args,
        )
        return leg

    async def caller_hangs_up(self, leg_id: str) -> None:
        await self.ari.hangup(leg_id, reason="normal")

    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        value = ""
        async with asyncio.timeout(timeout):
            # The far half's dialplan writes AstDB: nothing to wait on but the engine.
            while "Value: " not in value:
                await asyncio.sleep(0.1)
                value = await asyncio.to_thread(
                    self.asterisk.cli, f"database get {DB_FAMILY} {call.key}"
                )
        return value.split("Value: ", 1)[1].strip()

    async def drop_link(self) -> None:
        from orchestrator.core.events import EngineDisconnected

        await self.engine.ari.drop_events_link()
        await self.events.wait_for(lambda e: isinstance(e, EngineDisconnected))

    async def link_back(self) -> None:
        return None  # the adapter reconnects by itself (after its backoff)

    async def restart(self, kept: set[str]) -> None:
        await self.engine.stop()
        self.events.unsubscribe()
        new = self._make()
        new.kept_legs |= kept
        await self._use(new)

    async def exists(self, leg_id: str) -> bool:
        return leg_id in {c["id"] for c in await self.ari.list_channels()}
