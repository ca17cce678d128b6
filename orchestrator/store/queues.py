"""Data functions for call queues, their agents and members, and the ACD's event log.

A queue's fields are checked by :class:`~orchestrator.acd.config.QueueConfig` itself
(and an agent's by :class:`~orchestrator.acd.config.AgentConfig`), so the rules live in
one place whoever writes: the REST API, the composition root loading the store, tests.

An agent is an extension of the tenant plus skills and a penalty; its SIP endpoint
(``<sip_username>@<tenant sip_domain>``) follows from the extension. A member is an
agent allowed in a queue, with an optional per-queue penalty; ``logged_in`` and the
agent's pause are kept here so they survive a restart of the service.

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin): rows
of other tenants are invisible (:class:`NotFoundError`).

The places of waiting callers and the last agent of each caller's number are kept too
(:func:`save_places`, :func:`load_places`...), so a restart of the service gives the
callers their places back (docs/queues.md, "Restart").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.acd.config import AgentConfig, PriorityRule, QueueConfig
from orchestrator.acd.places import Place
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import (
    commit,
    exists,
    page_by_tenant,
    read_scoped,
    refuse_nulls,
    tenant_for_write,
)
from orchestrator.store.models import (
    Extension,
    Queue,
    QueueAgent,
    QueueAgentCreate,
    QueueAgentUpdate,
    QueueCreate,
    QueueEvent,
    QueueLastAgent,
    QueueMember,
    QueueMemberCreate,
    QueuePlace,
    QueueUpdate,
    Tenant,
    utcnow,
)

# The QueueConfig fields a queue row holds (besides tenant_id and name).
CONFIG_FIELDS = (
    "strategy", "ring_timeout_s", "retry_s", "wrapup_s", "max_wait_s", "max_len", "overflow",
    "leave_when_empty", "announce_every_s", "announce_position", "announce_wait", "moh_class",
    "service_level_s", "callback_enabled", "callback_key", "callback_expire_s", "last_agent_s",
    "weight", "autopause_after", "required_skills",
)  # fmt: skip


# -- queues ----------------------------------------------------------------------------
def queue_config(tenant_id: int, values: dict[str, Any]) -> QueueConfig:
    """The :class:`QueueConfig` of a row's values; :class:`ValidationError` names the field."""
    rules = values.get("priority_rules") or []
    try:
        priority_rules = tuple(PriorityRule(r["match"], r["priority"]) for r in rules)
    except (KeyError, TypeError):
        raise ValidationError(
            "priority_rules: a list of {match, priority}", field="priority_rules"
        ) from None
    settings = {k: values[k] for k in CONFIG_FIELDS if k in values}
    return QueueConfig(
        tenant_id=tenant_id, name=values["name"], priority_rules=priority_rules, **settings
    )


def config_of(queue: Queue) -> QueueConfig:
    return queue_config(queue.tenant_id, queue.model_dump())


def _queue_values(data: QueueCreate | QueueUpdate, *, partial: bool) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=partial, exclude={"tenant_id"})
    refuse_nulls(values, *values)
    if "priority_rules" in values:
        values["priority_rules"] = [dict(r) for r in values["priority_rules"]]
    return values


def _check_queue_name_free(
    session: Session, tenant_id: int, name: str, queue_id: int | None = None
) -> None:
    stmt = select(Queue.id).where(
        Queue.tenant_id == tenant_id, Queue.name == name, Queue.id != queue_id
    )
    if exists(session, stmt):
        raise ConflictError(f"queue {name} already exists in this tenant", field="name")


