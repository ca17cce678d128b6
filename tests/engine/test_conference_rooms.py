"""Conference rooms on the real Asterisk: SIPp phones dial a room's access number and
key their PIN as RFC 2833 events; the ``conference_room`` flow runs over ARI.

- a wrong then the right participant PIN gets in, on hold (music) while no moderator
  is there; the moderator's phone joins and the participant is taken off hold; when the
  moderator hangs up, the participant waits again;
- a locked room says so and hangs up without asking for a PIN;
- a phone of the tenant dials the room's number (no access number) and gets in;
- a recorded room's recording is uploaded to S3.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import pytest

from api.services import services_of
from orchestrator.conferences import ConferenceService
from tests.conformance.test_conference_contract import wav_of
from tests.engine.conftest import S3_BUCKET, Service
from tests.engine.phones import TenantPhones, add_ivr_app, create_tenant, phone_ports

pytestmark = pytest.mark.engine

PORT = {
    **phone_ports("test_conference_rooms", "101", "102"),
    **phone_ports("test_conference_rooms_2", "103"),
}
BOARD_ACCESS = "+17333558800"
CLOSED_ACCESS = "+17333558801"
PIN, MOD_PIN = "1234", "987654"


@pytest.fixture(scope="module")
def rooms(service: Service) -> dict[str, Any]:
    phones = create_tenant(service, "Rooms", "rooms.example", dict(PORT))
    out: dict[str, Any] = {"phones": phones}
    with service.client() as http:
        for name, number, access, fields in (
            ("board", "800", BOARD_ACCESS, {"wait_for_moderator": True}),
            ("closed", "801", CLOSED_ACCESS, {"locked": True}),
        ):
            r = http.post(
                "/api/v1/conference-rooms",
                json={"tenant_id": phones.id, "name": name, "number": number, "pin": PIN,
                      "moderator_pin": MOD_PIN, **fields},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            out[name] = r.json()
            out[f"{name}_app"] = add_ivr_app(
                http, phones.id, access, pricing_batch="rooms", name=f"{name}-line",
                app="conference_room", settings={"room": name}, max_duration_s=120,
            )  # fmt: skip
        # A room without PINs, recorded: reached by its number only.
        r = http.post(
            "/api/v1/conference-rooms",
            json={
                "tenant_id": phones.id,
                "name": "taped",
                "number": "802",
                "record": True,
                "announce_join_leave": True,
            },
        )
        assert r.status_code == 201, r.text
        out["taped"] = r.json()
        r = http.get(f"/api/v1/tenants/{phones.id}/config")
        assert r.json()["last_apply"]["ok"], r.text
    return out


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def conferences(service: Service) -> ConferenceService:
    assert service.app is not None
    found = services_of(service.app).conferences
    assert found is not None
    return found


def room_participants(service: Service, room_id: int) -> dict[str, dict[str, Any]]:
    """The present participants of the room's active conference, by caller number."""
    svc = conferences(service)
    conference_id = svc.room_conference(room_id)
    conf = svc._confs.get(conference_id or "")
    if conf is None:
        return {}
    return {p.number: p.view() for p in conf.present()}


