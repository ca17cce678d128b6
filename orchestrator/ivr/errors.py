"""Errors a flow sees, below :class:`orchestrator.core.errors.LegGoneError`::

    LegGoneError
    └── CallEnded            the flow no longer controls the call
        ├── CallerHungUp     the caller hung up
        └── CallTransferred  the flow transferred the call away

A flow that catches ``LegGoneError`` (or uses ``try/finally``) cleans up after any of
them; the runner treats all three as a normal end of the flow.
"""

from __future__ import annotations

from orchestrator.core.errors import LegGoneError, OrchestratorError


class CallEnded(LegGoneError):
    error_id = "call-ended"


class CallerHungUp(CallEnded):
    """Raised at the flow's next await on the call once the caller has hung up."""

    error_id = "caller-hung-up"


class CallTransferred(CallEnded):
    error_id = "call-transferred"


class FlowNotFoundError(OrchestratorError):
    """No flow of that name in ivr_apps/ or the installed packages."""

    error_id = "ivr-app-not-found"
