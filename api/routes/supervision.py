"""``/api/v1/supervision``: a supervisor listens to, whispers to or barges in on an agent's call.

``POST`` calls the supervisor's phone (202: the session is ``ringing``); when it
answers, the supervisor hears the agent's call (``listen``), and in ``whisper`` mode the
agent hears the supervisor too, in ``barge`` mode both parties do. ``PATCH`` switches the
mode on the fly, ``DELETE`` ends the session (the supervisor's phone is hung up); it also
ends when the supervisor hangs up or the agent's call ends. Supervisors and tenant
admins act on their own tenant (agents: 403); a system admin names the tenant. See
docs/queues.md (Supervisors), docs/roles.md and :mod:`orchestrator.cti.supervise`.

Errors: 404 ``not-found`` (no such extension in the tenant), 404 ``agent-not-on-call``,
409 ``supervisor-busy`` (already supervising, or their phone is on a call).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RequireSupervisor, ServicesDep
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import EngineUnavailableError, ValidationError
from orchestrator.cti.supervise import SupervisionService

router = APIRouter(
    prefix="/api/v1/supervision", tags=["supervision"], dependencies=[RequireSupervisor]
)

ModeName = Literal["listen", "whisper", "barge"]
_Extension = Field(pattern=r"^[0-9]{2,10}$", description="an extension of the tenant")


def get_supervision(services: ServicesDep) -> SupervisionService:
    service = services.supervision
    if service is None:
        raise EngineUnavailableError("supervision is not running in this service")
    return service


SupervisionDep = Annotated[SupervisionService, Depends(get_supervision)]


class SupervisionStart(BaseModel):
    supervisor: str = _Extension
    agent: str = _Extension
    mode: ModeName = "listen"
    tenant_id: StoreInt | None = Field(
        default=None, description="required for a system admin; else the caller's own tenant"
    )


class SupervisionChange(BaseModel):
    mode: ModeName


class SupervisionPublic(BaseModel):
    """A supervision session. Times are Unix seconds."""

    id: str
    tenant_id: StoreInt
    supervisor: str
    agent: str
    mode: ModeName
    state: Literal["ringing", "active", "ended"]
    call_id: str = Field(description="the supervised call (GET /api/v1/calls/{id} if listed)")
    agent_channel: str
    started_at: float
    answered_at: float | None
    ended_at: float | None
    reason: str | None = Field(
        description="why it ended: supervisor_hung_up, call_ended, stopped, no_answer, "
        "failed, shutdown, max_duration"
    )


class SupervisionList(BaseModel):
    items: list[SupervisionPublic]
    total: StoreInt


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_supervision(
    service: SupervisionDep, user: CurrentUser, data: SupervisionStart
) -> SupervisionPublic:
    """Call the supervisor's phone; when it answers, it joins the agent's call in ``mode``."""
    tenant_id = data.tenant_id if data.tenant_id is not None else user.scope
    if tenant_id is None:
        raise ValidationError("a system admin names the tenant_id", field="tenant_id")
    session = await service.begin(
        tenant_id, supervisor=data.supervisor, agent=data.agent, mode=data.mode, scope=user.scope
    )
    return SupervisionPublic.model_validate(session)


@router.get("")
async def list_supervision(
    service: SupervisionDep, user: CurrentUser, tenant_id: StoreInt | None = None
) -> SupervisionList:
    """The live sessions (ringing or active) of the caller's tenant(s)."""
    items = service.list(scope=user.scope, tenant_id=tenant_id)
    return SupervisionList.model_validate({"items": items, "total": len(items)})


@router.get("/{session_id}")
async def read_supervision(
    service: SupervisionDep, user: CurrentUser, session_id: str
) -> SupervisionPublic:
    return SupervisionPublic.model_validate(service.get(session_id, scope=user.scope))


@router.patch("/{session_id}")
async def change_supervision(
    service: SupervisionDep, user: CurrentUser, session_id: str, data: SupervisionChange
) -> SupervisionPublic:
    """Switch between listen, whisper and barge without calling the supervisor again."""
    session = await service.change(session_id, data.mode, scope=user.scope)
    return SupervisionPublic.model_validate(session)


@router.delete("/{session_id}")
async def end_supervision(
    service: SupervisionDep, user: CurrentUser, session_id: str
) -> SupervisionPublic:
    """End the session; the final snapshot (``state`` ended, ``reason`` stopped)."""
    return SupervisionPublic.model_validate(await service.end(session_id, scope=user.scope))
