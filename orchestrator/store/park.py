"""Park lots and parked calls in the store (models: orchestrator/store/models/park.py).

The claims are single statements, so they are race-free across tasks, threads and
orchestrator processes sharing the database:

- :func:`claim_slot` inserts the row of a slot; the unique (tenant, slot) pair lets
  one insert win, a loser tries the next free slot;
- :func:`take` deletes the row of a slot (or the oldest) if it is still there; the
  ``DELETE``'s row count says who won, so of two retrievers (or a retriever and the
  timeout) exactly one gets the call;
- :func:`free` deletes the row of a leg (it hung up): nothing else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store.models import (
    Extension,
    IvrApp,
    ParkedCall,
    ParkLot,
    RingGroup,
    Tenant,
)

MAX_SLOTS = 99
LIMITS = {"slots": (1, MAX_SLOTS), "timeout_s": (10, 3600), "ringback_s": (5, 120)}


@dataclass(frozen=True, slots=True)
class Lot:
    """A tenant's park lot as the feature reads it."""

    tenant_id: int
    slots: int = 10
    timeout_s: int = 120
    ringback_s: int = 20
    fallback: str = "hangup"


def _tenant(session: Session, tenant_id: int, scope: int | None) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or (scope is not None and scope != tenant_id):
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)
    return tenant


FALLBACK_FORMS = "'extension:<n>', 'voicemail:<n>', 'ivr:<name>', 'ring_group:<n>' or 'hangup'"


def parse_fallback(value: Any) -> tuple[str, str]:
    """``(kind, target)`` of a parked call's last stop: a ring group's fallback forms
    (``extension:<n>``, ``voicemail:<n>``: n's mailbox, ``ivr:<name>``) and
    ``ring_group:<n>`` and ``hangup`` (target ""); ValidationError otherwise."""
    if not isinstance(value, str):
        raise ValidationError("fallback: must be a string", field="fallback")
    kind, sep, target = value.partition(":")
    if kind == "hangup" and not sep:
        return "hangup", ""
    if kind in ("extension", "voicemail", "ring_group") and sep:
        return kind, v.extension_number(target, field="fallback")
    if kind == "ivr" and sep:
        return kind, v.ivr_name(target, field="fallback")
    raise ValidationError(f"fallback: must be {FALLBACK_FORMS}", field="fallback",
                          value=value[:60])  # fmt: skip


def check_fallback(value: Any, session: Session | None = None, tenant_id: int = 0) -> str:
    """The fallback in its stored form, or 422; with a ``session``, its target must be
    the tenant's (an extension, an IVR app, a ring group)."""
    kind, target = parse_fallback(value)
    if session is not None and target and not _target_exists(session, tenant_id, kind, target):
        what = {"ivr": "IVR app", "ring_group": "ring group"}.get(kind, "extension")
        raise ValidationError(f"fallback: tenant {tenant_id} has no {what} {target}",
                              field="fallback", value=str(value)[:60])  # fmt: skip
    return f"{kind}:{target}" if target else kind


def _target_exists(session: Session, tenant_id: int, kind: str, target: str) -> bool:
    stmt: Any
    if kind == "ivr":
        stmt = select(IvrApp.id).where(IvrApp.tenant_id == tenant_id, IvrApp.name == target)
    elif kind == "ring_group":
        stmt = select(RingGroup.id).where(
            RingGroup.tenant_id == tenant_id, RingGroup.number == target
        )
    else:
        stmt = select(Extension.id).where(
            Extension.tenant_id == tenant_id, Extension.number == target
        )
    return session.exec(stmt).first() is not None


def check_not_park_fallback(session: Session, tenant_id: int, destination: str, doing: str) -> None:
    """:class:`ConflictError` (409) while the tenant's park lot falls back to
    ``destination`` (``extension:<n>`` also covers ``voicemail:<n>``, n's mailbox;
    ``ivr:<name>``, ``ring_group:<n>``): an extension, a mailbox, an IVR app or a ring
    group deleted, renumbered or renamed, as ring groups' own fallbacks are kept."""
    row = session.get(ParkLot, tenant_id)
    if row is None:
        return
    kind, _, target = destination.partition(":")
    named = {destination} | ({f"voicemail:{target}"} if kind == "extension" else set())
    if row.fallback in named:
        raise ConflictError(
            f"{destination} is the fallback ({row.fallback}) of the park lot of tenant "
            f"{tenant_id}; change the lot's fallback {doing}",
            park_lot=tenant_id,
            fallback=row.fallback,
        )


