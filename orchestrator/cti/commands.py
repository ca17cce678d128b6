"""The parameters of call-control commands, shared by the WebSocket and REST APIs.

Each model checks its fields' ranges; :func:`parse` turns a pydantic failure into
the core's :class:`~orchestrator.core.errors.ValidationError` (``invalid-input``).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.bounds import StoreInt
from orchestrator.core.errors import ValidationError

_Destination = Field(
    min_length=2,
    max_length=40,
    description="'102', 'extension:102', 'number:+442079460000' or '+442079460000'",
)
_CallerId = Field(default=None, pattern=r"^\+?[0-9]{2,15}$", description="caller ID number")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_Params):
    """answer, hold, unhold, complete_transfer, cancel_transfer: nothing but the call id."""


class PlayParams(_Params):
    media: list[str] = Field(
        min_length=1,
        max_length=20,
        description="sound names, 'sound:', 'recording:', 'tone:', 'digits:', 'number:'",
    )


class CollectParams(_Params):
    max_digits: StoreInt = Field(default=1, ge=1, le=64)
    first_timeout: float = Field(default=5.0, gt=0, le=60)
    inter_timeout: float = Field(default=3.0, gt=0, le=60)
    terminator: str = Field(default="#", pattern=r"^[0-9*#]?$")
    prompt: list[str] | None = Field(
        default=None, max_length=20, description="played first; a key stops it (barge-in)"
    )


class HangupParams(_Params):
    cause: StoreInt = Field(default=16, ge=1, le=127, description="Q.850 cause (16 normal)")


class TransferParams(_Params):
    destination: str = _Destination


class AttendedTransferParams(_Params):
    """Start a consultation: ``leg`` stays (on hold), the other party talks to ``to``."""

    leg: Literal["a", "b"] = Field(
        description="the party being transferred (it stays); the other one transfers"
    )
    to: str = _Destination
    timeout: float = Field(default=30, ge=5, le=120, description="ring time of the target, s")


class ClickToCallParams(_Params):
    """Call ``a``; when it answers, call ``b`` and connect them."""

    tenant_id: StoreInt
    a: str = _Destination
    b: str = _Destination
    caller_id_a: str | None = _CallerId
    caller_id_b: str | None = _CallerId
    account: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.@+-]{1,64}$",
        description="the account that pays (recorded on the call for billing)",
    )
    timeout: float = Field(default=30, ge=5, le=120, description="ring time of each leg, s")


class OriginateParams(_Params):
    """Ring the ``extension``'s phone; when it answers, dial ``destination`` and connect."""

    tenant_id: StoreInt
    extension: str = Field(pattern=r"^[0-9]{2,10}$")
    destination: str = _Destination
    caller_id: str | None = _CallerId
    account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.@+-]{1,64}$")
    timeout: float = Field(default=30, ge=5, le=120)


COMMANDS: dict[str, type[_Params]] = {
    "answer": NoParams,
    "play": PlayParams,
    "collect": CollectParams,
    "hangup": HangupParams,
    "transfer": TransferParams,
    "redirect": TransferParams,
    "hold": NoParams,
    "unhold": NoParams,
    "attended_transfer": AttendedTransferParams,
    "complete_transfer": NoParams,
    "cancel_transfer": NoParams,
}

P = TypeVar("P", bound=BaseModel)


def parse(model: type[P], data: Any) -> P:
    """``model`` from ``data``, or :class:`ValidationError` listing the bad fields."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [
            {"loc": [str(x) for x in e["loc"]], "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        first = errors[0]["loc"][-1] if errors and errors[0]["loc"] else ""
        raise ValidationError("the command is not valid", field=first, errors=errors) from None


def destination(value: str) -> str:
    """A CTI destination in the directory's syntax: a bare ``+...`` is a number."""
    return f"number:{value}" if value.startswith("+") else value
