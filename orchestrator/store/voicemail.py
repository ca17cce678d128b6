"""Data functions for voicemail (models: orchestrator/store/models/voicemail.py).

``scope`` is the tenant a tenant admin acts for (``None``: a system admin); other
tenants' mailboxes and messages answer 404. The PIN comes in clear and is stored only
as a salted scrypt hash (:mod:`orchestrator.store.pins`). Example::

    box = create_mailbox(session, MailboxCreate(tenant_id=1, extension_id=7,
                         number="101", pin="4711", email="ann@example.com"), scope=None)
    mailbox_of_extension(session, 1, 7)          # what the deposit reads on each call
    add_message(session, box, recording="vm/ab12", duration_s=4.2, caller_number="+1555")
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from orchestrator import validation as v
from orchestrator.core.errors import ConflictError, NotFoundError, ValidationError
from orchestrator.store._common import (
    commit,
    exists,
    page,
    read_scoped,
    refuse_nulls,
    tenant_filter,
    tenant_for_write,
)
from orchestrator.store.models import (
    Extension,
    Mailbox,
    MailboxCreate,
    MailboxPublic,
    MailboxUpdate,
    Tenant,
    VoicemailMessage,
    utcnow,
)
from orchestrator.store.park import check_not_park_fallback
from orchestrator.store.pins import check_pin, hash_pin, verify_pin
from orchestrator.store.ring_groups import check_not_in_groups

GREETINGS = ("unavailable", "busy", "name")
_NUMBER = re.compile(r"[0-9]{2,10}")
_NOT_NULL = (
    "number",
    "name",
    "attach_audio",
    "max_message_s",
    "skip_pin_from_own_phone",
    "notify_extension_ids",
    "pin",
)
_ERROR_MAX = 400


# -- mailboxes ------------------------------------------------------------------------------
def counts(session: Session, mailbox_id: int) -> tuple[int, int]:
    """``(new, old)`` messages of the mailbox."""
    rows = session.exec(
        select(VoicemailMessage.folder, func.count())
        .where(VoicemailMessage.mailbox_id == mailbox_id)
        .group_by(col(VoicemailMessage.folder))
    ).all()
    found = dict(rows)
    return int(found.get("new", 0)), int(found.get("old", 0))


def public_mailbox(session: Session, box: Mailbox) -> MailboxPublic:
    """The API's view: no PIN hash, no recording names; the counts."""
    assert box.id is not None
    new, old = counts(session, box.id)
    data = box.model_dump(
        exclude={"pin_hash", "greeting_unavailable", "greeting_busy", "greeting_name"}
    )
    return MailboxPublic.model_validate(
        {
            **data,
            "has_pin": box.pin_hash is not None,
            "greetings": [g for g in GREETINGS if getattr(box, f"greeting_{g}")],
            "new_messages": new,
            "old_messages": old,
        }
    )


def _extension_of(session: Session, tenant_id: int, extension_id: Any, field: str) -> int:
    if not isinstance(extension_id, int) or isinstance(extension_id, bool):
        raise ValidationError(f"{field}: must be an extension id", field=field)
    found = session.exec(
        select(Extension.id).where(Extension.id == extension_id, Extension.tenant_id == tenant_id)
    ).first()
    if found is None:
        raise ValidationError(f"{field}: no extension {extension_id} in this tenant", field=field)
    return extension_id


