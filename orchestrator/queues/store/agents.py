"""Data functions for queue agents.

An agent is an extension of the tenant plus skills and a penalty; its SIP endpoint
(``<sip_username>@<tenant sip_domain>``) follows from the extension. Its fields are
checked by :class:`~orchestrator.queues.acd.config.AgentConfig` itself, so the rules live in
one place. The agent's pause is kept here so it survives a restart of the service; its
queues and logins are memberships (:mod:`orchestrator.queues.store.queues`).

``scope`` is the tenant a tenant admin acts for (``None`` for a system admin): rows
of other tenants are invisible (:class:`NotFoundError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.queues.acd.config import AgentConfig
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
    QueueAgent,
    QueueAgentCreate,
    QueueAgentUpdate,
    Tenant,
    utcnow,
)


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


def agent_rows(session: Session, *where: Any) -> list[AgentRow]:
    """The agents matching ``where``, joined with their extension and tenant."""
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
    rows = agent_rows(session, col(QueueAgent.id) == agent_id)
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
    rows = {r.agent.id: r for r in agent_rows(session, col(QueueAgent.id).in_(ids))}
    return [rows[i] for i in ids if i in rows], total


def agent_by_extension(session: Session, tenant_id: int, number: str) -> AgentRow | None:
    rows = agent_rows(session, QueueAgent.tenant_id == tenant_id, Extension.number == number)
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


def set_paused(session: Session, agent_id: int, paused: bool, reason: str = "") -> None:
    session.execute(
        sa.update(QueueAgent)
        .where(col(QueueAgent.id) == agent_id)
        .values(paused=paused, pause_reason=reason if paused else "", updated_at=utcnow())
    )
    session.commit()
