"""Data functions for call queues and their members, and the ACD's view of them.

A queue's fields are checked by :class:`~orchestrator.queues.acd.config.QueueConfig` itself
(and an agent's by :class:`~orchestrator.queues.acd.config.AgentConfig`), so the rules live in
one place whoever writes: the REST API, the composition root loading the store, tests.

A member is an agent (:mod:`orchestrator.queues.store.agents`) allowed in a queue, with an
optional per-queue penalty; ``logged_in`` is kept here (and the agent's pause with the
agent) so they survive a restart of the service. :func:`load_acd` reads everything the
ACD needs at start.

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin): rows
of other tenants are invisible (:class:`NotFoundError`). What the running ACD writes
back (its event log, waiting callers' places, last agents):
:mod:`orchestrator.queues.store.runtime`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.queues.acd.config import AgentConfig, PriorityRule, QueueConfig
from orchestrator.queues.store.agents import agent_rows
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
    QueueCreate,
    QueueMember,
    QueueMemberCreate,
    QueueUpdate,
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


# -- members and the agent's logins ---------------------------------------------------------
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
    for row in agent_rows(session, *agent_where):
        out.agents.append((row.config(), row.agent.paused, row.agent.pause_reason))
    stmt = select(QueueMember, Queue.name).join(Queue, col(Queue.id) == col(QueueMember.queue_id))
    if tenant_id is not None:
        stmt = stmt.where(QueueMember.tenant_id == tenant_id)
    for member, name in session.exec(stmt).all():
        out.members.append(Membership(str(member.agent_id), name, member.penalty, member.logged_in))
    return out
