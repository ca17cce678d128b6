"""The OpenAPI document lists every status code a route answers, with the real error body.

FastAPI documents only a route's success and a 422 in its own shape; this service
answers every error with :class:`ErrorBody` (:mod:`api.errors`) and refuses with
401/403/404/409 too. :func:`install_openapi` adds those responses, in one place, to
each operation that can return them:

========  ==================================================================
status    documented on
========  ==================================================================
400       operations with a body (a body that is not UTF-8 JSON)
401, 403  operations behind a bearer token (no or unknown token, the role)
404       operations naming an object (a path parameter, an ``*_id`` filter, a
          body, which may name a tenant, an extension, a trunk...)
409       operations that change something (POST, PUT, PATCH, DELETE)
422       operations with parameters or a body
========  ==================================================================
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REF = "#/components/schemas/ErrorBody"


class ErrorBody(BaseModel):
    """Every error answer: a stable id, a message for people, details by field."""

    error_id: str = Field(description="stable, e.g. not-found, invalid-input, conflict")
    message: str
    details: dict[str, Any] = Field(
        description="what it concerns; a 422 of request validation has ``errors``: "
        "a list of {loc, message, type}"
    )


_DESCRIPTIONS = {
    400: "The body is not UTF-8 JSON",
    401: "No bearer token, or one that names no API user",
    403: "The caller's role does not allow it",
    404: "An object named by the request does not exist or belongs to another tenant",
    409: "The change conflicts with the current state",
    422: "The input is not valid",
}


def error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer (besides an engine's 5xx).

    Told from the operation's own description, so a route added anywhere (also by the
    composition root) is covered: its security, parameters, body and method.
    """
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses: set[int] = set()
    if has_body:
        statuses |= {400, 404}
    if operation.get("security"):
        statuses |= {401, 403}
    if any(p["in"] == "path" or p["name"].endswith("_id") for p in params):
        statuses.add(404)
    if method.upper() in _CHANGES:
        statuses.add(409)
    if params or has_body:
        statuses.add(422)
    return sorted(statuses)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the error responses of every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        # FastAPI's own 422 shape is not what this API sends.
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                responses = operation.setdefault("responses", {})
                for status in error_statuses(method, operation):
                    responses[str(status)] = {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"$ref": _REF}}},
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
