"""The FakeEngine's driver (see tests/conformance/drivers/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.errors import LegGoneError
from orchestrator.core.events import ConferenceMemberJoined, Event, PlaybackStarted
from orchestrator.core.fake import FakeEngine
from orchestrator.core.outcomes import DialOutcome
from orchestrator.core.targets import Routing, SipUser
from tests.conformance.drivers.base import Driver, Events, FarEnd, Incoming, Outcome

# How long the FakeDriver's playbacks last (others: 0.05 s).
MEDIA_SECONDS = {"sound:tt-monkeys": 10.0}


class FakeDriver(Driver):
    """The FakeEngine's driver: plays the far end with its scripting hooks."""

    kind = "fake"

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._engines: list[FakeEngine] = []
        self._heard: dict[str, str] = {}  # leg -> digits keyed by the far end of its peer
        self._speaking: set[str] = set()  # legs whose far end speaks all along ("audio")

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
        elif isinstance(event, ConferenceMemberJoined) and event.leg_id in self._speaking:
            # Its far end speaks all along: talk detection hears it once it is a member.
            self._spawn(self.fake.conferences.talk(event.leg_id, True))

    async def _play_out(self, playback_id: str) -> None:
        """A playback lasts as long as its media (unless stopped), as on a real engine."""
        media = next(
            c[2]
            for c in self.fake.commands
            if c[0] in ("play", "conference_play") and c[3] == playback_id
        )
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
        elif far.kind == "audio":
            self._speaking.add(leg.id)
        elif far.kind == "talk":
            self._spawn(self._talks_after_answer(leg.id, far))
        return Incoming(leg.id, far)

    async def _talks_after_answer(self, leg_id: str, far: FarEnd) -> None:
        """Talks 2 s, ``after`` seconds after the answer: heard by talk detection while
        the leg is in a conference (as a real engine's tone on the far end is)."""
        await self.events.up(leg_id, timeout=60)
        await asyncio.sleep(far.after)
        await self.fake.conferences.talk(leg_id, True)
        await asyncio.sleep(2)
        await self.fake.conferences.talk(leg_id, False)

    async def _keys_after_answer(self, leg_id: str, far: FarEnd) -> None:
        await self.events.up(leg_id, timeout=60)
        await asyncio.sleep(far.after)
        if self.fake.legs[leg_id].alive:
            await self.fake.dtmf(leg_id, far.digits)
            # What a far end keys reaches the leg it is connected to, as over a real bridge.
            # So do they reach every other member of a conference it is in (DTMF passes
            # mute and deaf on a real engine too: those act on the voice).
            peers = [self.fake.peer(leg_id)]
            conference = self.fake.conferences.conference_of(leg_id)
            if conference is not None:
                peers = [m.leg_id for m in self.fake.conferences.members(conference)]
            for peer in peers:
                if peer is not None and peer != leg_id:
                    self._heard[peer] = self._heard.get(peer, "") + far.digits

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
        leg = await self.fake.originate(
            SipUser(f"{outcome}@conformance.example"),
            leg_id=leg_id,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            routing=routing,
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
        def heard() -> str:
            sent = "".join(
                c[2] for c in self.fake.commands if c[0] == "send_dtmf" and c[1] == call.leg_id
            )
            return sent + self._heard.get(call.leg_id, "")

        async with asyncio.timeout(timeout):
            # Polled: the keys come from the driver's own far-end tasks.
            while "#" not in heard():  # noqa: ASYNC110  ("#" ends the reading)
                await asyncio.sleep(0.05)
        return heard().split("#", 1)[0]

    async def drop_link(self) -> None:
        await self.fake.drop_link()

    async def link_back(self) -> None:
        await self.fake.reconnect()

    async def _freeze(self) -> None:
        # The in-memory engine has no process to stop: its link is simply lost.
        await self.fake.drop_link("stalled")

    async def resume(self) -> None:
        if not self.fake.connected:
            await self.fake.reconnect()

    async def restart(self, kept: set[str]) -> None:
        old = self.fake
        await old.stop()
        self.events.unsubscribe()
        new = old.restarted()
        new.kept_legs |= kept
        await self._use(new)

    async def dialplan_call(self, *, answered: bool = True) -> tuple[str, str]:
        status = DialOutcome.ANSWERED if answered else None
        return await self.fake.dialplan_call(
            "101@conformance.example", "102@conformance.example", caller="101", called="102",
            status=status, hangup=False,
        )  # fmt: skip

    async def exists(self, leg_id: str) -> bool:
        # After restarted(), a swept leg is in no engine object's channels any more.
        return leg_id in self.fake.channels
