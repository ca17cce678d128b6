"""Hold on FreeSWITCH (``Engine.hold`` / ``Engine.unhold``).

``hold(leg, "")`` is ``uuid_hold`` for a SIP (sofia) leg: FreeSWITCH indicates hold to
the endpoint and plays the hold music to its peer; ``uuid_hold off`` undoes it. Any other
leg (loopback) hears its ``hold_music`` (``uuid_broadcast``) instead: ``uuid_hold`` sets
CF_HOLD and CF_SUSPEND on the channel, and ``uuid_hold off`` then refuses ("Call is not on
hold") because such an endpoint never goes HELD, so the channel stayed suspended and
nothing played to it again (seen on 1.10.12, see switch_ivr_hold/unhold). A music class is
``uuid_broadcast <leg> local_stream://<class> aleg`` (mod_local_stream must be loaded).

A broadcast is stopped with ``uuid_break <leg> all``; a break that reaches a bridged
channel before its broadcast started playing is lost (the channel leaves its bridge to
play it), so :meth:`Holds.unhold` waits for the music's CHANNEL_EXECUTE first and breaks
again if its CHANNEL_EXECUTE_COMPLETE does not follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.core.targets import check
from orchestrator.engines.freeswitch.esl.connection import EslCommandError
from orchestrator.engines.freeswitch.translate import Executed

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

MOH_CLASS = re.compile(r"[A-Za-z0-9_-]{1,80}")
# What a leg hears on hold when its channel names no hold_music (FreeSWITCH's default).
DEFAULT_HOLD_MUSIC = "local_stream://moh"
# How long unhold waits for the hold music to start, and then to stop, per try.
HOLD_STEP_S = 1.0
BREAK_TRIES = 3


@dataclass(slots=True)
class HoldRun:
    """The hold music broadcast to a leg: seen started, seen ended."""

    stream: str
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Holds:
    """The legs on hold of one :class:`FreeSwitchEngine` (see the module doc)."""

    def __init__(self, engine: FreeSwitchEngine) -> None:
        self.engine = engine
        self.music: dict[str, str] = {}  # leg -> its broadcast stream, "" for uuid_hold
        self.runs: dict[str, HoldRun] = {}

    async def hold(self, leg_id: str, music: str) -> None:
        engine = self.engine
        if music:
            stream = f"local_stream://{check(MOH_CLASS, music, 'music-on-hold class')}"
            await self._broadcast(leg_id, stream)
            return
        leg = engine.legs.get(leg_id)
        if leg is None or not leg.name or leg.name.startswith("sofia/"):
            await engine.api(f"uuid_hold {leg_id}")
            self.music[leg_id] = ""
            return
        stream = (await engine.api(f"uuid_getvar {leg_id} hold_music")).strip()
        if not stream or stream == "_undef_":
            stream = DEFAULT_HOLD_MUSIC
        await self._broadcast(leg_id, stream)

    async def _broadcast(self, leg_id: str, stream: str) -> None:
        self.runs[leg_id] = HoldRun(stream)
        try:
            await self.engine.api(f"uuid_broadcast {leg_id} {stream} aleg")
        except BaseException:
            self.runs.pop(leg_id, None)
            raise
        self.music[leg_id] = stream

    async def unhold(self, leg_id: str) -> None:
        music = self.music.pop(leg_id, None)
        run = self.runs.get(leg_id)
        if not music:
            with contextlib.suppress(EslCommandError):  # not on hold: not an error
                await self.engine.api(f"uuid_hold off {leg_id}")
            return
        try:
            await self._stop(leg_id, run)
        finally:
            if self.runs.get(leg_id) is run:
                self.runs.pop(leg_id, None)

    async def _stop(self, leg_id: str, run: HoldRun | None) -> None:
        for _ in range(BREAK_TRIES):
            if run is not None and not run.done.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(HOLD_STEP_S):
                        await run.started.wait()
            with contextlib.suppress(EslCommandError):
                await self.engine.api(f"uuid_break {leg_id} all")
            if run is None or not run.started.is_set():
                return  # the music never started (no such stream): nothing to stop
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOLD_STEP_S):
                    await run.done.wait()
            if run.done.is_set():
                return

    # -- on the dispatcher ------------------------------------------------------------
    def executed(self, e: Executed) -> None:
        run = self.runs.get(e.leg_id)
        if run is not None and e.app == "playback" and e.data == run.stream:
            (run.done if e.done else run.started).set()

    def forget(self, leg_id: str) -> None:
        self.music.pop(leg_id, None)
        run = self.runs.pop(leg_id, None)
        if run is not None:  # an unhold waiting on it stops waiting
            run.started.set()
            run.done.set()
