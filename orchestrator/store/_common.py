"""Helpers shared by the data functions: paging, commits, config versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, func, select

from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store.models import Tenant, utcnow

T = TypeVar("T", bound=SQLModel)

MAX_LIMIT = 500


def page(
    session: Session, statement: Any, *, offset: int, limit: int, order_by: Any
) -> tuple[Sequence[Any], int]:
    """Run ``statement`` for one page; returns ``(rows, total)``.

    ``order_by`` is a column or a tuple of columns.
    """
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"offset must be >= 0 and limit 1 to {MAX_LIMIT}", field="limit", limit=limit
        )
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    columns = order_by if isinstance(order_by, tuple) else (order_by,)
    rows = session.exec(statement.order_by(*columns).offset(offset).limit(limit)).all()
    return rows, int(total)


def read_scoped(
    session: Session,
    model: type[T],
    object_id: int,
    scope: int | None,
    *,
    what: str,
    **details: Any,
) -> T:
    """The ``model`` row ``object_id`` if visible in ``scope``, or :class:`NotFoundError`.

    Another tenant's row answers exactly like a missing one, so ids leak nothing.
    """
    row = session.get(model, object_id)
    if row is None or (scope is not None and getattr(row, "tenant_id", None) != scope):
        raise NotFoundError(f"{what} {object_id} not found", **details)
    return row


def page_by_tenant(
    session: Session,
    model: type[T],
    *,
    offset: int,
    limit: int,
    tenant_id: int | None,
    scope: int | None,
    order_by: Any,
) -> tuple[Sequence[T], int]:
    """One page of a per-tenant table, limited to ``tenant_id`` and the caller's ``scope``."""
    stmt = select(model)
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(model.tenant_id == only)  # type: ignore[attr-defined]
    return page(session, stmt, offset=offset, limit=limit, order_by=order_by)


def commit(session: Session, *objects: SQLModel, what: str) -> None:
    """Commit, turning a unique/foreign-key violation into :class:`ConflictError`.

    The data functions check uniqueness first, for a precise message; this
    catches the race where another writer got there in between.
    """
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"{what} conflicts with existing data", reason=str(exc.orig)) from exc
    for obj in objects:
        session.refresh(obj)
    if objects:
        # End the refresh's read transaction: a handler then awaits the engine (applying
        # the tenant's configuration, seconds under load) and must not hold a pooled
        # connection meanwhile (15 such requests exhausted the pool). Nothing is expired
        # (expire_on_commit=False), so the objects stay readable without a connection.
        session.commit()


def exists(session: Session, statement: Any) -> bool:
    return session.exec(statement.limit(1)).first() is not None


def bump_config(session: Session, *tenant_ids: int | None) -> None:
    """Mark tenants' engine configuration as changed (in the caller's transaction)."""
    ids = {tid for tid in tenant_ids if tid is not None}
    if ids:
        col: Any = Tenant.id
        session.execute(
            sa.update(Tenant)
            .where(col.in_(ids))
            .values(config_version=Tenant.config_version + 1, updated_at=utcnow())
        )


def prefix_filter(column: Any, prefix: str) -> Any:
    """``column LIKE prefix%`` with ``%``/``_`` in ``prefix`` taken literally."""
    return column.startswith(prefix, autoescape=True)


def contains_filter(column: Any, text: str) -> Any:
    """Case-insensitive substring match, with ``%``/``_`` taken literally."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def tenant_for_write(session: Session, tenant_id: int, scope: int | None) -> int:
    """The ``tenant_id`` a request body names, if the caller may act for it.

    Another tenant than a tenant admin's ``scope`` is :class:`NotFoundError` (as
    if it did not exist); a tenant that does not exist is a bad field value.
    """
    if scope is not None and scope != tenant_id:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    if session.get(Tenant, tenant_id) is None:
        raise ValidationError(f"tenant_id: no tenant {tenant_id}", field="tenant_id")
    return tenant_id


def tenant_filter(tenant_id: int | None, scope: int | None) -> int | None:
    """The tenant a list is limited to: ``tenant_id`` if visible, else 404; ``scope`` by default."""
    if scope is not None and tenant_id is not None and tenant_id != scope:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    return scope if tenant_id is None else tenant_id


def refuse_nulls(values: dict[str, Any], *keys: str) -> None:
    """A PATCH may omit these fields but not set them to null."""
    for key in keys:
        if key in values and values[key] is None:
            raise ValidationError(f"{key}: must not be null", field=key)
