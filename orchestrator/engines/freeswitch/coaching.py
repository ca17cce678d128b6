"""Coaching in the conferences of FreeSWITCH (``Engine.conferences.coach``).

mod_conference's member relationships: ``conference <room> relate <coach> <other>
nospeak`` for every other member (and for each later joiner, once its ``add-member``
gives its id), so only the target hears the coach, which still hears everyone; ``relate
<coach> <other> clear`` undoes it (coaching ended, or its target left). After a restart
the coaches are read back from the room's ``relate`` listing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.core.conferences import ConferenceMember, check_coach_target
from orchestrator.core.errors import CallError, NotFoundError

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.conferences import FreeSwitchConferences, Room

RELATION = re.compile(r"^(\d+) -> (\d+) NOSPEAK", re.MULTILINE)  # a `relate` listing line


class Coaching:
    """The coaches of one :class:`FreeSwitchConferences` (see the module docstring)."""

    def __init__(self, conferences: FreeSwitchConferences) -> None:
        self.conferences = conferences

    async def coach(self, leg_id: str, target_leg_id: str | None) -> None:
        """``Conferences.coach``."""
        room, old = self.conferences._member(leg_id)
        check_coach_target(room.id, room.members, leg_id, target_leg_id)
        new = replace(old, coaching=target_leg_id)
        room.members[leg_id] = new
        try:
            await self.relate(room, new, was=old.coaching)
        except BaseException:
            if self.conferences.conference_of(leg_id) == room.id:
                room.members[leg_id] = old
            raise
        self.conferences._set(room, new)

    async def relate(
        self, room: Room, coach: ConferenceMember, *, was: str | None, others: Sequence[str] = ()
    ) -> None:
        """Set the coach's relationships: nobody but its target hears it (no target: all
        do). ``was``: its target before (None: it was heard by all); ``others``: only these
        members (a joiner), else all."""
        coach_id = room.member_ids.get(coach.leg_id, "")
        for leg_id in others or list(room.member_ids):
            other_id = room.member_ids.get(leg_id)
            if leg_id == coach.leg_id or not other_id:
                continue
            if coach.coaching is not None and leg_id != coach.coaching:
                if was is None or was == leg_id or others:
                    await self.conferences._api(
                        f"conference {room.name} relate {coach_id} {other_id} nospeak"
                    )
            elif was is not None and leg_id != was:
                # (Its old target never had a relationship to clear.)
                await self.conferences._api(
                    f"conference {room.name} relate {coach_id} {other_id} clear"
                )

    async def uncoach(self, room: Room, coaches: list[ConferenceMember]) -> None:
        """The coaches are heard by all again: their relationships cleared."""
        for coach in coaches:
            coach_id = room.member_ids.get(coach.leg_id)
            for leg_id, other_id in list(room.member_ids.items()):
                if coach_id and leg_id != coach.leg_id:
                    with contextlib.suppress(CallError, NotFoundError):
                        await self.conferences._api(
                            f"conference {room.name} relate {coach_id} {other_id} clear"
                        )

    async def take_back(self, room: Room) -> None:
        """After a restart: the coaches read back from the room's relationships (``relate``
        listing): a member not heard by all members but one coaches that one; any other
        relationships are cleared, so that the room is as reported."""
        listing = await self.conferences._api(f"conference {room.name} relate")
        nospeak: dict[str, set[str]] = {}
        for coach_id, other_id in RELATION.findall(listing):
            nospeak.setdefault(coach_id, set()).add(other_id)
        leg_of = {member_id: leg_id for leg_id, member_id in room.member_ids.items()}
        for coach_id, silent_to in nospeak.items():
            coach = room.members.get(leg_of.get(coach_id, ""))
            if coach is None:
                continue
            hearing = [leg for mid, leg in leg_of.items() if mid not in silent_to | {coach_id}]
            if len(hearing) == 1 and len(leg_of) > 2:
                self.conferences._set(room, replace(coach, coaching=hearing[0]))
            else:
                for other_id in sorted(silent_to):
                    await self.conferences._api(
                        f"conference {room.name} relate {coach_id} {other_id} clear"
                    )
