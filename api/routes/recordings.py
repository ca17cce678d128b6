"""``/api/v1/recordings``: call recordings, their audio, and recording a live call.

A tenant admin sees only its tenant's recordings; a supervisor reads and hears them too,
only admins delete them or record a live call (an agent: none; docs/roles.md). The audio
of an uploaded recording is streamed from S3 (``?redirect=true``: a 307 to a presigned
URL instead); one not yet uploaded is read from the engine. ``POST
/api/v1/calls/{id}/record`` starts recording an answered call's conversation;
``/stop-record`` ends it. See docs/recordings.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CurrentUser,
    PageDep,
    RequireAdmin,
    RequireSupervisor,
    ServicesDep,
    SessionDep,
)
from api.schemas import Page, page_of
from orchestrator.bounds import IsoDateTime, StoreInt
from orchestrator.core.errors import ConflictError, EngineUnavailableError, NotFoundError
from orchestrator.recordings import RecordingService, S3Storage
from orchestrator.recordings.calls import CallRecorder
from orchestrator.recordings.s3 import CONTENT_TYPES
from orchestrator.store import recordings
from orchestrator.store.models import Recording, RecordingPublic, RecordingState

router = APIRouter(tags=["recordings"])


def _service(services: ServicesDep) -> RecordingService:
    service = services.recordings
    if service is None:
        raise EngineUnavailableError("recordings are not handled by this service")
    return service


RecordingsDep = Annotated[RecordingService, Depends(_service)]


def get_filter(
    tenant_id: StoreInt | None = None,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
    cdr_id: StoreInt | None = None,
    leg_id: Annotated[str | None, Query(max_length=64)] = None,
    state: RecordingState | None = None,
    since: Annotated[
        IsoDateTime | None, Query(alias="from", description="started at/after")
    ] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to", description="started before")] = None,
) -> recordings.RecordingFilter:
    return recordings.RecordingFilter(
        tenant_id=tenant_id,
        call_id=call_id,
        cdr_id=cdr_id,
        leg_id=leg_id,
        state=str(state) if state else None,
        since=since,
        until=until,
    )


@router.get("/api/v1/recordings", dependencies=[RequireSupervisor])
def list_recordings(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    where: Annotated[recordings.RecordingFilter, Depends(get_filter)],
) -> Page[RecordingPublic]:
    """Recordings, newest first."""
    rows, total = recordings.list_recordings(
        session, where, offset=page.offset, limit=page.limit, scope=user.scope
    )
    return page_of(RecordingPublic, rows, total, offset=page.offset, limit=page.limit)


@router.get("/api/v1/recordings/{recording_id}", dependencies=[RequireSupervisor])
def read_recording(
    session: SessionDep, user: CurrentUser, recording_id: StoreInt
) -> RecordingPublic:
    return RecordingPublic.model_validate(
        recordings.read_recording(session, recording_id, user.scope)
    )


def _storage(service: RecordingService, row: Recording) -> S3Storage:
    if service.storage is None or service.storage.bucket != row.s3_bucket:
        raise EngineUnavailableError(
            "the recording's bucket is not configured here", bucket=row.s3_bucket
        )
    return service.storage


@router.get(
    "/api/v1/recordings/{recording_id}/audio",
    dependencies=[RequireSupervisor],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "the audio file"},
        307: {"description": "redirect=true: a presigned S3 URL"},
    },
)
async def recording_audio(
    session: SessionDep,
    user: CurrentUser,
    service: RecordingsDep,
    recording_id: StoreInt,
    redirect: bool = False,
) -> Response:
    """The audio: from S3 once uploaded (streamed, or a presigned redirect), else the engine."""
    row = await run_in_threadpool(recordings.read_recording, session, recording_id, user.scope)
    filename = f'attachment; filename="{row.uuid}.{row.format}"'
    if row.state == RecordingState.UPLOADED and row.s3_key:
        storage, key = _storage(service, row), row.s3_key
        if redirect:
            url = await run_in_threadpool(storage.presign, key)
            return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
        chunks, length, content_type = await run_in_threadpool(storage.open, key)

        def body() -> Iterator[bytes]:
            yield from chunks

        return StreamingResponse(
            body(),
            media_type=content_type,
            headers={"Content-Length": str(length), "Content-Disposition": filename},
        )
    if row.state in (RecordingState.LOCAL, RecordingState.FAILED, RecordingState.UPLOADING):
        audio = await service.engine.recording_file(row.name)
        media = CONTENT_TYPES.get(row.format, "application/octet-stream")
        return Response(audio, media_type=media, headers={"Content-Disposition": filename})
    raise NotFoundError(
        f"recording {recording_id} has no audio ({row.state})", recording_id=recording_id
    )


@router.delete(
    "/api/v1/recordings/{recording_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[RequireAdmin],
)
async def delete_recording(
    session: SessionDep, user: CurrentUser, service: RecordingsDep, recording_id: StoreInt
) -> None:
    """Delete the recording's audio (in S3 and on the engine) and its record."""
    row = await run_in_threadpool(recordings.read_recording, session, recording_id, user.scope)
    if row.state in (RecordingState.RECORDING, RecordingState.UPLOADING):
        raise ConflictError(f"recording {recording_id} is {row.state}; try again later")
    if row.s3_key:
        await run_in_threadpool(_storage(service, row).delete, row.s3_key)
    if row.state != RecordingState.UPLOADED:
        with contextlib.suppress(NotFoundError):
            await service.engine.delete_recording(row.name)
    await run_in_threadpool(recordings.delete_recording, session, recording_id, user.scope)


# -- recording a live call -----------------------------------------------------------------
class RecordParams(BaseModel):
    max_duration_s: StoreInt = Field(default=3600, ge=1, le=4 * 3600, description="then it stops")
    beep: bool = Field(default=False, description="both parties hear a beep when it starts")


class RecordStarted(BaseModel):
    recording: str = Field(description="the engine's recording name (see GET /recordings)")
    leg_id: str = Field(description="the call's leg whose conversation is recorded")


class RecordStopped(BaseModel):
    stopped: list[str]


def _recorder(services: ServicesDep) -> CallRecorder:
    recorder = services.call_recorder
    if recorder is None:
        raise EngineUnavailableError("call control is not running in this service")
    return recorder


RecorderDep = Annotated[CallRecorder, Depends(_recorder)]
_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such active call (or it ended)"},
    409: {"description": "not answered yet, already being recorded, or the engine refused"},
    410: {"description": "the call's legs hung up meanwhile"},
    503: {"description": "call control or the engine is not available"},
}


@router.post(
    "/api/v1/calls/{call_id}/record",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RequireAdmin],
    responses=_REFUSED,
)
async def record_call(
    user: CurrentUser, recorder: RecorderDep, call_id: str, params: RecordParams
) -> RecordStarted:
    """Record the answered call's conversation (both parties) until stopped or hung up."""
    started = await recorder.record(
        call_id, scope=user.scope, max_duration=params.max_duration_s, beep=params.beep
    )
    return RecordStarted(recording=started.recording, leg_id=started.leg_id)


@router.post(
    "/api/v1/calls/{call_id}/stop-record",
    dependencies=[RequireAdmin],
    responses={404: _REFUSED[404], 503: _REFUSED[503]},
)
async def stop_record_call(user: CurrentUser, recorder: RecorderDep, call_id: str) -> RecordStopped:
    """Stop every recording of the call's legs (kept and uploaded like any other)."""
    return RecordStopped(stopped=await recorder.stop(call_id, scope=user.scope))
