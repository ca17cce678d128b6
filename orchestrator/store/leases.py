"""Leases: work only one holder may do at a time, across every service process.

A lease is a row of ``rating_leases`` named after the work (``rerate:tenant:7``).
Taking it inserts the row, so of several simultaneous takers exactly one wins on the
primary key, on SQLite and PostgreSQL alike and whichever process they run in (an
in-process lock would not see a second service on the same database). The holder
renews it while it works and deletes it at the end; a lease whose holder died expires
after its ``ttl`` and the next taker deletes it first. A lease may also be *blocked*
by others (a re-rating of every tenant by one of any tenant, and the other way round):
the taker looks for them after its insert, so two such takers can both back off, but
they never both run.

Example::

    holder = leases.acquire(sessions, "rerate:tenant:7", detail="re-rating ...", ttl=ttl)
    try:
        ...  # leases.renew(sessions, "rerate:tenant:7", holder, ttl) now and then
    finally:
        leases.release(sessions, "rerate:tenant:7", holder)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError
from orchestrator.store.models import RatingLease, utcnow


def _busy(held: RatingLease) -> ConflictError:
    return ConflictError(
        f"{held.detail or held.name} is running since {held.acquired_at.isoformat()}: "
        "try again when it is done",
        lease=held.name,
        since=held.acquired_at.isoformat(),
        expires_at=held.expires_at.isoformat(),
    )


def acquire(
    sessions: Callable[[], Session],
    name: str,
    *,
    detail: str,
    ttl: timedelta,
    blocked_by: Sequence[str] = (),
) -> str:
    """Take the lease ``name`` and return the holder id; :class:`ConflictError` (409) if
    someone holds it, or a live lease whose name is LIKE one of ``blocked_by``."""
    holder = uuid.uuid4().hex
    for _attempt in range(3):
        now = utcnow()
        with sessions() as session:
            session.execute(
                sa.delete(RatingLease).where(
                    col(RatingLease.name) == name, col(RatingLease.expires_at) <= now
                )
            )
            session.add(
                RatingLease(
                    name=name,
                    holder=holder,
                    detail=detail[:200],
                    acquired_at=now,
                    expires_at=now + ttl,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                held = session.get(RatingLease, name, populate_existing=True)
                if held is not None:
                    raise _busy(held) from None
                continue  # its holder finished meanwhile: try again
        blocker = _live_blocker(sessions, name, blocked_by)
        if blocker is not None:
            release(sessions, name, holder)
            raise _busy(blocker)
        return holder
    raise ConflictError(f"{name}: busy, try again", lease=name)


def _live_blocker(
    sessions: Callable[[], Session], name: str, blocked_by: Sequence[str]
) -> RatingLease | None:
    if not blocked_by:
        return None
    with sessions() as session:
        return session.exec(
            select(RatingLease).where(
                col(RatingLease.name) != name,
                col(RatingLease.expires_at) > utcnow(),
                sa.or_(*(col(RatingLease.name).like(p) for p in blocked_by)),
            )
        ).first()


def renew(sessions: Callable[[], Session], name: str, holder: str, ttl: timedelta) -> None:
    """Push the lease's expiry ``ttl`` from now; :class:`ConflictError` if it was lost
    (it expired and someone else took it: stop, the other holder does the work)."""
    with sessions() as session:
        result = session.execute(
            sa.update(RatingLease)
            .where(col(RatingLease.name) == name, col(RatingLease.holder) == holder)
            .values(expires_at=utcnow() + ttl)
        )
        session.commit()
    if getattr(result, "rowcount", 0) != 1:
        raise ConflictError(f"{name}: the lease expired and was taken over", lease=name)


def release(sessions: Callable[[], Session], name: str, holder: str) -> None:
    """Give the lease up (nothing if it is no longer ours)."""
    with sessions() as session:
        session.execute(
            sa.delete(RatingLease).where(
                col(RatingLease.name) == name, col(RatingLease.holder) == holder
            )
        )
        session.commit()