def check_lot(
    values: dict[str, Any], session: Session | None = None, tenant_id: int = 0
) -> dict[str, Any]:
    """The lot's fields checked (422 on the first bad one: nothing is stored)."""
    out: dict[str, Any] = {}
    for name, (low, high) in LIMITS.items():
        value = values[name]
        if type(value) is not int or not low <= value <= high:
            raise ValidationError(f"{name}: an integer from {low} to {high}", field=name)
        out[name] = value
    out["fallback"] = check_fallback(values["fallback"], session, tenant_id)
    return out


def get_lot(session: Session, tenant_id: int, *, scope: int | None = None) -> Lot:
    """The tenant's lot (the defaults when none is stored); 404 for no such tenant."""
    _tenant(session, tenant_id, scope)
    row = session.get(ParkLot, tenant_id)
    if row is None:
        return Lot(tenant_id)
    return Lot(tenant_id, row.slots, row.timeout_s, row.ringback_s, row.fallback)


def put_lot(session: Session, tenant_id: int, values: dict[str, Any], *, scope: int | None) -> Lot:
    """Replace the tenant's lot; a bad value: 422 and nothing changed."""
    _tenant(session, tenant_id, scope)
    checked = check_lot(values, session, tenant_id)
    row = session.get(ParkLot, tenant_id) or ParkLot(tenant_id=tenant_id)
    for name, value in checked.items():
        setattr(row, name, value)
    session.add(row)
    session.commit()
    return get_lot(session, tenant_id)


def parked(session: Session, tenant_id: int, *, scope: int | None = None) -> list[ParkedCall]:
    """The tenant's calls parked now, by slot."""
    _tenant(session, tenant_id, scope)
    stmt = (
        select(ParkedCall).where(ParkedCall.tenant_id == tenant_id).order_by(col(ParkedCall.slot))
    )
    return list(session.exec(stmt).all())


def claim_slot(
    session: Session,
    lot: Lot,
    *,
    leg_id: str,
    node: str,
    caller: str,
    parker: str,
    slot: int | None = None,
    now: datetime | None = None,
) -> ParkedCall | None:
    """Park ``leg_id`` in ``slot`` (or the lowest free one); None when it is taken (or the
    lot is full). Race-free: the unique (tenant, slot) decides between two claims."""
    now = now or datetime.now(UTC)
    wanted = [slot] if slot is not None else list(range(1, lot.slots + 1))
    stmt = select(ParkedCall).where(ParkedCall.tenant_id == lot.tenant_id)
    taken = {row.slot for row in session.exec(stmt).all()}
    for candidate in wanted:
        if candidate in taken or not 1 <= candidate <= lot.slots:
            continue
        row = ParkedCall(
            tenant_id=lot.tenant_id, slot=candidate, leg_id=leg_id, node=node,
            caller=caller[:64], parker=parker, parked_at=now,
            timeout_at=now + timedelta(seconds=lot.timeout_s),
        )  # fmt: skip
        session.add(row)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # someone else's claim won this slot
            session.rollback()
            continue
        session.refresh(row)
        return row
    return None


def take(session: Session, tenant_id: int, slot: int | None) -> ParkedCall | None:
    """Take the call parked in ``slot`` (None: the oldest) out of the lot; None when there
    is none or another taker won it. Exactly one of racing takers gets the row."""
    for _ in range(5):  # "the oldest" may be taken meanwhile: the next oldest
        stmt = select(ParkedCall).where(ParkedCall.tenant_id == tenant_id)
        if slot is not None:
            stmt = stmt.where(ParkedCall.slot == slot)
        row = session.exec(stmt.order_by(col(ParkedCall.parked_at), col(ParkedCall.id))).first()
        if row is None:
            return None
        won = _delete(session, row)
        if won is not None:
            return won
        if slot is not None:
            return None
    return None


def take_leg(session: Session, leg_id: str) -> ParkedCall | None:
    """Take the row of ``leg_id`` (its timeout, its hangup); None when gone already."""
    row = session.exec(select(ParkedCall).where(ParkedCall.leg_id == leg_id)).first()
    return None if row is None else _delete(session, row)


def _delete(session: Session, row: ParkedCall) -> ParkedCall | None:
    copy = ParkedCall.model_validate(row.model_dump())
    result = session.execute(sa.delete(ParkedCall).where(col(ParkedCall.id) == row.id))
    session.commit()
    return copy if getattr(result, "rowcount", 0) == 1 else None


def on_node(session: Session, node: str) -> list[ParkedCall]:
    """Every call parked on ``node`` (what a restarted run takes back)."""
    return list(session.exec(select(ParkedCall).where(ParkedCall.node == node)).all())
