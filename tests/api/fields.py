"""Which input field a 422 answer blames, whichever layer refused it."""

from __future__ import annotations

from typing import Any


def error_field(body: dict[str, Any]) -> str:
    """``details.field`` (the store's checks) or the last ``loc`` item (pydantic's)."""
    details = body["details"]
    if "field" in details:
        return str(details["field"])
    return str(details["errors"][0]["loc"][-1])
