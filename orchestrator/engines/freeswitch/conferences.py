"""Conferences on FreeSWITCH (``Engine.conferences``) over mod_conference.

Each conference is a mod_conference room named ``<prefix>conf-<id>`` in the adapter's
profile. mod_conference makes a room when its first member enters, so :meth:`create`
only notes the id (after a restart it reads the room back, see below). A member joins by
an inline dialplan run on its leg, ``conference:<room>@<profile>+flags{mute|deaf|
moderator},park`` (``uuid_transfer <uuid> ... inline``), so it parks again when it leaves
the room: up and under control. It joins with ``conference_controls=none``: the
profile's caller controls would take its keys (``#`` leaves, ``0`` mutes); its keys are
relayed to the others instead (:meth:`FreeSwitchConferences.dtmf`). ``add-member``
(conference::maintenance) gives its member id and makes ``ConferenceMemberJoined``;
mute/deaf/hold are ``conference <room> mute|unmute|deaf|undeaf|hold|unhold <member
id>``; leaving and the end send each leg to ``park`` (``uuid_transfer <uuid> park
inline``); the room goes with its last member.
A member that hangs up is reported gone (``reason="hangup"``) before its ``LegHungUp``.

Coaching is mod_conference's member relationships (``relate ... nospeak``, coaching.py);
a coach's keys go to its target only. Talk detection is mod_conference's own:
``start-talking`` / ``stop-talking`` make ``ConferenceMemberTalking``; a member that
leaves while talking is told it stopped first (mod_conference sends no ``stop-talking``
for a member that goes).

Plays to all are ``conference <room> play <file>``, followed by the room's
``play-file`` / ``play-file-done`` events of that file; recordings ``conference <room>
record <path>`` with ``start-recording`` / ``stop-recording``; one asked while nobody is
in (no room yet) waits for the first member to be in.

Restarts: the start-up sweep hangs up the legs of ours that are not kept, so a room of
kept members lives on; the next run's :meth:`create` of the id reads the room with
``conference <room> json_list`` and reports each kept leg in it (``resumed``), then its
coaches from the ``relate`` listing (``ConferenceMemberUpdated``; in a room of two the
listing cannot tell: taken as no coaching).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.core.conferences import (
    ConferenceMember,
    Conferences,
    check_conference_id,
)
from orchestrator.core.errors import (
    CallError,
    EngineTimeoutError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    LegDtmf,
    PlaybackFinished,
    PlaybackStarted,
)
from orchestrator.engines.freeswitch.coaching import Coaching
from orchestrator.engines.freeswitch.prompts import engine_media
from orchestrator.engines.freeswitch.translate import Conference

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

log = logging.getLogger(__name__)

ROOM_MARK = "conf-"
JOIN_TIMEOUT_S = 5.0
Reason = Literal["left", "hangup", "ended"]


@dataclass(slots=True)
class Room:
    id: str
    name: str
    members: dict[str, ConferenceMember] = field(default_factory=dict)
    member_ids: dict[str, str] = field(default_factory=dict)  # leg -> FreeSWITCH member id
    playing: dict[str, list[str]] = field(default_factory=dict)  # file -> playback ids
    started: set[str] = field(default_factory=set)  # playback ids reported started
    # Recordings asked while nobody is in (no mod_conference room yet): name -> path,
    # started when the first member is in.
    waiting: dict[str, str] = field(default_factory=dict)


class FreeSwitchConferences(Conferences):
    """The conferences of one :class:`FreeSwitchEngine` (see the module docstring)."""

    def __init__(self, engine: FreeSwitchEngine) -> None:
        self.engine = engine
        self._rooms: dict[str, Room] = {}
        self._by_name: dict[str, Room] = {}
        self._of: dict[str, str] = {}  # leg -> its conference id
        self._joining: dict[str, tuple[Room, ConferenceMember, asyncio.Future[str]]] = {}
        self._plays: dict[str, tuple[Room, str]] = {}  # playback id -> (room, file)
        self.coaching = Coaching(self)

    def room_name(self, conference_id: str) -> str:
        return f"{self.engine.id_prefix}{ROOM_MARK}{conference_id}"

    def members(self, conference_id: str) -> list[ConferenceMember]:
        room = self._rooms.get(conference_id)
        return list(room.members.values()) if room is not None else []

    def conference_of(self, leg_id: str) -> str | None:
        return self._of.get(leg_id)

    def _room(self, conference_id: str) -> Room:
        room = self._rooms.get(conference_id)
        if room is None:
            raise NotFoundError(
                f"conference {conference_id} not found", conference_id=conference_id
            )
        return room

    def _member(self, leg_id: str) -> tuple[Room, ConferenceMember]:
        conference_id = self._of.get(leg_id)
        if conference_id is None:
            raise NotFoundError(f"leg {leg_id} is in no conference", leg_id=leg_id)
        room = self._rooms[conference_id]
        return room, room.members[leg_id]

    def _forget(self, leg_id: str) -> tuple[Room | None, ConferenceMember | None]:
        conference_id = self._of.pop(leg_id, None)
        room = self._rooms.get(conference_id) if conference_id is not None else None
        if room is None:
            return None, None
        room.member_ids.pop(leg_id, None)
        return room, room.members.pop(leg_id, None)

    def _gone(self, room: Room, member: ConferenceMember) -> list[ConferenceMember]:
        """After ``member`` left ``room``: its talking stopped (told), and the coaches that
        coached it coach nobody now (returned: their relationships still to clear)."""
        if member.talking:
            self.engine.made(
                ConferenceMemberTalking(conference_id=room.id, leg_id=member.leg_id, talking=False)
            )
        coaches = []
        for coach in list(room.members.values()):
            if coach.coaching == member.leg_id:
                coaches.append(coach)
                self._set(room, replace(coach, coaching=None))
        return coaches

    async def _api(self, command: str) -> str:
        try:
            return await self.engine.api(command)
        except CallError as exc:
            if "not found" in str(exc):  # "-ERR Conference <name> not found"
                raise NotFoundError(str(exc)) from exc
            raise

    # -- the seam ---------------------------------------------------------------------
    async def create(self, conference_id: str) -> None:
        check_conference_id(conference_id)
        if conference_id in self._rooms:
            return
        room = Room(conference_id, self.room_name(conference_id))
        self._rooms[conference_id] = self._by_name[room.name] = room
        with contextlib.suppress(CallError, NotFoundError, ValueError):
            listing = await self.engine.api(f"conference {room.name} json_list")
            for member in _listed_members(listing):
                leg_id = str(member.get("uuid", ""))
                leg = self.engine.legs.get(leg_id)
                if leg is None or not leg.alive or leg_id in self._of:
                    continue
                flags = member.get("flags") or {}
                found = ConferenceMember(
                    leg_id, muted=not flags.get("can_speak", True),
                    deaf=not flags.get("can_hear", True), held=bool(flags.get("hold", False)),
                    moderator=bool(flags.get("is_moderator", False)),
                )  # fmt: skip
                room.members[leg_id] = found
                room.member_ids[leg_id] = str(member.get("id", ""))
                self._of[leg_id] = conference_id
                self.engine.made(
                    ConferenceMemberJoined(
                        conference_id=conference_id, leg_id=leg_id, muted=found.muted,
                        deaf=found.deaf, moderator=found.moderator, resumed=True,
                    )
                )  # fmt: skip
        if room.members:
            with contextlib.suppress(CallError, NotFoundError):
                await self.coaching.take_back(room)

    async def join(
        self, conference_id: str, leg_id: str, *, muted: bool = False, deaf: bool = False,
        moderator: bool = False,
    ) -> None:  # fmt: skip
        room = self._room(conference_id)
        engine = self.engine
        leg = engine.legs.get(leg_id)
        if leg is None or not leg.alive:
            raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id)
        engine.controlled(leg_id)
        if self._of.get(leg_id) == conference_id:
            return
        await self._leave(leg_id, "left", park=False)
        engine.connections.unpair(leg_id)  # the unbridge tells both sides
        engine.supervisions.leg_gone(leg_id)
        member = ConferenceMember(leg_id, muted=muted, deaf=deaf, moderator=moderator)
        flags = [f for f, on in (("mute", muted), ("deaf", deaf), ("moderator", moderator)) if on]
        spec = f"{room.name}@{engine.conference_profile}"
        if flags:
            spec += "+flags{" + "|".join(flags) + "}"
        joined: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._joining[leg_id] = (room, member, joined)
        try:
            # No caller controls: the profile's default ones take the member's keys
            # (# hangs up, 0 mutes...); keys are relayed to the others instead (dtmf()).
            await engine.api(f"uuid_setvar {leg_id} conference_controls none")
            await engine.api(f"uuid_transfer {leg_id} conference:{spec},park inline")
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                await joined
        except TimeoutError:
            raise EngineTimeoutError(f"leg {leg_id} did not join {conference_id}") from None
        finally:
            self._joining.pop(leg_id, None)
        for name, path in list(room.waiting.items()):
            del room.waiting[name]
            try:
                await self._api(f"conference {room.name} record {path}")
            except (CallError, NotFoundError):  # the member left at once: no room again
                log.warning("conference %s: recording %s not started", room.id, name)
                self.engine.media.drop(name)
        # The coaches in the room are not heard by the newcomer either.
        for coach in list(room.members.values()):
            if coach.coaching is not None and self._of.get(leg_id) == room.id:
                with contextlib.suppress(CallError, NotFoundError):
                    await self.coaching.relate(room, coach, was=coach.coaching, others=[leg_id])

    async def leave(self, leg_id: str) -> None:
        await self._leave(leg_id, "left", park=True)

    async def handing_over(self, leg_id: str) -> None:
        """The leg is about to leave our control (a transfer takes it out of the room)."""
        await self._leave(leg_id, "hangup", park=False)

    async def _leave(self, leg_id: str, reason: Reason, *, park: bool) -> None:
        room, member = self._forget(leg_id)
        if room is None or member is None:
            return
        coaches = self._gone(room, member)
        try:
            if park:
                with contextlib.suppress(LegGoneError):
                    await self.engine.api(f"uuid_transfer {leg_id} park inline")
        finally:
            self.engine.made(
                ConferenceMemberLeft(conference_id=room.id, leg_id=leg_id, reason=reason)
            )
        await self.coaching.uncoach(room, coaches)

    async def leg_gone(self, leg_id: str) -> None:
        """On the dispatcher, before the leg's LegHungUp: a member gone is reported gone."""
        self._joining.pop(leg_id, None)
        room, member = self._forget(leg_id)
        if room is not None and member is not None:
            if member.talking:
                await self.engine.emit(
                    ConferenceMemberTalking(conference_id=room.id, leg_id=leg_id, talking=False)
                )
            await self.engine.emit(
                ConferenceMemberLeft(conference_id=room.id, leg_id=leg_id, reason="hangup")
            )
            coaches = self._gone(room, replace(member, talking=False))
            if coaches:  # not here: the dispatcher does not wait on replies
                self.engine.spawn(self.coaching.uncoach(room, coaches), f"uncoach-{leg_id}")

    async def _flag(self, leg_id: str, **flags: Any) -> None:
        room, old = self._member(leg_id)
        new = replace(old, **flags)
        room.members[leg_id] = new
        member_id = room.member_ids.get(leg_id, "")
        try:
            if "held" in flags and new.held != old.held:
                await self._api(
                    f"conference {room.name} {'hold' if new.held else 'unhold'} {member_id}"
                )
                if not new.held:  # back with its own flags
                    await self._api(
                        f"conference {room.name} {'mute' if new.muted else 'unmute'} {member_id}"
                    )
                    await self._api(
                        f"conference {room.name} {'deaf' if new.deaf else 'undeaf'} {member_id}"
                    )
            elif not new.held:
                if new.muted != old.muted:
                    await self._api(
                        f"conference {room.name} {'mute' if new.muted else 'unmute'} {member_id}"
                    )
                if new.deaf != old.deaf:
                    await self._api(
                        f"conference {room.name} {'deaf' if new.deaf else 'undeaf'} {member_id}"
                    )
        except BaseException:
            if self._of.get(leg_id) == room.id:
                room.members[leg_id] = old
            raise
        self._set(room, new)

    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        await self.coaching.coach(leg_id, target_leg_id)

    def _set(self, room: Room, member: ConferenceMember) -> None:
        room.members[member.leg_id] = member
        self.engine.made(
            ConferenceMemberUpdated(
                conference_id=room.id, leg_id=member.leg_id, muted=member.muted,
                deaf=member.deaf, held=member.held, coaching=member.coaching,
            )
        )  # fmt: skip

    async def mute(self, leg_id: str, on: bool = True) -> None:
        await self._flag(leg_id, muted=on)

    async def deafen(self, leg_id: str, on: bool = True) -> None:
        await self._flag(leg_id, deaf=on)

    async def hold(self, leg_id: str, on: bool = True, *, music: str = "") -> None:
        from orchestrator.core.targets import check
        from orchestrator.engines.freeswitch.hold import MOH_CLASS

        if music:
            check(MOH_CLASS, music, "music-on-hold class")
        await self._flag(leg_id, held=on)

    async def play(
        self, conference_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        room = self._room(conference_id)
        file = engine_media(
            [media] if isinstance(media, str) else media, self.engine.recordings_dir
        )
        pid = playback_id or self.engine.new_id()
        room.playing.setdefault(file, []).append(pid)
        self._plays[pid] = (room, file)
        try:
            await self._api(f"conference {room.name} play {file}")
        except BaseException:
            room.playing[file].remove(pid)
            self._plays.pop(pid, None)
            raise
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        found = self._plays.get(playback_id)
        if found is not None:
            with contextlib.suppress(CallError, NotFoundError):
                await self.engine.api(f"conference {found[0].name} stop current")

    async def record(
        self, conference_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        if not 0 <= max_duration < math.inf:
            raise ValidationError("a recording limit must be finite and >= 0", name=name)
        room = self._room(conference_id)
        path = str(self.engine.media.path(name, fmt))
        self.engine.media.conference_recording(name, room.name, path)
        if not room.members:
            # mod_conference has no room to record until a member enters ("-ERR Conference
            # ... not found"): a recorded room is recorded before its first caller is in.
            room.waiting[name] = path
            return name
        try:
            await self._api(f"conference {room.name} record {path}")
        except BaseException:
            self.engine.media.drop(name)
            raise
        return name

    def drop_waiting(self, name: str) -> bool:
        """Forget the recording ``name`` if it waits for a first member (it never started:
        nothing to report); whether it did."""
        for room in self._rooms.values():
            if room.waiting.pop(name, None) is not None:
                self.engine.media.drop(name)
                return True
        return False

    async def end(self, conference_id: str) -> None:
        room = self._rooms.pop(conference_id, None)
        if room is None:
            return
        self._by_name.pop(room.name, None)
        for name in room.waiting:
            self.engine.media.drop(name)  # never started: nothing to report
        with contextlib.suppress(CallError, NotFoundError):
            await self.engine.api(f"conference {room.name} norecord all")
        for leg_id in sorted(room.members):
            member = room.members.pop(leg_id)
            self._of.pop(leg_id, None)
            with contextlib.suppress(CallError):
                await self.engine.api(f"uuid_transfer {leg_id} park inline")
            if member.talking:
                stopped = ConferenceMemberTalking(
                    conference_id=conference_id, leg_id=leg_id, talking=False
                )
                self.engine.made(stopped)
            self.engine.made(
                ConferenceMemberLeft(conference_id=conference_id, leg_id=leg_id, reason="ended")
            )
        self.engine.made(ConferenceEnded(conference_id=conference_id))

    async def dtmf(self, e: LegDtmf) -> None:
        """A member keyed a digit: the others hear it, as they hear its voice (mod_conference
        passes no DTMF between members): ``uuid_send_dtmf`` to each one that hears."""
        conference_id = self._of.get(e.leg_id)
        if conference_id is None:
            return
        room = self._rooms[conference_id]
        sender = room.members.get(e.leg_id)
        if sender is None or sender.muted or sender.held:
            return
        for other in room.members.values():
            if sender.coaching is not None and other.leg_id != sender.coaching:
                continue  # a coach is heard by its target only
            if other.leg_id != e.leg_id and not (other.deaf or other.held):
                with contextlib.suppress(CallError):
                    await self.engine.api(f"uuid_send_dtmf {other.leg_id} {e.digit}")

    # -- conference::maintenance (on the dispatcher) ---------------------------------
    async def event(self, e: Conference) -> None:
        engine = self.engine
        if e.action == "add-member":
            joining = self._joining.get(e.leg_id)
            if joining is None:
                return
            room, member, joined = joining
            room.members[e.leg_id] = member
            room.member_ids[e.leg_id] = e.member_id
            self._of[e.leg_id] = room.id
            await engine.emit(
                ConferenceMemberJoined(
                    conference_id=room.id, leg_id=e.leg_id, muted=member.muted,
                    deaf=member.deaf, moderator=member.moderator, timestamp=e.timestamp,
                )
            )  # fmt: skip
            if not joined.done():
                joined.set_result(e.member_id)
            return
        found = self._by_name.get(e.name)
        if found is None:
            if e.action == "stop-recording":  # after end(): the room is forgotten already
                for out in engine.media.conference_recorded(
                    e.path, False, e.timestamp, e.elapsed_ms / 1000
                ):
                    await engine.emit(out)
            return
        room = found
        if e.action in ("play-file", "play-file-done") and room.playing.get(e.file):
            pids = room.playing[e.file]
            if e.action == "play-file":
                pid = next((p for p in pids if p not in room.started), None)
                if pid is not None:
                    room.started.add(pid)
                    await engine.emit(PlaybackStarted(playback_id=pid, timestamp=e.timestamp))
                return
            pid = pids.pop(0)
            room.started.discard(pid)
            self._plays.pop(pid, None)
            await engine.emit(PlaybackFinished(playback_id=pid, timestamp=e.timestamp))
        elif e.action in ("start-talking", "stop-talking"):
            talker = room.members.get(e.leg_id)
            talking = e.action == "start-talking"
            if talker is not None and talker.talking != talking:
                room.members[e.leg_id] = replace(talker, talking=talking)
                await engine.emit(
                    ConferenceMemberTalking(
                        conference_id=room.id, leg_id=e.leg_id, talking=talking,
                        timestamp=e.timestamp,
                    )
                )  # fmt: skip
        elif e.action in ("start-recording", "stop-recording"):
            started = e.action == "start-recording"
            for out in engine.media.conference_recorded(
                e.path, started, e.timestamp, e.elapsed_ms / 1000
            ):
                await engine.emit(out)


def _listed_members(listing: str) -> list[dict[str, Any]]:
    """The members in ``conference <room> json_list``'s output (a JSON array of rooms)."""
    if not listing.lstrip().startswith("["):
        return []
    members: list[dict[str, Any]] = []
    for room in json.loads(listing):
        members.extend(m for m in room.get("members", []) if isinstance(m, dict))
    return members
