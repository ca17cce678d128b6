"""``/api/v1/agents``: the people taking queue calls, and what they do.

An agent is an extension of the tenant (its phone; the SIP endpoint follows from it)
with skills ``{name: level 1..10}`` and a penalty (lower is offered calls first).
``POST .../login`` (one ``queue`` the agent is a member of, or all), ``/logout``,
``/pause`` (with a ``reason``) and ``/unpause`` act at once; the agent's live
``state`` comes back and goes out as an ``agent_state`` event on ``/api/v1/ws``.
Phones do the same with the tenant's feature codes (``*61``/``*62``/``*63`` by default,
docs/pbx.md).

Supervisors read every agent of their tenant and act on them; an API user of role
``agent`` sees and acts on its own agent only (the one on its extension; another agent of
the tenant is 403). Only admins create, change or delete agents (docs/roles.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AgentId, CurrentUser, PageDep, RequireAdmin, SessionDep
from api.routes.queues import CallCenterDep, reload
from api.schemas import Page
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import EngineUnavailableError
from orchestrator.queues.service import CallCenter
from orchestrator.queues.store import agents
from orchestrator.store.models import QueueAgentCreate, QueueAgentPublic, QueueAgentUpdate

router = APIRouter(prefix="/api/v1/agents", tags=["queues"])


class LoginBody(BaseModel):
    queue: str | None = Field(
        default=None, max_length=40, description="a queue the agent is a member of; null/'all'"
    )


class PauseBody(BaseModel):
    reason: str = Field(default="", max_length=40, description="lunch, training...")


class AgentStatus(BaseModel):
    agent_id: StoreInt
    tenant_id: StoreInt
    extension: str
    state: str | None
    state_reason: str
    logged_in: list[str]


def public(row: agents.AgentRow, callcenter: CallCenter | None) -> QueueAgentPublic:
    live: dict[str, Any] = {"state": None, "state_reason": "", "logged_in": []}
    if callcenter is not None and row.agent.id is not None:
        live = callcenter.actions.live(row.agent.tenant_id, row.agent.id)
    return QueueAgentPublic.model_validate(
        {**row.agent.model_dump(), "extension": row.extension, "endpoint": row.endpoint, **live}
    )


def running(callcenter: CallCenter | None) -> CallCenter:
    if callcenter is None:
        raise EngineUnavailableError("call queues are not running in this service")
    return callcenter


@router.get("")
def list_agents(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    callcenter: CallCenterDep,
    tenant_id: StoreInt | None = None,
) -> Page[QueueAgentPublic]:
    """The agents of the caller's tenant(s); for an agent, only itself."""
    if user.is_agent:
        assert user.tenant_id is not None and user.extension is not None
        if tenant_id is not None:
            user.require_tenant(tenant_id)
        own = agents.agent_by_extension(session, user.tenant_id, user.extension)
        mine = [own] if own is not None else []
        rows, total = mine[page.offset : page.offset + page.limit], len(mine)
    else:
        rows, total = agents.list_agents(
            session=session,
            offset=page.offset,
            limit=page.limit,
            tenant_id=tenant_id,
            scope=user.scope,
        )
    items = [public(r, callcenter) for r in rows]
    return Page[QueueAgentPublic](items=items, total=total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[RequireAdmin])
async def create_agent(
    session: SessionDep, user: CurrentUser, data: QueueAgentCreate, callcenter: CallCenterDep
) -> QueueAgentPublic:
    """Make an extension of the tenant an agent (one agent per extension)."""
    row = await run_in_threadpool(agents.create_agent, session=session, data=data, scope=user.scope)
    await reload(callcenter, row.agent.tenant_id)
    return public(row, callcenter)


@router.get("/{agent_id}")
def read_agent(
    session: SessionDep, user: CurrentUser, agent_id: AgentId, callcenter: CallCenterDep
) -> QueueAgentPublic:
    row = agents.read_agent(session=session, agent_id=agent_id, scope=user.scope)
    return public(row, callcenter)


@router.patch("/{agent_id}", dependencies=[RequireAdmin])
async def update_agent(
    session: SessionDep,
    user: CurrentUser,
    agent_id: StoreInt,
    data: QueueAgentUpdate,
    callcenter: CallCenterDep,
) -> QueueAgentPublic:
    row = await run_in_threadpool(
        agents.update_agent, session=session, agent_id=agent_id, data=data, scope=user.scope
    )
    await reload(callcenter, row.agent.tenant_id)
    return public(row, callcenter)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[RequireAdmin])
async def delete_agent(
    session: SessionDep, user: CurrentUser, agent_id: StoreInt, callcenter: CallCenterDep
) -> None:
    """Delete an agent (logged out; a queue call in progress goes on)."""
    row = await run_in_threadpool(
        agents.delete_agent, session=session, agent_id=agent_id, scope=user.scope
    )
    await reload(callcenter, row.agent.tenant_id)


@router.post("/{agent_id}/login")
async def login(
    user: CurrentUser, agent_id: AgentId, callcenter: CallCenterDep, body: LoginBody | None = None
) -> AgentStatus:
    """Log into one queue the agent is a member of, or (no ``queue``, or ``all``) all of them."""
    queue = body.queue if body is not None and body.queue != "all" else None
    result = await running(callcenter).actions.login(agent_id, queue, scope=user.scope)
    return AgentStatus.model_validate(result)


@router.post("/{agent_id}/logout")
async def logout(
    user: CurrentUser, agent_id: AgentId, callcenter: CallCenterDep, body: LoginBody | None = None
) -> AgentStatus:
    """Log out of one queue or (no ``queue``, or ``all``) all; a call in progress goes on."""
    queue = body.queue if body is not None and body.queue != "all" else None
    result = await running(callcenter).actions.logout(agent_id, queue, scope=user.scope)
    return AgentStatus.model_validate(result)


@router.post("/{agent_id}/pause")
async def pause(
    user: CurrentUser, agent_id: AgentId, callcenter: CallCenterDep, body: PauseBody | None = None
) -> AgentStatus:
    """No queue calls until unpaused (after the current call, if on one)."""
    reason = body.reason if body is not None else ""
    result = await running(callcenter).actions.pause(agent_id, reason, scope=user.scope)
    return AgentStatus.model_validate(result)


@router.post("/{agent_id}/unpause")
async def unpause(user: CurrentUser, agent_id: AgentId, callcenter: CallCenterDep) -> AgentStatus:
    result = await running(callcenter).actions.unpause(agent_id, scope=user.scope)
    return AgentStatus.model_validate(result)
