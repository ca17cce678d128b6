"""What the conference service hands to billing when a conference ends (design §3).

``ParticipantSpan`` / ``ConferenceRecord`` are the shapes
:class:`orchestrator.conferences.billing.ConferenceBilling` closes; they live here so the
service and its tests need no billing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ParticipantSpan:
    """One participant's stay in a conference (epoch seconds)."""

    participant_id: str
    leg_id: str
    number: str
    extension: str | None
    role: str  # owner | participant
    joined_at: float
    left_at: float


@dataclass(frozen=True, slots=True)
class ConferenceRecord:
    """A conference that ended, with every stay of every participant that joined."""

    conference_id: str  # the public uuid
    tenant_id: int
    node: str
    name: str
    owner_extension: str | None
    account: str | None
    started_at: float
    ended_at: float
    spans: list[ParticipantSpan] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
