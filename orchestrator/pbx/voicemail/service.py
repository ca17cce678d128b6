"""What the voicemail flows and the API do to mailboxes, in one place.

Every change of a mailbox's counts (a deposit; a message heard, saved or deleted, on a
phone or through the API) goes through here, so the message-waiting lights always hear
of it (:class:`~orchestrator.pbx.voicemail.notify.MwiNotifier`). A deposit also
publishes ``voicemail_deposited`` on the tenant's event stream (WebSocket, webhooks),
wakes the S3 uploader and, when the mailbox has an ``email``, mails the message. The
store is synchronous: each read or write runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session

from orchestrator.core.errors import NotFoundError
from orchestrator.pbx.voicemail.mail import VoicemailMailer
from orchestrator.pbx.voicemail.notify import NO_MWI, EventSink, MwiNotifier
from orchestrator.pbx.voicemail.storage import VoicemailStorage, wav_seconds
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Mailbox, VoicemailMessage

log = logging.getLogger("orchestrator.pbx.voicemail")
T = TypeVar("T")

# Deposit listeners (the xDR writer, tests): (mailbox, message) after it is stored.
DepositListener = Callable[[Mailbox, VoicemailMessage], object]


class VoicemailService:
    """See the module doc."""

    def __init__(
        self,
        sessions: SessionFactory,
        storage: VoicemailStorage,
        *,
        mwi: MwiNotifier = NO_MWI,
        events: EventSink | None = None,
        mailer: VoicemailMailer | None = None,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.engine = storage.engine
        self.mwi = mwi
        self.events = events
        self.mailer = mailer
        self.listeners: list[DepositListener] = []
        self._background: set[asyncio.Task[None]] = set()

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return work(session)

        return await asyncio.to_thread(run)

    # -- reads -----------------------------------------------------------------------------
    async def mailbox_of_extension(self, tenant_id: int, extension_id: int) -> Mailbox | None:
        return await self._db(lambda s: store.mailbox_of_extension(s, tenant_id, extension_id))

    async def mailbox_by_number(self, tenant_id: int, number: str) -> Mailbox | None:
        return await self._db(lambda s: store.mailbox_by_number(s, tenant_id, number))

    async def reload(self, box: Mailbox) -> Mailbox:
        assert box.id is not None
        mailbox_id = box.id
        found = await self._db(lambda s: s.get(Mailbox, mailbox_id))
        if found is None:
            raise NotFoundError(f"mailbox {mailbox_id} not found", mailbox_id=mailbox_id)
        return found

    async def check_pin(self, box: Mailbox, pin: str) -> bool:
        assert box.id is not None
        mailbox_id = box.id
        return await self._db(lambda s: store.check_mailbox_pin(s, mailbox_id, pin))

    async def counts(self, box: Mailbox) -> tuple[int, int]:
        assert box.id is not None
        mailbox_id = box.id
        return await self._db(lambda s: store.counts(s, mailbox_id))

    async def messages(self, box: Mailbox, folder: str) -> list[VoicemailMessage]:
        assert box.id is not None
        mailbox_id = box.id

        def read(session: Session) -> list[VoicemailMessage]:
            rows, _ = store.list_messages(session, mailbox_id, scope=None, folder=folder, limit=500)
            return list(rows)

        return await self._db(read)

    # -- changes -------------------------------------------------------------------------------
    async def deposited(
        self,
        box: Mailbox,
        *,
        recording: str,
        duration_s: float,
        reason: str,
        caller_number: str = "",
        caller_name: str = "",
        call_id: str = "",
        at: datetime | None = None,
        min_s: float = 0.0,
    ) -> VoicemailMessage | None:
        """Store a recorded message and tell everyone who needs to know; a message
        shorter than ``min_s`` is deleted instead (None)."""
        try:
            audio: bytes | None = await self.engine.recording_file(recording)
        except Exception as exc:
            log.warning("voicemail %s: cannot read the recording back: %s", recording, exc)
            audio = None
        # ARI reports whole seconds (or none): the file's own length is exact.
        measured = wav_seconds(audio or b"")
        duration_s = measured or duration_s
        if duration_s < min_s:
            await self.storage.delete(recording)
            return None
        message = await self._db(
            lambda s: store.add_message(
                s, box, recording=recording, duration_s=duration_s,
                size_bytes=len(audio or b""), caller_number=caller_number,
                caller_name=caller_name, call_id=call_id, reason=reason, at=at,
            )
        )  # fmt: skip
        self.storage.wake()
        await self._changed(box)
        self._publish(box, message)
        for listener in list(self.listeners):
            try:
                listener(box, message)
            except Exception:
                log.exception("voicemail deposit listener %r failed", listener)
        if self.mailer is not None and box.email:
            self._later(self._mail(box, message, audio))
        return message

    async def mark(self, box: Mailbox, message: VoicemailMessage, folder: str) -> None:
        if await self._db(lambda s: store.set_folder(s, message.id, folder)):
            message.folder = folder
            await self._changed(box)

    async def delete(self, box: Mailbox, message: VoicemailMessage) -> None:
        row = await self._db(lambda s: store.delete_message(s, message.id))
        if row is None:
            return
        await self.storage.delete(row.recording, row.s3_key)
        await self._changed(box)

    async def set_greeting(self, box: Mailbox, kind: str, recording: str) -> None:
        assert box.id is not None
        mailbox_id = box.id
        old = await self._db(lambda s: store.set_greeting(s, mailbox_id, kind, recording))
        setattr(box, f"greeting_{kind}", recording)
        if old and old != recording:
            await self.storage.delete(old)

    async def set_pin(self, box: Mailbox, pin: str) -> None:
        assert box.id is not None
        mailbox_id = box.id
        await self._db(lambda s: store.set_pin(s, mailbox_id, pin))

    async def _changed(self, box: Mailbox) -> None:
        assert box.id is not None
        try:
            await self.mwi.changed(box.tenant_id, box.id)
        except Exception:
            log.exception("MWI notifier failed for mailbox %s", box.id)

    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        """The API changed a mailbox's counts (heard, deleted)."""
        try:
            await self.mwi.changed(tenant_id, mailbox_id)
        except Exception:
            log.exception("MWI notifier failed for mailbox %s", mailbox_id)

    def _publish(self, box: Mailbox, message: VoicemailMessage) -> None:
        if self.events is None:
            return
        call: dict[str, Any] = {"id": message.call_id, "tenant_id": box.tenant_id}
        details = {
            "mailbox_id": box.id,
            "mailbox": box.number,
            "extension_id": box.extension_id,
            "message_id": message.id,
            "caller_number": message.caller_number,
            "caller_name": message.caller_name,
            "duration_s": message.duration_s,
            "reason": message.reason,
        }
        try:
            self.events("voicemail_deposited", box.tenant_id, call, details)
        except Exception:
            log.exception("could not publish voicemail_deposited")

    # -- e-mail -----------------------------------------------------------------------------------
    def _later(self, coro: Any) -> None:
        # The caller's flow must not wait for the SMTP server.
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _mail(self, box: Mailbox, message: VoicemailMessage, audio: bytes | None) -> None:
        assert self.mailer is not None and box.email
        try:
            await self.mailer.send(
                to=box.email,
                mailbox=box.number,
                message=message,
                audio=audio if box.attach_audio else None,
            )
        except Exception as exc:
            log.warning("voicemail %s: e-mail to mailbox %s failed: %s", message.id, box.id, exc)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for e-mails being sent (tests, shutdown)."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
