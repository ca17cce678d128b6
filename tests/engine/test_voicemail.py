"""Voicemail on the real Asterisk through the whole service: a SIPp phone leaves a
message (it speaks a 440 Hz tone after the greeting, then hangs up), the owner's phone
hears it back through the owner menu (PIN and keys as RFC 2833 events), the message's
WAV lands in S3 and arrives by e-mail at an SMTP server (aiosmtpd) started here.

Both flows are reached by DIDs (IVR apps ``voicemail_deposit`` / ``voicemail_main`` of
the mailbox "101"), as the feature codes will reach the same code once routed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
import struct
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller

from api.services import services_of
from orchestrator.ivr.call import IvrCall
from orchestrator.pbx.voicemail.mail import SmtpConfig, VoicemailMailer
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import wav_seconds
from tests.engine.conftest import S3_BUCKET, Service
from tests.engine.phones import TenantPhones, add_ivr_app, create_tenant, phone_ports

pytestmark = pytest.mark.engine

PORT = phone_ports("test_voicemail", "101", "102", "smtp")
DEPOSIT, MAIN = "+17333559131", "+17333559132"
PIN = "4711"
# Asterisk's greeting ("the person at extension 1 0 1 is unavailable, please leave your
# message after the tone...", then the beep) lasts about 12.1 s (its GSM files' sizes):
# the phone is silent that long plus a margin, then speaks 4 s and hangs up.
SILENCE_S, SPEAK_S = 13.5, 4.0


class Inbox:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        return "250 OK"


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=PORT["smtp"])
    controller.start()
    yield box
    controller.stop()


def voicemail(service: Service) -> VoicemailService:
    assert service.app is not None
    found = services_of(service.app).voicemail
    assert found is not None
    return found


@pytest.fixture(scope="module")
def world(service: Service, inbox: Inbox) -> dict[str, Any]:
    phones = create_tenant(service, "Voicemail", "vm.example", {n: PORT[n] for n in ("101", "102")})
    # The service's own voicemail sends its e-mails to this module's SMTP server.
    voicemail(service).mailer = VoicemailMailer(
        SmtpConfig(host="127.0.0.1", port=PORT["smtp"], sender="vm@vm.example")
    )
    with service.client() as http:
        r = http.post(
            "/api/v1/mailboxes",
            json={"tenant_id": phones.id, "extension_id": phones.extension_ids["101"],
                  "number": "101", "pin": PIN, "email": "ann@vm.example"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        box = r.json()
        add_ivr_app(http, phones.id, DEPOSIT, pricing_batch="vm", name="vm-leave",
                    app="voicemail_deposit", settings={"mailbox": "101"},
                    max_duration_s=120)  # fmt: skip
        add_ivr_app(http, phones.id, MAIN, pricing_batch="vm", name="vm-listen",
                    app="voicemail_main", settings={"mailbox": "101"},
                    max_duration_s=120)  # fmt: skip
        r = http.get(f"/api/v1/tenants/{phones.id}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return {"phones": phones, "box": box}


async def until(ready: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        await asyncio.sleep(0.2)


def messages(service: Service, box_id: int) -> list[dict[str, Any]]:
    with service.client() as http:
        r = http.get(f"/api/v1/mailboxes/{box_id}/messages")
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


def rms(wav: bytes) -> float:
    """The loudness of a 16-bit PCM WAV's samples (0 for silence)."""
    data = wav[44:]
    samples = struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2])
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


async def test_leave_a_message_then_hear_it_in_the_owner_menu(
    service: Service, world: dict[str, Any], inbox: Inbox
) -> None:
    phones: TenantPhones = world["phones"]
    box = world["box"]
    result = await phones.call("102", DEPOSIT, silence_s=SILENCE_S, audio_s=SPEAK_S, timeout=60)
    assert result.answered, result.log
    assert not result.far_end_hangup, "the caller ended the message by hanging up"
    [message] = await until(lambda: messages(service, box["id"]), "the message is stored")
    assert message["folder"] == "new" and message["caller_number"] == "102"
    # Recorded from the beep (~12.2 s) to the hang-up (~17.8 s): about 5.5 s (5.34 s here).
    assert 4.0 <= message["duration_s"] <= 7.5, message
    uploaded = await until(
        lambda: [m for m in messages(service, box["id"]) if m["uploaded"]], "uploaded to S3"
    )
    assert uploaded[0]["id"] == message["id"]

    # The WAV in S3: as long as the message says, and the phone's tone in it.
    vm = voicemail(service)
    with vm.sessions() as session:
        from orchestrator.store.models import VoicemailMessage

        row = session.get(VoicemailMessage, message["id"])
        assert row is not None and row.s3_key and row.s3_bucket == S3_BUCKET
        key, recording = row.s3_key, row.recording
    s3 = boto3.client(
        "s3", endpoint_url=service.s3_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    wav = s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 44 + 8000
    assert wav_seconds(wav) == pytest.approx(message["duration_s"], abs=0.5)
    # The tone's RMS is 4243; over 4 s of ~5.3 s with silence before it, ~3700 (3672 here).
    assert rms(wav) > 2000, "the phone's 440 Hz tone was recorded, not only silence"
    with service.client() as http:
        r = http.get(f"/api/v1/mailboxes/{box['id']}/messages/{message['id']}/audio")
        assert r.status_code == 200 and r.content == wav

    # The e-mail, with the same WAV attached.
    await until(lambda: inbox.mails, "the e-mail arrived")
    [mail] = inbox.mails
    assert mail["To"] == "ann@vm.example" and "mailbox 101" in mail["Subject"]
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "audio/wav" and attachment.get_content() == wav

    # The owner calls in: PIN, "1" (listen). The flow plays the message to the phone.
    played: list[str] = []

    def observe(_call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play" and _call.app == "vm-listen":
            played.extend(details["media"])

    runner = services_of(service.app).ivr_runner  # type: ignore[arg-type]
    assert runner is not None
    runner.observers.append(observe)
    try:
        listened = await phones.call("101", MAIN, dtmf=f"{PIN}#1", hold_ms=16_000, timeout=60)
    finally:
        runner.observers.remove(observe)
    assert listened.answered, listened.log
    assert f"recording:{recording}" in played, played
    assert "prompt:voicemail-pin-incorrect" not in played
    [heard] = messages(service, box["id"])
    assert heard["folder"] == "old", "heard through the menu"
    with service.client() as http:
        counts = http.get(f"/api/v1/mailboxes/{box['id']}").json()
    assert (counts["new_messages"], counts["old_messages"]) == (0, 1)
