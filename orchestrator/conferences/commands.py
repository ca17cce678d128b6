"""The conference commands of the CTI WebSocket (``conference_create`` ... ``conference_get``).

Each is a message ``{"type": "conference_mute", "id": 7, "conference_id": ...,
"participant_id": ...}``; :func:`run` checks its parameters and calls the service, as the
REST routes do (docs/conferences.md lists them). The caller is an :class:`Actor`: its
scope, its API user id, and for an agent its own extension (an agent acts only on the
conferences it created and may not choose accounts or caller IDs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.conferences.service import ConferenceService
from orchestrator.core.errors import PermissionDeniedError, ValidationError
from orchestrator.cti.commands import parse

_ID = Field(pattern=r"^[0-9a-f]{32}$")
_EXTENSION = r"^[0-9]{2,10}$"
_ACCOUNT = r"^[A-Za-z0-9_.:-]{1,64}$"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateParams(_Params):
    call_id: str | None = Field(default=None, min_length=1, max_length=64)
    tenant_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    name: str = Field(default="", max_length=80)
    owner_extension: str | None = Field(default=None, pattern=_EXTENSION)
    account: str | None = Field(default=None, pattern=_ACCOUNT)
    record: bool = False
    max_participants: int = Field(default=50, ge=2, le=200)


class ConferenceParams(_Params):
    conference_id: str = _ID


class ListParams(_Params):
    tenant_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    state: Literal["active", "ended", "all"] = "active"


class AddParams(ConferenceParams):
    destination: str = Field(min_length=1, max_length=40)
    caller_id: str | None = Field(default=None, pattern=r"^\+?[0-9]{2,16}$")
    muted: bool = False
    deaf: bool = False
    moderator: bool = False
    timeout: float = Field(default=30, ge=1, le=120)


class ParticipantParams(ConferenceParams):
    participant_id: str = _ID


class CoachParams(ParticipantParams):
    target: str = _ID


class OwnerParams(ConferenceParams):
    extension: str | None = Field(default=None, pattern=_EXTENSION)
    account: str | None = Field(default=None, pattern=_ACCOUNT)


# Participant flags: command -> (service method name, on).
_FLAGS = {
    "conference_mute": ("set_muted", True),
    "conference_unmute": ("set_muted", False),
    "conference_deafen": ("set_deaf", True),
    "conference_undeafen": ("set_deaf", False),
    "conference_hold": ("set_held", True),
    "conference_unhold": ("set_held", False),
}
_CONFERENCE = {
    "conference_lock": ("lock", True),
    "conference_unlock": ("lock", False),
    "conference_record": ("record", True),
    "conference_stop_record": ("record", False),
}
#: Commands that only read (every role); the others control (admins, agents: their own).
READ_COMMANDS = frozenset({"conference_list", "conference_get"})
CONFERENCE_COMMANDS = frozenset(
    {*_FLAGS, *_CONFERENCE, *READ_COMMANDS, "conference_create", "conference_add",
     "conference_remove", "conference_coach", "conference_uncoach", "conference_end",
     "conference_owner"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends a command: ``scope`` (None: a system admin), ``user_id``, and an agent's
    own ``extension`` (None for other roles)."""

    scope: int | None
    user_id: int | None
    agent_extension: str | None = None

    @property
    def by(self) -> int | None:
        return self.user_id if self.agent_extension is not None else None

    def refuse_choice(self, **chosen: Any) -> None:
        fields = sorted(k for k, v in chosen.items() if v is not None)
        if self.agent_extension is not None and fields:
            raise PermissionDeniedError(
                f"an agent cannot choose {', '.join(fields)}", role="agent", fields=fields
            )


async def run(
    service: ConferenceService, name: str, message: dict[str, Any], actor: Actor
) -> dict[str, Any]:
    """Run the command ``name``; its reply (``conference``, ``participant`` or ``items``)."""
    scope, by = actor.scope, actor.by
    if name == "conference_list":
        p = parse(ListParams, message)
        items = await service.list(scope=scope, tenant_id=p.tenant_id, state=p.state, by=by)
        return {"items": items}
    if name == "conference_get":
        c = parse(ConferenceParams, message)
        return {"conference": await service.get(c.conference_id, scope=scope, by=by)}
    if name == "conference_create":
        return {"conference": await _create(service, parse(CreateParams, message), actor)}
    if name == "conference_add":
        a = parse(AddParams, message)
        actor.refuse_choice(caller_id=a.caller_id)
        participant = await service.add(
            a.conference_id, scope=scope, by=by, destination=a.destination,
            caller_id=a.caller_id, muted=a.muted, deaf=a.deaf, moderator=a.moderator,
            timeout=a.timeout,
        )  # fmt: skip
        return {"participant": participant}
    if name in _FLAGS or name in ("conference_remove", "conference_uncoach"):
        pp = parse(ParticipantParams, message)
        if name == "conference_remove":
            result = await service.remove(pp.conference_id, pp.participant_id, scope=scope, by=by)
        elif name == "conference_uncoach":
            result = await service.coach(
                pp.conference_id, pp.participant_id, None, scope=scope, by=by
            )
        else:
            method, on = _FLAGS[name]
            command = getattr(service, method)
            result = await command(pp.conference_id, pp.participant_id, on, scope=scope, by=by)
        return {"participant": result}
    if name == "conference_coach":
        cp = parse(CoachParams, message)
        result = await service.coach(
            cp.conference_id, cp.participant_id, cp.target, scope=scope, by=by
        )
        return {"participant": result}
    if name == "conference_owner":
        o = parse(OwnerParams, message)
        actor.refuse_choice(account=o.account)
        conf = await service.transfer_owner(
            o.conference_id, scope=scope, by=by, extension=o.extension, account=o.account
        )
        return {"conference": conf}
    c = parse(ConferenceParams, message)
    if name == "conference_end":
        return {"conference": await service.end(c.conference_id, scope=scope, by=by)}
    if name in _CONFERENCE:
        method, on = _CONFERENCE[name]
        command = getattr(service, method)
        return {"conference": await command(c.conference_id, on, scope=scope, by=by)}
    raise ValidationError(f"unknown conference command {name!r}", field="type")


async def _create(service: ConferenceService, p: CreateParams, actor: Actor) -> dict[str, Any]:
    actor.refuse_choice(account=p.account, owner_extension=p.owner_extension)
    tenant_id = p.tenant_id if p.tenant_id is not None else actor.scope
    if tenant_id is None:
        raise ValidationError("tenant_id: a system admin names the tenant", field="tenant_id")
    return await service.create(
        tenant_id=tenant_id, scope=actor.scope, principal_user_id=actor.user_id,
        call_id=p.call_id, name=p.name, owner_extension=p.owner_extension, account=p.account,
        record=p.record, max_participants=p.max_participants,
        agent_extension=actor.agent_extension,
    )  # fmt: skip
