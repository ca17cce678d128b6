"""A conference and its participants as the service holds them (times: epoch seconds).

:meth:`Conference.view` is what the API and the CTI events show; the ledger
(:mod:`orchestrator.conferences.ledger`) stores the same objects.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

ParticipantState = Literal["ringing", "joined", "left", "failed"]
# What a participant still takes part in: a place in the conference counts.
PRESENT = ("ringing", "joined")


def new_uuid() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True, eq=False)
class Participant:
    """One stay of one party (see orchestrator.store.models.conferences)."""

    leg_id: str
    number: str = ""
    extension: str | None = None
    caller_id: str = ""
    role: str = "participant"  # owner | participant
    via: str = "call"  # call | dial_out | room
    state: ParticipantState = "ringing"
    muted: bool = False
    deaf: bool = False
    held: bool = False
    moderator: bool = False
    coaching: str | None = None  # the participant uuid it whispers to
    talking: bool = False
    invited_at: float = field(default_factory=time.time)
    joined_at: float | None = None
    left_at: float | None = None
    left_reason: str | None = None
    uuid: str = field(default_factory=new_uuid)
    row_id: int | None = None
    # The service hangs the leg up (remove): its leaving is "removed", not "hangup".
    removing: bool = False

    @property
    def present(self) -> bool:
        return self.state in PRESENT

    def view(self) -> dict[str, Any]:
        return {
            "id": self.uuid,
            "leg_id": self.leg_id,
            "role": self.role,
            "number": self.number,
            "extension": self.extension,
            "caller_id": self.caller_id,
            "via": self.via,
            "state": self.state,
            "muted": self.muted,
            "deaf": self.deaf,
            "held": self.held,
            "moderator": self.moderator,
            "coaching": self.coaching,
            "talking": self.talking,
            "invited_at": self.invited_at,
            "joined_at": self.joined_at,
            "left_at": self.left_at,
            "left_reason": self.left_reason,
        }


@dataclass(slots=True, eq=False)
class Conference:
    """One conference; ``participants`` in the order they came, departed ones included."""

    tenant_id: int
    node: str = ""
    name: str = ""
    owner_extension: str | None = None
    account: str | None = None
    created_by: int | None = None
    room_id: int | None = None
    state: Literal["active", "ended"] = "active"
    locked: bool = False
    max_participants: int = 50
    recording: str | None = None
    recordings: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    end_reason: str | None = None
    uuid: str = field(default_factory=new_uuid)
    row_id: int | None = None
    participants: list[Participant] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state == "active"

    def present(self) -> list[Participant]:
        return [p for p in self.participants if p.present]

    def joined(self) -> list[Participant]:
        return [p for p in self.participants if p.state == "joined"]

    def by_leg(self, leg_id: str) -> Participant | None:
        """The present participant on ``leg_id`` (departed stays are not looked up)."""
        return next((p for p in self.participants if p.leg_id == leg_id and p.present), None)

    def by_uuid(self, participant_uuid: str) -> Participant | None:
        return next((p for p in self.participants if p.uuid == participant_uuid), None)

    def owner(self) -> Participant | None:
        return next((p for p in self.participants if p.role == "owner" and p.present), None)

    def view(self) -> dict[str, Any]:
        """The API's and the WebSocket's conference (participants, present and departed)."""
        return {
            "id": self.uuid,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "state": self.state,
            "owner_extension": self.owner_extension,
            "account": self.account,
            "created_by": self.created_by,
            "locked": self.locked,
            "max_participants": self.max_participants,
            "recording": self.recording,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "participants": [p.view() for p in self.participants],
        }

    def snapshot(self) -> dict[str, Any]:
        """The ``call`` of a CTI event about it: kind ``conference``; ``extensions`` lists
        the participants' extensions so that their subscribers see it too."""
        extensions = [p.extension for p in self.participants if p.extension and p.present]
        if self.owner_extension and self.owner_extension not in extensions:
            extensions.insert(0, self.owner_extension)
        return {
            **self.view(),
            "kind": "conference",
            "access_number": None,
            "extension": self.owner_extension,
            "extensions": extensions,
        }
