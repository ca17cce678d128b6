"""Data functions for inbound routing: schedules, night mode, the tenant blacklist
(models: orchestrator/store/models/schedules.py; docs/pbx.md, "Office hours, holidays
and night mode").

Every function takes the tenant the caller acts for (checked visible by the API) and
checks every value before anything is written: a bad value is :class:`ValidationError`
and nothing changes. What changes the tenant's engine configuration (a schedule a DID
names appears or goes; the blacklist's first entry or its last one) bumps the tenant's
configuration version in the same transaction; the API then applies the tenant.
Example::

    create_schedule(session, 1, ScheduleCreate(name="office", timezone="Europe/Berlin",
        weekly=[{"days": ["mon", "tue"], "open": "09:00", "close": "17:00"}],
        open_destination="extension:101", closed_destination="hangup"))
    blocked(session, 1, "+4930123456")   # the blacklist entry that matches, or None
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.pbx.blacklist import ANONYMOUS, is_anonymous
from orchestrator.pbx.schedule import Hours, check_holidays, check_timezone, check_weekly
from orchestrator.store._common import bump_config, commit, exists
from orchestrator.store.dids import check_destination
from orchestrator.store.models import (
    Did,
    Extension,
    NightMode,
    NightModePublic,
    Schedule,
    ScheduleCreate,
    SchedulePut,
    Tenant,
    TenantBlacklistCreate,
    TenantBlacklistEntry,
    utcnow,
)
from orchestrator.store.voicemail import mailbox_of_extension

__all__ = [
    "MAX_BLACKLIST",
    "MAX_SCHEDULES",
    "add_blacklist_entry",
    "blocked",
    "create_schedule",
    "delete_blacklist_entry",
    "delete_schedule",
    "get_schedule",
    "hours_of",
    "list_blacklist",
    "list_schedules",
    "night_mode",
    "number_matches",
    "replace_schedule",
    "set_night_mode",
]

MAX_SCHEDULES = 100
MAX_BLACKLIST = 5000
_BLACKLIST_NUMBER = re.compile(r"\+?[0-9]{1,20}")
MATCHES = ("exact", "prefix")
ACTIONS = ("reject", "prompt")


def _tenant(session: Session, tenant_id: int) -> None:
    if session.get(Tenant, tenant_id) is None:
        raise NotFoundError(f"tenant {tenant_id} not found", tenant_id=tenant_id)


# -- schedules -----------------------------------------------------------------------------
_KINDS = (
    "'extension:<number>', 'ivr:<name>', 'ring_group:<number>', 'voicemail:<number>' or 'hangup'"
)


def _mailbox_of(session: Session, tenant_id: int, value: str, field: str) -> str:
    """``voicemail:<n>``: extension n of the tenant, which has a mailbox."""
    number = v.extension_number(value.removeprefix("voicemail:"), field=field)
    extension = session.exec(
        select(Extension.id).where(Extension.tenant_id == tenant_id, Extension.number == number)
    ).first()
    if extension is None:
        raise ValidationError(f"{field}: tenant {tenant_id} has no extension {number}",
                              field=field)  # fmt: skip
    if mailbox_of_extension(session, tenant_id, extension) is None:
        raise ValidationError(f"{field}: extension {number} has no mailbox", field=field)
    return f"voicemail:{number}"


def _destination(session: Session, tenant_id: int) -> Any:
    """A checker of one routing destination of the tenant: an extension, IVR app or
    ring group that exists, an extension's mailbox (``voicemail:<n>``: the extension has
    one), or hangup. Not ``schedule:``: a schedule routes to a place, not to a schedule."""

    def check(value: Any, field: str) -> str:
        if isinstance(value, str) and value.startswith("voicemail:"):
            return _mailbox_of(session, tenant_id, value, field)
        parsed = v.parse_destination(value, field=field)
        if parsed.kind == "schedule":
            raise ValidationError(f"{field}: must be {_KINDS}", field=field)
        try:
            check_destination(session, tenant_id, str(parsed))
        except ValidationError as exc:
            raise ValidationError(
                f"{field}: {exc.message.removeprefix('destination: ')}", field=field
            ) from None
        return str(parsed)

    return check


def _fields(session: Session, tenant_id: int, data: SchedulePut | ScheduleCreate) -> dict[str, Any]:
    check = _destination(session, tenant_id)
    holiday = data.holiday_destination
    return {
        "timezone": check_timezone(data.timezone),
        "weekly": check_weekly(data.weekly),
        "holidays": check_holidays(data.holidays, check),
        "open_destination": check(data.open_destination, "open_destination"),
        "closed_destination": check(data.closed_destination, "closed_destination"),
        "holiday_destination": None if holiday is None else check(holiday, "holiday_destination"),
    }


def _find(session: Session, tenant_id: int, name: str) -> Schedule | None:
    return session.exec(
        select(Schedule).where(Schedule.tenant_id == tenant_id, Schedule.name == name)
    ).first()


def get_schedule(session: Session, tenant_id: int, name: str) -> Schedule:
    """The tenant's schedule ``name``; NotFoundError if none."""
    _tenant(session, tenant_id)
    row = _find(session, tenant_id, v.ivr_name(name, field="name"))
    if row is None:
        raise NotFoundError(f"tenant {tenant_id} has no schedule {name}", schedule=name)
    return row


