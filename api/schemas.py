"""Response shapes that are not stored entities: pages, health, config state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlmodel import SQLModel

T = TypeVar("T", bound=SQLModel)


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    items: list[T]
    total: int
    offset: int
    limit: int


def page_of(model: type[T], rows: Iterable[Any], total: int, *, offset: int, limit: int) -> Page[T]:
    """A :class:`Page` of ``model`` views of the rows (which may be table objects)."""
    items = [model.model_validate(row) for row in rows]
    return Page[model](items=items, total=total, offset=offset, limit=limit)  # type: ignore[valid-type]


class ApplyResultPublic(BaseModel):
    tenant_id: int
    ok: bool
    version: str = ""
    changed: list[str] = []
    seconds: float = 0.0
    error: str = ""


class TenantConfig(BaseModel):
    """A tenant's configuration version and the last attempt to apply it."""

    tenant_id: int
    config_version: int
    last_apply: ApplyResultPublic | None


class DatabaseHealth(BaseModel):
    ok: bool


class EngineHealth(BaseModel):
    name: str
    connected: bool
    version: str
    links: dict[str, bool]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseHealth
    engine: EngineHealth


class BulkImportResult(BaseModel):
    created: int
