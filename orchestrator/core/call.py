"""Legs and calls, with the leg state machine.

A *leg* is one channel on the engine (one SIP dialog, one half of a loopback
channel...). A *call* groups the legs that belong together (the caller and whoever
they got connected to). Who talks with whom is not kept here: ``Engine.connect``
says it and ``LegConnected`` / ``LegDisconnected`` report it; how the engine carries
the media between them is its adapter's business.

The state machine is explicit so that a late or duplicated engine event can
never move a leg backwards (an ``answered`` after ``hung_up`` is ignored)::

    down ──► ringing ──► up ──► hung_up
      │         │        ▲
      └─────────┴────────┘   (any state may go to hung_up)
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from orchestrator.core.errors import InvalidTransitionError


class LegState(enum.StrEnum):
    """Where a leg (or an observed channel) stands.

    How engines do it: each adapter maps its own channel states onto these in its
    translate module (Asterisk: ARI's ``Down``, ``Ring``, ``Ringing``, ``Up``...;
    FreeSWITCH: ``CS_*`` channel states and ``Channel-Call-State`` ``RINGING``,
    ``EARLY``, ``ACTIVE``, ``HANGUP``).
    """

    DOWN = "down"
    RINGING = "ringing"
    UP = "up"
    HUNG_UP = "hung_up"


_ALLOWED: dict[LegState, frozenset[LegState]] = {
    LegState.DOWN: frozenset({LegState.RINGING, LegState.UP, LegState.HUNG_UP}),
    LegState.RINGING: frozenset({LegState.UP, LegState.HUNG_UP}),
    LegState.UP: frozenset({LegState.HUNG_UP}),
    LegState.HUNG_UP: frozenset(),
}


def can_transition(old: LegState, new: LegState) -> bool:
    return new == old or new in _ALLOWED[old]


@dataclass(slots=True)
class Leg:
    """One channel under the orchestrator's control."""

    id: str
    name: str = ""
    state: LegState = LegState.DOWN
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    tenant: str = ""
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def transition(self, new: LegState, *, at: float | None = None, strict: bool = False) -> bool:
        """Move to ``new``. Returns whether the state changed.

        Stale or repeated engine events are ignored (returns False) unless
        ``strict`` is set, in which case a refused move raises
        :class:`InvalidTransitionError`.
        """
        if new == self.state:
            return False
        if not can_transition(self.state, new):
            if strict:
                raise InvalidTransitionError(
                    f"leg {self.id} cannot go from {self.state} to {new}",
                    leg_id=self.id,
                    old=str(self.state),
                    new=str(new),
                )
            return False
        self.state = new
        now = at if at is not None else time.time()
        if new is LegState.UP:
            self.answered_at = now
        elif new is LegState.HUNG_UP:
            self.ended_at = now
        return True

    @property
    def alive(self) -> bool:
        return self.state is not LegState.HUNG_UP


@dataclass(slots=True)
class Call:
    """The legs that belong together, from the first leg's point of view."""

    id: str
    tenant: str = ""
    leg_ids: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
