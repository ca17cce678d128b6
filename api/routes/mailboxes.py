"""``/api/v1/mailboxes``: voicemail boxes and their messages (docs/pbx.md, Voicemail).

Tenant admins manage their tenant's mailboxes (others answer 404), system admins any.
The PIN is write-only: given in clear on create/update, stored as a scrypt hash, shown
only as ``has_pin``. A mailbox with an ``extension_id`` is that extension's; without,
it is shared (reached with the shared-voicemail code, by number and PIN). Messages:
list (oldest first, ``?folder=new|old``), download the audio (from S3 once uploaded,
else from the engine), ``PATCH {"heard": true}`` (to old; false: back to new), delete.
Every change of the counts updates the phones' message-waiting lights. A personal
mailbox created, moved or deleted applies the tenant's configuration before the answer:
its extension's calls now do (or no longer) go through the orchestrator, which offers
voicemail.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, ServicesDep, SessionDep
from api.schemas import Page
from api.voicemail import (
    AUDIO_RESPONSES,
    Folder,
    MessageId,
    audio_response,
    counts_changed,
    mark_heard,
    messages_page,
    remove_message,
)
from orchestrator.bounds import StoreInt
from orchestrator.store import voicemail as store
from orchestrator.store.models import (
    MailboxCreate,
    MailboxPublic,
    MailboxUpdate,
    VoicemailMessagePublic,
    VoicemailMessageUpdate,
)

router = APIRouter(prefix="/api/v1/mailboxes", tags=["voicemail"], dependencies=[RequireAdmin])


@router.get("")
def list_mailboxes(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[MailboxPublic]:
    """Mailboxes visible to the caller, by tenant and number, with their counts."""
    rows, total = store.list_mailboxes(
        session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    return Page[MailboxPublic](
        items=[store.public_mailbox(session, r) for r in rows],
        total=total, offset=page.offset, limit=page.limit,
    )  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_mailbox(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    data: MailboxCreate,
    config: ConfigStateDep,
) -> MailboxPublic:
    """Create a mailbox (the PIN hashed with scrypt, off the event loop). 409: the number
    is taken in the tenant, or the extension has a mailbox already."""
    box = await run_in_threadpool(store.create_mailbox, session, data, scope=user.scope)
    if box.extension_id is not None:
        await config.changed(box.tenant_id)
    if box.id is not None:
        # Its phones' lamps are known from now on: shown (off) now, and again each time
        # a phone registers, not only after the first message.
        await counts_changed(services, box.tenant_id, box.id)
    return store.public_mailbox(session, box)


@router.get("/{mailbox_id}")
def read_mailbox(session: SessionDep, user: CurrentUser, mailbox_id: StoreInt) -> MailboxPublic:
    return store.public_mailbox(session, store.read_mailbox(session, mailbox_id, user.scope))


@router.patch("/{mailbox_id}")
async def update_mailbox(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    mailbox_id: StoreInt,
    data: MailboxUpdate,
    config: ConfigStateDep,
) -> MailboxPublic:
    """Change a mailbox (only the fields given; ``email: null`` stops the e-mails)."""
    before = store.read_mailbox(session, mailbox_id, user.scope).extension_id
    box = await run_in_threadpool(store.update_mailbox, session, mailbox_id, data, scope=user.scope)
    if box.extension_id != before:
        await config.changed(box.tenant_id)
    await counts_changed(services, box.tenant_id, mailbox_id)  # it may light other lamps now
    return store.public_mailbox(session, box)


@router.delete("/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mailbox(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    mailbox_id: StoreInt,
    config: ConfigStateDep,
) -> None:
    """Delete the mailbox, its messages and greetings (their audio too); 409 while the
    park lot falls back to it (``voicemail:<n>``)."""
    box = store.read_mailbox(session, mailbox_id, user.scope)
    tenant_id, personal = box.tenant_id, box.extension_id is not None
    keys = [(m.recording, m.s3_key) for m in store.list_messages(
        session, mailbox_id, scope=user.scope, limit=500)[0]]  # fmt: skip
    names = store.delete_mailbox(session, mailbox_id, scope=user.scope)
    if services.voicemail is not None:
        s3 = dict(keys)
        for name in names:
            await services.voicemail.storage.delete(name, s3.get(name))
    await counts_changed(services, tenant_id, mailbox_id)
    if personal:
        await config.changed(tenant_id)


@router.get("/{mailbox_id}/messages")
def list_messages(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    mailbox_id: StoreInt,
    folder: Folder | None = None,
) -> Page[VoicemailMessagePublic]:
    """The mailbox's messages, oldest first."""
    return messages_page(session, mailbox_id, scope=user.scope, folder=folder, page=page)


@router.get("/{mailbox_id}/messages/{message_id}")
def read_message(
    session: SessionDep, user: CurrentUser, mailbox_id: StoreInt, message_id: MessageId
) -> VoicemailMessagePublic:
    row = store.read_message(session, mailbox_id, message_id, user.scope)
    return VoicemailMessagePublic.model_validate(row)


@router.get(
    "/{mailbox_id}/messages/{message_id}/audio",
    response_class=Response,
    responses=AUDIO_RESPONSES,
)
async def message_audio(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    mailbox_id: StoreInt,
    message_id: MessageId,
) -> Response:
    """The message's audio (S3 once uploaded, else the engine's copy)."""
    row = store.read_message(session, mailbox_id, message_id, user.scope)
    return await audio_response(services, row)


@router.patch("/{mailbox_id}/messages/{message_id}")
async def update_message(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    mailbox_id: StoreInt,
    message_id: MessageId,
    data: VoicemailMessageUpdate,
) -> VoicemailMessagePublic:
    """``{"heard": true}`` moves the message to old, ``false`` back to new."""
    row = store.read_message(session, mailbox_id, message_id, user.scope)
    return await mark_heard(session, services, row, heard=data.heard)


@router.delete("/{mailbox_id}/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(
    session: SessionDep,
    user: CurrentUser,
    services: ServicesDep,
    mailbox_id: StoreInt,
    message_id: MessageId,
) -> None:
    """Delete the message and its audio."""
    row = store.read_message(session, mailbox_id, message_id, user.scope)
    await remove_message(session, services, row)
