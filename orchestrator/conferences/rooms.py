"""Conference rooms: the rules of a tenant's PIN rooms, over the ConferenceService.

A room (orchestrator/store/models/conference_rooms.py) has at most one active
conference at a time: the first caller who gets in makes it (recorded if the room says
so, capped at its ``max_participants``), the next ones join it, and it ends when its
last participant leaves (or, with ``end_when_moderator_leaves``, when its last
moderator does). The call flow (:mod:`orchestrator.conferences.room_flow`) asks for the
PIN and then calls :meth:`RoomHost.enter`; what happens afterwards follows the
engine's conference events:

- ``wait_for_moderator``: a participant who comes in while no moderator is there is
  told so, joins on hold (music, not heard, hears nothing) and is taken off hold when a
  moderator joins; when the last moderator leaves (and the conference goes on), the
  participants go back to waiting;
- ``announce_join_leave``: the room's ``join_sound`` / ``leave_sound`` (default: the
  stock chimes :attr:`Prompt.CONFERENCE_JOINED` / :attr:`Prompt.CONFERENCE_LEFT`) is
  played to the conference when someone joins or leaves;
- ``end_when_moderator_leaves``: when the last moderator leaves, the others hear
  :attr:`Prompt.CONFERENCE_MODERATOR_LEFT` and the conference ends
  (``end_reason`` ``moderator-left``; everyone is hung up).

Example (what the flow does once the PIN is right)::

    host = RoomHost(engine, conference_service)
    outcome = await host.enter(room, call, moderator=False)   # "joined", "locked", "full"
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.conferences.errors import ConferenceFullError, ConferenceLockedError
from orchestrator.conferences.service import ConferenceService
from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError, OrchestratorError
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    Event,
    PlaybackFinished,
)
from orchestrator.core.prompts import Prompt

log = logging.getLogger("orchestrator.conferences.rooms")

# Longest the "the leader has left" prompt may hold the end of a conference.
ANNOUNCE_LIMIT_S = 8.0
# Longest a joining leg's "joined" event may take to come after join_leg returned.
JOIN_WAIT_S = 5.0
Outcome = Literal["joined", "locked", "full"]


@dataclass(frozen=True, slots=True)
class Room:
    """A room as the flow read it from the store for one call (PIN hashes included)."""

    id: int
    tenant_id: int
    name: str
    number: str = ""
    pin_hash: str | None = None
    moderator_pin_hash: str | None = None
    wait_for_moderator: bool = False
    end_when_moderator_leaves: bool = False
    announce_join_leave: bool = False
    join_sound: str | None = None
    leave_sound: str | None = None
    max_participants: int = 50
    record: bool = False
    locked: bool = False
    muted_on_join: bool = False

    @classmethod
    def of(cls, row: Any) -> Room:
        """From a ``ConferenceRoom`` row (or anything with the same attributes)."""
        return cls(**{name: getattr(row, name) for name in cls.__slots__})


@dataclass(slots=True)
class _Live:
    """What the host knows of one room's active conference."""

    room: Room
    conference_id: str
    moderators: set[str] = field(default_factory=set)  # leg ids
    members: dict[str, str] = field(default_factory=dict)  # leg id -> participant uuid
    waiting: set[str] = field(default_factory=set)  # leg ids held until a moderator comes