def create_queue(*, session: Session, data: QueueCreate, scope: int | None = None) -> Queue:
    """Create a queue; every field is checked by :class:`QueueConfig`."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = _queue_values(data, partial=False)
    config = queue_config(tenant_id, values)
    values.update(strategy=str(config.strategy), required_skills=dict(config.required_skills))
    _check_queue_name_free(session, tenant_id, config.name)
    queue = Queue(**values, tenant_id=tenant_id)
    session.add(queue)
    commit(session, queue, what="queue")
    return queue


def read_queue(*, session: Session, queue_id: int, scope: int | None = None) -> Queue:
    return read_scoped(session, Queue, queue_id, scope, what="queue", queue_id=queue_id)


def list_queues(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[Sequence[Queue], int]:
    return page_by_tenant(
        session,
        Queue,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=(Queue.tenant_id, Queue.name),
    )


def update_queue(
    *, session: Session, queue_id: int, data: QueueUpdate, scope: int | None = None
) -> tuple[Queue, str]:
    """Change a queue (the fields given); returns it and its name before the change."""
    queue = read_queue(session=session, queue_id=queue_id, scope=scope)
    old_name = queue.name
    values = _queue_values(data, partial=True)
    merged = {**queue.model_dump(), **values}
    config = queue_config(queue.tenant_id, merged)
    if "strategy" in values:
        values["strategy"] = str(config.strategy)
    if "name" in values:
        _check_queue_name_free(session, queue.tenant_id, values["name"], queue_id)
    queue.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(queue)
    commit(session, queue, what="queue")
    return queue, old_name


def delete_queue(*, session: Session, queue_id: int, scope: int | None = None) -> Queue:
    """Delete a queue and its memberships. Returns it (for its tenant and name)."""
    queue = read_queue(session=session, queue_id=queue_id, scope=scope)
    session.delete(queue)
    commit(session, what="queue")
    return queue


# -- agents ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentRow:
    """An agent with what it takes from its extension and tenant."""

    agent: QueueAgent
    extension: str
    extension_name: str
    endpoint: str

    def config(self) -> AgentConfig:
        return AgentConfig(
            tenant_id=self.agent.tenant_id,
            agent_id=str(self.agent.id),
            extension=self.extension,
            name=self.agent.name or self.extension_name,
            endpoint=self.endpoint,
            skills=dict(self.agent.skills or {}),
            penalty=self.agent.penalty,
        )


def _agent_rows(session: Session, *where: Any) -> list[AgentRow]:
    # sqlmodel's select() takes at most four entities: the core one takes five.
    stmt = (
        sa.select(
            QueueAgent,
            col(Extension.number),
            col(Extension.name),
            col(Extension.sip_username),
            col(Tenant.sip_domain),
        )
        .join(Extension, col(Extension.id) == col(QueueAgent.extension_id))
        .join(Tenant, col(Tenant.id) == col(QueueAgent.tenant_id))
        .where(*where)
        .order_by(col(QueueAgent.tenant_id), col(Extension.number))
    )
    return [
        AgentRow(agent, number, name, f"{user}@{domain}")
        for agent, number, name, user, domain in session.execute(stmt).all()
    ]


def _check_agent_fields(tenant_id: int, extension: str, values: dict[str, Any]) -> None:
    # AgentConfig holds the rules for names, skills and penalties.
    AgentConfig(
        tenant_id=tenant_id,
        agent_id="check",
        extension=extension,
        name=values.get("name", ""),
        skills=values.get("skills", {}),
        penalty=values.get("penalty", 0),
    )


def create_agent(*, session: Session, data: QueueAgentCreate, scope: int | None = None) -> AgentRow:
    """Make an extension of the tenant an agent (one agent per extension)."""
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    values = data.model_dump(exclude={"tenant_id", "extension"})
    refuse_nulls(values, *values)
    ext = session.exec(
        select(Extension).where(
            Extension.tenant_id == tenant_id, Extension.number == data.extension
        )
    ).first()
    if ext is None:
        raise ValidationError(
            f"extension: tenant {tenant_id} has no extension {data.extension}", field="extension"
        )
    _check_agent_fields(tenant_id, ext.number, values)
    if exists(session, select(QueueAgent.id).where(QueueAgent.extension_id == ext.id)):
        raise ConflictError(f"extension {ext.number} is already an agent", field="extension")
    agent = QueueAgent(**values, tenant_id=tenant_id, extension_id=ext.id or 0)
    session.add(agent)
    commit(session, agent, what="agent")
    return read_agent(session=session, agent_id=agent.id or 0)


def read_agent(*, session: Session, agent_id: int, scope: int | None = None) -> AgentRow:
    read_scoped(session, QueueAgent, agent_id, scope, what="agent", agent_id=agent_id)
    rows = _agent_rows(session, col(QueueAgent.id) == agent_id)
    if not rows:
        raise NotFoundError(f"agent {agent_id} not found", agent_id=agent_id)
    return rows[0]


def list_agents(
    *,
    session: Session,
    offset: int = 0,
    limit: int = 100,
    tenant_id: int | None = None,
    scope: int | None = None,
) -> tuple[list[AgentRow], int]:
    page_rows, total = page_by_tenant(
        session,
        QueueAgent,
        offset=offset,
        limit=limit,
        tenant_id=tenant_id,
        scope=scope,
        order_by=(QueueAgent.tenant_id, QueueAgent.id),
    )
    ids = [a.id for a in page_rows]
    rows = {r.agent.id: r for r in _agent_rows(session, col(QueueAgent.id).in_(ids))}
    return [rows[i] for i in ids if i in rows], total


def agent_by_extension(session: Session, tenant_id: int, number: str) -> AgentRow | None:
    rows = _agent_rows(session, QueueAgent.tenant_id == tenant_id, Extension.number == number)
    return rows[0] if rows else None


def update_agent(
    *, session: Session, agent_id: int, data: QueueAgentUpdate, scope: int | None = None
) -> AgentRow:
    row = read_agent(session=session, agent_id=agent_id, scope=scope)
    values = data.model_dump(exclude_unset=True)
    refuse_nulls(values, *values)
    current = {"name": row.agent.name, "skills": row.agent.skills, "penalty": row.agent.penalty}
    _check_agent_fields(row.agent.tenant_id, row.extension, {**current, **values})
    row.agent.sqlmodel_update({**values, "updated_at": utcnow()})
    session.add(row.agent)
    commit(session, row.agent, what="agent")
    return read_agent(session=session, agent_id=agent_id)


def delete_agent(*, session: Session, agent_id: int, scope: int | None = None) -> AgentRow:
    row = read_agent(session=session, agent_id=agent_id, scope=scope)
    session.delete(row.agent)
    commit(session, what="agent")
    return row


# -- members and the agent's live choices ---------------------------------------------------
def add_member(
    *, session: Session, queue_id: int, data: QueueMemberCreate, scope: int | None = None
) -> QueueMember:
    """Let an agent of the queue's tenant into the queue (or change its penalty)."""
    queue = read_queue(session=session, queue_id=queue_id, scope=scope)
    agent = session.get(QueueAgent, data.agent_id)
    if agent is None or agent.tenant_id != queue.tenant_id:
        raise ValidationError(
            f"agent_id: no agent {data.agent_id} in this tenant", field="agent_id"
        )
    if data.penalty is not None and not 0 <= data.penalty <= 100:
        raise ValidationError("penalty: must be an integer from 0 to 100", field="penalty")
    member = session.exec(
        select(QueueMember).where(
            QueueMember.queue_id == queue_id, QueueMember.agent_id == agent.id
        )
    ).first()
    if member is None:
        member = QueueMember(tenant_id=queue.tenant_id, queue_id=queue_id, agent_id=agent.id or 0)
    member.penalty = data.penalty
    session.add(member)
    commit(session, member, what="queue member")
    return member


