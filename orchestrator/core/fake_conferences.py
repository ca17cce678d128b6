"""The FakeEngine's conferences (:attr:`FakeEngine.conferences`), in memory.

Tests read the state: ``fake.conferences.rooms`` (conference -> leg -> member) and every
command in ``fake.commands`` (``("conference_join", conference, leg, muted, deaf,
moderator)``, ``("conference_coach", leg, target)``, ``("conference_play", conference,
media, playback_id)``...). A member's far end speaks with :meth:`FakeConferences.talk`
(``ConferenceMemberTalking``), as a real engine's talk detection would tell. Observation
sees the members of a conference in one conversation (``ChannelBridged`` with
``conversation_id="conference-<id>"``), as on a real engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from orchestrator.core.conferences import (
    ConferenceMember,
    Conferences,
    check_coach_target,
    check_conference_id,
)
from orchestrator.core.errors import NotFoundError
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    PlaybackFinished,
    PlaybackStarted,
    RecordingStarted,
)

if TYPE_CHECKING:
    from orchestrator.core.fake import FakeEngine


class FakeConferences(Conferences):
    """See the module docstring."""

    def __init__(self, fake: FakeEngine) -> None:
        self.fake = fake
        self.rooms: dict[str, dict[str, ConferenceMember]] = {}
        self.held_music: dict[str, str] = {}  # held member -> its music class
        self._of: dict[str, str] = {}  # leg -> its conference
        self._recordings: dict[str, str] = {}  # live recording name -> its conference
        # What a previous run left (FakeEngine.restarted): conference -> its members then.
        # create() of one takes back the members still ours (kept), without their flags.
        self.left_behind: dict[str, list[str]] = {}
        self.coached_before: dict[str, str] = {}  # coach -> its target then (taken back too)

    def _room(self, conference_id: str) -> dict[str, ConferenceMember]:
        room = self.rooms.get(conference_id)
        if room is None:
            raise NotFoundError(
                f"conference {conference_id} not found", conference_id=conference_id
            )
        return room

    def _member(self, leg_id: str) -> tuple[str, ConferenceMember]:
        self.fake._leg(leg_id)
        conference_id = self._of.get(leg_id)
        if conference_id is None:
            raise NotFoundError(f"leg {leg_id} is in no conference", leg_id=leg_id)
        return conference_id, self.rooms[conference_id][leg_id]

    def members(self, conference_id: str) -> list[ConferenceMember]:
        return list(self.rooms.get(conference_id, {}).values())

    def conference_of(self, leg_id: str) -> str | None:
        return self._of.get(leg_id)

    async def create(self, conference_id: str) -> None:
        check_conference_id(conference_id)
        self.fake._require_link()
        self.fake.commands.append(("conference_create", conference_id))
        if conference_id in self.rooms:
            return
        room = self.rooms[conference_id] = {}
        for leg_id in self.left_behind.pop(conference_id, []):
            leg = self.fake.legs.get(leg_id)
            if leg is None or not leg.alive or leg_id in self._of:
                continue
            room[leg_id] = ConferenceMember(leg_id)
            self._of[leg_id] = conference_id
            await self.fake.emit(
                ConferenceMemberJoined(conference_id=conference_id, leg_id=leg_id, resumed=True)
            )
        for leg_id, member in list(room.items()):
            target = self.coached_before.pop(leg_id, None)
            if target in room:
                await self._set(conference_id, dataclasses.replace(member, coaching=target))

    async def join(
        self,
        conference_id: str,
        leg_id: str,
        *,
        muted: bool = False,
        deaf: bool = False,
        moderator: bool = False,
    ) -> None:
        self.fake._require_link()
        room = self._room(conference_id)  # checked first: no such conference, whatever the leg
        self.fake._leg(leg_id)
        self.fake.commands.append(
            ("conference_join", conference_id, leg_id, muted, deaf, moderator)
        )
        if self._of.get(leg_id) == conference_id:
            return
        await self.left(leg_id, "left")
        await self.fake._unpair(leg_id)
        room[leg_id] = ConferenceMember(leg_id, muted=muted, deaf=deaf, moderator=moderator)
        self._of[leg_id] = conference_id
        await self.fake._channel_joined(leg_id, f"conference-{conference_id}", entered=True)
        await self.fake.emit(
            ConferenceMemberJoined(
                conference_id=conference_id, leg_id=leg_id, muted=muted, deaf=deaf,
                moderator=moderator,
            )
        )  # fmt: skip

    async def leave(self, leg_id: str) -> None:
        self.fake._leg(leg_id)
        self.fake.commands.append(("conference_leave", leg_id))
        await self.left(leg_id, "left")

    async def left(self, leg_id: str, reason: Literal["left", "hangup", "ended"]) -> None:
        """``leg_id`` is a member no more (left, hung up, transferred, connected elsewhere)."""
        conference_id = self._of.get(leg_id)
        if conference_id is None:
            return
        await self.talk(leg_id, False)  # never a "started" without its "stopped"
        self._of.pop(leg_id, None)
        del self.rooms[conference_id][leg_id]
        self.held_music.pop(leg_id, None)
        if reason != "ended":  # (an end takes every coach out all the same)
            await self._coached_gone(conference_id, leg_id)
        await self.fake._channel_joined(leg_id, f"conference-{conference_id}", entered=False)
        await self.fake.emit(
            ConferenceMemberLeft(conference_id=conference_id, leg_id=leg_id, reason=reason)
        )

    async def _update(self, leg_id: str, command: str, on: bool, flag: str) -> None:
        conference_id, member = self._member(leg_id)
        self.fake.commands.append((command, leg_id, on))
        flags = {"muted": member.muted, "deaf": member.deaf, "held": member.held, flag: on}
        member = dataclasses.replace(
            member, muted=flags["muted"], deaf=flags["deaf"], held=flags["held"]
        )
        await self._set(conference_id, member)

    async def _set(self, conference_id: str, member: ConferenceMember) -> None:
        self.rooms[conference_id][member.leg_id] = member
        await self.fake.emit(
            ConferenceMemberUpdated(
                conference_id=conference_id, leg_id=member.leg_id, muted=member.muted,
                deaf=member.deaf, held=member.held, coaching=member.coaching,
            )
        )  # fmt: skip

    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        conference_id, member = self._member(leg_id)
        check_coach_target(conference_id, self.rooms[conference_id], leg_id, target_leg_id)
        self.fake.commands.append(("conference_coach", leg_id, target_leg_id))
        await self._set(conference_id, dataclasses.replace(member, coaching=target_leg_id))

    async def _coached_gone(self, conference_id: str, leg_id: str) -> None:
        """``leg_id`` left: whoever coached it coaches nobody now."""
        for coach in list(self.rooms[conference_id].values()):
            if coach.coaching == leg_id:
                await self._set(conference_id, dataclasses.replace(coach, coaching=None))

    async def talk(self, leg_id: str, talking: bool = True) -> None:
        """The member's far end starts (or stops) talking: ``ConferenceMemberTalking`` if
        that changes anything (a leg in no conference: nothing)."""
        conference_id = self._of.get(leg_id)
        if conference_id is None:
            return
        member = self.rooms[conference_id][leg_id]
        if member.talking == talking:
            return
        self.rooms[conference_id][leg_id] = dataclasses.replace(member, talking=talking)
        await self.fake.emit(
            ConferenceMemberTalking(conference_id=conference_id, leg_id=leg_id, talking=talking)
        )

    async def mute(self, leg_id: str, on: bool = True) -> None:
        await self._update(leg_id, "conference_mute", on, "muted")

    async def deafen(self, leg_id: str, on: bool = True) -> None:
        await self._update(leg_id, "conference_deafen", on, "deaf")

    async def hold(self, leg_id: str, on: bool = True, *, music: str = "") -> None:
        await self._update(leg_id, "conference_hold", on, "held")
        if on:
            self.held_music[leg_id] = music
        else:
            self.held_music.pop(leg_id, None)

    async def play(
        self, conference_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        self.fake._require_link()
        self._room(conference_id)
        pid = playback_id or self.fake.new_id()
        items = [media] if isinstance(media, str) else list(media)
        self.fake.commands.append(("conference_play", conference_id, tuple(items), pid))
        await self.fake.emit(PlaybackStarted(playback_id=pid))
        if self.fake.auto_finish_playback:
            await self.fake.emit(PlaybackFinished(playback_id=pid))
        else:
            self.fake._playing[pid] = ""
        return pid

    async def record(
        self, conference_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        self.fake._require_link()
        self._room(conference_id)
        self.fake.commands.append(("conference_record", conference_id, name, fmt, max_duration))
        self.fake._live_recordings[name] = ""
        self._recordings[name] = conference_id
        started = RecordingStarted(recording=name)
        self.fake.conference_recordings[name] = started.timestamp
        await self.fake.emit(started)
        return name

    async def end(self, conference_id: str) -> None:
        self.fake._require_link()
        self.fake.commands.append(("conference_end", conference_id))
        room = self.rooms.get(conference_id)
        if room is None:
            return
        for leg_id in sorted(room):
            await self.left(leg_id, "ended")
        for name, conference in list(self._recordings.items()):
            if conference == conference_id:
                del self._recordings[name]
                if name in self.fake._live_recordings:
                    await self.fake.finish_recording(name)
        del self.rooms[conference_id]
        await self.fake.emit(ConferenceEnded(conference_id=conference_id))