async def until(ready: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        await asyncio.sleep(0.1)


def recent(service: Service, app_id: int) -> list[dict[str, Any]]:
    with service.client() as http:
        r = http.get(f"/api/v1/ivr-apps/{app_id}/recent-calls")
        assert r.status_code == 200, r.text
        return list(r.json())


async def test_pin_then_wait_for_the_moderator(service: Service, rooms: dict[str, Any]) -> None:
    phones: TenantPhones = rooms["phones"]
    room_id = rooms["board"]["id"]
    # A wrong PIN, then the right one typed ahead over "that PIN is invalid".
    ann = asyncio.create_task(
        phones.call("101", BOARD_ACCESS, dtmf=f"1111#{PIN}#", hold_ms=30_000, timeout=60)
    )
    try:
        await until(lambda: "101" in room_participants(service, room_id), "101 joins")
        first = room_participants(service, room_id)["101"]
        assert (first["via"], first["moderator"]) == ("room", False)
        await until(lambda: room_participants(service, room_id)["101"]["held"], "101 waits")
        (summary,) = [c for c in recent(service, rooms["board_app"]) if c["caller"] == "101"]
        assert summary["collected"] == ["****", "****"]  # two tries; PINs never shown
        assert summary["outcome"] == "kept"  # the call is the conference's now

        boss = asyncio.create_task(
            phones.call("102", BOARD_ACCESS, dtmf=f"{MOD_PIN}#", hold_ms=8_000, timeout=40)
        )
        await until(lambda: "102" in room_participants(service, room_id), "102 joins")
        await until(lambda: not room_participants(service, room_id)["101"]["held"], "released")
        present = room_participants(service, room_id)
        assert present["102"]["moderator"] and not present["102"]["held"]
        engine = conferences(service).engine
        conference_id = conferences(service).room_conference(room_id)
        assert conference_id is not None
        members = {m.leg_id: m for m in engine.conferences.members(conference_id)}
        assert not members[present["101"]["leg_id"]].held
        assert members[present["102"]["leg_id"]].moderator

        boss_result = await boss
        assert boss_result.answered, boss_result.log
        # The moderator hung up: the participant waits again, the conference goes on.
        await until(lambda: "102" not in room_participants(service, room_id), "102 left")
        await until(lambda: room_participants(service, room_id)["101"]["held"], "waits again")
        # Done: 101 is removed (hung up) rather than waited for until its phone hangs up.
        removed = room_participants(service, room_id)["101"]["id"]
        with service.client() as http:
            r = http.delete(f"/api/v1/conferences/{conference_id}/participants/{removed}")
            assert r.status_code == 200, r.text
    finally:
        result = await ann
    assert result.answered and result.far_end_hangup, result.log
    await until(lambda: conferences(service).room_conference(room_id) is None, "ended (empty)")


async def test_locked_room_refused(service: Service, rooms: dict[str, Any]) -> None:
    phones: TenantPhones = rooms["phones"]
    result = await phones.call("103", CLOSED_ACCESS, dtmf=f"{PIN}#", hold_ms=15_000, timeout=40)
    assert result.answered, result.log
    assert result.far_end_hangup, "the flow said the room is locked and hung up"
    (summary,) = recent(service, rooms["closed_app"])
    assert summary["collected"] == []  # no PIN was asked
    assert summary["outcome"] == "flow_hung_up"
    assert conferences(service).room_conference(rooms["closed"]["id"]) is None


async def test_room_number_dialed_from_a_phone(service: Service, rooms: dict[str, Any]) -> None:
    """The tenant's phones reach the room by its number (800) without an access number."""
    phones: TenantPhones = rooms["phones"]
    room_id = rooms["board"]["id"]
    call = asyncio.create_task(
        phones.call("103", "800", dtmf=f"{PIN}#", hold_ms=10_000, timeout=40)
    )
    try:
        await until(lambda: "103" in room_participants(service, room_id), "103 joins")
        await until(lambda: room_participants(service, room_id)["103"]["held"], "103 waits")
        conference_id = conferences(service).room_conference(room_id)
        removed = room_participants(service, room_id)["103"]["id"]
        with service.client() as http:
            r = http.delete(f"/api/v1/conferences/{conference_id}/participants/{removed}")
            assert r.status_code == 200, r.text
    finally:
        result = await call
    assert result.answered and result.far_end_hangup, result.log
    await until(lambda: conferences(service).room_conference(room_id) is None, "ended (empty)")


async def test_a_recorded_room_lands_in_s3(service: Service, rooms: dict[str, Any]) -> None:
    phones: TenantPhones = rooms["phones"]
    result = await phones.call("103", "802", hold_ms=5_000, timeout=30)
    assert result.answered and not result.far_end_hangup, result.log
    deadline = time.monotonic() + 40
    while True:
        with service.client() as http:
            r = http.get("/api/v1/recordings", params={"tenant_id": phones.id})
        assert r.status_code == 200, r.text
        rows = [x for x in r.json()["items"] if x["name"].startswith("conference-")]
        if rows and rows[0]["state"] == "uploaded":
            break
        assert time.monotonic() < deadline, f"not uploaded: {rows}"
        await asyncio.sleep(0.3)
    s3 = boto3.client(
        "s3", endpoint_url=service.s3_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    audio = s3.get_object(Bucket=S3_BUCKET, Key=rows[0]["s3_key"])["Body"].read()
    # The phone (SIPp) sends no RTP: the recording is silence as long as it was in the
    # room, and the join chime. (It once was a bare WAV header: the bridge of one member
    # and Asterisk's Recorder passed on the member's frames alone; the chime came 5 s late.)
    seconds, loudest = wav_of(audio)
    row = rows[0]
    ran = (parse_time(row["finished_at"]) - parse_time(row["started_at"])).total_seconds()
    print(f"recording: {len(audio)} bytes, {seconds} s of {ran} s, loudest {loudest:.0f}")
    assert ran > 1.0 and abs(seconds - ran) < 0.5, (seconds, ran)
    assert loudest > 500, loudest
    assert rows[0]["tenant_id"] == phones.id