def remove_member(
    *, session: Session, queue_id: int, agent_id: int, scope: int | None = None
) -> Queue:
    queue = read_queue(session=session, queue_id=queue_id, scope=scope)
    member = session.exec(
        select(QueueMember).where(
            QueueMember.queue_id == queue_id, QueueMember.agent_id == agent_id
        )
    ).first()
    if member is None:
        raise NotFoundError(f"agent {agent_id} is not a member of queue {queue.name}")
    session.delete(member)
    commit(session, what="queue member")
    return queue


def list_members(
    *, session: Session, queue_id: int, scope: int | None = None
) -> list[dict[str, Any]]:
    read_queue(session=session, queue_id=queue_id, scope=scope)
    stmt = (
        select(QueueMember, Extension.number, QueueAgent.name)
        .join(QueueAgent, col(QueueAgent.id) == col(QueueMember.agent_id))
        .join(Extension, col(Extension.id) == col(QueueAgent.extension_id))
        .where(QueueMember.queue_id == queue_id)
        .order_by(col(Extension.number))
    )
    return [
        {
            "queue_id": m.queue_id,
            "agent_id": m.agent_id,
            "extension": number,
            "name": name,
            "penalty": m.penalty,
            "logged_in": m.logged_in,
        }
        for m, number, name in session.exec(stmt).all()
    ]


