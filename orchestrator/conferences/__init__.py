"""Conferences: on-the-spot conferencing through the call-control API (issue 13).

A CTI call becomes a conference; participants are dialed out to, muted, deafened,
held, coached, removed; the conference is locked, recorded, ended, its owner changed.
Everything is written once on the seam (:attr:`Engine.conferences`), kept in the store
(a ledger of who was there when) and survives a restart. See docs/conferences.md.

- :class:`ConferenceService`: the commands the API and the WebSocket call;
- :class:`ConferenceLedger`: the store;
- :mod:`.records`: what billing gets when a conference ends.
"""

from orchestrator.conferences.errors import (
    ConferenceFullError,
    ConferenceLockedError,
    ConferenceStateError,
)
from orchestrator.conferences.ledger import ConferenceLedger
from orchestrator.conferences.records import ConferenceRecord, ParticipantSpan
from orchestrator.conferences.service import ConferenceService

__all__ = [
    "ConferenceFullError",
    "ConferenceLedger",
    "ConferenceLockedError",
    "ConferenceRecord",
    "ConferenceService",
    "ConferenceStateError",
    "ParticipantSpan",
]
