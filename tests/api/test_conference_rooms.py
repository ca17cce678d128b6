"""Conference rooms: CRUD, strict validation (nothing changed on a 4xx), PINs never shown
and stored only as salted scrypt hashes, tenant scope, rooms named by IVR apps."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.conference_rooms import get_room
from orchestrator.store.db import SessionFactory
from orchestrator.store.pins import verify_pin
from tests.api.conftest import bearer
from tests.api.fields import error_field

URL = "/api/v1/conference-rooms"


def add_room(client: TestClient, tenant: dict[str, Any], name: str = "board", **fields: Any) -> Any:
    body = {"tenant_id": tenant["id"], "name": name, "number": "800", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_crud_and_pins_hashed(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    room = add_room(
        client,
        tenant_a,
        pin="1234",
        moderator_pin="987654",
        wait_for_moderator=True,
        end_when_moderator_leaves=True,
        announce_join_leave=True,
        join_sound="sound:custom/chime",
        max_participants=10,
        record=True,
        muted_on_join=True,
    )
    assert (room["has_pin"], room["has_moderator_pin"]) == (True, True)
    assert (room["max_participants"], room["join_sound"], room["leave_sound"]) == (
        10,
        "sound:custom/chime",
        None,
    )
    assert "1234" not in str(room) and "pin_hash" not in room and "pin" not in room
    with db_sessions() as session:
        row = get_room(session, tenant_a["id"], "board")
        assert row is not None and row.pin_hash and row.moderator_pin_hash
        assert "1234" not in row.pin_hash and row.pin_hash.startswith("scrypt$")
        assert verify_pin("1234", row.pin_hash) and not verify_pin("1235", row.pin_hash)
        assert verify_pin("987654", row.moderator_pin_hash)
        # Salted: the same PIN hashes differently each time.
        first_hash = row.pin_hash
    assert client.get(f"{URL}/{room['id']}").json() == room
    listed = client.get(URL, params={"tenant_id": tenant_a["id"]}).json()
    assert [r["name"] for r in listed["items"]] == ["board"]
    assert "pin_hash" not in str(listed)

    resp = client.patch(f"{URL}/{room['id']}", json={"pin": "1234", "locked": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["locked"] is True
    with db_sessions() as session:
        row = get_room(session, tenant_a["id"], "board")
        assert row is not None and row.pin_hash != first_hash and verify_pin("1234", row.pin_hash)
    # null removes the participant PIN (an open room, moderator by PIN).
    resp = client.patch(f"{URL}/{room['id']}", json={"pin": None, "join_sound": None})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["has_pin"], resp.json()["join_sound"]) == (False, None)
    assert client.delete(f"{URL}/{room['id']}").status_code == 204
    assert client.get(f"{URL}/{room['id']}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pin": "123"}, "pin"),
        ({"pin": "1234567890123"}, "pin"),
        ({"pin": "12a4"}, "pin"),
        ({"pin": 1234}, "pin"),
        ({"moderator_pin": "12 34"}, "moderator_pin"),
        ({"pin": "1111", "moderator_pin": "1111"}, "moderator_pin"),
        ({"name": "Board Room"}, "name"),
        ({"name": ""}, "name"),
        ({"number": "8"}, "number"),
        ({"number": "80a"}, "number"),
        ({"number": "+800"}, "number"),
        ({"max_participants": 1}, "max_participants"),
        ({"max_participants": 201}, "max_participants"),
        ({"max_participants": "10"}, "max_participants"),
        ({"locked": "yes"}, "locked"),
        ({"record": 1}, "record"),
        ({"join_sound": "../../etc/passwd"}, "join_sound"),
        ({"join_sound": "tone:busy"}, "join_sound"),
        ({"leave_sound": "recording:x;y"}, "leave_sound"),
        ({"wait_for_moderator": True}, "wait_for_moderator"),
        ({"end_when_moderator_leaves": True, "pin": "1234"}, "end_when_moderator_leaves"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    body = {"tenant_id": tenant_a["id"], "name": "board", "number": "800", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert "1111" not in resp.text and "1234" not in resp.text  # PINs never echoed
    assert client.get(URL).json()["total"] == 0

    room = add_room(client, tenant_a, "kept", pin="5555")
    resp = client.patch(f"{URL}/{room['id']}", json=fields)
    assert resp.status_code == 422, resp.text
    assert client.get(f"{URL}/{room['id']}").json() == room


def test_update_rules_against_stored_values(client: TestClient, tenant_a: dict[str, Any]) -> None:
    room = add_room(client, tenant_a, pin="1234", moderator_pin="5678")
    # The new moderator PIN equals the kept participant PIN: refused, though only hashes are kept.
    resp = client.patch(f"{URL}/{room['id']}", json={"moderator_pin": "1234"})
    assert resp.status_code == 422 and error_field(resp.json()) == "moderator_pin"
    resp = client.patch(f"{URL}/{room['id']}", json={"wait_for_moderator": True})
    assert resp.status_code == 200, resp.text
    # Removing the moderator PIN while the room waits for a moderator: refused.
    resp = client.patch(f"{URL}/{room['id']}", json={"moderator_pin": None})
    assert resp.status_code == 422 and error_field(resp.json()) == "wait_for_moderator"
    for null_field in ("name", "number", "locked", "max_participants"):
        resp = client.patch(f"{URL}/{room['id']}", json={null_field: None})
        assert resp.status_code == 422, (null_field, resp.text)
    now = client.get(f"{URL}/{room['id']}").json()
    assert (now["has_moderator_pin"], now["name"], now["locked"]) == (True, "board", False)


def test_conflicts(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> None:
    add_room(client, tenant_a)
    for fields in ({"name": "board", "number": "801"}, {"name": "other", "number": "800"}):
        resp = client.post(URL, json={"tenant_id": tenant_a["id"], **fields})
        assert resp.status_code == 409, resp.text
    add_room(client, tenant_b)  # another tenant: the same name and number are fine
    resp = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": "300"})
    assert resp.status_code == 201, resp.text
    resp = client.post(URL, json={"tenant_id": tenant_a["id"], "name": "x", "number": "300"})
    assert resp.status_code == 409 and "extension" in resp.text
    # ... and an extension cannot take a room's number (both are dialed by the phones).
    resp = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": "800"})
    assert resp.status_code == 409 and "conference room" in resp.text


def test_room_numbers_reach_the_dialplan(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    provisioner.changed.clear()
    room = add_room(client, tenant_a, pin="1234")
    assert provisioner.changed == [tenant_a["id"]]
    assert client.patch(f"{URL}/{room['id']}", json={"locked": True}).status_code == 200
    assert provisioner.changed == [tenant_a["id"]]  # a flag is read per call: no re-apply
    assert client.patch(f"{URL}/{room['id']}", json={"number": "801"}).status_code == 200
    assert client.delete(f"{URL}/{room['id']}").status_code == 204
    assert provisioner.changed == [tenant_a["id"]] * 3


def test_ivr_app_naming_the_room_blocks_rename_and_delete(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    room = add_room(client, tenant_a, pin="1234")
    resp = client.post(
        "/api/v1/ivr-apps",
        json={
            "tenant_id": tenant_a["id"],
            "name": "board-line",
            "app": "conference_room",
            "settings": {"room": "board"},
        },
    )
    assert resp.status_code == 201, resp.text
    assert client.delete(f"{URL}/{room['id']}").status_code == 409
    assert client.patch(f"{URL}/{room['id']}", json={"name": "b2"}).status_code == 409
    assert client.patch(f"{URL}/{room['id']}", json={"number": "801"}).status_code == 200
    assert client.delete(f"/api/v1/ivr-apps/{resp.json()['id']}").status_code == 204
    assert client.delete(f"{URL}/{room['id']}").status_code == 204


def test_tenant_scope_and_roles(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    room = add_room(client, tenant_a, pin="1234")
    as_b = bearer(tenant_b["token"])
    assert client.get(f"{URL}/{room['id']}", headers=as_b).status_code == 404
    assert (
        client.patch(f"{URL}/{room['id']}", json={"locked": True}, headers=as_b).status_code == 404
    )
    assert client.delete(f"{URL}/{room['id']}", headers=as_b).status_code == 404
    assert client.get(URL, headers=as_b).json()["total"] == 0
    resp = client.post(
        URL, json={"tenant_id": tenant_a["id"], "name": "x", "number": "801"}, headers=as_b
    )
    assert resp.status_code == 404
    as_a = bearer(tenant_a["token"])
    assert client.get(URL, headers=as_a).json()["total"] == 1
    resp = client.post(
        "/api/v1/users",
        json={"name": "boss", "role": "supervisor", "tenant_id": tenant_a["id"]},
    )
    assert resp.status_code == 201, resp.text
    assert client.get(URL, headers=bearer(resp.json()["token"])).status_code == 403
