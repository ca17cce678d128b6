"""Where voicemail audio lives: on the engine (to play it) and in S3 (to keep it).

A message is an engine recording (``vm/<hex>``): the engine keeps it, because a phone
plays it from there, and the uploader copies it to the recordings' S3 bucket
(:class:`~orchestrator.recordings.S3Storage`, key ``voicemail/t<tenant>/<yyyy/mm/dd>/<id>.wav``).
Like call recordings, the engine's copy is the local buffer: an upload that fails is
retried (every ``retry_s``) until it works, and a message not uploaded yet is downloaded
from the engine. Unlike call recordings, the engine's copy is not deleted after the
upload (call recordings skip ``vm/`` names for that reason). Greetings stay on the
engine only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError
from orchestrator.recordings import S3Storage, audio_format
from orchestrator.recordings.uploads import upload_loop
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import VoicemailMessage, utcnow

log = logging.getLogger("orchestrator.pbx.voicemail")

# The engine recording names voicemail uses (call recordings leave them alone).
RECORDING_PREFIX = "vm/"


def wav_seconds(audio: bytes) -> float:
    """The length of a PCM WAV file from its header (0 if it is none)."""
    if len(audio) < 44 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return 0.0
    pos, byte_rate = 12, 0
    while pos + 8 <= len(audio):
        chunk, size = audio[pos : pos + 4], struct.unpack_from("<I", audio, pos + 4)[0]
        if chunk == b"fmt " and size >= 16:
            byte_rate = struct.unpack_from("<I", audio, pos + 16)[0]
        elif chunk == b"data":
            data = min(size, len(audio) - pos - 8)
            return data / byte_rate if byte_rate else 0.0
        pos += 8 + size + (size & 1)
    return 0.0


def s3_key(tenant_id: int, message_id: str, created: datetime) -> str:
    return f"voicemail/t{tenant_id}/{created:%Y/%m/%d}/{message_id}.wav"


class VoicemailStorage:
    """Uploads messages to S3 (when a bucket is configured) and reads their audio back."""

    def __init__(
        self,
        engine: Engine,
        sessions: SessionFactory,
        s3: S3Storage | None,
        *,
        poll_s: float = 2.0,
        retry_s: float = 30.0,
        batch: int = 4,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.s3 = s3
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.batch = batch
        self.uploaded = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[str], None]] = []  # message id, after its upload

    async def start(self) -> None:
        if self.s3 is not None:
            self._task = asyncio.create_task(self._uploader(), name="voicemail-upload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _uploader(self) -> None:
        await upload_loop(self._wake, self._due, self.upload, batch=self.batch,
                          poll_s=self.poll_s, what="voicemail messages", log=log)  # fmt: skip

    def _due(self) -> list[store.DueUpload]:
        with self.sessions() as session:
            return store.due_uploads(session, now=utcnow(), limit=self.batch)

    async def upload(self, item: store.DueUpload) -> bool:
        """Copy one message to S3; True when it is there."""
        s3 = self.s3
        assert s3 is not None
        retry_at: datetime | None = utcnow() + timedelta(seconds=self.retry_s)
        try:
            audio = await self.engine.recording_file(item.recording)
            key = s3_key(item.tenant_id, item.id, item.created_at)
            meta = {"tenant-id": str(item.tenant_id), "voicemail": item.id}
            fmt = audio_format(audio)
            await asyncio.to_thread(s3.put, key, audio, fmt=fmt, metadata=meta)
        except Exception as exc:
            if isinstance(exc, NotFoundError):
                retry_at = None  # nothing to upload, ever
            log.warning("voicemail %s: upload failed: %s", item.id, exc)
            error = str(exc) or type(exc).__name__

            def failed() -> None:
                with self.sessions() as session:
                    store.mark_upload_failed(session, item.id, error=error, retry_at=retry_at)

            await asyncio.to_thread(failed)
            return False

        def done() -> None:
            with self.sessions() as session:
                store.mark_uploaded(session, item.id, bucket=s3.bucket, key=key, size=len(audio))

        await asyncio.to_thread(done)
        self.uploaded += 1
        for listener in list(self.listeners):
            listener(item.id)
        return True

    async def audio(self, message: VoicemailMessage) -> bytes:
        """The message's audio: from S3 once uploaded, else from the engine."""
        if message.uploaded and message.s3_key and self.s3 is not None:
            chunks, _length, _type = await asyncio.to_thread(self.s3.open, message.s3_key)
            return await asyncio.to_thread(lambda: b"".join(chunks))
        return await self.engine.recording_file(message.recording)

    async def delete(self, recording: str, s3_key: str | None = None) -> None:
        """Delete audio from the engine and (``s3_key``) from S3; gone already is fine."""
        if s3_key and self.s3 is not None:
            try:
                await asyncio.to_thread(self.s3.delete, s3_key)
            except Exception as exc:
                log.warning("voicemail audio s3://%s/%s is left: %s", self.s3.bucket, s3_key, exc)
        try:
            await self.engine.delete_recording(recording)
        except NotFoundError:
            pass
        except Exception as exc:
            log.warning("voicemail recording %s is left on the engine: %s", recording, exc)