def _fields(session: Session, tenant_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Check every given field; the PIN becomes ``pin_hash``."""
    refuse_nulls(values, *(k for k in _NOT_NULL if k in values))
    out: dict[str, Any] = {}
    if "number" in values:
        number = values["number"]
        if not isinstance(number, str) or not _NUMBER.fullmatch(number):
            raise ValidationError("number: must be 2 to 10 digits", field="number")
        out["number"] = number
    if "name" in values:
        out["name"] = v.display_name(values["name"], field="name") if values["name"] else ""
    if "email" in values:
        out["email"] = None if values["email"] is None else v.email(values["email"])
    for flag in ("attach_audio", "skip_pin_from_own_phone"):
        if flag in values:
            if not isinstance(values[flag], bool):
                raise ValidationError(f"{flag}: must be true or false", field=flag)
            out[flag] = values[flag]
    if "max_message_s" in values:
        out["max_message_s"] = v.bounded_int(
            values["max_message_s"], 10, 600, field="max_message_s"
        )
    if "notify_extension_ids" in values:
        ids = values["notify_extension_ids"]
        if not isinstance(ids, list) or len(ids) > 50:
            raise ValidationError("notify_extension_ids: a list of at most 50 extension ids",
                                  field="notify_extension_ids")  # fmt: skip
        checked = [_extension_of(session, tenant_id, i, "notify_extension_ids") for i in ids]
        out["notify_extension_ids"] = sorted(set(checked))
    if "pin" in values:
        out["pin_hash"] = hash_pin(check_pin(values["pin"]))
    return out


def _check_number_free(session: Session, tenant_id: int, number: str, box_id: int | None) -> None:
    stmt = select(Mailbox.id).where(Mailbox.tenant_id == tenant_id, Mailbox.number == number)
    if box_id is not None:
        stmt = stmt.where(Mailbox.id != box_id)
    if exists(session, stmt):
        raise ConflictError(f"mailbox {number} exists in this tenant", number=number)


def create_mailbox(session: Session, data: MailboxCreate, *, scope: int | None) -> Mailbox:
    tenant_id = tenant_for_write(session, data.tenant_id, scope)
    raw = data.model_dump(exclude={"tenant_id", "extension_id"})
    fields = _fields(session, tenant_id, raw)
    extension_id = None
    if data.extension_id is not None:
        extension_id = _extension_of(session, tenant_id, data.extension_id, "extension_id")
        if exists(session, select(Mailbox.id).where(Mailbox.extension_id == extension_id)):
            raise ConflictError(
                f"extension {extension_id} has a mailbox already", extension_id=extension_id
            )
    _check_number_free(session, tenant_id, fields["number"], None)
    box = Mailbox(tenant_id=tenant_id, extension_id=extension_id, **fields)
    session.add(box)
    commit(session, box, what="mailbox")
    return box


def read_mailbox(session: Session, mailbox_id: int, scope: int | None) -> Mailbox:
    return read_scoped(session, Mailbox, mailbox_id, scope, what="mailbox", mailbox_id=mailbox_id)


def list_mailboxes(
    session: Session, *, offset: int, limit: int, tenant_id: int | None, scope: int | None
) -> tuple[Sequence[Mailbox], int]:
    stmt: Any = select(Mailbox)
    only = tenant_filter(tenant_id, scope)
    if only is not None:
        stmt = stmt.where(Mailbox.tenant_id == only)
    return page(session, stmt, offset=offset, limit=limit,
                order_by=(col(Mailbox.tenant_id), col(Mailbox.number)))  # fmt: skip


def update_mailbox(
    session: Session, mailbox_id: int, data: MailboxUpdate, *, scope: int | None
) -> Mailbox:
    box = read_mailbox(session, mailbox_id, scope)
    fields = _fields(session, box.tenant_id, data.model_dump(exclude_unset=True))
    if "number" in fields:
        _check_number_free(session, box.tenant_id, fields["number"], box.id)
    for key, value in fields.items():
        setattr(box, key, value)
    box.updated_at = utcnow()
    session.add(box)
    commit(session, box, what="mailbox")
    return box


def delete_mailbox(session: Session, mailbox_id: int, *, scope: int | None) -> list[str]:
    """Delete the mailbox and its messages; the recordings whose audio is to go too.
    Refused (409) while the park lot or a ring group falls back to it (``voicemail:<n>``)."""
    box = read_mailbox(session, mailbox_id, scope)
    owner = None if box.extension_id is None else session.get(Extension, box.extension_id)
    if owner is not None:
        fallback = f"voicemail:{owner.number}"
        check_not_park_fallback(session, box.tenant_id, fallback, "first")
        check_not_in_groups(session, box.tenant_id, fallback, "first")
    names = [r for r in session.exec(
        select(VoicemailMessage.recording).where(VoicemailMessage.mailbox_id == mailbox_id)
    ).all()]  # fmt: skip
    names += [g for g in (box.greeting_unavailable, box.greeting_busy, box.greeting_name) if g]
    session.execute(sa.delete(VoicemailMessage).where(col(VoicemailMessage.mailbox_id) == box.id))
    session.delete(box)
    session.commit()
    return names


def mailbox_of_extension(session: Session, tenant_id: int, extension_id: int) -> Mailbox | None:
    return session.exec(
        select(Mailbox).where(Mailbox.tenant_id == tenant_id, Mailbox.extension_id == extension_id)
    ).first()


def mailbox_by_number(session: Session, tenant_id: int, number: str) -> Mailbox | None:
    return session.exec(
        select(Mailbox).where(Mailbox.tenant_id == tenant_id, Mailbox.number == number)
    ).first()


def check_mailbox_pin(session: Session, mailbox_id: int, pin: str) -> bool:
    box = session.get(Mailbox, mailbox_id)
    return box is not None and verify_pin(pin, box.pin_hash)


def set_pin(session: Session, mailbox_id: int, pin: str) -> None:
    box = session.get(Mailbox, mailbox_id)
    if box is None:
        raise NotFoundError(f"mailbox {mailbox_id} not found", mailbox_id=mailbox_id)
    box.pin_hash, box.updated_at = hash_pin(pin), utcnow()
    session.add(box)
    session.commit()


def set_greeting(session: Session, mailbox_id: int, kind: str, recording: str) -> str | None:
    """Make ``recording`` the mailbox's ``kind`` greeting; the one it replaces (to delete)."""
    if kind not in GREETINGS:
        raise ValidationError(f"no greeting {kind!r}", allowed=list(GREETINGS))
    box = session.get(Mailbox, mailbox_id)
    if box is None:
        raise NotFoundError(f"mailbox {mailbox_id} not found", mailbox_id=mailbox_id)
    old: str | None = getattr(box, f"greeting_{kind}")
    setattr(box, f"greeting_{kind}", recording)
    box.updated_at = utcnow()
    session.add(box)
    session.commit()
    return old


# -- messages --------------------------------------------------------------------------------
def add_message(
    session: Session,
    box: Mailbox,
    *,
    recording: str,
    duration_s: float,
    size_bytes: int,
    caller_number: str = "",
    caller_name: str = "",
    call_id: str = "",
    reason: str = "unavailable",
    at: datetime | None = None,
) -> VoicemailMessage:
    assert box.id is not None
    now = at or utcnow()
    row = VoicemailMessage(
        id=uuid.uuid4().hex,
        mailbox_id=box.id,
        tenant_id=box.tenant_id,
        recording=recording,
        duration_s=round(duration_s, 3),
        size_bytes=size_bytes,
        caller_number=caller_number[:32],
        caller_name=caller_name[:80],
        call_id=call_id[:64],
        reason=reason,
        created_at=now,
        next_upload_at=now,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def list_messages(
    session: Session,
    mailbox_id: int,
    *,
    scope: int | None,
    folder: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[VoicemailMessage], int]:
    """A mailbox's messages, oldest first (the order a caller hears them)."""
    read_mailbox(session, mailbox_id, scope)
    stmt: Any = select(VoicemailMessage).where(VoicemailMessage.mailbox_id == mailbox_id)
    if folder is not None:
        stmt = stmt.where(VoicemailMessage.folder == folder)
    return page(session, stmt, offset=offset, limit=limit,
                order_by=(col(VoicemailMessage.created_at), col(VoicemailMessage.id)))  # fmt: skip


def read_message(
    session: Session, mailbox_id: int, message_id: str, scope: int | None
) -> VoicemailMessage:
    row = session.get(VoicemailMessage, message_id)
    if (
        row is None
        or row.mailbox_id != mailbox_id
        or (scope is not None and row.tenant_id != scope)
    ):
        raise NotFoundError(f"message {message_id} not found", message_id=message_id)
    return row


def set_folder(session: Session, message_id: str, folder: str) -> bool:
    """Move a message to ``new`` or ``old``; True if that changed anything."""
    if folder not in ("new", "old"):
        raise ValidationError("folder: new or old", field="folder")
    result = session.execute(
        sa.update(VoicemailMessage)
        .where(col(VoicemailMessage.id) == message_id, col(VoicemailMessage.folder) != folder)
        .values(folder=folder)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def delete_message(session: Session, message_id: str) -> VoicemailMessage | None:
    """Delete the message's row; the row as it was (its audio is the caller's to delete)."""
    row = session.get(VoicemailMessage, message_id)
    if row is None:
        return None
    session.delete(row)
    session.commit()
    return row


# -- uploads ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DueUpload:
    id: str
    tenant_id: int
    recording: str
    created_at: datetime


def due_uploads(session: Session, *, now: datetime, limit: int) -> list[DueUpload]:
    rows = session.exec(
        select(VoicemailMessage)
        .where(
            col(VoicemailMessage.uploaded).is_(False),
            col(VoicemailMessage.next_upload_at) <= now,
        )
        .order_by(col(VoicemailMessage.next_upload_at))
        .limit(limit)
    ).all()
    return [DueUpload(r.id, r.tenant_id, r.recording, r.created_at) for r in rows]


def mark_uploaded(session: Session, message_id: str, *, bucket: str, key: str, size: int) -> None:
    row = session.get(VoicemailMessage, message_id)
    if row is None:
        return
    row.uploaded, row.s3_bucket, row.s3_key = True, bucket, key
    row.size_bytes, row.upload_error, row.next_upload_at = size, None, None
    session.add(row)
    session.commit()


def mark_upload_failed(
    session: Session, message_id: str, *, error: str, retry_at: datetime | None
) -> None:
    row = session.get(VoicemailMessage, message_id)
    if row is None:
        return
    row.upload_error, row.next_upload_at = error[:_ERROR_MAX], retry_at
    session.add(row)
    session.commit()


def desired_lamps(session: Session, tenant_id: int | None) -> dict[str, tuple[int, int]]:
    """What each phone's message-waiting lamp should show: ``{endpoint: (new, old)}``.

    A personal mailbox lights its extension's phone, and every mailbox also the phones
    of its ``notify_extension_ids`` (a shared box); a phone lit by several boxes shows
    their sums. Every such endpoint is listed, with (0, 0) too (so a lamp is turned
    off); disabled extensions are left out. ``tenant_id`` None: every tenant.
    """
    boxes = select(Mailbox)
    counted = select(VoicemailMessage.mailbox_id, VoicemailMessage.folder, func.count()).group_by(
        col(VoicemailMessage.mailbox_id), col(VoicemailMessage.folder)
    )
    if tenant_id is not None:
        boxes = boxes.where(Mailbox.tenant_id == tenant_id)
        counted = counted.where(VoicemailMessage.tenant_id == tenant_id)
    per_box: dict[int, list[int]] = {}
    for mailbox_id, folder, n in session.exec(counted):
        slot = per_box.setdefault(int(mailbox_id), [0, 0])
        slot[0 if folder == "new" else 1] += int(n)
    lit: dict[int, set[int]] = {}  # extension id -> the mailboxes its phone shows
    for box in session.exec(boxes):
        ids = {int(i) for i in (box.notify_extension_ids or [])}
        if box.extension_id is not None:
            ids.add(int(box.extension_id))
        for ext_id in ids:
            lit.setdefault(ext_id, set()).add(int(box.id or 0))
    if not lit:
        return {}
    rows = session.exec(
        select(Extension.id, Extension.sip_username, Tenant.sip_domain, Extension.enabled)
        .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
        .where(col(Extension.id).in_(list(lit)))
    )
    out: dict[str, tuple[int, int]] = {}
    for row_id, username, domain, enabled in rows:
        if not enabled or row_id is None:
            continue
        shown = [per_box.get(b, [0, 0]) for b in lit[int(row_id)]]
        out[f"{username}@{domain}"] = (sum(c[0] for c in shown), sum(c[1] for c in shown))
    return out
