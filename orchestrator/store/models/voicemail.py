"""Voicemail: mailboxes and their messages (data functions: orchestrator/store/voicemail.py;
the call flows: orchestrator/pbx/voicemail/). Migration 0017_voicemail.

A mailbox belongs to an extension (``extension_id``) or is shared (``extension_id``
null: reached by its number through the shared-voicemail feature code). The PIN is
never stored or shown: the row holds a salted scrypt hash (``pin_hash``) and the API
shows ``has_pin``. Greetings and messages are engine recordings (``vm/<hex>``) kept on
the engine for playback; a message's audio is also uploaded to S3 (``s3_key``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import UtcDateTime, _created, _moment

FOLDERS = ("new", "old")


def _strict(config: Any) -> Any:
    return {**config, "strict": True, "extra": "forbid"}


class MailboxBase(SQLModel):
    number: str = Field(
        max_length=10, description="2-10 digits, unique within the tenant (the shared code asks it)"
    )
    name: str = Field(default="", max_length=80, description="shown to admins and in e-mails")
    email: str | None = Field(
        default=None, max_length=254, description="new messages are e-mailed here (null: none)"
    )
    attach_audio: bool = Field(default=True, description="the e-mail carries the message's WAV")
    max_message_s: StoreInt = Field(default=180, description="10 to 600: a message's longest")
    skip_pin_from_own_phone: bool = Field(
        default=False, description="the owner's own phone reaches the menu without the PIN"
    )
    notify_extension_ids: list[int] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        description="extensions whose phones show this box's message-waiting light "
        "(a personal box: its owner's phone as well)",
    )


class Mailbox(MailboxBase, table=True):
    __tablename__ = "mailboxes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt | None = Field(
        default=None, foreign_key="extensions.id", ondelete="CASCADE", unique=True, index=True
    )
    pin_hash: str | None = Field(default=None, max_length=200)
    greeting_unavailable: str | None = Field(default=None, max_length=120)
    greeting_busy: str | None = Field(default=None, max_length=120)
    greeting_name: str | None = Field(default=None, max_length=120)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class MailboxCreate(MailboxBase):
    model_config = _strict({})

    tenant_id: StoreInt
    extension_id: StoreInt | None = Field(
        default=None, description="the owning extension; null: a shared mailbox"
    )
    pin: str = Field(max_length=12, description="4-12 digits (write-only)")


class MailboxUpdate(SQLModel):
    # email may be set to null (no e-mail); the others not.
    model_config = _strict(
        refuses_null(
            "number",
            "name",
            "attach_audio",
            "max_message_s",
            "skip_pin_from_own_phone",
            "notify_extension_ids",
            "pin",
        )
    )

    number: str | None = Field(default=None, max_length=10)
    name: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=254)
    attach_audio: bool | None = None
    max_message_s: StoreInt | None = None
    skip_pin_from_own_phone: bool | None = None
    notify_extension_ids: list[int] | None = None
    pin: str | None = Field(default=None, max_length=12)


class MailboxPinChange(SQLModel):
    """A new PIN for the owner's own mailbox (self-care); checked, hashed, never echoed."""

    model_config = _strict({})

    pin: str = Field(max_length=12, description="4-12 digits (write-only)")


class MailboxPublic(MailboxBase):
    id: StoreInt
    tenant_id: StoreInt
    extension_id: StoreInt | None
    has_pin: bool
    greetings: list[str] = Field(description="which greetings are recorded")
    new_messages: StoreInt
    old_messages: StoreInt
    created_at: datetime
    updated_at: datetime


class VoicemailMessageBase(SQLModel):
    caller_number: str = Field(default="", max_length=32)
    caller_name: str = Field(default="", max_length=80)
    call_id: str = Field(default="", max_length=64, description="the caller's leg")
    duration_s: float = 0.0
    folder: str = Field(default="new", max_length=8, description="new (unheard) or old")
    reason: str = Field(default="unavailable", max_length=12, description="busy or unavailable")
    size_bytes: StoreInt = 0
    uploaded: bool = Field(default=False, description="the audio is in S3")


class VoicemailMessage(VoicemailMessageBase, table=True):
    __tablename__ = "voicemail_messages"
    __table_args__ = (sa.Index("ix_voicemail_messages_mailbox_id_folder", "mailbox_id", "folder"),)

    id: str = Field(primary_key=True, max_length=32)
    mailbox_id: StoreInt = Field(foreign_key="mailboxes.id", ondelete="CASCADE")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    recording: str = Field(max_length=120, description="the engine's recording name")
    s3_bucket: str | None = Field(default=None, max_length=63)
    s3_key: str | None = Field(default=None, max_length=400)
    upload_error: str | None = Field(default=None, max_length=400)
    next_upload_at: datetime | None = _moment(nullable=True)
    created_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class VoicemailMessagePublic(VoicemailMessageBase):
    id: str
    mailbox_id: StoreInt
    created_at: datetime


class VoicemailMessageUpdate(SQLModel):
    model_config = _strict({})

    heard: bool = Field(description="true: to old; false: back to new")
