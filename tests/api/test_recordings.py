"""Recordings uploaded to a real S3-compatible server (moto's server mode, started here),
linked to CDRs, and served by ``/api/v1/recordings`` (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from sqlmodel import select

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.core.events import RecordingFinished, RecordingStarted
from orchestrator.recordings import RecordingService, S3Config, S3Storage
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Cdr, Recording, RecordingState
from orchestrator.webhooks import RetryPolicy
from tests.api.conftest import bearer

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 40
FAST = RetryPolicy(max_attempts=1000, base_s=0.05, factor=1.5, max_s=0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str, request: pytest.FixtureRequest) -> S3Config:
    bucket = f"rec-{abs(hash(request.node.nodeid)) % 10**8}"
    return S3Config(
        bucket=bucket, endpoint_url=s3_server, access_key_id="test", secret_access_key="test",
        prefix="recs/",
    )  # fmt: skip


def raw_client(cfg: S3Config) -> Any:
    return boto3.client(
        "s3", endpoint_url=cfg.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip


def bucket(cfg: S3Config) -> Any:
    client = raw_client(cfg)
    client.create_bucket(Bucket=cfg.bucket)
    return client


def objects(client: Any, cfg: S3Config) -> list[str]:
    listed = client.list_objects_v2(Bucket=cfg.bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def rows(sessions: SessionFactory) -> list[Recording]:
    with sessions() as session:
        return list(session.exec(select(Recording).order_by(Recording.id)).all())


async def wait_for_state(
    sessions: SessionFactory, state: RecordingState, timeout: float = 10
) -> Recording:
    async with asyncio.timeout(timeout):
        while True:
            found = await asyncio.to_thread(rows, sessions)
            if found and found[-1].state == state:
                return found[-1]
            await asyncio.sleep(0.03)


async def record(engine: FakeEngine, name: str, leg: str, audio: bytes = WAV) -> None:
    await engine.emit(RecordingStarted(recording=name, leg_id=leg))
    engine.recordings[name] = audio
    await engine.emit(RecordingFinished(recording=name, leg_id=leg, duration=2.5))


def service_for(
    sessions: SessionFactory, cfg: S3Config, tenant_id: int
) -> tuple[FakeEngine, RecordingService]:
    engine = FakeEngine()
    service = RecordingService(
        engine, sessions, node="fake", storage=S3Storage(cfg), retry=FAST, poll_s=0.05
    )
    service.lookups.append(lambda leg: tenant_id if leg.startswith("leg-") else None)
    return engine, service


async def test_upload_then_delete_local_copy_and_link_to_the_cdr(
    client: TestClient, tenant_a: dict, db_sessions: SessionFactory, s3: S3Config
) -> None:
    raw = bucket(s3)
    engine, service = service_for(db_sessions, s3, tenant_a["id"])
    uploaded: list[dict[str, Any]] = []
    service.listeners.append(lambda _t, rec: uploaded.append(rec))
    await service.start()
    try:
        await record(engine, "ivr/one", "leg-1")
        await record(engine, "adm/other-app", "chan-9")  # nobody's leg: left alone
        row = await wait_for_state(db_sessions, RecordingState.UPLOADED)
        now = datetime.now(UTC)
        cdr = Cdr(
            uuid="cd" * 16, node="fake", call_id="call-1", tenant_id=tenant_a["id"],
            direction="internal", started_at=now, ended_at=now, duration_s=3, billsec=3,
            disposition="answered", hangup_cause=16, recordings=["ivr/one"],
        )  # fmt: skip
        with db_sessions() as session:
            cdr_id = write_cdr(session, cdr, [])
        assert cdr_id is not None
        await service.on_cdr(cdr_id)
    finally:
        await service.stop()
    assert [r.name for r in rows(db_sessions)] == ["ivr/one"]
    assert "ivr/one" not in engine.recordings and "adm/other-app" in engine.recordings
    key = f"recs/t{tenant_a['id']}/{row.started_at:%Y/%m/%d}/{row.uuid}.wav"
    assert (row.s3_bucket, row.s3_key, row.size_bytes, row.format) == (
        s3.bucket,
        key,
        len(WAV),
        "wav",
    )
    assert raw.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == WAV
    assert row.duration_s == 2.5 and row.etag and uploaded[0]["s3_key"] == key
    [linked] = rows(db_sessions)
    assert (linked.cdr_id, linked.call_id) == (cdr_id, "call-1")

    # REST: metadata, audio streamed from S3 or through a presigned URL, scoping, delete.
    app: FastAPI = client.app  # type: ignore[assignment]
    services_of(app).recordings = service
    listed = client.get(f"/api/v1/recordings?cdr_id={cdr_id}").json()
    assert [r["id"] for r in listed["items"]] == [row.id]
    assert client.get("/api/v1/recordings?call_id=nope").json()["total"] == 0
    got = client.get(f"/api/v1/recordings/{row.id}/audio")
    assert got.status_code == 200 and got.content == WAV
    assert got.headers["content-type"] == "audio/wav"
    moved = client.get(f"/api/v1/recordings/{row.id}/audio?redirect=true", follow_redirects=False)
    assert moved.status_code == 307
    async with httpx.AsyncClient() as plain:  # no credentials: the URL is signed
        assert (await plain.get(moved.headers["location"])).content == WAV
    assert client.get(f"/api/v1/recordings/{row.id}").json()["state"] == "uploaded"
    assert client.delete(f"/api/v1/recordings/{row.id}").status_code == 204
    assert objects(raw, s3) == []
    assert client.get(f"/api/v1/recordings/{row.id}").status_code == 404


async def test_failed_uploads_are_retried_and_kept_locally(
    tenant_a: dict, db_sessions: SessionFactory, s3: S3Config
) -> None:
    engine, service = service_for(db_sessions, s3, tenant_a["id"])
    await service.start()  # the bucket does not exist yet: uploads fail
    try:
        await record(engine, "ivr/later", "leg-2")
        failed = await wait_for_state(db_sessions, RecordingState.FAILED)
        assert "NoSuchBucket" in (failed.last_error or "")
        assert "ivr/later" in engine.recordings  # kept until an upload succeeds
        raw = bucket(s3)
        done = await wait_for_state(db_sessions, RecordingState.UPLOADED)
    finally:
        await service.stop()
    assert done.attempts >= 2 and done.last_error is None
    assert "ivr/later" not in engine.recordings
    assert objects(raw, s3) == [done.s3_key]


async def test_a_restart_resumes_pending_uploads(
    tenant_a: dict, db_sessions: SessionFactory, s3: S3Config
) -> None:
    raw = bucket(s3)
    engine, first = service_for(db_sessions, s3, tenant_a["id"])
    first.storage = None  # this run does not upload (as if it stopped before it could)
    await first.start()
    await record(engine, "ivr/pending", "leg-3")
    await first.flush()
    await first.stop()
    assert [r.state for r in rows(db_sessions)] == [RecordingState.LOCAL]

    second = RecordingService(
        engine, db_sessions, node="fake", storage=S3Storage(s3), retry=FAST, poll_s=0.05
    )
    await second.start()
    try:
        done = await wait_for_state(db_sessions, RecordingState.UPLOADED)
    finally:
        await second.stop()
    assert raw.get_object(Bucket=s3.bucket, Key=done.s3_key)["Body"].read() == WAV
    assert "ivr/pending" not in engine.recordings


async def test_rest_scoping_local_audio_and_missing_files(
    client: TestClient, tenant_a: dict, tenant_b: dict, db_sessions: SessionFactory, s3: S3Config
) -> None:
    engine, service = service_for(db_sessions, s3, tenant_a["id"])
    service.storage = None  # recordings stay on the engine
    await service.start()
    try:
        await record(engine, "ivr/local", "leg-4")
        await engine.emit(RecordingStarted(recording="ivr/cancelled", leg_id="leg-5"))
        await engine.emit(
            RecordingFinished(recording="ivr/cancelled", leg_id="leg-5", state="canceled")
        )
        await service.flush()
    finally:
        await service.stop()
    app: FastAPI = client.app  # type: ignore[assignment]
    services_of(app).recordings = service
    local, cancelled = rows(db_sessions)
    assert (local.state, cancelled.state) == (RecordingState.LOCAL, RecordingState.MISSING)
    got = client.get(f"/api/v1/recordings/{local.id}/audio")
    assert got.status_code == 200 and got.content == WAV
    assert client.get(f"/api/v1/recordings/{cancelled.id}/audio").status_code == 404
    a_admin, b_admin = bearer(tenant_a["token"]), bearer(tenant_b["token"])
    assert client.get("/api/v1/recordings", headers=a_admin).json()["total"] == 2
    assert client.get("/api/v1/recordings", headers=b_admin).json()["total"] == 0
    assert client.get(f"/api/v1/recordings/{local.id}", headers=b_admin).status_code == 404
    assert client.get(f"/api/v1/recordings/{local.id}/audio", headers=b_admin).status_code == 404
    assert client.delete(f"/api/v1/recordings/{local.id}", headers=b_admin).status_code == 404
    filtered = client.get("/api/v1/recordings?state=missing", headers=a_admin).json()
    assert [r["name"] for r in filtered["items"]] == ["ivr/cancelled"]
    assert client.delete(f"/api/v1/recordings/{local.id}", headers=a_admin).status_code == 204
    assert "ivr/local" not in engine.recordings
    # Recording a live call needs an active CTI call (none here).
    assert client.post("/api/v1/calls/nope/record", json={}).status_code == 503


async def test_deleting_a_tenant_deletes_its_audio(
    client: TestClient, tenant_a: dict, db_sessions: SessionFactory, s3: S3Config
) -> None:
    raw = bucket(s3)
    engine, service = service_for(db_sessions, s3, tenant_a["id"])
    await service.start()
    try:
        await record(engine, "ivr/uploaded", "leg-1")
        await wait_for_state(db_sessions, RecordingState.UPLOADED)
    finally:
        await service.stop()
    # A second one stays on the engine (no bucket while it was recorded).
    service.storage = None
    await service.start()
    try:
        await record(engine, "ivr/local", "leg-2")
        await wait_for_state(db_sessions, RecordingState.LOCAL)
    finally:
        await service.stop()
    service.storage = S3Storage(s3)
    [key] = objects(raw, s3)
    assert key.startswith("recs/") and "ivr/local" in engine.recordings
    app: FastAPI = client.app  # type: ignore[assignment]
    services_of(app).recordings = service
    assert client.delete(f"/api/v1/tenants/{tenant_a['id']}").status_code == 204
    assert objects(raw, s3) == []
    assert "ivr/local" not in engine.recordings
    assert rows(db_sessions) == []
