"""Data functions for an extension's speed dials and blacklist (models:
orchestrator/store/models/ext_features.py; docs/pbx.md "Speed dial", "Blocking callers").

Shared by the REST routes (admins' ``/api/v1/extensions/{id}/...``, self-care's
``/api/v1/me/...``) and the feature codes (``*74``)::

    set_speed_dial(session, extension_id, "05", "102")      # ValidationError if not dialable
    speed_dial_number(session, extension_id, "05")          # "102"
    change = replace_blacklist(session, extension_id, [{"number": "+4420", "match": "prefix"}])
    change.flipped                                          # managed changed: re-apply

Everything is checked before anything is written; one bad entry changes nothing. A
blacklist that becomes non-empty (or empty) flips the extension's *managed* state: the
tenant's config version is bumped in the same transaction, and the caller applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, delete, select

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.pbx.blacklist import ANONYMOUS
from orchestrator.store._common import bump_config, commit
from orchestrator.store.models import (
    BlacklistEntry,
    BlacklistEntryPublic,
    BlacklistPublic,
    CallSettings,
    Extension,
    SpeedDial,
    SpeedDialEntry,
    SpeedDialsPublic,
    utcnow,
)
from orchestrator.store.models.call_settings import blacklist_owners, is_managed, managed_owners

__all__ = [
    "MAX_BLACKLIST",
    "MAX_SPEED_DIALS",
    "BlacklistChange",
    "add_blocked",
    "blacklist_owners",
    "blocks_of",
    "check_slot",
    "clear_speed_dial",
    "get_blacklist",
    "get_speed_dials",
    "remove_blocked",
    "replace_blacklist",
    "replace_speed_dials",
    "set_speed_dial",
    "speed_dial_number",
]

MAX_SPEED_DIALS = 100
MAX_BLACKLIST = 200
SLOT = re.compile(r"[0-9]{2}")
_DIALED = re.compile(r"[0-9]{2,20}")
_CALLER = re.compile(r"\+?[0-9]{1,20}")
_EXTENSION = re.compile(r"[0-9]{2,10}")
MATCHES = ("exact", "prefix")
ACTIONS = ("reject", "prompt")


def _extension(session: Session, extension_id: int, scope: int | None) -> Extension:
    extension = session.get(Extension, extension_id)
    if extension is None or (scope is not None and extension.tenant_id != scope):
        raise NotFoundError(f"extension {extension_id} not found", extension_id=extension_id)
    return extension


# -- speed dials ---------------------------------------------------------------------------
def check_slot(value: Any, *, field: str = "slot") -> str:
    """A speed-dial slot: two digits (``"00"`` to ``"99"``), or ValidationError."""
    if not isinstance(value, str) or not SLOT.fullmatch(value):
        raise ValidationError(f"{field}: two digits, 00 to 99", field=field)
    return value


def _dialable(session: Session, extension: Extension, value: Any, field: str) -> str:
    """``value`` if the extension's phone could dial it: another extension of the tenant,
    or a number one of the tenant's outbound routes takes."""
    if not isinstance(value, str) or not value.isascii() or not _DIALED.fullmatch(value):
        raise ValidationError(f"{field}: 2 to 20 digits", field=field, value=repr(value)[:40])
    if _EXTENSION.fullmatch(value):
        other = session.exec(
            select(Extension.id).where(
                Extension.tenant_id == extension.tenant_id, Extension.number == value
            )
        ).first()
        if other is not None:
            if other == extension.id:
                raise ValidationError(f"{field}: the extension's own number", field=field)
            return value
    from orchestrator.store.routes import resolve_outbound

    try:
        resolve_outbound(session, extension.tenant_id, value)
    except (NotFoundError, ValidationError):
        raise ValidationError(
            f"{field}: {value} is neither an extension of this tenant nor a number one of "
            "its outbound routes takes",
            field=field,
        ) from None
    return value


def _speed_dials(session: Session, extension: Extension) -> list[SpeedDial]:
    stmt = select(SpeedDial).where(SpeedDial.extension_id == extension.id)
    return list(session.exec(stmt.order_by(col(SpeedDial.slot))))


def _dials_public(session: Session, extension: Extension) -> SpeedDialsPublic:
    assert extension.id is not None
    return SpeedDialsPublic(
        extension_id=extension.id,
        tenant_id=extension.tenant_id,
        extension=extension.number,
        entries=[
            SpeedDialEntry(slot=r.slot, number=r.number) for r in _speed_dials(session, extension)
        ],
    )


def get_speed_dials(
    session: Session, extension_id: int, *, scope: int | None = None
) -> SpeedDialsPublic:
    """The extension's speed dials by slot; NotFoundError outside ``scope``."""
    return _dials_public(session, _extension(session, extension_id, scope))