def list_schedules(session: Session, tenant_id: int) -> Sequence[Schedule]:
    _tenant(session, tenant_id)
    return session.exec(
        select(Schedule).where(Schedule.tenant_id == tenant_id).order_by(col(Schedule.name))
    ).all()


def _named_by_dids(session: Session, tenant_id: int, name: str) -> list[str]:
    return list(
        session.exec(
            select(Did.number).where(
                Did.tenant_id == tenant_id, Did.destination == f"schedule:{name}"
            )
        )
    )


def create_schedule(session: Session, tenant_id: int, data: ScheduleCreate) -> Schedule:
    """A new schedule (409 if the name is taken or the tenant has too many)."""
    _tenant(session, tenant_id)
    name = v.ivr_name(data.name, field="name")
    values = _fields(session, tenant_id, data)
    if _find(session, tenant_id, name) is not None:
        raise ConflictError(f"tenant {tenant_id} has a schedule {name} already", schedule=name)
    count = len(list(session.exec(select(Schedule.id).where(Schedule.tenant_id == tenant_id))))
    if count >= MAX_SCHEDULES:
        raise ConflictError(f"a tenant has at most {MAX_SCHEDULES} schedules", limit=MAX_SCHEDULES)
    row = Schedule(tenant_id=tenant_id, name=name, **values)
    session.add(row)
    # A DID may name the schedule before it exists (it hangs up until then).
    bump_config(session, tenant_id)
    commit(session, row, what="schedule")
    return row


def replace_schedule(session: Session, tenant_id: int, name: str, data: SchedulePut) -> Schedule:
    """Every field but the name; the next call uses it (no engine change needed)."""
    row = get_schedule(session, tenant_id, name)
    values = _fields(session, tenant_id, data)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.add(row)
    commit(session, row, what="schedule")
    return row


def delete_schedule(session: Session, tenant_id: int, name: str) -> None:
    """Delete a schedule; 409 while a DID routes to it."""
    row = get_schedule(session, tenant_id, name)
    dids = _named_by_dids(session, tenant_id, row.name)
    if dids:
        raise ConflictError(
            f"schedule {row.name} is the destination of DIDs {', '.join(sorted(dids))}",
            dids=sorted(dids),
        )
    session.delete(row)
    bump_config(session, tenant_id)
    commit(session, what="schedule")


def hours_of(row: Any) -> Hours:
    """A stored schedule as :func:`orchestrator.pbx.schedule.evaluate` takes it."""
    return Hours(
        timezone=row.timezone,
        weekly=tuple(row.weekly or ()),
        holidays=tuple(row.holidays or ()),
        open_destination=row.open_destination,
        closed_destination=row.closed_destination,
        holiday_destination=row.holiday_destination,
    )


# -- night mode ----------------------------------------------------------------------------
def night_mode(session: Session, tenant_id: int) -> NightModePublic:
    """The tenant's night mode (no row stored: off, ``updated_at`` null)."""
    _tenant(session, tenant_id)
    row = session.get(NightMode, tenant_id)
    if row is None:
        return NightModePublic(tenant_id=tenant_id, enabled=False, updated_at=None)
    return NightModePublic(tenant_id=tenant_id, enabled=row.enabled, updated_at=row.updated_at)


