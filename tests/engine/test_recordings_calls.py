"""On-demand recording of every kind of answered call, on the real Asterisk, into S3.

``POST /api/v1/calls/{id}/record`` on a click-to-call, a phone-to-phone dialplan call, a
flow's ``dial()`` (recorded up to its ``max_duration_s``) and a queue call connected to an
agent: the recording lands in S3
(moto), is linked from the call's CDR, and holds the parties' audio. Phones that play
audio are :class:`~tests.engine.media_phone.MediaPhone` s (each its own tone); a caller
placing a call is SIPp, which sends no voice, so there only the called party's tone is
measured. Before this, a dialplan call answered 500 (ARI 409 "Channel not in Stasis")
and a click-to-call 202 with nothing recorded ("Cannot record channel while in bridge").
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import boto3
import httpx
import pytest

from api.services import services_of
from orchestrator.ivr.call import IvrCall
from orchestrator.testing import sipp
from tests.engine.conftest import S3_BUCKET, Service
from tests.engine.media_phone import MediaPhone, tone_level, ulaw_decode
from tests.engine.phones import RINGING_SCENARIO, api, phone_ports, uas_phone, wait_call
from tests.engine.queue_helpers import (
    QueueSpec,
    QueueTenant,
    create_queue_tenant,
    end_calls,
    logged_in,
)
from tests.engine.test_supervision import poll

pytestmark = pytest.mark.engine

DOMAIN = "record-calls.example"
PORT = phone_ports("test_recordings_calls", "601", "602", "603", "604", "605")
TONES = {"602": 1200.0, "603": 400.0, "605": 1000.0}
BEEP_HZ = 700.0  # Asterisk's beep.gsm (no phone's tone near it)
# A tone counts as recorded above this amplitude (the phones send it at 6000).
HEARD = 1500.0
QUEUE = QueueSpec("+17333559601", {"strategy": "ring_all"}, ("605",))
FLOW_DID = "+17333559602"
DIAL_FLOW = "dial_for_recording_test"


async def dial_flow(call: IvrCall) -> None:
    """Answer, connect the caller to extension 602 until it hangs up, hang up."""
    await call.answer()
    await call.dial("602", timeout=20)
    await call.hangup()


@pytest.fixture(scope="module")
def qt(service: Service) -> QueueTenant:
    assert service.app is not None
    services_of(service.app).ivr_registry.builtins[DIAL_FLOW] = dial_flow
    out = create_queue_tenant(
        service, "Recorded calls", DOMAIN, PORT, agents=("605",), queues={"rq": QUEUE},
        pricing_batch="rec-calls",
    )  # fmt: skip
    with service.client() as http:
        r = http.post(
            "/api/v1/dids",
            json={"number": FLOW_DID, "tenant_id": out.id, "pricing_batch": "rec-calls"},
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/v1/ivr-apps",
            json={"tenant_id": out.id, "name": "dialer", "app": DIAL_FLOW, "max_duration_s": 60},
        )
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": FLOW_DID})
        assert r.status_code in (200, 201), r.text
    return out


@pytest.fixture(autouse=True)
async def no_calls_left(service: Service, qt: QueueTenant) -> AsyncIterator[None]:
    """A failed test's call must not be the next test's "one active call"."""
    yield
    async with api(service) as http:
        await end_calls(http, qt.id)


# -- helpers -----------------------------------------------------------------------------


async def listed_call(http: httpx.AsyncClient, tid: int, state: str = "answered") -> dict[str, Any]:
    """The tenant's one active call, once it is in ``state``."""

    async def calls() -> list[dict[str, Any]]:
        r = await http.get("/api/v1/calls", params={"tenant_id": tid})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    items = await poll(calls, lambda c: len(c) == 1 and c[0]["state"] == state, timeout=20)
    return dict(items[0])


async def record(http: httpx.AsyncClient, call_id: str, max_duration_s: int = 60) -> str:
    r = await http.post(f"/api/v1/calls/{call_id}/record", json={"max_duration_s": max_duration_s})
    assert r.status_code == 202, r.text
    return str(r.json()["recording"])


async def uploaded(
    service: Service, http: httpx.AsyncClient, tid: int, name: str
) -> tuple[dict[str, Any], bytes]:
    """The recording's row once it is uploaded and linked to its CDR, and the S3 object."""

    async def row() -> dict[str, Any] | None:
        r = await http.get("/api/v1/recordings", params={"tenant_id": tid})
        assert r.status_code == 200, r.text
        return next((x for x in r.json()["items"] if x["name"] == name), None)

    found = await poll(
        row, lambda x: x is not None and x["state"] == "uploaded" and x["cdr_id"] is not None, 40
    )
    r = await http.get(f"/api/v1/cdrs/{found['cdr_id']}")
    assert r.status_code == 200, r.text
    assert name in r.json()["recordings"], r.json()
    assert found["call_id"] == r.json()["call_id"]
    s3 = boto3.client(
        "s3", endpoint_url=service.s3_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    body = s3.get_object(Bucket=S3_BUCKET, Key=found["s3_key"])["Body"].read()
    assert len(body) == found["size_bytes"] > 44, found  # more than a WAV header
    return found, body


def tones_in(audio: bytes) -> dict[str, int]:
    """How loud each phone's tone is in a WAV recording."""
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getsampwidth(), wav.getnchannels()) == (2, 1), wav.getparams()
        frames = wav.readframes(wav.getnframes())
    samples = [
        int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, len(frames), 2)
    ]
    return {who: round(tone_level(samples, hz)) for who, hz in TONES.items()}


