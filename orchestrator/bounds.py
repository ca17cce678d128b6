"""Input types bounded to what the store can hold, for every API parameter and body.

Every integer column is an ``INTEGER``: 32 bits on PostgreSQL, and SQLite's 64 bits
overflow Python's driver at 2**63. An id, offset or count outside that range is
refused with a 422 where it comes in, instead of failing as a 500 in the database
(or, in a CSV export, after the 200 went out). The OpenAPI document shows the bounds
(``format: int32``, ``minimum``/``maximum``), so a client or a fuzzer sees them too.

Example::

    class QueueCreate(SQLModel):
        max_wait_s: StoreInt = 300

    @router.get("/{tenant_id}")
    def read_tenant(tenant_id: StoreInt) -> TenantPublic: ...

Times given as text (``?from=``, ``?to=``) are ISO 8601 only: pydantic would read
``to=0.5`` as half a second after the Unix epoch.

A PATCH body's fields are ``X | None = None`` so that they may be left out; where the
store refuses an explicit null, :func:`refuses_null` takes null out of the document::

    class TrunkUpdate(SQLModel):
        model_config = refuses_null("name", "host")
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["STORE_INT_MAX", "STORE_INT_MIN", "IsoDateTime", "StoreInt", "refuses_null"]

#: The range of an ``INTEGER`` column on every supported database.
STORE_INT_MIN = -(2**31)
STORE_INT_MAX = 2**31 - 1


class _StoreRange:
    """Refuses an integer beyond :data:`STORE_INT_MIN`..:data:`STORE_INT_MAX` and shows the
    range as ``format: int32``.

    A validator, not ``annotated_types.Interval``: an Interval here would replace a
    field's own, tighter ``Field(ge=1, le=64)`` instead of adding to it.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_in_range, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        # A field's own bounds on this validator reach the schema under their Python names.
        for python, json_name in _BOUND_NAMES.items():
            if python in value:
                value[json_name] = value.pop(python)
        value["format"] = "int32"
        value["minimum"] = max(value.get("minimum", STORE_INT_MIN), STORE_INT_MIN)
        value["maximum"] = min(value.get("maximum", STORE_INT_MAX), STORE_INT_MAX)
        return value


_BOUND_NAMES = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
}


def _in_range(value: int) -> int:
    if not STORE_INT_MIN <= value <= STORE_INT_MAX:
        raise ValueError(f"must be an integer from {STORE_INT_MIN} to {STORE_INT_MAX}")
    return value


#: An integer the store can hold: anything larger is a 422, never an overflow.
StoreInt = Annotated[int, _StoreRange()]

# A date, optionally a time and an offset: what ISO 8601 looks like to pydantic.
_ISO_8601 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ].*)?")


def _iso_only(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.fullmatch(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")


#: A date-time given as ISO 8601 text; a number (a Unix time to pydantic) is refused.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


def refuses_null(*fields: str) -> Any:
    """A model's config that documents ``fields`` (all, when none is named) as optional
    but not nullable, as the store checks them (typed Any: SQLModel's config type is
    private)."""

    def drop_null(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            if fields and name not in fields:
                continue
            variants = [v for v in prop.get("anyOf", []) if v != {"type": "null"}]
            if len(variants) == 1:
                del prop["anyOf"]
                prop.update(variants[0])
            elif variants:
                prop["anyOf"] = variants

    return ConfigDict(json_schema_extra=drop_null)