def member_queues(session: Session, agent_id: int) -> list[str]:
    """The names of the queues the agent is a member of."""
    stmt = (
        select(Queue.name)
        .join(QueueMember, col(QueueMember.queue_id) == col(Queue.id))
        .where(QueueMember.agent_id == agent_id)
        .order_by(col(Queue.name))
    )
    return list(session.exec(stmt).all())


def set_logged_in(session: Session, agent_id: int, queues: Iterable[str], logged_in: bool) -> None:
    """Remember the agent's login to (or logout of) ``queues`` across restarts."""
    names = list(queues)
    ids = select(Queue.id).where(col(Queue.name).in_(names))
    session.execute(
        sa.update(QueueMember)
        .where(col(QueueMember.agent_id) == agent_id, col(QueueMember.queue_id).in_(ids))
        .values(logged_in=logged_in)
    )
    session.commit()


def set_paused(session: Session, agent_id: int, paused: bool, reason: str = "") -> None:
    session.execute(
        sa.update(QueueAgent)
        .where(col(QueueAgent.id) == agent_id)
        .values(paused=paused, pause_reason=reason if paused else "", updated_at=utcnow())
    )
    session.commit()


# -- everything the ACD needs at start, or after a change in one tenant -------------------
@dataclass(slots=True)
class Membership:
    agent_id: str
    queue: str
    penalty: int | None
    logged_in: bool


@dataclass(slots=True)
class AcdConfig:
    """The store's view of one tenant's (or every tenant's) queues and agents."""

    queues: list[QueueConfig] = field(default_factory=list)
    agents: list[tuple[AgentConfig, bool, str]] = field(default_factory=list)  # paused, reason
    members: list[Membership] = field(default_factory=list)


def load_acd(session: Session, tenant_id: int | None = None) -> AcdConfig:
    """Enabled queues, agents and memberships of ``tenant_id`` (or all tenants)."""
    out = AcdConfig()
    queue_where = [Queue.enabled == True]  # noqa: E712 (SQL, not Python truth)
    if tenant_id is not None:
        queue_where.append(Queue.tenant_id == tenant_id)
    for queue in session.exec(select(Queue).where(*queue_where)).all():
        out.queues.append(config_of(queue))
    agent_where = [] if tenant_id is None else [QueueAgent.tenant_id == tenant_id]
    for row in _agent_rows(session, *agent_where):
        out.agents.append((row.config(), row.agent.paused, row.agent.pause_reason))
    stmt = select(QueueMember, Queue.name).join(Queue, col(Queue.id) == col(QueueMember.queue_id))
    if tenant_id is not None:
        stmt = stmt.where(QueueMember.tenant_id == tenant_id)
    for member, name in session.exec(stmt).all():
        out.members.append(Membership(str(member.agent_id), name, member.penalty, member.logged_in))
    return out


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