def band_level(samples: list[int], hz: float) -> float:
    """How loud ``hz`` +-25 Hz is, on average over 20 ms frames (a beep's pitch is not exact)."""
    frames = [samples[i : i + 160] for i in range(0, len(samples) - 159, 160)]
    return sum(tone_level(f, hz) for f in frames) / max(len(frames), 1)


def received(phone: MediaPhone, since: float, until: float) -> list[int]:
    return [
        ulaw_decode(b) for at, payload in phone.received if since <= at < until for b in payload
    ]


def snoops(service: Service) -> list[str]:
    out = service.instance.cli("core show channels concise")
    return [line.split("!")[0] for line in out.splitlines() if line.startswith("Snoop/")]


async def no_snoops(service: Service, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while left := snoops(service):
        assert time.monotonic() < deadline, left
        await asyncio.sleep(0.2)


async def recorded_until_hangup(
    service: Service,
    http: httpx.AsyncClient,
    tid: int,
    call_id: str,
    placed: asyncio.Task[sipp.CallResult],
    max_duration_s: int = 60,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Record the bridged call until the caller (``placed``) hangs up or ``max_duration_s``;
    the recording's row and the tones in it."""
    await asyncio.sleep(0.5)  # bridged
    name = await record(http, call_id, max_duration_s)
    if max_duration_s < 60:
        await asyncio.sleep(max_duration_s + 1)
        assert not placed.done(), "the call outlasts the recording"
        await no_snoops(service, timeout=3)  # ended at its limit: its snoop went with it
    result = await placed
    assert result.answered, result.log
    row, audio = await uploaded(service, http, tid, name)
    heard = tones_in(audio)
    print(f"recording of call {call_id}:", row["duration_s"], "s, tones:", heard)
    await no_snoops(service)
    return row, heard


# -- the kinds of calls ------------------------------------------------------------------


async def test_click_to_call_records_both_parties(service: Service, qt: QueueTenant) -> None:
    await qt.register("602", "603")
    async with (
        MediaPhone(local_port=PORT["603"], tone_hz=TONES["603"]) as a,
        MediaPhone(local_port=PORT["602"], tone_hz=TONES["602"]) as b,
        api(service) as http,
    ):
        r = await http.post(
            "/api/v1/click-to-call", json={"tenant_id": qt.id, "a": "603", "b": "602"}
        )
        assert r.status_code == 202, r.text
        call_id = str(r.json()["id"])
        await wait_call(http, call_id, lambda c: [x["state"] for x in c["legs"]] == ["up", "up"])
        await a.wait_for("answered")
        await b.wait_for("answered")
        await asyncio.sleep(0.5)  # bridged
        before = time.monotonic()
        r = await http.post(f"/api/v1/calls/{call_id}/record", json={"beep": True})
        assert r.status_code == 202, r.text
        name = r.json()["recording"]
        start = time.monotonic()
        r = await http.post(f"/api/v1/calls/{call_id}/record", json={})
        assert r.status_code == 409 and r.json()["error_id"] == "already-recording", r.text
        await asyncio.sleep(3)
        # Both parties heard the beep once it started, and no beep before.
        beeps = {
            who: (
                round(band_level(received(phone, before - 1.5, before), BEEP_HZ)),
                round(band_level(received(phone, start, start + 1.5), BEEP_HZ)),
            )
            for who, phone in (("603", a), ("602", b))
        }
        print("beep heard (before, after):", beeps)
        assert all(pre < 150 and post > 600 for pre, post in beeps.values()), beeps
        r = await http.post(f"/api/v1/calls/{call_id}/stop-record")
        assert r.status_code == 200 and r.json()["stopped"] == [name], r.text
        await no_snoops(service)  # the recorder's snoop went with its recording
        # The call goes on; both still hear each other.
        since = time.monotonic()
        await asyncio.sleep(1)
        assert a.level(TONES["602"], since=since, until=time.monotonic()) > HEARD
        r = await http.post(f"/api/v1/calls/{call_id}/hangup")
        assert r.status_code == 200, r.text
        row, audio = await uploaded(service, http, qt.id, name)
        heard = tones_in(audio)
        print("click-to-call recording:", row["duration_s"], "s, tones:", heard)
        assert heard["603"] > HEARD and heard["602"] > HEARD, heard
        assert heard["605"] < HEARD / 5, heard
        assert 2 <= row["duration_s"] <= 6, row
        # Ended: nothing to record any more.
        r = await http.post(f"/api/v1/calls/{call_id}/record", json={})
        assert r.status_code == 404, r.text


async def test_dialplan_call_is_recorded_until_it_ends(service: Service, qt: QueueTenant) -> None:
    await qt.register("601", "602")
    async with (
        MediaPhone(local_port=PORT["602"], tone_hz=TONES["602"]) as callee,
        api(service) as http,
    ):
        placed = asyncio.create_task(qt.dial("601", "602", hold_ms=6000, timeout=30))
        call = await listed_call(http, qt.id)
        assert call["kind"] == "dialplan", call
        await callee.wait_for("answered")
        name = await record(http, call["id"])
        result = await placed  # the caller hangs up: the recording ends with the call
        assert result.answered, result.log
        row, audio = await uploaded(service, http, qt.id, name)
        heard = tones_in(audio)
        print("dialplan recording:", row["duration_s"], "s, tones:", heard)
        assert heard["602"] > HEARD, heard
        assert row["leg_id"] == call["id"]
        await no_snoops(service)
        r = await http.post(f"/api/v1/calls/{call['id']}/record", json={})
        assert r.status_code == 404, r.text


async def test_a_ringing_call_is_refused_with_a_reason(service: Service, qt: QueueTenant) -> None:
    await qt.register("601", "604")
    async with uas_phone(RINGING_SCENARIO, PORT["604"]), api(service) as http:
        placed = asyncio.create_task(qt.dial("601", "604", hold_ms=500, timeout=30))
        call = await listed_call(http, qt.id, "ringing")
        r = await http.post(f"/api/v1/calls/{call['id']}/record", json={})
        assert r.status_code == 409 and r.json()["error_id"] == "call-not-answered", r.text
        assert not snoops(service)
        r = await http.post(f"/api/v1/calls/{call['id']}/hangup")
        assert r.status_code == 200, r.text
        result = await placed
        assert not result.answered


async def test_a_flows_dial_is_recorded(service: Service, qt: QueueTenant) -> None:
    await qt.register("601", "602")
    async with (
        MediaPhone(local_port=PORT["602"], tone_hz=TONES["602"]) as callee,
        api(service) as http,
    ):
        placed = asyncio.create_task(qt.dial("601", FLOW_DID, hold_ms=7000, timeout=30))
        await callee.wait_for("answered", timeout=20)
        call = await listed_call(http, qt.id)
        row, heard = await recorded_until_hangup(
            service, http, qt.id, call["id"], placed, max_duration_s=2
        )
        assert heard["602"] > HEARD, heard
        assert 1.5 <= row["duration_s"] <= 4, row  # its limit (2 s), not the call (7 s)


async def test_a_queue_call_is_recorded(service: Service, qt: QueueTenant) -> None:
    await qt.register("601", "605")
    async with (
        api(service) as http,
        logged_in(http, qt, "rq", "605"),
        MediaPhone(local_port=PORT["605"], tone_hz=TONES["605"]) as agent,
    ):
        placed = asyncio.create_task(qt.dial("601", QUEUE.access, hold_ms=9000, timeout=30))
        await agent.wait_for("answered", timeout=20)
        call = await listed_call(http, qt.id)
        await qt.until_state(http, "605", "on_call")
        _, heard = await recorded_until_hangup(service, http, qt.id, call["id"], placed)
        assert heard["605"] > HEARD, heard


async def test_a_restart_ends_a_recording_and_keeps_it(service: Service, qt: QueueTenant) -> None:
    """Last in this module: the service restarts (its new app has no test flow)."""
    await qt.register("601", "602")
    async with (
        MediaPhone(local_port=PORT["602"], tone_hz=TONES["602"]) as callee,
        api(service) as http,
    ):
        placed = asyncio.create_task(qt.dial("601", "602", hold_ms=14_000, timeout=40))
        call = await listed_call(http, qt.id)
        await callee.wait_for("answered")
        name = await record(http, call["id"])
        await asyncio.sleep(2)
        await asyncio.to_thread(service.stop)
        await asyncio.to_thread(service.start)
        # The restart ended the recording (measured: at the old run's stop; the new run's
        # sweep would clear a snoop left anyway); the phones' call goes on, and what the
        # recording holds is uploaded by the new run.
        row, audio = await uploaded(service, http, qt.id, name)
        heard = tones_in(audio)
        print("recording across a restart:", row["duration_s"], "s, tones:", heard)
        assert heard["602"] > HEARD and row["duration_s"] >= 2, (row, heard)
        await no_snoops(service)
        result = await placed
        assert result.answered and not result.far_end_hangup, result.log
