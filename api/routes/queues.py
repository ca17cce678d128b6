"""``/api/v1/queues``: a tenant's call queues, their members and their live status.

Every field of a queue is checked by the ACD's own ``QueueConfig`` (422 with the
field's name). Changes reach the running ACD at once (waiting callers stay); a queue
callers are waiting in cannot be deleted, disabled or renamed (409). Members are the
agents allowed to log into the queue, each with an optional penalty of its own. A
tenant admin sees only its tenant's queues (others answer 404); supervisors read them
and their status, only admins change them (docs/roles.md). See docs/queues.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, PageDep, RequireAdmin, RequireSupervisor, ServicesDep, SessionDep
from api.schemas import Page, page_of
from orchestrator.bounds import StoreInt
from orchestrator.queues.service import CallCenter
from orchestrator.queues.store import queues
from orchestrator.store.models import (
    QueueCreate,
    QueueMemberCreate,
    QueueMemberPublic,
    QueuePublic,
    QueueUpdate,
)

router = APIRouter(prefix="/api/v1/queues", tags=["queues"])


def get_callcenter(services: ServicesDep) -> CallCenter | None:
    """The running call center, or None where the service runs no calls (some tests)."""
    return services.callcenter


CallCenterDep = Annotated[CallCenter | None, Depends(get_callcenter)]


async def reload(callcenter: CallCenter | None, tenant_id: StoreInt) -> None:
    if callcenter is not None:
        await callcenter.reload(tenant_id)


class QueueStatus(BaseModel):
    """A queue now: callers waiting (first served first), its agents, today's figures."""

    tenant_id: StoreInt
    queue: str
    running: bool = Field(description="false: the queue is disabled or the ACD is not running")
    time: float = Field(description="Unix time of this status")
    waiting: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    figures: dict[str, Any]


@router.get("", dependencies=[RequireSupervisor])
def list_queues(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[QueuePublic]:
    rows, total = queues.list_queues(
        session=session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    return page_of(QueuePublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[RequireAdmin])
async def create_queue(
    session: SessionDep, user: CurrentUser, data: QueueCreate, callcenter: CallCenterDep
) -> QueuePublic:
    queue = await run_in_threadpool(
        queues.create_queue, session=session, data=data, scope=user.scope
    )
    await reload(callcenter, queue.tenant_id)
    return QueuePublic.model_validate(queue)


@router.get("/{queue_id}", dependencies=[RequireSupervisor])
def read_queue(session: SessionDep, user: CurrentUser, queue_id: StoreInt) -> QueuePublic:
    queue = queues.read_queue(session=session, queue_id=queue_id, scope=user.scope)
    return QueuePublic.model_validate(queue)


@router.patch("/{queue_id}", dependencies=[RequireAdmin])
async def update_queue(
    session: SessionDep,
    user: CurrentUser,
    queue_id: StoreInt,
    data: QueueUpdate,
    callcenter: CallCenterDep,
) -> QueuePublic:
    """Change a queue; 409 when renaming or disabling it while callers wait in it."""
    current = queues.read_queue(session=session, queue_id=queue_id, scope=user.scope)
    leaving = (data.name is not None and data.name != current.name) or data.enabled is False
    if callcenter is not None and leaving:
        callcenter.check_removable(current.tenant_id, current.name)
    queue, _ = await run_in_threadpool(
        queues.update_queue, session=session, queue_id=queue_id, data=data, scope=user.scope
    )
    await reload(callcenter, queue.tenant_id)
    return QueuePublic.model_validate(queue)


@router.delete("/{queue_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[RequireAdmin])
async def delete_queue(
    session: SessionDep, user: CurrentUser, queue_id: StoreInt, callcenter: CallCenterDep
) -> None:
    """Delete a queue and its memberships; 409 while callers wait in it."""
    current = queues.read_queue(session=session, queue_id=queue_id, scope=user.scope)
    if callcenter is not None:
        callcenter.check_removable(current.tenant_id, current.name)
    queue = await run_in_threadpool(
        queues.delete_queue, session=session, queue_id=queue_id, scope=user.scope
    )
    await reload(callcenter, queue.tenant_id)


@router.get("/{queue_id}/members", dependencies=[RequireSupervisor])
def list_members(
    session: SessionDep, user: CurrentUser, queue_id: StoreInt
) -> list[QueueMemberPublic]:
    rows = queues.list_members(session=session, queue_id=queue_id, scope=user.scope)
    return [QueueMemberPublic.model_validate(r) for r in rows]


@router.post(
    "/{queue_id}/members", status_code=status.HTTP_201_CREATED, dependencies=[RequireAdmin]
)
async def add_member(
    session: SessionDep,
    user: CurrentUser,
    queue_id: StoreInt,
    data: QueueMemberCreate,
    callcenter: CallCenterDep,
) -> QueueMemberPublic:
    """Let an agent into the queue (or change its penalty here; null: the agent's own)."""
    member = await run_in_threadpool(
        queues.add_member, session=session, queue_id=queue_id, data=data, scope=user.scope
    )
    await reload(callcenter, member.tenant_id)
    rows = queues.list_members(session=session, queue_id=queue_id, scope=user.scope)
    return QueueMemberPublic.model_validate(next(r for r in rows if r["agent_id"] == data.agent_id))


@router.delete(
    "/{queue_id}/members/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RequireAdmin],
)
async def remove_member(
    session: SessionDep,
    user: CurrentUser,
    queue_id: StoreInt,
    agent_id: StoreInt,
    callcenter: CallCenterDep,
) -> None:
    """The agent leaves the queue (logged out of it; a call in progress goes on)."""
    queue = await run_in_threadpool(
        queues.remove_member,
        session=session,
        queue_id=queue_id,
        agent_id=agent_id,
        scope=user.scope,
    )
    await reload(callcenter, queue.tenant_id)


@router.get("/{queue_id}/status", dependencies=[RequireSupervisor])
def queue_status(
    session: SessionDep, user: CurrentUser, queue_id: StoreInt, callcenter: CallCenterDep
) -> QueueStatus:
    """Waiting calls with their wait, agents with their states, today's figures."""
    queue = queues.read_queue(session=session, queue_id=queue_id, scope=user.scope)
    if callcenter is None:
        return QueueStatus(
            tenant_id=queue.tenant_id, queue=queue.name, running=False, time=0.0,
            waiting=[], agents=[], figures={},
        )  # fmt: skip
    return QueueStatus.model_validate(callcenter.status(queue.tenant_id, queue.name))
