"""Follows the engine's recordings and uploads the finished ones to S3.

- ``RecordingStarted`` of a leg whose tenant a lookup knows (an IVR flow's or a CTI
  call's leg, see :mod:`orchestrator.recordings.sources`) makes a row; recordings of
  legs nobody claims (another application's, a test's) are left alone.
- ``RecordingFinished`` with state ``done`` makes it ``local``: due for upload.
- The uploader claims due rows with a lease, fetches the file from the engine
  (``Engine.recording_file``), puts it in the bucket (in a worker thread), marks it
  ``uploaded`` and only then deletes the engine's copy. A failure is retried with
  backoff, without a limit: the engine keeps the file until an upload succeeds. After a
  restart the rows still ``local``/``failed`` (or ``uploading`` past their lease) are
  picked up again.
- :meth:`RecordingService.on_cdr` (a CDR builder listener) links recordings to the CDR.

Without an S3 bucket configured (``storage=None``) recordings are tracked and stay on
the engine; the API still lists and plays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError
from orchestrator.core.events import Event, RecordingFinished, RecordingStarted
from orchestrator.recordings.s3 import S3Storage
from orchestrator.recordings.uploads import upload_loop
from orchestrator.store import recordings as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import RecordingPublic, RecordingState, utcnow
from orchestrator.webhooks.worker import RetryPolicy

log = logging.getLogger("orchestrator.recordings")

# Which tenant a recorded leg belongs to (None: not ours); for a recording of no leg (a
# conference's), which tenant the recording's name belongs to.
TenantLookup = Callable[[str], int | None]
# Called with (tenant_id, the recording as JSON) after each upload.
Listener = Callable[[int, dict[str, Any]], Awaitable[None] | None]
# Retried until it works: the recording is kept on the engine meanwhile.
UPLOAD_RETRY = RetryPolicy(max_attempts=1_000_000, base_s=5.0, factor=2.0, max_s=600.0)


def audio_format(audio: bytes) -> str:
    """The file's format from its first bytes (the engine's name does not say)."""
    if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        return "wav"
    return "raw"


class RecordingService:
    """See the module doc. ``node`` names the engine node that holds the local copies."""

    def __init__(
        self,
        engine: Engine,
        sessions: SessionFactory,
        *,
        node: str,
        storage: S3Storage | None = None,
        retry: RetryPolicy = UPLOAD_RETRY,
        poll_s: float = 2.0,
        batch: int = 4,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.node = node
        self.storage = storage
        self.retry = retry
        self.poll_s = poll_s
        self.batch = batch
        self.lookups: list[TenantLookup] = []
        self.name_lookups: list[TenantLookup] = []  # by recording name: conferences'
        # Recording names another feature keeps on the engine itself (voicemail's "vm/").
        self.skip_prefixes: list[str] = []
        self.listeners: list[Listener] = []
        self.uploaded = 0
        self._writes: asyncio.Queue[Callable[[], None]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._unsubscribe = self.engine.subscribe(self._on_event)
        self._tasks = [asyncio.create_task(self._writer(), name="recordings-writer")]
        if self.storage is not None:
            self._tasks.append(asyncio.create_task(self._uploader(), name="recordings-upload"))

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with contextlib.suppress(TimeoutError):
            await self.flush(5.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every recording event so far is in the store."""
        async with asyncio.timeout(timeout):
            await self._writes.join()

    def wake(self) -> None:
        self._wake.set()

    # -- engine events -----------------------------------------------------------------------
    def tenant_of(self, leg_id: str, lookups: Sequence[TenantLookup] | None = None) -> int | None:
        for lookup in self.lookups if lookups is None else lookups:
            try:
                tenant = lookup(leg_id)
            except Exception:
                log.exception("recording lookup %r failed for %s", lookup, leg_id)
                continue
            if tenant is not None:
                return tenant
        return None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RecordingStarted | RecordingFinished) and any(
            event.recording.startswith(prefix) for prefix in self.skip_prefixes
        ):
            return
        if isinstance(event, RecordingStarted):
            # A leg's recording, or one of no leg (a conference's, by its name).
            tenant = (
                self.tenant_of(event.leg_id)
                if event.leg_id
                else self.tenant_of(event.recording, self.name_lookups)
            )
            if tenant is None:
                return
            at = datetime.fromtimestamp(event.timestamp, UTC)
            self._writes.put_nowait(
                lambda: self._started(event.recording, tenant, event.leg_id, at)
            )
        elif isinstance(event, RecordingFinished):
            at = datetime.fromtimestamp(event.timestamp, UTC)
            ok = event.state == "done"
            self._writes.put_nowait(
                lambda: self._finished(event.recording, ok, event.duration, at, event.cause)
            )

    def _started(self, name: str, tenant_id: int, leg_id: str, at: datetime) -> None:
        with self.sessions() as session:
            store.start_recording(
                session, node=self.node, name=name, tenant_id=tenant_id, leg_id=leg_id,
                started_at=at,
            )  # fmt: skip

    def _finished(self, name: str, ok: bool, duration: float, at: datetime, cause: str) -> None:
        with self.sessions() as session:
            store.finish_recording(
                session, node=self.node, name=name, ok=ok, duration=duration, at=at, cause=cause
            )

    async def _writer(self) -> None:
        # One writer, in event order: a recording's start is stored before its end.
        while True:
            write = await self._writes.get()
            try:
                await asyncio.to_thread(write)
                self._wake.set()
            except Exception:
                log.exception("could not store a recording event")
            finally:
                self._writes.task_done()

    # -- CDR link ------------------------------------------------------------------------------
    async def on_cdr(self, cdr_id: int) -> None:
        """A CDR builder listener: the call's recordings get the CDR's id and call id."""
        await self.flush()

        def link() -> int:
            with self.sessions() as session:
                return store.link_cdr(session, cdr_id)

        await asyncio.to_thread(link)

    # -- uploads --------------------------------------------------------------------------------
    async def _uploader(self) -> None:
        await upload_loop(self._wake, self._claim, self.upload, batch=self.batch,
                          poll_s=self.poll_s, what="recordings", log=log)  # fmt: skip

    def _claim(self) -> list[store.DueUpload]:
        now = utcnow()
        with self.sessions() as session:
            return store.claim_uploads(
                session, node=self.node, now=now, lease_until=now + timedelta(minutes=10),
                limit=self.batch,
            )  # fmt: skip

    async def upload(self, item: store.DueUpload) -> bool:
        """Upload one recording; True when it is in S3 (and off the engine)."""
        storage = self.storage
        assert storage is not None
        try:
            audio = await self.engine.recording_file(item.name)
        except NotFoundError:
            await self._failed(item, "the engine has no such recording", retry=False)
            return False
        except Exception as exc:
            await self._failed(item, f"could not read it from the engine: {exc}")
            return False
        fmt = audio_format(audio)
        key = storage.key_for(item.tenant_id, item.uuid, fmt, item.started_at)
        meta = {"tenant-id": str(item.tenant_id), "recording": item.name, "node": self.node}
        try:
            etag = await asyncio.to_thread(storage.put, key, audio, fmt=fmt, metadata=meta)
        except Exception as exc:
            await self._failed(item, f"upload to {storage.bucket}/{key} failed: {exc}")
            return False

        def mark() -> RecordingPublic | None:
            with self.sessions() as session:
                row = store.mark_uploaded(
                    session, item.id, bucket=storage.bucket, key=key, etag=etag,
                    size=len(audio), fmt=fmt, at=utcnow(),
                )  # fmt: skip
                return None if row is None else RecordingPublic.model_validate(row)

        public = await asyncio.to_thread(mark)
        # Only now is the engine's copy expendable.
        try:
            await self.engine.delete_recording(item.name)
        except NotFoundError:
            pass
        except Exception:
            log.exception("recording %s uploaded but not deleted from the engine", item.name)
        self.uploaded += 1
        if public is not None:
            await self._notify(item.tenant_id, public.model_dump(mode="json"))
        return True

    async def _failed(self, item: store.DueUpload, error: str, *, retry: bool = True) -> None:
        log.warning("recording %s: %s", item.name, error)
        now = utcnow()
        retry_at = now + timedelta(seconds=self.retry.delay(item.attempts + 1)) if retry else None

        def mark() -> None:
            with self.sessions() as session:
                store.mark_failed(session, item.id, error=error, retry_at=retry_at, at=now)

        await asyncio.to_thread(mark)

    async def purge(self, audio: Sequence[store.StoredAudio]) -> list[str]:
        """Delete the audio of recordings whose records are gone (a deleted tenant's): the
        S3 object of an uploaded one, the engine's copy of the others. Returns what could
        not be deleted (logged, one line each, so an operator can remove it by hand)."""
        left: list[str] = []
        for item in audio:
            try:
                if item.s3_key:
                    if self.storage is None or self.storage.bucket != item.s3_bucket:
                        raise RuntimeError(f"bucket {item.s3_bucket!r} is not configured here")
                    await asyncio.to_thread(self.storage.delete, item.s3_key)
                if item.state != RecordingState.UPLOADED:
                    with contextlib.suppress(NotFoundError):
                        await self.engine.delete_recording(item.name)
            except Exception as exc:
                where = f"s3://{item.s3_bucket}/{item.s3_key}" if item.s3_key else item.name
                log.warning("recording %s of a deleted tenant is left: %s", where, exc)
                left.append(where)
        return left

    async def _notify(self, tenant_id: int, recording: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                result = listener(tenant_id, recording)
                if result is not None:
                    await result
            except Exception:
                log.exception("recording listener %r failed", listener)
