"""What the running ACD keeps in the store: its event log, the places of waiting
callers and the last agent of each caller's number.

The event log feeds the statistics after a restart (:mod:`orchestrator.queues.eventlog`);
the places and last agents give the callers their places back (:func:`save_places`,
:func:`load_places`...; docs/queues.md, "Restart"). Both are written from worker
threads by :mod:`orchestrator.queues` (``eventlog``, ``store.places``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ValidationError
from orchestrator.queues.acd.places import Place
from orchestrator.store.models import Queue, QueueEvent, QueueLastAgent, QueuePlace


# -- the event log ------------------------------------------------------------------------
def append_events(session: Session, events: Iterable[dict[str, Any]]) -> int:
    """Store ACD events (``AcdEvent.to_dict()``), in the order given."""
    rows = [
        QueueEvent(
            tenant_id=int(e["tenant_id"]),
            at=datetime.fromtimestamp(float(e["timestamp"])).astimezone(),
            type=str(e["type"])[:20],
            data=e,
        )
        for e in events
    ]
    session.add_all(rows)
    session.commit()
    return len(rows)


def events_since(session: Session, since: datetime) -> list[dict[str, Any]]:
    """The stored events from ``since`` on, in the order they were stored."""
    stmt = select(QueueEvent.data).where(QueueEvent.at >= since).order_by(col(QueueEvent.id))
    return [dict(d) for d in session.exec(stmt).all()]


def purge_events(session: Session, before: datetime) -> int:
    """Drop events older than ``before`` (the statistics of past days are not rebuilt)."""
    result = session.execute(sa.delete(QueueEvent).where(col(QueueEvent.at) < before))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


# -- waiting callers' places and last agents, kept across a restart -----------------------
def _moment(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def save_places(session: Session, changes: Mapping[str, Place | None], node: str = "") -> None:
    """Store the latest place of each call (``None``: it waits no more), in one go.

    ``node``: the engine node holding the callers' legs (each node's run takes back its
    own callers).
    """
    rows = [
        QueuePlace(
            call_id=p.call_id,
            tenant_id=p.tenant_id,
            node=node,
            queue=p.queue,
            kind=p.kind,
            leg_id=p.leg_id,
            caller=p.caller,
            callback_number=p.callback_number,
            priority=p.priority,
            seq=p.seq,
            enqueued_at=_moment(p.enqueued_at),
            callback_at=_moment(p.callback_at) if p.callback_at else None,
            skills=dict(p.skills),
            agent_id=p.agent_id,
            agent_leg=p.agent_leg,
            answered_at=_moment(p.answered_at) if p.answered_at else None,
        )
        for p in changes.values()
        if p is not None
    ]
    drop = sa.delete(QueuePlace).where(col(QueuePlace.call_id).in_(list(changes)))
    _replace(session, [drop], rows)


def remember_agents(session: Session, rows: Mapping[tuple[int, str], tuple[str, float]]) -> None:
    """Store ``(tenant, number) -> (agent id, when)``: who last answered each number."""
    drops = [
        sa.delete(QueueLastAgent).where(
            col(QueueLastAgent.tenant_id) == tenant_id, col(QueueLastAgent.number) == number
        )
        for tenant_id, number in rows
    ]
    new = [
        QueueLastAgent(tenant_id=tenant_id, number=number, agent_id=int(agent), at=_moment(at))
        for (tenant_id, number), (agent, at) in rows.items()
        if agent.isdigit()  # the service's agents are rows: their ids are numbers
    ]
    _replace(session, drops, new)


def _replace(session: Session, drops: Sequence[Any], rows: Sequence[Any]) -> None:
    """Delete, then add ``rows``, in one transaction; if a row refers to a tenant or an
    agent deleted meanwhile, the others are still written (one by one)."""
    for drop in drops:
        session.execute(drop)
    session.add_all(rows)
    try:
        session.commit()
        return
    except sa.exc.IntegrityError:
        session.rollback()
    for drop in drops:
        session.execute(drop)
    session.commit()
    for row in rows:
        session.add(row)
        try:
            session.commit()
        except sa.exc.IntegrityError:
            session.rollback()


def load_places(session: Session, node: str = "") -> list[Place]:
    """The places kept on ``node``, oldest first; those of a queue no longer enabled are
    dropped."""
    enabled = {
        (tenant_id, name)
        for tenant_id, name in session.exec(
            select(Queue.tenant_id, Queue.name).where(Queue.enabled == True)  # noqa: E712
        ).all()
    }
    rows = session.exec(
        select(QueuePlace)
        .where(QueuePlace.node == node)
        .order_by(col(QueuePlace.enqueued_at), col(QueuePlace.seq))
    ).all()
    gone = [r.call_id for r in rows if (r.tenant_id, r.queue) not in enabled]
    if gone:
        session.execute(sa.delete(QueuePlace).where(col(QueuePlace.call_id).in_(gone)))
        session.commit()
    places = []
    for r in rows:
        if (r.tenant_id, r.queue) not in enabled:
            continue
        try:
            places.append(
                Place(
                    call_id=r.call_id,
                    tenant_id=r.tenant_id,
                    queue=r.queue,
                    enqueued_at=r.enqueued_at.timestamp(),
                    kind=r.kind,
                    leg_id=r.leg_id,
                    caller=r.caller,
                    callback_number=r.callback_number,
                    priority=r.priority,
                    seq=r.seq,
                    callback_at=r.callback_at.timestamp() if r.callback_at else 0.0,
                    skills=dict(r.skills or {}),
                    agent_id=r.agent_id,
                    agent_leg=r.agent_leg,
                    answered_at=r.answered_at.timestamp() if r.answered_at else 0.0,
                )
            )
        except (ValueError, ValidationError):  # a row no release of ours wrote: skipped
            continue
    return places


def load_last_agents(session: Session, limit: int) -> list[tuple[int, str, str]]:
    """The newest ``limit`` (at least 1) last agents ``(tenant, number, agent id)``, oldest
    first; older ones are deleted (the ACD remembers no more than ``limit`` numbers)."""
    stmt = (
        select(QueueLastAgent)
        .order_by(col(QueueLastAgent.at).desc(), col(QueueLastAgent.number))
        .limit(limit + 1)
    )
    rows = list(session.exec(stmt).all())
    if len(rows) > limit:
        rows = rows[:limit]
        session.execute(sa.delete(QueueLastAgent).where(col(QueueLastAgent.at) < rows[-1].at))
        session.commit()
    return [(r.tenant_id, r.number, str(r.agent_id)) for r in reversed(rows)]
