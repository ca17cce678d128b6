"""Errors of the conference feature.

They sit in the core's tree, so the API maps them in one place::

    ConflictError
    ├── ConferenceStateError    the conference has ended, or the participant is not
    │                           in a state the command needs (ringing, left)
    ├── ConferenceLockedError   adding to a locked conference
    └── ConferenceFullError     adding beyond max_participants
"""

from __future__ import annotations

from orchestrator.core.errors import ConflictError


class ConferenceStateError(ConflictError):
    """E.g. muting a participant still ringing, or adding to an ended conference."""

    error_id = "conference-state"


class ConferenceLockedError(ConflictError):
    """The conference is locked: nobody new joins until it is unlocked."""

    error_id = "conference-locked"


class ConferenceFullError(ConflictError):
    """The conference has ``max_participants`` participants (ringing ones included)."""

    error_id = "conference-full"
