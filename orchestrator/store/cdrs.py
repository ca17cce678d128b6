"""CDR data functions: the builder's writes (open calls, finished CDRs) and the API's reads.

Writes are exactly-once: a CDR is unique per ``(node, call_id)``, and it is inserted in
the same transaction that deletes the call's open state, so a crash leaves either the
open call (written again after the restart) or the CDR, never both and never neither::

    with sessions() as session:
        cdr_id = write_cdr(session, cdr, legs)        # None: it was already written
    with sessions() as session:
        rows, total = list_cdrs(session, CdrFilter(tenant_id=1), offset=0, limit=50, scope=None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.core.errors import NotFoundError
from orchestrator.store._common import page, tenant_filter
from orchestrator.store.models import Cdr, CdrLeg, CdrOpenCall


@dataclass(frozen=True, slots=True)
class OpenCallRow:
    """One open call as stored: its builder state and when it was last seen alive."""

    call_id: str
    state: dict[str, Any]
    last_seen: datetime


# -- the builder's side -------------------------------------------------------------
def save_open_calls(
    session: Session,
    node: str,
    upserts: Sequence[tuple[str, dict[str, Any], datetime, datetime]],
    deletes: Sequence[str] = (),
) -> None:
    """Insert or replace open calls ``(call_id, state, started_at, last_seen)``; drop others."""
    for call_id, state, started, last_seen in upserts:
        row = session.get(CdrOpenCall, (node, call_id))
        if row is None:
            session.add(
                CdrOpenCall(
                    node=node, call_id=call_id, state=state, started_at=started, last_seen=last_seen
                )
            )
        else:
            row.state, row.last_seen = state, last_seen
            session.add(row)
    if deletes:
        session.execute(
            sa.delete(CdrOpenCall).where(
                col(CdrOpenCall.node) == node, col(CdrOpenCall.call_id).in_(list(deletes))
            )
        )
    session.commit()


def load_open_calls(session: Session, node: str) -> list[OpenCallRow]:
    rows = session.exec(
        select(CdrOpenCall).where(CdrOpenCall.node == node).order_by(col(CdrOpenCall.started_at))
    ).all()
    return [OpenCallRow(r.call_id, dict(r.state), r.last_seen) for r in rows]


def touch_open_calls(session: Session, node: str, call_ids: Sequence[str], now: datetime) -> int:
    """Mark open calls of ``node`` as seen alive at ``now``; returns how many."""
    if not call_ids:
        return 0
    result = session.execute(
        sa.update(CdrOpenCall)
        .where(col(CdrOpenCall.node) == node, col(CdrOpenCall.call_id).in_(list(call_ids)))
        .values(last_seen=now)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def write_cdr(session: Session, cdr: Cdr, legs: Sequence[CdrLeg]) -> int | None:
    """Insert the CDR and its legs and drop the call's open state, in one transaction.

    Returns the new CDR's id, or None if this call's CDR was already written (then only
    the open state, if any is left, is dropped).
    """
    drop_open = sa.delete(CdrOpenCall).where(
        col(CdrOpenCall.node) == cdr.node, col(CdrOpenCall.call_id) == cdr.call_id
    )
    if _written(session, cdr.node, cdr.call_id):
        session.execute(drop_open)
        session.commit()
        return None
    try:
        session.add(cdr)
        session.flush()
        assert cdr.id is not None
        for leg in legs:
            leg.cdr_id = cdr.id
            session.add(leg)
        session.execute(drop_open)
        session.commit()
    except IntegrityError:
        # Another writer (a second builder on the same node) got there first.
        session.rollback()
        if _written(session, cdr.node, cdr.call_id):
            session.execute(drop_open)
            session.commit()
            return None
        raise
    return cdr.id


def _written(session: Session, node: str, call_id: str) -> bool:
    found = session.exec(select(Cdr.id).where(Cdr.node == node, Cdr.call_id == call_id)).first()
    return found is not None


# -- the API's side ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CdrFilter:
    """What ``GET /api/v1/cdrs`` (and the CSV export) may filter on; None: any."""

    tenant_id: int | None = None
    extension: str | None = None
    since: datetime | None = None  # started_at >= since
    until: datetime | None = None  # started_at < until
    disposition: str | None = None
    direction: str | None = None
    call_id: str | None = None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _select(where: CdrFilter, scope: int | None) -> Any:
    stmt = select(Cdr)
    tenant = tenant_filter(where.tenant_id, scope)
    if tenant is not None:
        stmt = stmt.where(Cdr.tenant_id == tenant)
    if where.since is not None:
        stmt = stmt.where(col(Cdr.started_at) >= _utc(where.since))
    if where.until is not None:
        stmt = stmt.where(col(Cdr.started_at) < _utc(where.until))
    if where.disposition is not None:
        stmt = stmt.where(Cdr.disposition == where.disposition)
    if where.direction is not None:
        stmt = stmt.where(Cdr.direction == where.direction)
    if where.call_id is not None:
        stmt = stmt.where(Cdr.call_id == where.call_id)
    if where.extension is not None:
        # Any party of the call: caller, callee, forward or transfer target.
        stmt = stmt.where(
            sa.exists().where(
                col(CdrLeg.cdr_id) == col(Cdr.id), col(CdrLeg.extension) == where.extension
            )
        )
    return stmt


def list_cdrs(
    session: Session, where: CdrFilter, *, offset: int, limit: int, scope: int | None
) -> tuple[Sequence[Cdr], int]:
    """One page of CDRs, newest first, visible in ``scope`` (a tenant admin's tenant)."""
    return page(
        session,
        _select(where, scope),
        offset=offset,
        limit=limit,
        order_by=(col(Cdr.started_at).desc(), col(Cdr.id).desc()),
    )


def get_cdr(session: Session, cdr_id: int, scope: int | None) -> tuple[Cdr, list[CdrLeg]]:
    """A CDR and its legs in order; another tenant's CDR is :class:`NotFoundError`."""
    cdr = session.get(Cdr, cdr_id)
    if cdr is None or (scope is not None and cdr.tenant_id != scope):
        raise NotFoundError(f"CDR {cdr_id} not found", cdr_id=cdr_id)
    legs = session.exec(
        select(CdrLeg).where(CdrLeg.cdr_id == cdr_id).order_by(col(CdrLeg.seq))
    ).all()
    return cdr, list(legs)


def iter_cdrs(
    sessions: Callable[[], Session], where: CdrFilter, *, scope: int | None, chunk: int = 500
) -> Iterator[Cdr]:
    """Every matching CDR, oldest first, read ``chunk`` rows at a time (for CSV export).

    Keyset paging on ``(started_at, id)``: a long export neither skips nor repeats rows
    while new CDRs are written, and each chunk is a short read of its own.
    """
    after: tuple[datetime, int] | None = None
    while True:
        stmt = _select(where, scope)
        if after is not None:
            started, last_id = after
            stmt = stmt.where(
                sa.or_(
                    col(Cdr.started_at) > started,
                    sa.and_(col(Cdr.started_at) == started, col(Cdr.id) > last_id),
                )
            )
        stmt = stmt.order_by(col(Cdr.started_at), col(Cdr.id)).limit(chunk)
        with sessions() as session:
            rows = list(session.exec(stmt).all())
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]
        assert last.id is not None
        after = (last.started_at, last.id)
