"""Errors of call control.

They sit in the core's tree, so the API maps them in one place::

    ConflictError
    ├── CallNotRemoteError     a media command on a call a Python flow runs
    ├── CallStateError         the call is not in a state the command needs
    └── TransferStateError     an attended-transfer command that does not fit: none in
                               progress (complete, cancel), or one already (start, hold...)
"""

from __future__ import annotations

from orchestrator.core.errors import ConflictError


class CallNotRemoteError(ConflictError):
    """Answer/play/collect on a call that a Python flow (not a CTI client) drives."""

    error_id = "call-not-remote"


class CallStateError(ConflictError):
    """E.g. redirecting an answered call, or transferring before the far end answered."""

    error_id = "call-state"


class TransferStateError(ConflictError):
    """Completing or cancelling with no consultation, or starting a second one."""

    error_id = "transfer-state"
