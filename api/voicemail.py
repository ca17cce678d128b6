"""What a mailbox's routes do alike with its messages, for the tenant admin's
``/api/v1/mailboxes`` (api/routes/mailboxes.py) and the owner's own
``/api/v1/me/voicemail`` (api/routes/my_voicemail.py): list them, give a message's audio,
mark it heard, delete it, and tell the voicemail service of each change of the counts
(so the phones' message-waiting lamps follow).

Each route first finds the mailbox and the message its own way (the admin's by id within
its tenant, the owner's from its token's extension); these helpers take what it found,
so nothing here decides who may see what. Example::

    row = store.read_message(session, box_id, message_id, scope)   # 404 if not the box's
    return await mark_heard(session, services, row, heard=True)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Response
from sqlmodel import Session

from api.deps import PageParams
from api.schemas import Page, page_of
from api.services import Services
from orchestrator.core.errors import EngineUnavailableError
from orchestrator.store import voicemail as store
from orchestrator.store.models import VoicemailMessage, VoicemailMessagePublic

MessageId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the message's id")]
Folder = Literal["new", "old"]
AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"audio/wav": {}}, "description": "the message's WAV"}
}


async def counts_changed(services: Services, tenant_id: int, mailbox_id: int) -> None:
    """Tell the voicemail service (when this app runs one) that the box's counts moved."""
    if services.voicemail is not None:
        await services.voicemail.changed(tenant_id, mailbox_id)


def messages_page(
    session: Session, mailbox_id: int, *, scope: int | None, folder: Folder | None, page: PageParams
) -> Page[VoicemailMessagePublic]:
    """The mailbox's messages, oldest first (the order the phone plays them)."""
    rows, total = store.list_messages(
        session, mailbox_id, scope=scope, folder=folder, offset=page.offset, limit=page.limit
    )
    return page_of(VoicemailMessagePublic, rows, total, offset=page.offset, limit=page.limit)


async def audio_response(services: Services, row: VoicemailMessage) -> Response:
    """The message's WAV (S3 once uploaded, else the engine's copy); 503 without the
    voicemail service (the API-only app has no engine to read it from)."""
    if services.voicemail is None:
        raise EngineUnavailableError("voicemail is not handled by this service")
    audio = await services.voicemail.storage.audio(row)
    disposition = f'attachment; filename="voicemail-{row.id}.wav"'
    return Response(audio, media_type="audio/wav", headers={"Content-Disposition": disposition})


async def mark_heard(
    session: Session, services: Services, row: VoicemailMessage, *, heard: bool
) -> VoicemailMessagePublic:
    """Move the message to old (heard) or back to new; the lamps are told only when that
    changed something."""
    if store.set_folder(session, row.id, "old" if heard else "new"):
        await counts_changed(services, row.tenant_id, row.mailbox_id)
    session.refresh(row)
    return VoicemailMessagePublic.model_validate(row)


async def remove_message(session: Session, services: Services, row: VoicemailMessage) -> None:
    """Delete the message's row, then its audio (engine and S3), then tell the lamps."""
    store.delete_message(session, row.id)
    if services.voicemail is not None:
        await services.voicemail.storage.delete(row.recording, row.s3_key)
    await counts_changed(services, row.tenant_id, row.mailbox_id)
