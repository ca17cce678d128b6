"""``/api/v1/me/voicemail``: the caller's own mailbox, self-care (docs/pbx.md, "Self-care").

For the roles with an extension of their own (a ``user``, an ``agent``); admins and
supervisors get 403 before anything is looked up. The mailbox is always the one of the
token's extension in the token's tenant (nothing in the request names a mailbox); an
extension without one answers 404. A message id of another mailbox answers 404 like
one that does not exist. The PIN is write-only, checked as the admin's routes check it
(4-12 digits, 422 otherwise, the value never echoed) and hashed off the event loop.
Heard and deleted messages update the phones' message-waiting lamps, as the tenant
admin's ``/api/v1/mailboxes`` routes do (the shared code is api/voicemail.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import PageDep, ServicesDep, SessionDep
from api.routes.me import OwnPhoneDep
from api.schemas import Page
from api.voicemail import (
    AUDIO_RESPONSES,
    Folder,
    MessageId,
    audio_response,
    mark_heard,
    messages_page,
    remove_message,
)
from orchestrator.core.errors import NotFoundError
from orchestrator.store import voicemail as store
from orchestrator.store.models import (
    Mailbox,
    MailboxPinChange,
    MailboxPublic,
    VoicemailMessage,
    VoicemailMessagePublic,
    VoicemailMessageUpdate,
)

router = APIRouter(prefix="/api/v1/me/voicemail", tags=["self-care"])


def get_own_mailbox(phone: OwnPhoneDep, session: SessionDep) -> Mailbox:
    """The personal mailbox of the caller's own extension; 404 when it has none."""
    box = store.mailbox_of_extension(session, phone.tenant_id, phone.extension_id)
    if box is None:
        raise NotFoundError(f"extension {phone.number} has no mailbox", extension=phone.number)
    return box


OwnMailboxDep = Annotated[Mailbox, Depends(get_own_mailbox)]


def _own_message(session: SessionDep, box: Mailbox, message_id: str) -> VoicemailMessage:
    assert box.id is not None
    return store.read_message(session, box.id, message_id, box.tenant_id)


@router.get("")
def my_mailbox(session: SessionDep, box: OwnMailboxDep) -> MailboxPublic:
    """The own mailbox with its counts (no PIN: only ``has_pin``)."""
    return store.public_mailbox(session, box)


@router.put("/pin", status_code=status.HTTP_204_NO_CONTENT)
async def change_my_pin(session: SessionDep, box: OwnMailboxDep, data: MailboxPinChange) -> None:
    """A new PIN (4-12 digits; 422 and the old one kept otherwise). The answer is empty."""
    assert box.id is not None
    await run_in_threadpool(store.set_pin, session, box.id, data.pin)


@router.get("/messages")
def my_messages(
    session: SessionDep, box: OwnMailboxDep, page: PageDep, folder: Folder | None = None
) -> Page[VoicemailMessagePublic]:
    """The own mailbox's messages, oldest first (``?folder=new|old``)."""
    assert box.id is not None
    return messages_page(session, box.id, scope=box.tenant_id, folder=folder, page=page)


@router.get("/messages/{message_id}/audio", response_class=Response, responses=AUDIO_RESPONSES)
async def my_message_audio(
    session: SessionDep, services: ServicesDep, box: OwnMailboxDep, message_id: MessageId
) -> Response:
    """The message's WAV (S3 once uploaded, else the engine's copy)."""
    return await audio_response(services, _own_message(session, box, message_id))


@router.patch("/messages/{message_id}")
async def update_my_message(
    session: SessionDep,
    services: ServicesDep,
    box: OwnMailboxDep,
    message_id: MessageId,
    data: VoicemailMessageUpdate,
) -> VoicemailMessagePublic:
    """``{"heard": true}`` moves the message to old, ``false`` back to new."""
    row = _own_message(session, box, message_id)
    return await mark_heard(session, services, row, heard=data.heard)


@router.delete("/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_my_message(
    session: SessionDep, services: ServicesDep, box: OwnMailboxDep, message_id: MessageId
) -> None:
    """Delete the message and its audio."""
    await remove_message(session, services, _own_message(session, box, message_id))
