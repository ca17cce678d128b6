"""Voicemail to e-mail: each new message mailed to its mailbox's ``email``, the WAV attached.

Sent with aiosmtplib to the SMTP server of ``ORCH_SMTP_HOST`` / ``ORCH_SMTP_PORT`` (from
``ORCH_SMTP_FROM``; ``ORCH_SMTP_STARTTLS``, ``ORCH_SMTP_USERNAME`` / ``_PASSWORD`` when
the server wants them). No host: no e-mail. The caller's number and name come from
the network and may be spoofed or hold anything: they are reduced to printable text
before they reach a header (no header injection). Example::

    mailer = VoicemailMailer(SmtpConfig(host="smtp.example.com", sender="vm@example.com"))
    await mailer.send(to="ann@example.com", mailbox="101", message=row, audio=wav)
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

import aiosmtplib

from orchestrator.store.models import VoicemailMessage

if TYPE_CHECKING:
    from orchestrator.settings import Settings


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "voicemail@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = 30.0


def _printable(text: str, limit: int = 80) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:limit]


class VoicemailMailer:
    """Composes and sends the e-mail of one voicemail message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> VoicemailMailer | None:
        if not settings.smtp_host:
            return None
        return cls(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                timeout_s=settings.smtp_timeout_s,
            )
        )

    def compose(
        self, *, to: str, mailbox: str, message: VoicemailMessage, audio: bytes | None
    ) -> EmailMessage:
        caller = _printable(message.caller_number) or "an unknown caller"
        name = _printable(message.caller_name)
        who = f"{name} <{caller}>" if name else caller
        seconds = round(message.duration_s)
        mail = EmailMessage()
        mail["From"] = self.config.sender
        mail["To"] = to
        mail["Subject"] = f"New voicemail from {who} ({seconds} s) in mailbox {mailbox}"
        mail["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
        mail["Message-ID"] = make_msgid("voicemail")
        mail.set_content(
            f"You have a new voicemail message in mailbox {mailbox}.\n\n"
            f"From: {who}\nReceived: {message.created_at:%Y-%m-%d %H:%M:%S} UTC\n"
            f"Length: {seconds} s\n\nDial your voicemail code to listen to it.\n"
        )
        if audio:
            mail.add_attachment(
                audio, maintype="audio", subtype="wav", filename=f"voicemail-{message.id}.wav"
            )
        return mail

    async def send(
        self, *, to: str, mailbox: str, message: VoicemailMessage, audio: bytes | None
    ) -> None:
        mail = self.compose(to=to, mailbox=mailbox, message=message, audio=audio)
        c = self.config
        await aiosmtplib.send(
            mail,
            hostname=c.host,
            port=c.port,
            username=c.username or None,
            password=c.password or None,
            start_tls=c.starttls,
            timeout=c.timeout_s,
        )
        self.sent += 1
