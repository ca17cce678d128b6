"""A real call's recording lands in S3 (moto's server mode), leaves the engine, and is
linked to the call's CDR.

A SIPp phone of the tenant calls an access number whose IVR app runs a test-only flow
(added to the service's registry as a builtin): answer, record 2 s, hang up. The
service's uploader puts the file in the bucket of ``tests/engine/conftest.py``.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import httpx
import pytest

from api.services import services_of
from orchestrator.ivr.call import IvrCall
from orchestrator.testing import sipp
from tests.engine.conftest import S3_BUCKET, Service
from tests.engine.phones import phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "rec.example"
NUMBER = "+17333559050"
CALLER_PORT = phone_ports("test_recordings_s3", "caller")["caller"]
FLOW = "record_for_s3_test"
results: dict[str, Any] = {}


async def record_flow(call: IvrCall) -> None:
    """Answer, record the caller for 2 s, hang up."""
    await call.answer()
    recording = await call.record(max_duration=2, max_silence=0, beep=False, terminate_on="")
    results[call.id] = recording
    await call.hangup()


@pytest.fixture(scope="module")
def rec_tenant(service: Service) -> dict[str, Any]:
    assert service.app is not None
    services_of(service.app).ivr_registry.builtins[FLOW] = record_flow
    out: dict[str, Any] = {}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Recorded", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tenant = out["tenant"] = r.json()
        r = http.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": "101"})
        assert r.status_code == 201, r.text
        out["password"] = r.json()["sip_password"]
        did = {"number": NUMBER, "pricing_batch": "rec", "tenant_id": tenant["id"]}
        assert http.post("/api/v1/dids", json=did).status_code == 201
        r = http.post(
            "/api/v1/ivr-apps",
            json={"tenant_id": tenant["id"], "name": "recorder", "app": FLOW, "max_duration_s": 60},
        )
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": NUMBER})
        assert r.status_code in (200, 201), r.text
        r = http.get(f"/api/v1/tenants/{tenant['id']}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


def poll(http: httpx.Client, path: str, ready: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(path)
        assert r.status_code == 200, r.text
        data = r.json()
        if ready(data):
            return data
        assert time.monotonic() < deadline, f"{path}: not ready: {data}"
        time.sleep(0.25)


async def test_a_recorded_call_lands_in_s3_and_is_linked(
    service: Service, rec_tenant: dict[str, Any]
) -> None:
    result = await sipp.call(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username="101",
        password=rec_tenant["password"],
        domain=DOMAIN,
        local_port=CALLER_PORT,
        target=NUMBER,
        hold_ms=15_000,
        timeout=30,
    )
    assert result.answered, result.log
    assert result.far_end_hangup, "the flow recorded, then hung up"
    [recording] = list(results.values())
    assert recording.ok, recording
    tid = rec_tenant["tenant"]["id"]
    with service.client() as http:
        page = poll(
            http,
            f"/api/v1/recordings?tenant_id={tid}",
            lambda d: d["items"] and d["items"][0]["state"] == "uploaded",
        )
        [row] = page["items"]
        assert row["name"] == recording.name and row["tenant_id"] == tid
        assert row["s3_bucket"] == S3_BUCKET and row["s3_key"].startswith(f"recordings/t{tid}/")
        # The CDR lists the recording; the recording points back at the CDR.
        cdrs = poll(http, f"/api/v1/cdrs?tenant_id={tid}", lambda d: d["total"] >= 1)
        cdr = cdrs["items"][0]
        assert recording.name in cdr["recordings"], cdr
        linked = poll(http, f"/api/v1/recordings/{row['id']}", lambda d: d["cdr_id"] is not None)
        assert (linked["cdr_id"], linked["call_id"]) == (cdr["id"], cdr["call_id"])
        audio = http.get(f"/api/v1/recordings/{row['id']}/audio")
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    s3 = boto3.client(
        "s3", endpoint_url=service.s3_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    stored = s3.get_object(Bucket=S3_BUCKET, Key=row["s3_key"])["Body"].read()
    # SIPp's call scenario sends no voice (only RFC 2833 events when asked), so the WAV
    # may hold only its 44-byte header: what counts is that the engine's file arrived.
    assert stored == audio.content and len(stored) == row["size_bytes"] >= 44
    # Uploaded, so the engine's copy is gone.
    spool = service.instance.dir / "spool" / "recording"
    assert not list(spool.glob(f"{recording.name}.*"))