def set_speed_dial(
    session: Session, extension_id: int, slot: Any, number: Any, *, scope: int | None = None
) -> SpeedDialsPublic:
    """Program ``slot`` (replacing what it held) with ``number``."""
    extension = _extension(session, extension_id, scope)
    slot = check_slot(slot)
    number = _dialable(session, extension, number, "number")
    stmt = select(SpeedDial).where(SpeedDial.extension_id == extension.id, SpeedDial.slot == slot)
    row = session.exec(stmt).first()
    if row is None:
        assert extension.id is not None
        row = SpeedDial(tenant_id=extension.tenant_id, extension_id=extension.id, slot=slot,
                        number=number)  # fmt: skip
    row.number, row.updated_at = number, utcnow()
    session.add(row)
    commit(session, row, what="speed dial")
    return _dials_public(session, extension)


def clear_speed_dial(
    session: Session, extension_id: int, slot: Any, *, scope: int | None = None
) -> bool:
    """Empty ``slot``; False when it was empty already."""
    extension = _extension(session, extension_id, scope)
    slot = check_slot(slot)
    result = session.execute(
        delete(SpeedDial).where(
            col(SpeedDial.extension_id) == extension.id, col(SpeedDial.slot) == slot
        )
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def replace_speed_dials(
    session: Session, extension_id: int, entries: Sequence[Mapping[str, Any]], *,
    scope: int | None = None,
) -> SpeedDialsPublic:  # fmt: skip
    """The whole table at once: every entry is checked first, then the old one replaced."""
    extension = _extension(session, extension_id, scope)
    if len(entries) > MAX_SPEED_DIALS:
        raise ValidationError(f"entries: at most {MAX_SPEED_DIALS}", field="entries")
    wanted: dict[str, str] = {}
    for i, entry in enumerate(entries):
        slot = check_slot(entry.get("slot"), field=f"entries[{i}].slot")
        if slot in wanted:
            raise ValidationError(
                f"entries[{i}].slot: slot {slot} twice", field=f"entries[{i}].slot"
            )
        wanted[slot] = _dialable(session, extension, entry.get("number"), f"entries[{i}].number")
    session.execute(delete(SpeedDial).where(col(SpeedDial.extension_id) == extension.id))
    assert extension.id is not None
    for slot, number in wanted.items():
        session.add(SpeedDial(tenant_id=extension.tenant_id, extension_id=extension.id,
                              slot=slot, number=number))  # fmt: skip
    commit(session, what="speed dials")
    return _dials_public(session, extension)


def speed_dial_number(session: Session, extension_id: int, slot: str) -> str | None:
    """The number stored in ``slot`` of the extension, or None (an empty slot)."""
    stmt = select(SpeedDial.number).where(
        SpeedDial.extension_id == extension_id, SpeedDial.slot == slot
    )
    return session.exec(stmt).first()


# -- the blacklist ----------------------------------------------------------------------------
def blocks_of(session: Session, extension_id: int) -> list[tuple[str, str, str]]:
    """The extension's entries as ``(number, match, action)``, for the call flow."""
    rows = session.exec(select(BlacklistEntry).where(BlacklistEntry.extension_id == extension_id))
    return [(r.number, r.match, r.action) for r in rows]


def _is_managed(session: Session, extension: Extension) -> bool:
    row = session.exec(
        select(CallSettings).where(CallSettings.extension_id == extension.id)
    ).first()
    return is_managed(row, extension.id in managed_owners(session, extension.tenant_id))


def _blacklist_public(session: Session, extension: Extension) -> BlacklistPublic:
    assert extension.id is not None
    rows = session.exec(
        select(BlacklistEntry)
        .where(BlacklistEntry.extension_id == extension.id)
        .order_by(col(BlacklistEntry.id))
    )
    return BlacklistPublic(
        extension_id=extension.id,
        tenant_id=extension.tenant_id,
        extension=extension.number,
        managed=_is_managed(session, extension),
        entries=[
            BlacklistEntryPublic.model_validate(
                {"id": r.id, "number": r.number, "match": r.match, "action": r.action}
            )
            for r in rows
        ],
    )


def get_blacklist(
    session: Session, extension_id: int, *, scope: int | None = None
) -> BlacklistPublic:
    """The extension's blacklist; NotFoundError outside ``scope``."""
    return _blacklist_public(session, _extension(session, extension_id, scope))


@dataclass(frozen=True, slots=True)
class BlacklistChange:
    """What a change of the blacklist did: the list now and whether ``managed`` flipped."""

    tenant_id: int
    blacklist: BlacklistPublic
    was_managed: bool

    @property
    def flipped(self) -> bool:
        return self.was_managed != self.blacklist.managed


def _entry(value: Any, field: str) -> tuple[str, str, str]:
    if not isinstance(value, Mapping) or set(value) - {"number", "match", "action"}:
        raise ValidationError(f"{field}: {{number, match, action}}", field=field)
    number = value.get("number")
    if not isinstance(number, str) or not (
        number == ANONYMOUS or (number.isascii() and _CALLER.fullmatch(number))
    ):
        raise ValidationError(
            f"{field}.number: digits (1 to 20) with an optional leading +, or 'anonymous'",
            field=f"{field}.number", value=repr(number)[:40],
        )  # fmt: skip
    match = value.get("match", "exact")
    if match not in MATCHES:
        raise ValidationError(f"{field}.match: 'exact' or 'prefix'", field=f"{field}.match")
    if number == ANONYMOUS and match != "exact":
        raise ValidationError(
            f"{field}.match: 'anonymous' (callers without a number) is matched 'exact' only",
            field=f"{field}.match",
        )
    action = value.get("action", "reject")
    if action not in ACTIONS:
        raise ValidationError(f"{field}.action: 'reject' or 'prompt'", field=f"{field}.action")
    return number, match, action


def _write_blacklist(
    session: Session, extension: Extension, entries: list[tuple[str, str, str]], *, keep: bool
) -> BlacklistChange:
    was_managed = _is_managed(session, extension)
    existing = list(
        session.exec(select(BlacklistEntry).where(BlacklistEntry.extension_id == extension.id))
    )
    had = bool(existing)
    if not keep:
        for row in existing:
            session.delete(row)
        session.flush()  # before the inserts: an entry kept in the new list is unique again
        existing = []
    taken = {(r.number, r.match) for r in existing}
    total = len(existing)
    assert extension.id is not None
    for number, match, action in entries:
        if (number, match) in taken:
            raise ValidationError(f"entries: {number} ({match}) is listed already", field="number")
        taken.add((number, match))
        total += 1
        session.add(BlacklistEntry(tenant_id=extension.tenant_id, extension_id=extension.id,
                                   number=number, match=match, action=action))  # fmt: skip
    if total > MAX_BLACKLIST:
        raise ValidationError(f"entries: at most {MAX_BLACKLIST}", field="entries")
    if had != bool(total):
        bump_config(session, extension.tenant_id)
    commit(session, what="blacklist")
    return BlacklistChange(extension.tenant_id, _blacklist_public(session, extension), was_managed)


def replace_blacklist(
    session: Session, extension_id: int, entries: Sequence[Any], *, scope: int | None = None
) -> BlacklistChange:
    """The whole blacklist at once (``[]``: nobody blocked); one bad entry changes nothing."""
    extension = _extension(session, extension_id, scope)
    if not isinstance(entries, Sequence) or len(entries) > MAX_BLACKLIST:
        raise ValidationError(f"entries: a list of at most {MAX_BLACKLIST}", field="entries")
    checked = [_entry(e, f"entries[{i}]") for i, e in enumerate(entries)]
    try:
        return _write_blacklist(session, extension, checked, keep=False)
    except ValidationError:
        session.rollback()
        raise


def add_blocked(
    session: Session, extension_id: int, entry: Any, *, scope: int | None = None
) -> BlacklistChange:
    """Add one entry; a number already listed with that ``match`` is a ValidationError."""
    extension = _extension(session, extension_id, scope)
    checked = _entry(entry, "entry")
    try:
        return _write_blacklist(session, extension, [checked], keep=True)
    except ValidationError:
        session.rollback()
        raise


def remove_blocked(
    session: Session, extension_id: int, entry_id: int, *, scope: int | None = None
) -> BlacklistChange:
    """Delete one entry (NotFoundError: not one of this extension's)."""
    extension = _extension(session, extension_id, scope)
    row = session.get(BlacklistEntry, entry_id)
    if row is None or row.extension_id != extension.id:
        raise NotFoundError(f"blacklist entry {entry_id} not found", entry_id=entry_id)
    was_managed = _is_managed(session, extension)
    session.delete(row)
    session.flush()
    if not _has_blacklist(session, extension):
        bump_config(session, extension.tenant_id)
    commit(session, what="blacklist")
    return BlacklistChange(extension.tenant_id, _blacklist_public(session, extension), was_managed)


def _has_blacklist(session: Session, extension: Extension) -> bool:
    stmt = select(BlacklistEntry.id).where(BlacklistEntry.extension_id == extension.id)
    return session.exec(stmt.limit(1)).first() is not None
