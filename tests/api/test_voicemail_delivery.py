"""Where a voicemail message goes after the deposit: S3 (a real S3-compatible server,
moto's, with the engine's copy as the buffer while S3 fails), e-mail (a real SMTP
server, aiosmtpd, started here; the WAV attached), and not into call recordings."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from orchestrator.core.events import RecordingFinished, RecordingStarted
from orchestrator.core.fake import FakeEngine, silent_wav
from orchestrator.pbx.voicemail.mail import SmtpConfig, VoicemailMailer
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import VoicemailStorage
from orchestrator.recordings import RecordingService, S3Config, S3Storage
from orchestrator.settings import Settings
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import (
    Mailbox,
    MailboxCreate,
    MailboxUpdate,
    Recording,
    Tenant,
    VoicemailMessage,
)
from tests.api.test_recordings import bucket, free_port, objects, s3, s3_server

__all__ = ["s3", "s3_server"]  # fixtures


def mailbox(sessions: SessionFactory, **fields: Any) -> Mailbox:
    with sessions() as s:
        tenant = Tenant(name="Acme", sip_domain="acme.example")
        s.add(tenant)
        s.commit()
        assert tenant.id is not None
        data = MailboxCreate(tenant_id=tenant.id, number="101", pin="4711", **fields)
        return store.create_mailbox(s, data, scope=None)


def message(sessions: SessionFactory, box_id: int) -> VoicemailMessage:
    with sessions() as s:
        found = s.get(VoicemailMessage, store.list_messages(s, box_id, scope=None)[0][0].id)
        assert found is not None
        return found


async def until(check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not so after {timeout} s")


async def test_upload_waits_for_s3_then_lands_and_the_engine_keeps_its_copy(
    db_sessions: SessionFactory, s3: S3Config
) -> None:
    engine = FakeEngine()
    await engine.start()
    storage = VoicemailStorage(engine, db_sessions, S3Storage(s3), poll_s=0.05, retry_s=0.05)
    service = VoicemailService(db_sessions, storage)
    box = mailbox(db_sessions)
    box_id = box.id
    assert box_id is not None
    audio = silent_wav(2.5)
    engine.recordings["vm/abc"] = audio
    await storage.start()
    try:
        # No bucket yet: the upload fails and is retried; the audio comes from the engine.
        stored = await service.deposited(box, recording="vm/abc", duration_s=0, reason="busy")
        assert stored is not None and stored.duration_s == pytest.approx(2.5, abs=0.01)
        await until(lambda: message(db_sessions, box_id).upload_error)
        row = message(db_sessions, box_id)
        assert not row.uploaded and await storage.audio(row) == audio
        client = bucket(s3)
        await until(lambda: message(db_sessions, box_id).uploaded)
        row = message(db_sessions, box_id)
        assert row.s3_bucket == s3.bucket and row.s3_key is not None
        assert row.s3_key.startswith(f"voicemail/t{box.tenant_id}/") and row.upload_error is None
        assert client.get_object(Bucket=s3.bucket, Key=row.s3_key)["Body"].read() == audio
        assert engine.recordings["vm/abc"] == audio, "kept on the engine: phones play it there"
        assert await storage.audio(row) == audio
        await service.delete(box, row)
        assert objects(client, s3) == [] and "vm/abc" not in engine.recordings
    finally:
        await storage.stop()
        await engine.stop()


class Inbox:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_the_message_is_mailed_with_its_audio(
    db_sessions: SessionFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    engine = FakeEngine()
    mailer = VoicemailMailer(SmtpConfig(host="127.0.0.1", port=port, sender="vm@acme.example"))
    storage = VoicemailStorage(engine, db_sessions, None)
    service = VoicemailService(db_sessions, storage, mailer=mailer)
    box = mailbox(db_sessions, email="ann@acme.example")
    audio = silent_wav(3.0)
    engine.recordings["vm/m1"] = audio
    stored = await service.deposited(
        box, recording="vm/m1", duration_s=3, reason="unavailable",
        caller_number="+15550100", caller_name="Bob\r\nBcc: victim@evil.example",
    )  # fmt: skip
    assert stored is not None
    await service.drain()
    [mail] = inbox.mails
    assert mail["To"] == "ann@acme.example" and mail["From"] == "vm@acme.example"
    assert "+15550100" in mail["Subject"] and "mailbox 101" in mail["Subject"]
    assert mail["Bcc"] is None, "no header injection through the caller's name"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_content() == audio
    assert attachment.get_filename() == f"voicemail-{stored.id}.wav"
    # Without attach_audio: the notice only.
    with db_sessions() as s:
        assert box.id is not None
        box = store.update_mailbox(s, box.id, MailboxUpdate(attach_audio=False), scope=None)
    engine.recordings["vm/m2"] = audio
    await service.deposited(box, recording="vm/m2", duration_s=3, reason="busy")
    await service.drain()
    assert len(inbox.mails) == 2 and list(inbox.mails[1].iter_attachments()) == []


async def test_no_mail_without_an_address_or_a_server(db_sessions: SessionFactory) -> None:
    assert VoicemailMailer.from_settings(Settings(smtp_host="")) is None
    assert VoicemailMailer.from_settings(Settings(smtp_host="smtp.example")) is not None
    engine = FakeEngine()
    storage = VoicemailStorage(engine, db_sessions, None)
    # A server that is not there: the deposit is stored all the same.
    mailer = VoicemailMailer(SmtpConfig(host="127.0.0.1", port=free_port(), timeout_s=2))
    service = VoicemailService(db_sessions, storage, mailer=mailer)
    box = mailbox(db_sessions, email="ann@acme.example")
    engine.recordings["vm/m1"] = silent_wav(2.0)
    assert await service.deposited(box, recording="vm/m1", duration_s=2, reason="busy")
    await service.drain()
    assert mailer.sent == 0


async def test_call_recordings_leave_voicemail_alone(db_sessions: SessionFactory) -> None:
    engine = FakeEngine()
    recordings = RecordingService(engine, db_sessions, node="n1")
    recordings.lookups.append(lambda _leg: 1)
    recordings.skip_prefixes.append("vm/")
    mailbox(db_sessions)  # the tenant
    await recordings.start()
    try:
        for name in ("vm/message", "ivr/prompt"):
            await engine.emit(RecordingStarted(recording=name, leg_id="leg1"))
            await engine.emit(RecordingFinished(recording=name, leg_id="leg1"))
        await recordings.flush()
    finally:
        await recordings.stop()
    with db_sessions() as s:
        names = [r.name for r in s.exec(select(Recording)).all()]
    assert names == ["ivr/prompt"]
