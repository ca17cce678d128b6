"""Mailboxes and voicemail messages over REST: CRUD, the PIN write-only and hashed, strict
validation (nothing changed on a 4xx), tenant scope and roles, messages listed, heard,
downloaded and deleted, each change of the counts told to the MWI notifier."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import services_of
from orchestrator.core.fake import FakeEngine, silent_wav
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import VoicemailStorage
from orchestrator.store import voicemail as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Mailbox
from orchestrator.store.pins import verify_pin
from tests.api.conftest import bearer

URL = "/api/v1/mailboxes"


def extension(client: TestClient, tenant: dict[str, Any], number: str = "101") -> int:
    resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def add_box(client: TestClient, tenant: dict[str, Any], **fields: Any) -> Any:
    body = {"tenant_id": tenant["id"], "number": "101", "pin": "4711", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


class Mwi:
    def __init__(self) -> None:
        self.changes: list[tuple[int, int]] = []

    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        self.changes.append((tenant_id, mailbox_id))


@pytest.fixture
def mwi(app: FastAPI, fake_engine: FakeEngine, db_sessions: SessionFactory) -> Mwi:
    mwi = Mwi()
    storage = VoicemailStorage(fake_engine, db_sessions, None)
    services_of(app).voicemail = VoicemailService(db_sessions, storage, mwi=mwi)
    return mwi


def test_crud_and_the_pin_is_write_only(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    ext = extension(client, tenant_a)
    box = add_box(client, tenant_a, extension_id=ext, email="ann@a.example", name="Ann")
    assert box["has_pin"] and "pin" not in box and "pin_hash" not in box and "4711" not in str(box)
    assert (box["extension_id"], box["email"], box["max_message_s"]) == (ext, "ann@a.example", 180)
    assert (box["new_messages"], box["old_messages"], box["greetings"]) == (0, 0, [])
    with db_sessions() as s:
        row = s.get(Mailbox, box["id"])
        assert row is not None and row.pin_hash and row.pin_hash.startswith("scrypt$")
        assert verify_pin("4711", row.pin_hash)
    assert client.get(f"{URL}/{box['id']}").json() == box
    assert client.get(URL, params={"tenant_id": tenant_a["id"]}).json()["total"] == 1
    resp = client.patch(f"{URL}/{box['id']}", json={"pin": "123456", "email": None})
    assert resp.status_code == 200, resp.text
    assert resp.json()["email"] is None
    with db_sessions() as s:
        row = s.get(Mailbox, box["id"])
        assert row is not None and verify_pin("123456", row.pin_hash)
    shared = add_box(client, tenant_a, number="800", notify_extension_ids=[ext])
    assert shared["extension_id"] is None and shared["notify_extension_ids"] == [ext]
    assert client.delete(f"{URL}/{shared['id']}").status_code == 204
    assert client.get(f"{URL}/{shared['id']}").status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"number": "1"},
        {"number": "12a"},
        {"pin": "12"},
        {"pin": "12345678901234"},
        {"email": "not-an-address"},
        {"max_message_s": 5},
        {"max_message_s": 601},
        {"max_message_s": "60"},
        {"attach_audio": "yes"},
        {"pin_code": "4711"},
        {"notify_extension_ids": [999999]},
        {"extension_id": 999999},
        {"name": 'evil"<name>'},
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any]
) -> None:
    body = {"tenant_id": tenant_a["id"], "number": "101", "pin": "4711", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 422, resp.text
    assert client.get(URL).json()["total"] == 0
    box = add_box(client, tenant_a, number="102")
    patch = {k: v for k, v in fields.items() if k not in ("extension_id",)}
    if patch:
        resp = client.patch(f"{URL}/{box['id']}", json=patch)
        assert resp.status_code == 422, resp.text
        assert client.get(f"{URL}/{box['id']}").json() == box


def test_conflicts(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> None:
    ext = extension(client, tenant_a)
    add_box(client, tenant_a, extension_id=ext)
    resp = client.post(URL, json={"tenant_id": tenant_a["id"], "number": "101", "pin": "1234"})
    assert resp.status_code == 409
    resp = client.post(
        URL, json={"tenant_id": tenant_a["id"], "number": "102", "pin": "1234", "extension_id": ext}
    )
    assert resp.status_code == 409
    # Another tenant's extension is no extension of this one.
    other = extension(client, tenant_b)
    resp = client.post(
        URL,
        json={"tenant_id": tenant_a["id"], "number": "103", "pin": "1234", "extension_id": other},
    )
    assert resp.status_code == 422
    assert client.get(URL).json()["total"] == 1


def test_tenant_scope_and_roles(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    box = add_box(client, tenant_a)
    as_b = bearer(tenant_b["token"])
    assert client.get(f"{URL}/{box['id']}", headers=as_b).status_code == 404
    assert client.patch(f"{URL}/{box['id']}", json={"name": "x"}, headers=as_b).status_code == 404
    assert client.delete(f"{URL}/{box['id']}", headers=as_b).status_code == 404
    assert client.get(f"{URL}/{box['id']}/messages", headers=as_b).status_code == 404
    assert client.get(URL, headers=as_b).json()["total"] == 0
    resp = client.post(URL, json={"tenant_id": tenant_a["id"], "number": "55", "pin": "1234"},
                       headers=as_b)  # fmt: skip
    assert resp.status_code == 404
    as_a = bearer(tenant_a["token"])
    assert client.get(URL, headers=as_a).json()["total"] == 1
    resp = client.post(
        "/api/v1/users", json={"name": "boss", "role": "supervisor", "tenant_id": tenant_a["id"]}
    )
    assert client.get(URL, headers=bearer(resp.json()["token"])).status_code == 403


def test_messages_heard_downloaded_deleted(
    client: TestClient,
    tenant_a: dict[str, Any],
    db_sessions: SessionFactory,
    fake_engine: FakeEngine,
    mwi: Mwi,
) -> None:
    box = add_box(client, tenant_a)
    # A new mailbox is a change too: the reconciler learns its phones' lamps (off).
    assert mwi.changes == [(tenant_a["id"], box["id"])]
    mwi.changes.clear()
    with db_sessions() as s:
        row = s.get(Mailbox, box["id"])
        assert row is not None
        first = store.add_message(s, row, recording="vm/one", duration_s=2.0, size_bytes=10,
                                  caller_number="+15550100")  # fmt: skip
        second = store.add_message(s, row, recording="vm/two", duration_s=3.0, size_bytes=10)
    audio = silent_wav(2.0)
    fake_engine.recordings["vm/one"] = audio
    fake_engine.recordings["vm/two"] = silent_wav(3.0)
    base = f"{URL}/{box['id']}/messages"
    listed = client.get(base).json()
    assert [m["id"] for m in listed["items"]] == [first.id, second.id]
    assert listed["items"][0]["caller_number"] == "+15550100"
    assert client.get(f"{URL}/{box['id']}").json()["new_messages"] == 2
    got = client.get(f"{base}/{first.id}/audio")
    assert got.status_code == 200 and got.content == audio
    assert got.headers["content-type"] == "audio/wav"
    resp = client.patch(f"{base}/{first.id}", json={"heard": True})
    assert resp.status_code == 200 and resp.json()["folder"] == "old"
    assert mwi.changes == [(tenant_a["id"], box["id"])]
    # The same again changes nothing, so the lights are not told again.
    assert client.patch(f"{base}/{first.id}", json={"heard": True}).status_code == 200
    assert len(mwi.changes) == 1
    assert client.patch(f"{base}/{first.id}", json={"heard": "yes"}).status_code == 422
    assert client.patch(f"{base}/{first.id}", json={"heard": None}).status_code == 422
    assert client.patch(f"{base}/{first.id}", json={}).status_code == 422
    assert [m["id"] for m in client.get(base, params={"folder": "new"}).json()["items"]] == [
        second.id
    ]
    assert client.get(base, params={"folder": "trash"}).status_code == 422
    assert client.get(f"{base}/not-a-message-id").status_code == 422
    assert client.delete(f"{base}/{second.id}").status_code == 204
    assert "vm/two" not in fake_engine.recordings, "its audio deleted too"
    assert client.get(f"{base}/{second.id}").status_code == 404
    assert len(mwi.changes) == 2
    counts = client.get(f"{URL}/{box['id']}").json()
    assert (counts["new_messages"], counts["old_messages"]) == (0, 1)


def test_audio_needs_the_voicemail_service(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    box = add_box(client, tenant_a)
    with db_sessions() as s:
        row = s.get(Mailbox, box["id"])
        assert row is not None
        message = store.add_message(s, row, recording="vm/x", duration_s=2.0, size_bytes=10)
    assert client.get(f"{URL}/{box['id']}/messages/{message.id}/audio").status_code == 503