def set_night_mode(
    session: Session, tenant_id: int, enabled: bool | None
) -> tuple[NightModePublic, bool]:
    """Turn the night mode on or off (``None``: toggle it); returns the state and whether
    it changed."""
    if enabled is not None and not isinstance(enabled, bool):
        raise ValidationError("enabled: must be true or false", field="enabled")
    _tenant(session, tenant_id)
    row = session.get(NightMode, tenant_id)
    current = row is not None and row.enabled
    wanted = (not current) if enabled is None else enabled
    if wanted == current:
        return night_mode(session, tenant_id), False
    if row is None:
        row = NightMode(tenant_id=tenant_id)
    row.enabled, row.updated_at = wanted, utcnow()
    session.add(row)
    commit(session, row, what="night mode")
    return night_mode(session, tenant_id), True


# -- blacklist -----------------------------------------------------------------------------
def list_blacklist(session: Session, tenant_id: int) -> Sequence[TenantBlacklistEntry]:
    _tenant(session, tenant_id)
    return session.exec(
        select(TenantBlacklistEntry)
        .where(TenantBlacklistEntry.tenant_id == tenant_id)
        .order_by(col(TenantBlacklistEntry.id))
    ).all()


def _choice(value: Any, choices: Sequence[str], field: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{field}: must be one of {', '.join(choices)}", field=field)
    return value


def add_blacklist_entry(
    session: Session, tenant_id: int, data: TenantBlacklistCreate
) -> TenantBlacklistEntry:
    """A new entry; 409 if the same number and match are listed already."""
    _tenant(session, tenant_id)
    number = data.number
    if not isinstance(number, str) or not (
        number == ANONYMOUS or _BLACKLIST_NUMBER.fullmatch(number)
    ):
        raise ValidationError(
            "number: must be E.164 or digits (an optional '+' then 1 to 20 digits), or 'anonymous'",
            field="number",
        )
    match = _choice(data.match, MATCHES, "match")
    if number == ANONYMOUS and match != "exact":
        raise ValidationError(
            "match: 'anonymous' (callers without a number) is matched 'exact' only", field="match"
        )
    action = _choice(data.action, ACTIONS, "action")
    note = v.display_name(data.note, field="note") if data.note else ""
    entries = list_blacklist(session, tenant_id)
    if any(e.number.lstrip("+") == number.lstrip("+") and e.match == match for e in entries):
        raise ConflictError(f"{number} ({match}) is blacklisted already", number=number)
    if len(entries) >= MAX_BLACKLIST:
        raise ConflictError(f"a blacklist holds at most {MAX_BLACKLIST} entries")
    row = TenantBlacklistEntry(
        tenant_id=tenant_id, number=number, match=match, action=action, note=note
    )
    session.add(row)
    if not entries:  # the tenant's DIDs now run through the orchestrator
        bump_config(session, tenant_id)
    commit(session, row, what="blacklist entry")
    return row


def delete_blacklist_entry(session: Session, tenant_id: int, entry_id: int) -> bool:
    """Delete an entry; returns whether the blacklist is empty now (the tenant's DIDs
    then go straight to their destinations again)."""
    _tenant(session, tenant_id)
    row = session.get(TenantBlacklistEntry, entry_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFoundError(f"no blacklist entry {entry_id}", entry_id=entry_id)
    session.delete(row)
    session.flush()
    empty = not exists(
        session, select(TenantBlacklistEntry.id).where(TenantBlacklistEntry.tenant_id == tenant_id)
    )
    if empty:
        bump_config(session, tenant_id)
    commit(session, what="blacklist entry")
    return empty


def number_matches(entry: Any, caller: str) -> bool:
    """Whether ``caller`` (as the engine reports it) is what ``entry`` lists: the same
    digits (a leading '+' on either side is ignored) or, for a prefix, starting so. A
    caller without a number (withheld, ``anonymous``, ``unknown``...:
    :func:`orchestrator.pbx.blacklist.is_anonymous`) matches the entry ``anonymous``
    only; another caller number that is not digits (a SIP user name) matches none."""
    if entry.number == ANONYMOUS:
        return is_anonymous(caller)
    if not _BLACKLIST_NUMBER.fullmatch(caller or ""):
        return False
    digits, listed = caller.lstrip("+"), str(entry.number).lstrip("+")
    if entry.match == "prefix":
        return digits.startswith(listed)
    return digits == listed


def blocked(session: Session, tenant_id: int, caller: str) -> TenantBlacklistEntry | None:
    """The entry that blocks ``caller`` in the tenant: an exact entry before a prefix,
    a longer prefix before a shorter one; None if the caller may call."""
    matching = [e for e in list_blacklist(session, tenant_id) if number_matches(e, caller)]
    if not matching:
        return None
    return min(matching, key=lambda e: (e.match != "exact", -len(e.number.lstrip("+"))))
