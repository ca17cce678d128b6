"""Maps the core error tree to HTTP status codes, in one place.

Every error response has the same body::

    {"error_id": "not-found", "message": "tenant 7 not found", "details": {"tenant_id": 7}}

The OpenAPI document describes it as ``ErrorBody`` on every operation that can answer
an error (:mod:`api.openapi`).

=========================  ======  ==============================================
error                      status  note
=========================  ======  ==============================================
AuthenticationError        401     API-only: no or unknown bearer token
ValidationError            422     also pydantic's request validation errors
NotFoundError              404     also objects of another tenant
ConflictError              409     also a call command the call's state refuses
PermissionDeniedError      403
LegGoneError               410     the call's leg hung up (or was transferred) meanwhile
InvalidTransitionError     409
CallError                  409     any other refusal of a call command by the engine
EngineUnavailableError     503
EngineTimeoutError         504
ConfigApplyError           502
any other OrchestratorError 500
=========================  ======  ==============================================

The WebSocket API (``/api/v1/ws``, see docs/cti.md) answers a failed command with the
same body in its ``reply`` and keeps the connection; it closes the connection only
for the reasons in :data:`WS_CLOSE` and the ``WS_*`` codes below (4000 + the HTTP
status where there is one)::

    4401  no or unknown token              4403  the role does not allow it
    4408  inactivity timeout               4429  the client reads events too slowly
    1001  the service is shutting down     1011  internal error
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.core.errors import (
    CallError,
    ConfigApplyError,
    ConflictError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidTransitionError,
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    PermissionDeniedError,
    ValidationError,
)

log = logging.getLogger(__name__)


class AuthenticationError(OrchestratorError):
    """No bearer token, or one that belongs to no API user."""

    error_id = "unauthenticated"


# Most specific first: the first matching class wins.
STATUS: tuple[tuple[type[OrchestratorError], int], ...] = (
    (AuthenticationError, 401),
    (ValidationError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PermissionDeniedError, 403),
    (LegGoneError, 410),
    (InvalidTransitionError, 409),
    # The engine refused a call command in the call's current state.
    (CallError, 409),
    (EngineUnavailableError, 503),
    (EngineTimeoutError, 504),
    (ConfigApplyError, 502),
)


def status_for(exc: OrchestratorError) -> int:
    """The HTTP status code for a domain error."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


# -- WebSocket close codes -------------------------------------------------------
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
WS_IDLE_TIMEOUT = 4408
WS_TOO_SLOW = 4429
WS_GOING_AWAY = 1001
WS_INTERNAL_ERROR = 1011

WS_CLOSE: tuple[tuple[type[OrchestratorError], int], ...] = (
    (AuthenticationError, WS_UNAUTHENTICATED),
    (PermissionDeniedError, WS_FORBIDDEN),
)


def ws_close_code(exc: Exception) -> int:
    """The close code for an error that ends a WebSocket connection."""
    for cls, code in WS_CLOSE:
        if isinstance(exc, cls):
            return code
    return WS_INTERNAL_ERROR


def error_body(error_id: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error_id": error_id, "message": message, "details": details}


async def _orchestrator_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrchestratorError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s %s", exc.error_id, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(exc.to_dict(), status_code=status, headers=headers)


async def _request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: echoing the input could reflect secrets or huge bodies.
    errors = [
        {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    body = error_body("invalid-input", "the request is not valid", errors=errors)
    return JSONResponse(body, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body = error_body(f"http-{exc.status_code}", str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal-error", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into the common error body."""
    app.add_exception_handler(OrchestratorError, _orchestrator_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
