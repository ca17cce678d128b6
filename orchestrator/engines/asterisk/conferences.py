"""Conferences on Asterisk (``Engine.conferences``): one ARI mixing bridge per conference.

Each conference is a mixing bridge of the adapter's own, named ``<prefix>conf-<id>``
(:data:`BRIDGE_MARK`), so it never meets the bridges of ``connect`` (connections.py) or
of supervision (supervisor.py): its bridge events are dropped before the adapter's
bridge bookkeeping and never reach subscribers. The conference events are made here,
queued through the adapter's pipeline (engine order): ``ConferenceMemberJoined`` once a
channel is in the bridge, ``ConferenceMemberLeft`` when it leaves by a command, or, for a
member that hangs up or leaves our control, just before its ``LegHungUp`` / ``LegLeftApp``.

Flags are the channel's own ARI ``mute``: ``in`` for muted (what it says is dropped),
``out`` for deaf (what is sent to it is dropped); a held member leaves the bridge for
music on hold on its own (ARI channel ``moh``) and comes back after it, its ``out`` mute
lifted meanwhile so that it hears the music. Leaving, or the end of the conference,
undoes all three, so a leg connected elsewhere next is not muted.

Talk detection: each member's channel gets the ``TALK_DETECT(set)`` channel function as it
joins (``TALK_DETECT(remove)`` as it leaves); ARI ``ChannelTalkingStarted`` / ``Finished``
(:class:`~orchestrator.engines.asterisk.translate.LegTalking`) become
``ConferenceMemberTalking``; a member leaving while talking is told it stopped first.

Coaching (``coach``): the coach's channel leaves the mixing bridge for a supervision of
its target and comes back (coaching.py).

Restarts: the start-up sweep (reconcile.py) spares a conference bridge that holds a kept
leg and destroys the others; the next run's ``create`` of the same id takes the bridge
back and reports each kept leg in it as a member (``resumed``; its flags as the channel
has them are not read back: reported as none), then its coaches (coaching.py).
Reconnects: a conference bridge unknown to this run and empty is destroyed, as
connections' are.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    Event,
    LegHungUp,
    LegLeftApp,
)
from orchestrator.engines.asterisk.bridges import BridgeEvent, LegLeftBridge
from orchestrator.engines.asterisk.coaching import Coaching
from orchestrator.engines.asterisk.prompts import engine_media
from orchestrator.engines.asterisk.translate import LegTalking

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

log = logging.getLogger(__name__)

BRIDGE_MARK = "conf-"
# Always Asterisk's mixer (softmix), whatever the number of members: a plain "mixing"
# bridge of two channels, a member and the Recorder channel of a recording, is a
# simple_bridge that only passes on the frames the member sends, so a recording of a
# phone that sends no RTP (or of a quiet one: no frames between talk spurts) held
# nothing but a WAV header, and the chimes alone otherwise. ARI's "video_sfu" is the
# only type that pins the mixer (res_stasis: "For an SFU video bridge we ensure it
# always remains in multimix"); audio-only members get no re-INVITE from it.
BRIDGE_TYPE = "mixing,video_sfu"
CREATE_ATTEMPTS = 20
LEAVE_TIMEOUT_S = 2.0  # how long a channel may take to leave the bridge (on hold)
Reason = Literal["left", "hangup", "ended"]


@dataclass(slots=True)
class Room:
    id: str
    bridge_id: str
    members: dict[str, ConferenceMember] = field(default_factory=dict)
    music: dict[str, str] = field(default_factory=dict)  # held member -> its music class


class AsteriskConferences(Conferences):
    """The conferences of one :class:`AsteriskEngine` (see the module docstring)."""

    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine
        self._rooms: dict[str, Room] = {}
        self._of: dict[str, str] = {}  # leg -> its conference
        self._leaving: dict[str, asyncio.Event] = {}  # leg -> set once out of its bridge
        self._tasks: set[asyncio.Task[None]] = set()
        self.coaching = Coaching(self)

    # -- what the adapter asks ---------------------------------------------------------
    def bridge_id(self, conference_id: str) -> str:
        return f"{self.engine.id_prefix}{BRIDGE_MARK}{conference_id}"

    def owns_bridge(self, bridge_id: str) -> bool:
        return bridge_id.startswith(self.engine.id_prefix + BRIDGE_MARK)

    def knows_bridge(self, bridge_id: str) -> bool:
        """Whether a conference of this run is carried by ``bridge_id``."""
        return any(room.bridge_id == bridge_id for room in self._rooms.values())

    def concerns(self, event: Event) -> bool:
        """Whether :meth:`event` must see ``event`` (a plain check: most events do not)."""
        if isinstance(event, BridgeEvent):
            return self.owns_bridge(event.bridge_id)
        if isinstance(event, LegTalking):
            return True  # never passed on: a member's becomes ConferenceMemberTalking
        return isinstance(event, LegHungUp | LegLeftApp) and event.leg_id in self._of

    async def event(self, event: Event) -> None:
        """On the adapter's dispatcher, before ``event`` is applied: a member gone is
        reported gone (before its ``LegHungUp``). The bridge's own events stop here."""
        if isinstance(event, LegLeftBridge):
            leaving = self._leaving.get(event.leg_id)
            if leaving is not None:
                leaving.set()
        elif isinstance(event, LegTalking):
            conference_id = self._of.get(event.leg_id)
            room = self._rooms.get(conference_id) if conference_id is not None else None
            member = room.members.get(event.leg_id) if room is not None else None
            if room is not None and member is not None and member.talking != event.talking:
                room.members[event.leg_id] = replace(member, talking=event.talking)
                await self.engine.emit(
                    ConferenceMemberTalking(
                        conference_id=room.id, leg_id=event.leg_id, talking=event.talking,
                        timestamp=event.timestamp,
                    )
                )  # fmt: skip
        elif isinstance(event, LegHungUp | LegLeftApp):
            room, member = self._forget(event.leg_id)
            if room is not None and member is not None:
                if member.talking:
                    await self.engine.emit(
                        ConferenceMemberTalking(
                            conference_id=room.id, leg_id=event.leg_id, talking=False
                        )
                    )
                await self.engine.emit(
                    ConferenceMemberLeft(
                        conference_id=room.id, leg_id=event.leg_id, reason="hangup"
                    )
                )
                coaches = self.coaching.coaches_of(room, event.leg_id)
                if coaches:  # back into the bridge, not here: the dispatcher waits on nothing
                    task = asyncio.create_task(self.coaching.uncoach(room, coaches))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def members(self, conference_id: str) -> list[ConferenceMember]:
        room = self._rooms.get(conference_id)
        return list(room.members.values()) if room is not None else []

    def conference_of(self, leg_id: str) -> str | None:
        return self._of.get(leg_id)

    # -- the seam ------------------------------------------------------------------------
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
        room.music.pop(leg_id, None)
        return room, room.members.pop(leg_id, None)

    async def create(self, conference_id: str) -> None:
        check_conference_id(conference_id)
        if conference_id in self._rooms:
            return
        engine, bridge_id = self.engine, self.bridge_id(conference_id)
        engine.making_bridges.add(bridge_id)  # a reconcile meanwhile must not destroy it
        try:
            snapshot = await self._make_or_find(bridge_id)
            room = self._rooms[conference_id] = Room(conference_id, bridge_id)
        finally:
            engine.making_bridges.discard(bridge_id)
        in_bridge = set((snapshot or {}).get("channels", []))
        for leg_id in sorted(in_bridge):
            leg = engine.legs.get(leg_id)
            if leg is None or not leg.alive or leg_id in self._of:
                continue
            self._taken_back(room, ConferenceMember(leg_id))
        if room.members:  # taken back after a restart: its coaches too
            await self.coaching.take_back(room, in_bridge)

    def _taken_back(self, room: Room, member: ConferenceMember) -> None:
        """A kept leg of the previous run is a member again."""
        room.members[member.leg_id] = member
        self._of[member.leg_id] = room.id
        self.engine._made(
            ConferenceMemberJoined(conference_id=room.id, leg_id=member.leg_id, resumed=True)
        )

    async def _make_or_find(self, bridge_id: str) -> dict[str, Any]:
        """Create the bridge, or find it (left by a previous run with kept members in it).

        A bridge of the same id just destroyed (``end`` then ``create``) can still be
        there for a moment: 409 on create, then 404 on the look-up; try again then.
        """
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return await self.engine.ari.create_bridge(bridge_id, BRIDGE_TYPE)
            except CallError as exc:
                if exc.details.get("status") != 409:
                    raise
            try:
                return await self.engine.ari.get_bridge(bridge_id)
            except NotFoundError:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def join(
        self,
        conference_id: str,
        leg_id: str,
        *,
        muted: bool = False,
        deaf: bool = False,
        moderator: bool = False,
    ) -> None:
        room = self._room(conference_id)
        leg = self.engine.legs.get(leg_id)
        if leg is None or not leg.alive:
            raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id)
        if self._of.get(leg_id) == conference_id:
            return
        await self.leave(leg_id)
        await self.engine.disconnect(leg_id)  # its connection's bridge goes (peer told)
        member = ConferenceMember(leg_id, muted=muted, deaf=deaf, moderator=moderator)
        await self._mute(leg_id, ConferenceMember(leg_id), member)
        room.members[leg_id] = member
        self._of[leg_id] = conference_id
        try:
            await self._talk_detect(leg_id, "set")
            await self._add(room, leg_id)
        except BaseException:
            self._forget(leg_id)
            with contextlib.suppress(OrchestratorError):
                await self._mute(leg_id, member, ConferenceMember(leg_id))
            raise
        self.engine._made(
            ConferenceMemberJoined(
                conference_id=conference_id, leg_id=leg_id, muted=muted, deaf=deaf,
                moderator=moderator,
            )
        )  # fmt: skip

    async def leave(self, leg_id: str) -> None:
        await self._leave(leg_id, "left")

    async def handing_over(self, leg_id: str) -> None:
        """The leg is about to leave our control (a transfer): it leaves its conference
        first, its mute and music undone while ARI still takes commands for it."""
        await self._leave(leg_id, "hangup")

    async def _leave(self, leg_id: str, reason: Reason) -> None:
        room, member = self._forget(leg_id)
        if room is None or member is None:
            return
        try:
            await self._release(room, member, in_bridge=True)
        finally:
            self._stopped_talking(room, member)
            self.engine._made(
                ConferenceMemberLeft(conference_id=room.id, leg_id=leg_id, reason=reason)
            )
        await self.coaching.uncoach(room, self.coaching.coaches_of(room, leg_id))

    def _stopped_talking(self, room: Room, member: ConferenceMember) -> None:
        """A member leaving while talking is told it stopped (ARI may never say so)."""
        if member.talking:
            self.engine._made(
                ConferenceMemberTalking(conference_id=room.id, leg_id=member.leg_id, talking=False)
            )

    async def _release(self, room: Room, member: ConferenceMember, *, in_bridge: bool) -> None:
        """Undo what the conference did to the member's channel (it stays up)."""
        leg_id = member.leg_id
        with contextlib.suppress(LegGoneError):
            if member.held:
                with contextlib.suppress(CallError, NotFoundError):
                    await self.engine.ari.stop_moh(leg_id)
            elif member.coaching is not None:
                await self.engine._supervisions.stop(leg_id)  # its bridge goes, it stays up
            if member.coaching is not None:
                await self.coaching.mark(room, replace(member, coaching=None))
            elif in_bridge:
                with contextlib.suppress(CallError, NotFoundError, ValidationError):
                    await self.engine.ari.remove_channel(room.bridge_id, leg_id)
            await self._mute(leg_id, member, ConferenceMember(leg_id))
            with contextlib.suppress(CallError, NotFoundError, ValidationError):
                await self._talk_detect(leg_id, "remove")

    async def _update(
        self, leg_id: str, *, muted: bool | None = None, deaf: bool | None = None
    ) -> None:
        room, old = self._member(leg_id)
        new = replace(
            old,
            muted=old.muted if muted is None else muted,
            deaf=old.deaf if deaf is None else deaf,
        )
        if new != old:
            room.members[leg_id] = new
            try:
                await self._mute(leg_id, old, new)
            except BaseException:
                if self._of.get(leg_id) == room.id:
                    room.members[leg_id] = old
                raise
        self._updated(room, new)

    async def mute(self, leg_id: str, on: bool = True) -> None:
        await self._update(leg_id, muted=on)

    async def deafen(self, leg_id: str, on: bool = True) -> None:
        await self._update(leg_id, deaf=on)

    async def hold(self, leg_id: str, on: bool = True, *, music: str = "") -> None:
        from orchestrator.engines.asterisk.adapter import MOH_CLASS, _check

        if music:
            _check(MOH_CLASS, music, "music-on-hold class")
        room, old = self._member(leg_id)
        new = replace(old, held=on)
        if new == old:
            self._updated(room, new)
            return
        room.members[leg_id] = new
        ari = self.engine.ari
        try:
            if on:
                # Out of the conference, alone with the music (see the module doc). Music
                # started while the channel is still in the bridge stops as it leaves
                # (seen on Asterisk 22): it starts once the channel is out.
                if old.coaching is not None:  # out of its coaching bridge
                    await self.engine._supervisions.stop(leg_id)
                else:
                    await self._out_of_bridge(room, leg_id)
                await self._mute(leg_id, old, new)
                await ari.start_moh(leg_id, music or None)
                room.music[leg_id] = music
            else:
                await ari.stop_moh(leg_id)
                room.music.pop(leg_id, None)
                await self._mute(leg_id, old, new)
                await self._enter(room, new)
        except BaseException:
            if self._of.get(leg_id) == room.id:
                room.members[leg_id] = old
            raise
        self._updated(room, new)

    async def _out_of_bridge(self, room: Room, leg_id: str) -> None:
        """The channel leaves the mixing bridge; returns once it is out (or a moment)."""
        left = self._leaving[leg_id] = asyncio.Event()
        try:
            with contextlib.suppress(CallError, NotFoundError, ValidationError):
                await self.engine.ari.remove_channel(room.bridge_id, leg_id)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LEAVE_TIMEOUT_S):
                        await left.wait()
        finally:
            self._leaving.pop(leg_id, None)

    async def _enter(self, room: Room, member: ConferenceMember) -> None:
        """The member's channel (not held) goes where it hears the conference: the mixing
        bridge, or, coaching, a supervision of its target (moved there from wherever
        it is: ARI takes a channel out of its bridge to add it to another)."""
        if member.coaching is None:
            await self._add(room, member.leg_id)
        else:
            await self.coaching.enter(member)

    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        await self.coaching.coach(leg_id, target_leg_id)

    def _updated(self, room: Room, member: ConferenceMember) -> None:
        self.engine._made(
            ConferenceMemberUpdated(
                conference_id=room.id, leg_id=member.leg_id, muted=member.muted,
                deaf=member.deaf, held=member.held, coaching=member.coaching,
            )
        )  # fmt: skip

    async def play(
        self, conference_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        room = self._room(conference_id)
        items = engine_media([media] if isinstance(media, str) else media)
        if not items:
            raise ValidationError("nothing to play", conference_id=conference_id)
        pid = playback_id or self.engine.new_id()
        await self.engine.ari.play_to_bridge(room.bridge_id, items, pid)
        return pid

    async def record(
        self, conference_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        from orchestrator.engines.asterisk.adapter import (
            RECORDING_FORMAT,
            RECORDING_NAME,
            _check,
        )

        _check(RECORDING_NAME, name, "recording name")
        _check(RECORDING_FORMAT, fmt, "recording format")
        if not 0 <= max_duration < math.inf:
            raise ValidationError("a recording limit must be finite and >= 0", name=name)
        room = self._room(conference_id)
        # Asterisk sends a bridge recording's RecordingStarted to the apps subscribed to the
        # bridge; an app is only subscribed once a channel of its own is in it, so a
        # recording of a conference with no member yet (a recorded room before its first
        # caller) started unannounced and was never stored. An app that subscribes to all
        # (observe_channels) gets it anyway, and would get it twice if subscribed again.
        if not self.engine.observe_channels:
            await self.engine.ari.subscribe(f"bridge:{room.bridge_id}")
        await self.engine.ari.record_bridge(
            room.bridge_id, name, fmt=fmt, beep=beep, if_exists="overwrite",
            max_duration=math.ceil(max_duration),  # whole seconds: never cut short
        )  # fmt: skip
        return name

    async def end(self, conference_id: str) -> None:
        room = self._rooms.pop(conference_id, None)
        if room is None:
            return
        kept_in_bridge = sorted(room.members)
        for leg_id in kept_in_bridge:
            member = room.members.pop(leg_id)
            self._of.pop(leg_id, None)
            with contextlib.suppress(OrchestratorError):
                await self._release(room, member, in_bridge=False)
            self._stopped_talking(room, member)
            self.engine._made(
                ConferenceMemberLeft(conference_id=conference_id, leg_id=leg_id, reason="ended")
            )
        # The channels stay in the Stasis application; a recording of it ends.
        self.engine.leaving(room.bridge_id, kept_in_bridge)
        with contextlib.suppress(NotFoundError):
            await self.engine.ari.destroy_bridge(room.bridge_id)
        self.engine._made(ConferenceEnded(conference_id=conference_id))

    # -- the channel's side ----------------------------------------------------------------
    async def _add(self, room: Room, leg_id: str) -> None:
        try:
            await self.engine.ari.add_channel(room.bridge_id, leg_id)
        except (ValidationError, CallError) as exc:
            # 400 "Channel not found", 422 "not in Stasis application": it is going away.
            if exc.details.get("status") in (400, 422):
                raise LegGoneError(str(exc), leg_id=leg_id, **exc.details) from exc
            raise

    async def _talk_detect(self, leg_id: str, action: str) -> None:
        """``TALK_DETECT(set)`` (Asterisk's default thresholds) or ``TALK_DETECT(remove)``."""
        try:
            await self.engine.ari.set_variable(leg_id, f"TALK_DETECT({action})", "")
        except NotFoundError as exc:  # 404: the channel is gone
            raise LegGoneError(str(exc), leg_id=leg_id) from exc

    async def _mute(self, leg_id: str, old: ConferenceMember, new: ConferenceMember) -> None:
        """Set the channel's mute directions from ``old``'s to ``new``'s flags."""
        for direction, was, now in (
            ("in", old.muted, new.muted),
            # A held member hears its music: its "deaf" waits until it is back.
            ("out", old.deaf and not old.held, new.deaf and not new.held),
        ):
            if was == now:
                continue
            if now:
                await self.engine.ari.mute(leg_id, direction)
            else:
                await self.engine.ari.unmute(leg_id, direction)
