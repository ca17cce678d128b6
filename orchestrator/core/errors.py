"""The orchestrator's error tree.

Every error the core, the engine adapters and the features raise derives from
:class:`OrchestratorError`, and carries a stable ``error_id`` plus ``details``
so the API can map it to a status code in one place::

    OrchestratorError
    ├── ValidationError          bad input: a name, number or value refused (400/422)
    ├── NotFoundError            no such object, or not visible to the caller (404)
    ├── ConflictError            the object already exists or is in use (409)
    ├── PermissionDeniedError    the caller's role does not allow it (403)
    ├── CallError                a call-control operation failed
    │   ├── LegGoneError         the leg hung up (or never existed) on the engine
    │   └── InvalidTransitionError  a state change the call state machine refuses
    └── EngineError              the media engine could not do what was asked
        ├── EngineUnavailableError  not connected (or the link dropped mid-request)
        ├── EngineTimeoutError      no answer within the timeout
        └── ConfigApplyError        a configuration change was refused and rolled back
"""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Base of every domain error."""

    error_id = "orchestrator-error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class ValidationError(OrchestratorError):
    error_id = "invalid-input"


class NotFoundError(OrchestratorError):
    error_id = "not-found"


class ConflictError(OrchestratorError):
    error_id = "conflict"


class PaymentRequiredError(ConflictError):
    """A prepaid account cannot pay for the call (no balance, over its credit limit...)."""

    error_id = "payment-required"


class PermissionDeniedError(OrchestratorError):
    error_id = "permission-denied"


class CallError(OrchestratorError):
    error_id = "call-error"


class LegGoneError(CallError):
    error_id = "leg-gone"


class InvalidTransitionError(CallError):
    error_id = "invalid-transition"


class EngineError(OrchestratorError):
    error_id = "engine-error"


class EngineUnavailableError(EngineError):
    error_id = "engine-unavailable"


class EngineTimeoutError(EngineError):
    error_id = "engine-timeout"


class ConfigApplyError(EngineError):
    error_id = "config-apply-failed"
