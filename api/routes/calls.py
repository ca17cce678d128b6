"""``/api/v1/calls`` and ``/api/v1/click-to-call``: call control over REST.

The same service as the WebSocket (:class:`~orchestrator.cti.CtiService`), one call
per route. Active calls are those the orchestrator controls (IVR and remote-app
calls, click-to-call and originated calls); see docs/cti.md.

Supervisors read calls; call control is an admin's. An agent places calls from its own
extension only, with its extension's caller ID and account (docs/roles.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RequireAdmin, RequireCallPlacer, RequireSupervisor, ServicesDep
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import EngineUnavailableError
from orchestrator.cti import CtiService
from orchestrator.cti.commands import (
    AttendedTransferParams,
    ClickToCallParams,
    HangupParams,
    OriginateParams,
    TransferParams,
    destination,
)
from orchestrator.ivr.directory import parse as parse_destination

router = APIRouter(tags=["calls"])


def get_cti(services: ServicesDep) -> CtiService:
    service = services.cti
    if service is None:
        raise EngineUnavailableError("call control is not running in this service")
    return service


CtiDep = Annotated[CtiService, Depends(get_cti)]


class LegPublic(BaseModel):
    id: str
    role: str
    number: str
    state: str
    answered_at: float | None


class TransferPublic(BaseModel):
    """An attended transfer in progress: ``held_leg`` waits, ``transferer_leg`` consults."""

    state: str = Field(description="ringing (the target is called) or talking")
    to: str
    held_leg: str
    transferer_leg: str
    target_leg: str
    complete_on_answer: bool = Field(
        description="the transferer left: the held party meets the target when it answers"
    )


class CallPublic(BaseModel):
    """An active call. Times are Unix seconds."""

    id: str
    tenant_id: StoreInt
    kind: str
    state: str
    caller: str
    called: str
    access_number: str | None
    extension: str | None
    extensions: list[str]
    app: str | None
    account: str | None
    started_at: float
    answered_at: float | None
    legs: list[LegPublic]
    transfer: TransferPublic | None = None


class CallList(BaseModel):
    items: list[CallPublic]
    total: StoreInt


class CommandResult(BaseModel):
    call_id: str
    ok: bool = True


class TransferResult(CommandResult):
    transfer: TransferPublic


def _extension_of(value: str) -> str | None:
    """The extension a click-to-call leg names (None: an external number)."""
    kind, number = parse_destination(destination(value))
    return number if kind == "extension" else None


def _result(call_id: str, _data: dict[str, Any]) -> CommandResult:
    return CommandResult(call_id=call_id)


def _transfer_result(call_id: str, data: dict[str, Any]) -> TransferResult:
    return TransferResult(call_id=call_id, transfer=TransferPublic.model_validate(data["transfer"]))


@router.get("/api/v1/calls", dependencies=[RequireSupervisor])
async def list_calls(
    cti: CtiDep,
    user: CurrentUser,
    tenant_id: StoreInt | None = None,
    extension: Annotated[str | None, Query(pattern=r"^[0-9]{2,10}$")] = None,
    access_number: Annotated[str | None, Query(pattern=r"^\+?[0-9]{2,16}$")] = None,
) -> CallList:
    """Active calls of a tenant, of one extension, or on one access number."""
    items = cti.list_calls(
        scope=user.scope, tenant_id=tenant_id, extension=extension, access_number=access_number
    )
    return CallList.model_validate({"items": items, "total": len(items)})


@router.post(
    "/api/v1/calls", status_code=status.HTTP_202_ACCEPTED, dependencies=[RequireCallPlacer]
)
async def originate(cti: CtiDep, user: CurrentUser, data: OriginateParams) -> CallPublic:
    """Ring the extension's phone; when it answers, dial ``destination`` and connect them."""
    user.require_call_from(data.extension, {"caller_id": data.caller_id, "account": data.account})
    return CallPublic.model_validate(await cti.originate(data, scope=user.scope))


