"""Data functions for recordings: what the uploader tracks and what the API shows.

A row is made when the engine starts recording a leg the orchestrator knows the tenant
of (``recording``), becomes ``local`` when the recording is done, ``uploading`` while
the uploader holds it, then ``uploaded`` (bucket, key, etag) or ``failed`` (retried at
``next_attempt_at``; the engine keeps its copy until an upload succeeds). It is linked
to its call's CDR (``cdr_id``, ``call_id``) when the CDR is written, by the recording's
name in the CDR's ``recordings`` or by its leg among the CDR's legs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.store._common import page, read_scoped, tenant_filter
from orchestrator.store.models import Cdr, CdrLeg, Recording, RecordingState

_ERROR_MAX = 400
_RETRYABLE = (RecordingState.LOCAL, RecordingState.FAILED, RecordingState.UPLOADING)


# -- the uploader's side -------------------------------------------------------------
def start_recording(
    session: Session,
    *,
    node: str,
    name: str,
    tenant_id: int,
    leg_id: str,
    started_at: datetime,
    fmt: str = "wav",
) -> Recording:
    """The row of a recording the engine started (the existing one if already made)."""
    found = session.exec(
        select(Recording).where(Recording.node == node, Recording.name == name)
    ).first()
    if found is not None:
        return found
    row = Recording(
        uuid=uuid.uuid4().hex,
        node=node,
        name=name,
        tenant_id=tenant_id,
        leg_id=leg_id,
        format=fmt,
        state=RecordingState.RECORDING,
        started_at=started_at,
    )
    session.add(row)
    session.commit()
    return row


def finish_recording(
    session: Session, *, node: str, name: str, ok: bool, duration: float, at: datetime, cause: str
) -> Recording | None:
    """The engine ended the recording: ``local`` (to upload now) or ``missing``."""
    row = session.exec(
        select(Recording).where(Recording.node == node, Recording.name == name)
    ).first()
    if row is None or row.state != RecordingState.RECORDING:
        return row
    row.finished_at, row.updated_at = at, at
    row.duration_s = round(duration, 3) if duration else None
    if ok:
        row.state, row.next_attempt_at = RecordingState.LOCAL, at
    else:
        row.state, row.last_error = RecordingState.MISSING, (cause or "not kept")[:_ERROR_MAX]
    _link_by_leg(session, row)
    session.add(row)
    session.commit()
    return row


@dataclass(frozen=True, slots=True)
class DueUpload:
    id: int
    uuid: str
    name: str
    tenant_id: int
    started_at: datetime
    attempts: int


def claim_uploads(
    session: Session, *, node: str, now: datetime, lease_until: datetime, limit: int
) -> list[DueUpload]:
    """Recordings of ``node`` due for an upload, leased (``uploading``) to this uploader.

    ``uploading`` rows whose lease ran out (the uploader died) are due again.
    """
    rows = session.exec(
        select(Recording)
        .where(
            Recording.node == node,
            col(Recording.state).in_([str(s) for s in _RETRYABLE]),
            col(Recording.next_attempt_at) <= now,
        )
        .order_by(col(Recording.next_attempt_at), col(Recording.id))
        .limit(limit)
    ).all()
    claimed = []
    for row in rows:
        result = session.execute(
            sa.update(Recording)
            .where(
                col(Recording.id) == row.id,
                col(Recording.state) == row.state,
                col(Recording.next_attempt_at).is_not_distinct_from(row.next_attempt_at),
            )
            .values(state=RecordingState.UPLOADING, next_attempt_at=lease_until, updated_at=now)
        )
        if getattr(result, "rowcount", 0) == 1:
            assert row.id is not None
            claimed.append(
                DueUpload(row.id, row.uuid, row.name, row.tenant_id, row.started_at, row.attempts)
            )
    session.commit()
    return claimed


def mark_uploaded(
    session: Session,
    recording_id: int,
    *,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    fmt: str,
    at: datetime,
) -> Recording | None:
    row = session.get(Recording, recording_id)
    if row is None:
        return None
    row.state, row.s3_bucket, row.s3_key, row.etag = RecordingState.UPLOADED, bucket, key, etag
    row.size_bytes, row.format, row.uploaded_at, row.updated_at = size, fmt, at, at
    row.attempts, row.last_error, row.next_attempt_at = row.attempts + 1, None, None
    session.add(row)
    session.commit()
    return row


def mark_failed(
    session: Session,
    recording_id: int,
    *,
    error: str,
    retry_at: datetime | None,
    at: datetime,
) -> None:
    """An upload failed: ``failed`` until ``retry_at``, or ``missing`` when None."""
    row = session.get(Recording, recording_id)
    if row is None:
        return
    row.attempts += 1
    row.last_error, row.updated_at = error[:_ERROR_MAX], at
    if retry_at is None:
        row.state, row.next_attempt_at = RecordingState.MISSING, None
    else:
        row.state, row.next_attempt_at = RecordingState.FAILED, retry_at
    session.add(row)
    session.commit()


def link_cdr(session: Session, cdr_id: int) -> int:
    """Link the CDR's recordings (by name, or by a leg of the CDR) to it; how many."""
    cdr = session.get(Cdr, cdr_id)
    if cdr is None:
        return 0
    legs = session.exec(select(CdrLeg.channel_id).where(CdrLeg.cdr_id == cdr_id)).all()
    match = [col(Recording.leg_id).in_(list(legs))] if legs else []
    if cdr.recordings:
        match.append(col(Recording.name).in_(list(cdr.recordings)))
    if not match:
        return 0
    result = session.execute(
        sa.update(Recording)
        .where(col(Recording.node) == cdr.node, col(Recording.cdr_id).is_(None), sa.or_(*match))
        .values(cdr_id=cdr_id, call_id=cdr.call_id)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def _link_by_leg(session: Session, row: Recording) -> None:
    # The CDR may have been written before the recording finished (or was seen). A
    # recording of no leg (a conference's) is linked by its name in the CDR's recordings.
    if row.cdr_id is not None or not row.leg_id:
        return
    found = session.exec(
        select(Cdr.id, Cdr.call_id)
        .join(CdrLeg, col(CdrLeg.cdr_id) == col(Cdr.id))
        .where(CdrLeg.channel_id == row.leg_id, Cdr.node == row.node)
    ).first()
    if found is not None:
        row.cdr_id, row.call_id = found


# -- the API's side --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordingFilter:
    tenant_id: int | None = None
    call_id: str | None = None
    cdr_id: int | None = None
    leg_id: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def list_recordings(
    session: Session, where: RecordingFilter, *, offset: int, limit: int, scope: int | None
) -> tuple[Sequence[Recording], int]:
    """One page of recordings, newest first, visible in ``scope``."""
    stmt: Any = select(Recording)
    tenant = tenant_filter(where.tenant_id, scope)
    if tenant is not None:
        stmt = stmt.where(Recording.tenant_id == tenant)
    for column, value in (
        (Recording.call_id, where.call_id),
        (Recording.cdr_id, where.cdr_id),
        (Recording.leg_id, where.leg_id),
        (Recording.state, where.state),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if where.since is not None:
        stmt = stmt.where(col(Recording.started_at) >= _utc(where.since))
    if where.until is not None:
        stmt = stmt.where(col(Recording.started_at) < _utc(where.until))
    return page(
        session,
        stmt,
        offset=offset,
        limit=limit,
        order_by=(col(Recording.started_at).desc(), col(Recording.id).desc()),
    )


def read_recording(session: Session, recording_id: int, scope: int | None) -> Recording:
    return read_scoped(
        session, Recording, recording_id, scope, what="recording", recording_id=recording_id
    )


def live_recordings(session: Session, leg_ids: Sequence[str]) -> list[Recording]:
    """Recordings of these legs the engine is still making."""
    if not leg_ids:
        return []
    rows = session.exec(
        select(Recording).where(
            col(Recording.leg_id).in_(list(leg_ids)),
            col(Recording.state) == RecordingState.RECORDING,
        )
    ).all()
    return list(rows)


def delete_recording(session: Session, recording_id: int, scope: int | None) -> None:
    row = read_recording(session, recording_id, scope)
    session.delete(row)
    session.commit()


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """Where a recording's audio is: the engine (``name``) and, once uploaded, S3."""

    name: str
    state: RecordingState
    s3_bucket: str | None
    s3_key: str | None


def tenant_audio(session: Session, tenant_id: int) -> list[StoredAudio]:
    """The audio of every recording of a tenant (read before the tenant is deleted: its
    rows go with it, and nothing else would say which objects were its)."""
    rows = session.exec(select(Recording).where(Recording.tenant_id == tenant_id)).all()
    return [StoredAudio(r.name, RecordingState(r.state), r.s3_bucket, r.s3_key) for r in rows]
