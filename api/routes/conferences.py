"""``/api/v1/conferences``: on-the-spot conferences (docs/conferences.md).

A call the orchestrator controls becomes a conference (``POST``); participants are
dialed out to, muted, deafened, held, coached, removed; the conference is locked,
recorded, ended, given another owner. One service call per route
(:class:`~orchestrator.conferences.ConferenceService`).

Roles (docs/roles.md): system and tenant admins control their tenant's conferences;
an agent creates conferences from its own extension's calls and controls only those it
created (another's is 404); supervisors read (control is 403).

Errors: 404 ``not-found`` (no such conference, participant or call, or another
tenant's), 409 ``conference-state`` (ended, or the participant is not in it),
``conference-locked``, ``conference-full``, ``call-state``,
``payment-required``; 422 ``invalid-input``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.deps import CurrentUser, RequireCallPlacer, RequireStaff, ServicesDep, SessionDep
from orchestrator.bounds import StoreInt
from orchestrator.conferences import ConferenceService
from orchestrator.core.errors import EngineUnavailableError, PermissionDeniedError, ValidationError
from orchestrator.store import crud

# RequireStaff: a self-care user is refused before the service's 503 (conferences off).
router = APIRouter(prefix="/api/v1/conferences", tags=["conferences"], dependencies=[RequireStaff])

ConferenceId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="a conference's id")]
ParticipantId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="a participant's id")]
_EXTENSION = r"^[0-9]{2,10}$"
_ACCOUNT = r"^[A-Za-z0-9_.:-]{1,64}$"


def get_conferences(services: ServicesDep) -> ConferenceService:
    service = services.conferences
    if service is None:
        raise EngineUnavailableError("conferences are not running in this service")
    return service


ConferencesDep = Annotated[ConferenceService, Depends(get_conferences)]


class ConferenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="an answered call (GET /api/v1/calls): its parties are the first "
        "participants; none: an empty conference",
    )  # fmt: skip
    tenant_id: StoreInt | None = Field(default=None, description="required for a system admin")
    name: str = Field(default="", max_length=80)
    owner_extension: str | None = Field(
        default=None, pattern=_EXTENSION, description="default: the call's extension"
    )
    account: str | None = Field(default=None, pattern=_ACCOUNT, description="who pays")
    record: bool = False
    max_participants: int = Field(default=50, ge=2, le=200)


class ParticipantAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: str = Field(
        min_length=1, max_length=40,
        description="102, extension:102, +442079460000 or number:+442079460000",
    )  # fmt: skip
    caller_id: str | None = Field(default=None, pattern=r"^\+?[0-9]{2,16}$")
    muted: bool = False
    deaf: bool = False
    moderator: bool = False
    timeout: float = Field(default=30, ge=1, le=120, description="ring time, seconds")


class CoachBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(pattern=r"^[0-9a-f]{32}$", description="the participant who hears")


class OwnerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extension: str | None = Field(default=None, pattern=_EXTENSION)
    account: str | None = Field(default=None, pattern=_ACCOUNT)


class ParticipantPublic(BaseModel):
    """One stay of one party. Times are Unix seconds."""

    id: str
    leg_id: str
    role: Literal["owner", "participant"]
    number: str
    extension: str | None
    caller_id: str
    via: Literal["call", "dial_out", "room"]
    state: Literal["ringing", "joined", "left", "failed"]
    muted: bool
    deaf: bool
    held: bool
    moderator: bool
    coaching: str | None = Field(description="the participant it whispers to")
    talking: bool
    invited_at: float
    joined_at: float | None
    left_at: float | None
    left_reason: str | None = Field(
        description="left, hangup, removed, ended, no-answer, busy, failed"
    )


class ConferencePublic(BaseModel):
    """A conference with its participants, present and departed. Times are Unix seconds."""

    id: str
    tenant_id: StoreInt
    name: str
    state: Literal["active", "ended"]
    owner_extension: str | None
    account: str | None
    created_by: StoreInt | None
    locked: bool
    max_participants: int
    recording: str | None
    started_at: float
    ended_at: float | None
    end_reason: str | None
    participants: list[ParticipantPublic]


class ConferenceList(BaseModel):
    items: list[ConferencePublic]
    total: StoreInt


def _by(user: Principal) -> int | None:
    """An agent sees and controls only the conferences it created."""
    return user.user_id if user.is_agent else None


def _conference(data: dict[str, Any]) -> ConferencePublic:
    return ConferencePublic.model_validate(data)


def _participant(data: dict[str, Any]) -> ParticipantPublic:
    return ParticipantPublic.model_validate(data)


@router.get("")
async def list_conferences(
    service: ConferencesDep,
    user: CurrentUser,
    tenant_id: StoreInt | None = None,
    state: Literal["active", "ended", "all"] = "active",
) -> ConferenceList:
    """The tenant's conferences, newest first, with their participants."""
    items = await service.list(scope=user.scope, tenant_id=tenant_id, state=state, by=_by(user))
    return ConferenceList.model_validate({"items": items, "total": len(items)})


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[RequireCallPlacer])
async def create_conference(
    service: ConferencesDep, user: CurrentUser, session: SessionDep, data: ConferenceCreate
) -> ConferencePublic:
    """Turn a call into a conference (or make an empty one to dial out from)."""
    tenant_id = data.tenant_id if data.tenant_id is not None else user.scope
    if tenant_id is None:
        raise ValidationError("a system admin names the tenant_id", field="tenant_id")
    crud.get_tenant(session=session, tenant_id=user.require_tenant(tenant_id))  # 404 if none
    if user.is_agent and (data.account is not None or data.owner_extension is not None):
        raise PermissionDeniedError(
            "an agent's conference is its own extension's, paid as its calls are",
            role=str(user.role),
        )
    return _conference(
        await service.create(
            tenant_id=tenant_id, scope=user.scope, principal_user_id=user.user_id,
            call_id=data.call_id, name=data.name, owner_extension=data.owner_extension,
            account=data.account, record=data.record, max_participants=data.max_participants,
            agent_extension=user.extension if user.is_agent else None,
        )
    )  # fmt: skip