@router.post(
    "/api/v1/click-to-call", status_code=status.HTTP_202_ACCEPTED, dependencies=[RequireCallPlacer]
)
async def click_to_call(cti: CtiDep, user: CurrentUser, data: ClickToCallParams) -> CallPublic:
    """Call leg ``a``; when it answers, call leg ``b`` and connect them.

    Follow the call with ``GET /api/v1/calls/{id}`` or the WebSocket's events.
    """
    chosen = {
        "caller_id_a": data.caller_id_a,
        "caller_id_b": data.caller_id_b,
        "account": data.account,
    }
    user.require_call_from(_extension_of(data.a), chosen)
    return CallPublic.model_validate(await cti.click_to_call(data, scope=user.scope))


@router.get("/api/v1/calls/{call_id}", dependencies=[RequireSupervisor])
async def read_call(cti: CtiDep, user: CurrentUser, call_id: str) -> CallPublic:
    return CallPublic.model_validate(cti.get_call(call_id, scope=user.scope))


@router.post("/api/v1/calls/{call_id}/hangup", dependencies=[RequireAdmin])
async def hangup(
    cti: CtiDep, user: CurrentUser, call_id: str, data: HangupParams | None = None
) -> CommandResult:
    params = (data or HangupParams()).model_dump()
    return _result(
        call_id, await cti.command("hangup", call_id, params, scope=user.scope, who="rest")
    )


@router.post("/api/v1/calls/{call_id}/transfer", dependencies=[RequireAdmin])
async def transfer(
    cti: CtiDep, user: CurrentUser, call_id: str, data: TransferParams
) -> CommandResult:
    """Blind transfer to an extension or number."""
    params = data.model_dump()
    return _result(
        call_id, await cti.command("transfer", call_id, params, scope=user.scope, who="rest")
    )


@router.post("/api/v1/calls/{call_id}/redirect", dependencies=[RequireAdmin])
async def redirect(
    cti: CtiDep, user: CurrentUser, call_id: str, data: TransferParams
) -> CommandResult:
    """Send an incoming call that is not answered yet elsewhere."""
    params = data.model_dump()
    return _result(
        call_id, await cti.command("redirect", call_id, params, scope=user.scope, who="rest")
    )


@router.post("/api/v1/calls/{call_id}/hold", dependencies=[RequireAdmin])
async def hold(cti: CtiDep, user: CurrentUser, call_id: str) -> CommandResult:
    return _result(call_id, await cti.command("hold", call_id, {}, scope=user.scope, who="rest"))


@router.post("/api/v1/calls/{call_id}/unhold", dependencies=[RequireAdmin])
async def unhold(cti: CtiDep, user: CurrentUser, call_id: str) -> CommandResult:
    return _result(call_id, await cti.command("unhold", call_id, {}, scope=user.scope, who="rest"))


@router.post("/api/v1/calls/{call_id}/attended-transfer", dependencies=[RequireAdmin])
async def attended_transfer(
    cti: CtiDep, user: CurrentUser, call_id: str, data: AttendedTransferParams
) -> TransferResult:
    """Consult before transferring: ``leg`` (the party that stays) hears music on hold,
    the other party is connected to ``to`` when it answers. Then ``.../complete`` or
    ``.../cancel`` (docs/cti.md). 409 ``transfer-state`` if one is already in progress."""
    params = data.model_dump()
    return _transfer_result(
        call_id,
        await cti.command("attended_transfer", call_id, params, scope=user.scope, who="rest"),
    )


@router.post("/api/v1/calls/{call_id}/attended-transfer/complete", dependencies=[RequireAdmin])
async def complete_transfer(cti: CtiDep, user: CurrentUser, call_id: str) -> TransferResult:
    """Connect the held party with the target; the transferring party is hung up."""
    return _transfer_result(
        call_id,
        await cti.command("complete_transfer", call_id, {}, scope=user.scope, who="rest"),
    )


@router.post("/api/v1/calls/{call_id}/attended-transfer/cancel", dependencies=[RequireAdmin])
async def cancel_transfer(cti: CtiDep, user: CurrentUser, call_id: str) -> TransferResult:
    """Drop the target and reconnect the held party with the transferring party."""
    return _transfer_result(
        call_id, await cti.command("cancel_transfer", call_id, {}, scope=user.scope, who="rest")
    )
