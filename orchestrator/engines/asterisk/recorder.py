"""Recording a whole conversation on Asterisk (``Engine.record_call``): a snoop channel.

ARI records only channels in our Stasis app and not in a bridge (``POST
/channels/{id}/record`` answers 409 "Channel not in Stasis application" for a
phone-to-phone dialplan call and "Cannot record channel while in bridge" for any bridged
leg), and records only bridges of our app. A snoop channel with ``spy=both`` on the
recorded channel carries what that channel says *and* hears, mixed: both parties,
whatever the channel is in (our bridge, a dialplan ``Dial()``, a queue's bridge, nothing),
and it is in our app, alone, so ARI records it.

With ``beep`` a second, short-lived snoop that only whispers (``spy=none``,
``whisper=both``) plays ``sound:beep`` to both parties once the recording runs (measured
on Asterisk 22: both hear it, about 700 Hz, and nothing else of it). The recorder itself
never whispers, so nothing it does can reach the parties.

The snoop channel is the adapter's business: its leg events never reach subscribers, its
recording's events are reported for the recorded channel, and it is hung up when the
recording ends (stopped, its limit reached) or goes away with the recorded channel. Its
id carries the adapter's prefix, so a new run's start-up sweep clears one left behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import CallError, LegGoneError, OrchestratorError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegEvent,
    LegHungUp,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

log = logging.getLogger(__name__)

# The snoop channel's Stasis argument: tells a recorder from a supervisor's snoop.
RECORD_ARG = "record-call"
# How long the snoop channel may take to enter the app (it starts in its own thread, so
# its StasisStart can trail the reply to the snoop request).
READY_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Recorder:
    snoop_id: str
    leg_id: str
    name: str
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    played: asyncio.Event = field(default_factory=asyncio.Event)  # a beeper's beep
    gone: bool = False


class CallRecorders:
    """The snoop channels recording conversations for one :class:`AsteriskEngine`."""

    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine
        self._by_snoop: dict[str, _Recorder] = {}
        self._by_name: dict[str, _Recorder] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def record(
        self, leg_id: str, name: str, *, fmt: str, max_duration: int, beep: bool
    ) -> None:
        engine = self.engine
        if name in self._by_name:
            raise CallError(f"recording {name} is already being made", recording=name)
        rec = _Recorder(snoop_id=engine.new_id(), leg_id=leg_id, name=name)
        # Registered before the request: the snoop's StasisStart can come before the reply.
        self._by_snoop[rec.snoop_id] = self._by_name[name] = rec
        try:
            await self._snoop(rec, spy="both", whisper="none")
            await engine.ari.record(
                rec.snoop_id, name, fmt=fmt, max_duration=max_duration, beep=False,
                terminate_on="none", if_exists="fail",
            )  # fmt: skip
        except TimeoutError:
            self._drop(rec)
            await self._hangup(rec)
            raise LegGoneError(
                f"could not snoop on channel {leg_id} (no snoop channel came up)", leg_id=leg_id
            ) from None
        except BaseException:
            self._drop(rec)
            if not rec.gone:
                await self._hangup(rec)
            raise
        if beep:
            self._spawn(self._beep(leg_id), f"recorder-beep-{rec.snoop_id}")

    async def _snoop(self, rec: _Recorder, *, spy: str, whisper: str) -> None:
        """Snoop on ``rec.leg_id`` and wait until the snoop channel is in the app."""
        await self.engine.ari.snoop(
            rec.leg_id, snoop_id=rec.snoop_id, spy=spy, whisper=whisper, app_args=(RECORD_ARG,)
        )
        async with asyncio.timeout(READY_TIMEOUT_S):
            await rec.ready.wait()
        if rec.gone:
            raise LegGoneError(f"channel {rec.leg_id} ended", leg_id=rec.leg_id)

    async def _beep(self, leg_id: str) -> None:
        """Both parties hear a beep: a whisper-only snoop plays it, then goes."""
        rec = _Recorder(snoop_id=self.engine.new_id(), leg_id=leg_id, name="")
        self._by_snoop[rec.snoop_id] = rec
        try:
            await self._snoop(rec, spy="none", whisper="both")
            await self.engine.ari.play(rec.snoop_id, ["sound:beep"], self.engine.new_id())
            async with asyncio.timeout(READY_TIMEOUT_S):
                await rec.played.wait()
        except (TimeoutError, OrchestratorError) as exc:
            log.warning("asterisk: no recording beep on %s: %s", leg_id, exc)
        finally:
            if not rec.gone:
                await self._hangup(rec)

    def event(self, event: Event) -> Event | None:
        """``event`` as subscribers see it: a recorder's leg events are swallowed (None),
        its recording events name the recorded channel."""
        if isinstance(event, LegEvent):
            rec = self._by_snoop.get(event.leg_id)
            if rec is None:
                return event
            if isinstance(event, LegCreated):
                rec.ready.set()
            elif isinstance(event, LegHungUp):
                rec.gone = True
                rec.ready.set()
                self._by_snoop.pop(rec.snoop_id, None)
            return None
        if isinstance(event, PlaybackStarted | PlaybackFinished):
            rec = self._by_snoop.get(event.leg_id)
            if rec is None:
                return event
            if isinstance(event, PlaybackFinished):
                rec.played.set()
            return None
        if isinstance(event, RecordingStarted | RecordingFinished):
            rec = self._by_snoop.get(event.leg_id) or self._by_name.get(event.recording)
            if rec is None:
                return event
            if isinstance(event, RecordingFinished):
                self._by_name.pop(rec.name, None)
                self._hang_up(rec)  # stopped or at its limit: the snoop has no more use
            return dataclasses.replace(event, leg_id=rec.leg_id)
        return event

    def _drop(self, rec: _Recorder) -> None:
        self._by_name.pop(rec.name, None)

    def _hang_up(self, rec: _Recorder) -> None:
        # Not awaited: this runs on the adapter's dispatcher, which must not wait on ARI.
        if not rec.gone:
            self._spawn(self._hangup(rec), f"recorder-hangup-{rec.snoop_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hangup(self, rec: _Recorder) -> None:
        try:
            await self.engine.ari.hangup(rec.snoop_id, reason="normal")
        except LegGoneError:
            pass  # it ended with the recorded channel meanwhile
        except Exception as exc:  # the sweep of the next run clears it
            log.warning("asterisk: could not hang up recorder %s: %s", rec.snoop_id, exc)
