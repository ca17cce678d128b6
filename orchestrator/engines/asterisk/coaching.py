"""Coaching in the conferences of Asterisk (``Engine.conferences.coach``).

A mixing bridge mixes the same for every member, so a coach cannot stay in it and be
heard by one member only. The coach's channel leaves it for a supervision of the target
(supervisor.py: a bridge of its own with a snoop on the target, ``spy=both``, so it hears
what the target hears and says, ``whisper=out``, so the target alone hears it) and comes
back into the mixing bridge when coaching ends or its target leaves; it stays a member
all along. Its channel's own mute directions go with it, so muted and deaf mean the same
there; a held coach leaves its supervision for the music and goes back to it. (A coach
left in the mixing bridge, muted, with a snoop on it whispering to the target would depend
on the order of Asterisk's framehooks and audiohooks on its read side.)

Restarts: the start-up sweep ends a coach's supervision and the coach is out of the
bridge; the channel variable :data:`COACHING_VAR` names its conference and target, so the
next run's ``create`` takes it back, coaching again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.core.conferences import ConferenceMember, check_coach_target
from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.conferences import AsteriskConferences, Room

log = logging.getLogger(__name__)

# On a coach's channel, "<conference id>/<target>": a restart takes the coach back with it.
COACHING_VAR = "ORCH_CONF_COACHING"


class Coaching:
    """The coaches of one :class:`AsteriskConferences` (see the module docstring)."""

    def __init__(self, conferences: AsteriskConferences) -> None:
        self.conferences = conferences
        self.engine = conferences.engine

    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        """``Conferences.coach``."""
        conferences = self.conferences
        room, old = conferences._member(leg_id)
        check_coach_target(room.id, room.members, leg_id, target_leg_id)
        new = replace(old, coaching=target_leg_id)
        if new == old:
            conferences._updated(room, new)
            return
        room.members[leg_id] = new
        try:
            if not new.held:  # (a held coach goes there when it is back)
                await conferences._enter(room, new)
                if new.coaching is None:
                    await self.engine._supervisions.stop(leg_id)  # once it is back
            await self.mark(room, new)
        except BaseException:
            if conferences.conference_of(leg_id) == room.id and room.members.get(leg_id) == new:
                room.members[leg_id] = old
                if not old.held:  # back where it was, as far as it can be
                    with contextlib.suppress(OrchestratorError):
                        await conferences._enter(room, old)
            raise
        conferences._updated(room, new)

    async def enter(self, member: ConferenceMember) -> None:
        """The coach's channel (not held) into a supervision of its target (moved there
        from wherever it is: ARI takes a channel out of its bridge to add it to another)."""
        assert member.coaching is not None
        await self.engine._supervisions.supervise(
            member.coaching, member.leg_id, SupervisionMode.WHISPER
        )

    async def mark(self, room: Room, member: ConferenceMember) -> None:
        """Note the coaching on the channel (:data:`COACHING_VAR`) for a next run."""
        mark = f"{room.id}/{member.coaching}" if member.coaching is not None else ""
        with contextlib.suppress(OrchestratorError):
            await self.engine.ari.set_variable(member.leg_id, COACHING_VAR, mark)

    def coaches_of(self, room: Room, leg_id: str) -> list[ConferenceMember]:
        return [m for m in room.members.values() if m.coaching == leg_id]

    async def uncoach(self, room: Room, coaches: list[ConferenceMember]) -> None:
        """Their target left: the coaches coach nobody now, back in the mixing bridge."""
        for coach in coaches:
            now = room.members.get(coach.leg_id)
            if now is None or now.coaching != coach.coaching:
                continue  # changed or gone meanwhile
            new = room.members[coach.leg_id] = replace(now, coaching=None)
            if not now.held:
                with contextlib.suppress(OrchestratorError):
                    await self.conferences._add(room, coach.leg_id)
                with contextlib.suppress(OrchestratorError):
                    await self.engine._supervisions.stop(coach.leg_id)
            await self.mark(room, new)
            self.conferences._updated(room, new)

    async def take_back(self, room: Room, in_bridge: set[str]) -> None:
        """After a restart: the kept legs out of the bridge that coached in it (the
        start-up sweep took their snoops and bridges) are members again, coaching their
        target once more if it is back, else back in the bridge."""
        conferences = self.conferences
        for leg_id, leg in sorted(self.engine.legs.items()):
            if not leg.alive or conferences.conference_of(leg_id) or leg_id in in_bridge:
                continue
            try:
                mark = await self.engine.ari.get_variable(leg_id, COACHING_VAR)
            except OrchestratorError:
                continue
            conference_id, _, target = mark.partition("/")
            if conference_id != room.id:
                continue
            member = ConferenceMember(leg_id, coaching=target if target in room.members else None)
            conferences._taken_back(room, member)
            try:
                await conferences._enter(room, member)
            except OrchestratorError as exc:
                log.warning("asterisk: coach %s not taken back: %s", leg_id, exc)
            if member.coaching is not None:
                conferences._updated(room, member)