@router.get("/{conference_id}")
async def read_conference(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId
) -> ConferencePublic:
    return _conference(await service.get(conference_id, scope=user.scope, by=_by(user)))


@router.post(
    "/{conference_id}/participants",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RequireCallPlacer],
)
async def add_participant(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId, data: ParticipantAdd
) -> ParticipantPublic:
    """Dial out; the participant joins when it answers (``participant_joined``)."""
    if user.is_agent and data.caller_id is not None:
        raise PermissionDeniedError("an agent cannot choose caller_id", role=str(user.role))
    return _participant(
        await service.add(
            conference_id, scope=user.scope, by=_by(user), destination=data.destination,
            caller_id=data.caller_id, muted=data.muted, deaf=data.deaf,
            moderator=data.moderator, timeout=data.timeout,
        )
    )  # fmt: skip


@router.delete("/{conference_id}/participants/{participant_id}", dependencies=[RequireCallPlacer])
async def remove_participant(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId,
    participant_id: ParticipantId,
) -> ParticipantPublic:  # fmt: skip
    """Hang the participant up."""
    return _participant(
        await service.remove(conference_id, participant_id, scope=user.scope, by=_by(user))
    )


ParticipantAction = Literal["mute", "unmute", "deafen", "undeafen", "hold", "unhold", "uncoach"]


@router.post(
    "/{conference_id}/participants/{participant_id}/coach", dependencies=[RequireCallPlacer]
)
async def coach_participant(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId,
    participant_id: ParticipantId, data: CoachBody,
) -> ParticipantPublic:  # fmt: skip
    """Only ``target`` hears the participant (a whisper); ``.../uncoach`` ends it."""
    return _participant(
        await service.coach(
            conference_id, participant_id, data.target, scope=user.scope, by=_by(user)
        )
    )


@router.post(
    "/{conference_id}/participants/{participant_id}/{action}", dependencies=[RequireCallPlacer]
)
async def participant_action(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId,
    participant_id: ParticipantId, action: ParticipantAction,
) -> ParticipantPublic:  # fmt: skip
    """mute/unmute: the others hear it or not; deafen/undeafen: it hears or not;
    hold/unhold: music and not heard, or back as it was; uncoach: heard by all again."""
    scope, by = user.scope, _by(user)
    if action == "uncoach":
        result = await service.coach(conference_id, participant_id, None, scope=scope, by=by)
    else:
        command = {
            "mute": service.set_muted, "unmute": service.set_muted,
            "deafen": service.set_deaf, "undeafen": service.set_deaf,
            "hold": service.set_held, "unhold": service.set_held,
        }[action]  # fmt: skip
        on = not action.startswith("un")
        result = await command(conference_id, participant_id, on, scope=scope, by=by)
    return _participant(result)


ConferenceAction = Literal["lock", "unlock", "record", "stop-record", "end"]


@router.post("/{conference_id}/{action}", dependencies=[RequireCallPlacer])
async def conference_action(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId,
    action: ConferenceAction,
) -> ConferencePublic:  # fmt: skip
    """lock/unlock (nobody new joins a locked one), record/stop-record, end (everyone
    hung up)."""
    scope, by = user.scope, _by(user)
    if action in ("lock", "unlock"):
        result = await service.lock(conference_id, action == "lock", scope=scope, by=by)
    elif action in ("record", "stop-record"):
        result = await service.record(conference_id, action == "record", scope=scope, by=by)
    else:
        result = await service.end(conference_id, scope=scope, by=by)
    return _conference(result)


@router.put("/{conference_id}/owner", dependencies=[RequireCallPlacer])
async def transfer_owner(
    service: ConferencesDep, user: CurrentUser, conference_id: ConferenceId, data: OwnerBody
) -> ConferencePublic:
    """Another owner (``extension``) and/or payer (``account``) from now on."""
    if user.is_agent and data.account is not None:
        raise PermissionDeniedError("an agent cannot choose the account", role=str(user.role))
    return _conference(
        await service.transfer_owner(
            conference_id, scope=user.scope, by=_by(user), extension=data.extension,
            account=data.account,
        )
    )  # fmt: skip
