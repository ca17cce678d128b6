"""What a call must be to become a conference, how its legs become participants, and
the checks of a conference's own fields (orchestrator.conferences.service)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator.conferences.model import Conference, Participant
from orchestrator.core.engine import Engine
from orchestrator.core.errors import ValidationError
from orchestrator.cti.errors import CallStateError
from orchestrator.cti.registry import ActiveCall, CallKind
from orchestrator.cti.service import CtiService

MAX_PARTICIPANTS = 200
NAME = re.compile(r"[^\x00-\x1f\x7f]{0,80}")
CALLER_ID = re.compile(r"\+?[0-9]{2,16}")
EXTENSION = re.compile(r"[0-9]{2,10}")
ACCOUNT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Calls whose legs a CTI driver couples (a party leaving hangs up the other).
_COUPLED = (CallKind.CLICK_TO_CALL, CallKind.ORIGINATE)


def check_call(cti: CtiService, call: ActiveCall) -> None:
    """A call that can become a conference now, or CallStateError (409)."""
    if call.kind is CallKind.IVR:
        raise CallStateError(
            "a Python flow runs this call: it cannot be moved into a conference",
            call_id=call.id,
            kind=str(call.kind),
        )
    if call.kind in _COUPLED and call.id not in cti.connected:
        raise CallStateError(
            "the call's parties are not connected yet", call_id=call.id, state=str(call.state)
        )
    if call.transfer is not None:
        raise CallStateError("an attended transfer is in progress", call_id=call.id)
    if not any(leg.up and not leg.gone for leg in call.legs.values()):
        raise CallStateError("the call is not answered yet", call_id=call.id)


async def take_call(engine: Engine, conf: Conference, call: ActiveCall) -> None:
    """The call's answered legs become the first participants (not joined yet)."""
    legs = [leg for leg in call.legs.values() if leg.up and not leg.gone]
    if call.kind is CallKind.DIALPLAN:
        ids = await take(engine, [leg.id for leg in legs], call)
    else:
        ids = [leg.id for leg in legs]
    for leg, leg_id in zip(legs, ids, strict=True):
        extension = leg.number if EXTENSION.fullmatch(leg.number or "") else None
        if call.kind is CallKind.DIALPLAN or leg.role in ("a", "b", "dialed"):
            extension = extension if extension in call.extensions else None
        role = "owner" if extension and extension == conf.owner_extension else "participant"
        if role == "owner" and conf.owner() is not None:
            role = "participant"
        conf.participants.append(
            Participant(leg_id, number=leg.number, extension=extension, role=role, via="call")
        )


async def take(engine: Engine, channel_ids: Sequence[str], call: ActiveCall) -> Sequence[str]:
    """The one place dialplan calls come under control (``Engine.take``: both parties at
    once, still talking), before they join."""
    ids = await engine.take(channel_ids)
    return [str(i) for i in ids]


def plain_id(value: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{32}", value) is not None


def check_create(
    name: str, owner_extension: str | None, account: str | None, max_participants: int
) -> None:
    if not NAME.fullmatch(name):
        raise ValidationError("name: at most 80 printable characters", field="name")
    if owner_extension is not None and not EXTENSION.fullmatch(owner_extension):
        raise ValidationError("owner_extension: 2-10 digits", field="owner_extension")
    if account is not None and not ACCOUNT.fullmatch(account):
        raise ValidationError("account: 1-64 letters, digits, _ . : -", field="account")
    if not 2 <= max_participants <= MAX_PARTICIPANTS:
        raise ValidationError(
            f"max_participants: 2 to {MAX_PARTICIPANTS}", field="max_participants"
        )
