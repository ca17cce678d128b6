"""An extension's call settings: forwarding, do not disturb, call waiting, follow-me
(service functions: orchestrator/pbx/settings.py; the call flow that applies them:
orchestrator/pbx/extension_flow.py).

One row per extension, created the first time something is changed; an extension
without a row has the defaults (nothing forwarded, DND off, call waiting on). Every
destination is stored in its checked form only (``extension:<n>``, ``number:<+digits>``
or ``voicemail``), so a row never holds what a user typed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created

DESTINATION_HELP = (
    "'extension:<2-10 digits>' (an extension of the tenant), 'number:<+digits>' (a number "
    "one of the tenant's outbound routes takes), 'voicemail' (the extension's own mailbox), "
    "or plain digits (an extension if there is one, else a number); null: not forwarded"
)


# Strict: "yes" is not true nor "30" 30, and an unknown field (a mistyped "forward_al")
# is refused rather than ignored. Typed Any as SQLModel's config type is private.
_STRICT: Any = {"extra": "forbid", "strict": True}


class CallSettingsBase(SQLModel):
    dnd: bool = Field(default=False, description="do not disturb: calls do not ring the phone")
    dnd_mode: str = Field(
        default="busy",
        max_length=10,
        description="what callers get while DND is on: 'busy' or 'voicemail'",
    )
    call_waiting: bool = Field(
        default=True, description="off: a second call while the phone is on a call is busy"
    )
    forward_all: str | None = Field(
        default=None, max_length=32, description=f"unconditional forward: {DESTINATION_HELP}"
    )
    forward_busy: str | None = Field(
        default=None, max_length=32, description=f"forward when busy: {DESTINATION_HELP}"
    )
    forward_no_answer: str | None = Field(
        default=None,
        max_length=32,
        description=f"forward after no_answer_ring_s unanswered: {DESTINATION_HELP}",
    )
    forward_unreachable: str | None = Field(
        default=None,
        max_length=32,
        description=f"forward when the phone is not registered: {DESTINATION_HELP}",
    )
    no_answer_ring_s: StoreInt = Field(
        default=20, description="5 to 120: how long the phone rings before 'no answer'"
    )
    follow_me_enabled: bool = Field(
        default=False, description="ring the follow_me steps when the phone does not answer"
    )
    follow_me: dict[str, Any] | None = Field(
        default=None,
        sa_type=sa.JSON,
        description='{"mode": "sequential"|"simultaneous", "steps": [{"destination", '
        '"ring_s", "confirm"}]} (at most 10 steps)',
    )


class CallSettings(CallSettingsBase, table=True):
    __tablename__ = "call_settings"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt = Field(
        foreign_key="extensions.id", ondelete="CASCADE", unique=True, index=True
    )
    created_at: datetime = _created()
    updated_at: datetime = _created()


class CallSettingsPut(CallSettingsBase):
    """``PUT``: the whole settings (a field left out is back to its default)."""

    model_config = _STRICT


_NOT_NULL: Any = {
    **refuses_null("dnd", "dnd_mode", "call_waiting", "no_answer_ring_s", "follow_me_enabled"),
    **_STRICT,
}


class CallSettingsPatch(SQLModel):
    """``PATCH``: only the fields given change; a forward or follow_me may be null (off)."""

    model_config = _NOT_NULL

    dnd: bool | None = None
    dnd_mode: str | None = Field(default=None, max_length=10)
    call_waiting: bool | None = None
    forward_all: str | None = Field(default=None, max_length=32)
    forward_busy: str | None = Field(default=None, max_length=32)
    forward_no_answer: str | None = Field(default=None, max_length=32)
    forward_unreachable: str | None = Field(default=None, max_length=32)
    no_answer_ring_s: StoreInt | None = None
    follow_me_enabled: bool | None = None
    follow_me: dict[str, Any] | None = None


class CallSettingsPublic(CallSettingsBase):
    extension_id: StoreInt
    tenant_id: StoreInt
    extension: str = Field(description="the extension's number")
    managed: bool = Field(
        description="calls to the extension run through the orchestrator (any setting on)"
    )


# -- the "managed" rule ------------------------------------------------------------------
#: Which extensions (ids) have a mailbox, in one tenant or (None) all.
MailboxOwners = Callable[[Session, int | None], Collection[int]]


def no_mailboxes(_session: Session, _tenant_id: int | None) -> Collection[int]:
    return ()


def mailbox_owners(session: Session, tenant_id: int | None) -> Collection[int]:
    """The extensions with a personal mailbox (voicemail's ``mailboxes`` table): the
    orchestrator offers voicemail when they ring out."""
    from orchestrator.store.models.voicemail import Mailbox

    stmt = select(Mailbox.extension_id).where(col(Mailbox.extension_id).is_not(None))
    if tenant_id is not None:
        stmt = stmt.where(Mailbox.tenant_id == tenant_id)
    return {int(ext_id) for ext_id in session.exec(stmt) if ext_id is not None}


def pickup_owners(session: Session, tenant_id: int | None) -> Collection[int]:
    """The members of a pickup group: the orchestrator registers their ringing so that
    another phone can pick it up (orchestrator/pbx/pickup.py)."""
    from orchestrator.store.models.pickup import pickup_members

    return set(pickup_members(session, tenant_id))


def blacklist_owners(session: Session, tenant_id: int | None) -> Collection[int]:
    """The extensions with a blacklist (``extension_blacklist``): the ``pbx_extension``
    flow checks their callers before anything rings."""
    from orchestrator.store.models.ext_features import BlacklistEntry

    stmt = select(BlacklistEntry.extension_id).distinct()
    if tenant_id is not None:
        stmt = stmt.where(BlacklistEntry.tenant_id == tenant_id)
    return {int(ext_id) for ext_id in session.exec(stmt)}


def managed_owners(session: Session, tenant_id: int | None) -> Collection[int]:
    """The extensions managed whatever their call settings: a mailbox
    (:func:`mailbox_owners`), a blacklist (:func:`blacklist_owners`) or a pickup group
    (:func:`pickup_owners`). The default :data:`MailboxOwners` of every reader of the
    *managed* rule."""
    return {
        *mailbox_owners(session, tenant_id),
        *blacklist_owners(session, tenant_id),
        *pickup_owners(session, tenant_id),
    }


def is_managed(settings: Any, has_mailbox: bool) -> bool:
    """Whether calls to the extension must run through the orchestrator's ``pbx_extension``
    flow rather than ring the phone straight from the dialplan: DND, any forward,
    follow-me on, or ``has_mailbox`` (one of :func:`managed_owners`: a mailbox, which
    answers unanswered calls, or a blacklist, which the flow checks first)."""
    if settings is None:
        return has_mailbox
    return bool(
        settings.dnd
        or settings.forward_all
        or settings.forward_busy
        or settings.forward_no_answer
        or settings.forward_unreachable
        or settings.follow_me_enabled
        or not settings.call_waiting
        or has_mailbox
    )