class RoomHost:
    """Puts callers into their room's conference and keeps the room's rules."""

    def __init__(
        self,
        engine: Engine,
        service: ConferenceService,
        room_by_id: Callable[[int], Awaitable[Room | None]] | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        # Reads a room from the store: to take up the rules of a room's conference that
        # the service took back after a restart, before anyone enters the room again.
        self.room_by_id = room_by_id
        self._adopting: set[str] = set()
        self._live: dict[str, _Live] = {}  # by conference id
        # Legs joining: set when the engine reports them in (the service then has them
        # "joined", and only a joined participant can be held).
        self._joining: dict[str, asyncio.Event] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- entering ----------------------------------------------------------------------
    async def status(self, room: Room) -> tuple[int, int]:
        """``(participants present, moderators present)`` in the room now (0, 0: none)."""
        live = await self._current(room)
        return (0, 0) if live is None else (len(live.members), len(live.moderators))

    async def _current(self, room: Room) -> _Live | None:
        """The room's active conference as the host follows it; one taken back after a
        restart of the service is rebuilt from the service's view of it."""
        conference_id = self.service.room_conference(room.id)
        if conference_id is None:
            return None
        live = self._live.get(conference_id)
        if live is None:
            live = _Live(room, conference_id)
            view = await self.service.get(conference_id, scope=None)
            for p in view["participants"]:
                if p["state"] not in ("joined", "ringing"):
                    continue
                live.members[p["leg_id"]] = p["id"]
                if p["moderator"]:
                    live.moderators.add(p["leg_id"])
                elif p["held"] and room.wait_for_moderator:
                    live.waiting.add(p["leg_id"])
            self._live[conference_id] = live
        return live

    async def enter(self, room: Room, leg_id: str, *, number: str, moderator: bool) -> Outcome:
        """The answered leg joins the room's conference (made if there is none).

        Returns ``locked`` (the conference was locked through the API) or ``full`` (it
        has ``max_participants``) without joining; ``joined`` once the leg is in (on
        hold if it waits for a moderator). The leg is the conference's from then on.
        """
        lock = self._locks.setdefault(room.id, asyncio.Lock())
        async with lock:  # two first callers at once make one conference
            live = await self._current(room)
            if live is None:
                view = await self.service.create(
                    tenant_id=room.tenant_id,
                    scope=None,
                    principal_user_id=None,
                    call_id=None,
                    name=f"room {room.name}",
                    record=room.record,
                    max_participants=room.max_participants,
                    room_id=room.id,
                )
                live = _Live(room, view["id"])
                self._live[live.conference_id] = live
            live.room = room  # the newest settings apply from now on
            wait = room.wait_for_moderator and not moderator and not live.moderators
            arrived = self._joining[leg_id] = asyncio.Event()
            try:
                try:
                    joined = await self.service.join_leg(
                        live.conference_id,
                        leg_id,
                        number=number,
                        via="room",
                        muted=room.muted_on_join and not moderator,
                        moderator=moderator,
                    )
                except ConferenceLockedError:
                    return "locked"
                except ConferenceFullError:
                    return "full"
                live.members[leg_id] = joined["id"]
                with contextlib.suppress(TimeoutError):
                    # join_leg returns once the leg hears the conference; the engine's event
                    # saying so may come just after (Asterisk), or have come already (fake).
                    # Watched until then: dropped as join_leg returned, the event found
                    # nobody and every join waited JOIN_WAIT_S (its chime came that late).
                    if joined["state"] != "joined":
                        await asyncio.wait_for(arrived.wait(), JOIN_WAIT_S)
            finally:
                self._joining.pop(leg_id, None)
            if moderator:
                live.moderators.add(leg_id)
            if wait:
                await self._hold(live, leg_id, True)
            elif moderator and live.waiting:
                for waiting in list(live.waiting):
                    await self._hold(live, waiting, False)
        if room.announce_join_leave:
            self._spawn(self._announce(live, room.join_sound or Prompt.CONFERENCE_JOINED))
        return "joined"

    async def _hold(self, live: _Live, leg_id: str, on: bool) -> None:
        participant = live.members.get(leg_id)
        if participant is None:
            return
        try:
            await self.service.set_held(live.conference_id, participant, on, scope=None)
        except OrchestratorError as exc:  # it left meanwhile
            log.info("room %s: hold %s of %s: %s", live.room.name, on, leg_id, exc)
            return
        (live.waiting.add if on else live.waiting.discard)(leg_id)

    # -- the engine's events -----------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConferenceEnded):
            self._forget(event.conference_id)
            return
        if isinstance(event, ConferenceMemberJoined) and event.leg_id in self._joining:
            self._joining[event.leg_id].set()
        conference_id = getattr(event, "conference_id", "")
        live = self._live.get(conference_id)
        if live is None:
            if isinstance(event, ConferenceMemberJoined) and event.resumed:
                self._adopt(conference_id)
            return
        if isinstance(event, ConferenceMemberJoined) and event.moderator:
            live.moderators.add(event.leg_id)  # also a moderator taken back after a restart
        elif isinstance(event, ConferenceMemberLeft) and event.leg_id in live.members:
            self._left(live, event.leg_id, event.reason)

    def _left(self, live: _Live, leg_id: str, reason: str) -> None:
        was_moderator = leg_id in live.moderators
        live.members.pop(leg_id, None)
        live.moderators.discard(leg_id)
        live.waiting.discard(leg_id)
        if reason == "ended" or not live.members:
            return  # the conference is ending (or empty: the service ends it)
        room = live.room
        if was_moderator and not live.moderators:
            if room.end_when_moderator_leaves:
                self._spawn(self._end(live))
                return
            if room.wait_for_moderator:
                self._spawn(self._back_to_waiting(live))
        if room.announce_join_leave:
            self._spawn(self._announce(live, room.leave_sound or Prompt.CONFERENCE_LEFT))

    def _adopt(self, conference_id: str) -> None:
        """A conference taken back after a restart (its members reported ``resumed``):
        if it is a room's, follow it again with the room's rules."""
        room_id = self.service.room_of(conference_id)
        if room_id is None or self.room_by_id is None or conference_id in self._adopting:
            return
        self._adopting.add(conference_id)
        lookup = self.room_by_id

        async def adopt() -> None:
            try:
                room = await lookup(room_id)
                if room is not None:
                    await self._current(room)
            finally:
                self._adopting.discard(conference_id)

        self._spawn(adopt())

    async def _back_to_waiting(self, live: _Live) -> None:
        for leg_id in list(live.members):
            if leg_id not in live.moderators and leg_id not in live.waiting:
                await self._hold(live, leg_id, True)

    async def _end(self, live: _Live) -> None:
        await self._announce(live, Prompt.CONFERENCE_MODERATOR_LEFT, wait=True)
        with contextlib.suppress(NotFoundError, OrchestratorError):
            await self.service.end(live.conference_id, scope=None, reason="moderator-left")

    async def _announce(self, live: _Live, media: str, *, wait: bool = False) -> None:
        """Play ``media`` to the conference (to the end when ``wait``, at most
        ANNOUNCE_LIMIT_S); a conference gone meanwhile is no error."""
        playback_id = self.engine.new_id()
        done = asyncio.Event()

        def finished(event: Event) -> None:
            if isinstance(event, PlaybackFinished) and event.playback_id == playback_id:
                done.set()

        unsubscribe = self.engine.subscribe(finished)
        try:
            await self.engine.conferences.play(live.conference_id, media, playback_id=playback_id)
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), ANNOUNCE_LIMIT_S)
        except OrchestratorError as exc:
            log.info("room %s: announcement %s: %s", live.room.name, media, exc)
        finally:
            unsubscribe()

    def _forget(self, conference_id: str) -> None:
        self._live.pop(conference_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name="conference-room")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
