"""Authentication, API users and the first admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from api.auth import ensure_admin
from orchestrator import cli
from orchestrator.core.errors import ValidationError
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import ApiUser, Role
from orchestrator.store.users import (
    ADMIN_TOKEN_RULES,
    BOOTSTRAP_ADMIN,
    check_admin_token,
    hash_token,
)
from tests.api.conftest import ADMIN_TOKEN, bearer

PROTECTED = [
    ("GET", "/api/v1/tenants"),
    ("POST", "/api/v1/tenants"),
    ("GET", "/api/v1/tenants/1"),
    ("GET", "/api/v1/tenants/1/extensions"),
    ("GET", "/api/v1/tenants/1/aliases"),
    ("GET", "/api/v1/dids"),
    ("POST", "/api/v1/dids/bulk"),
    ("GET", "/api/v1/users"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_or_bad_token_is_401(anon: TestClient, method: str, path: str) -> None:
    for headers in (
        {},
        bearer("not-a-token"),
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": "Bearer "},
    ):
        resp = anon.request(method, path, headers=headers)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.json()["error_id"] == "unauthenticated"
        assert resp.headers["www-authenticate"] == "Bearer"


def test_tokens_are_stored_hashed(client: TestClient, db_sessions: SessionFactory) -> None:
    resp = client.post("/api/v1/users", json={"name": "ops", "role": "system_admin"})
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    with db_sessions() as session:
        stored = session.exec(select(ApiUser.token_hash)).all()
    assert hash_token(token) in stored
    assert token not in stored
    # The new token works; the listing shows no token.
    with TestClient(client.app, headers=bearer(token)) as other:
        listing = other.get("/api/v1/users").json()
    assert listing["total"] == 2
    assert all("token" not in u and "token_hash" not in u for u in listing["items"])


def test_user_crud(client: TestClient, tenant_a: dict[str, Any]) -> None:
    users = client.get("/api/v1/users", params={"tenant_id": tenant_a["id"]}).json()["items"]
    assert [u["role"] for u in users] == ["tenant_admin"]
    uid = users[0]["id"]
    assert client.patch(f"/api/v1/users/{uid}", json={"name": "A boss"}).json()["name"] == "A boss"
    assert client.get(f"/api/v1/users/{uid}").json()["name"] == "A boss"
    assert client.delete(f"/api/v1/users/{uid}").status_code == 204
    assert client.get(f"/api/v1/users/{uid}").status_code == 404
    # The token of a deleted user no longer works.
    with TestClient(client.app, headers=bearer(tenant_a["token"])) as gone:
        assert gone.get("/api/v1/tenants").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "tenant_admin"},
        {"name": "x", "role": "tenant_admin", "tenant_id": 999},
        {"name": "x", "role": "system_admin", "tenant_id": 1},
        {"name": "x", "role": "root"},
        {"name": "x", "role": "supervisor"},
        {"name": "x", "role": "supervisor", "tenant_id": "A", "extension_id": "A"},
        {"name": "x", "role": "agent", "tenant_id": "A"},
        {"name": "x", "role": "agent", "tenant_id": "A", "extension_id": 999},
        {"name": "x", "role": "agent", "tenant_id": "A", "extension_id": "B"},
        {"name": "x", "role": "agent", "extension_id": "A"},
        {"name": "x", "role": "tenant_admin", "tenant_id": "A", "extension_id": "A"},
        {"name": "x", "role": "system_admin", "extension_id": "A"},
        {"name": "x\n", "role": "system_admin"},
        {"name": "", "role": "system_admin"},
        {"name": "<script>", "role": "system_admin"},
    ],
)
def test_bad_users_are_refused(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any], body: dict[str, Any]
) -> None:
    """ "A"/"B" stand for tenant A's id, or an extension of tenant A or B."""
    ids = {"A": tenant_a["id"]}
    exts = {}
    for key, tenant in (("A", tenant_a), ("B", tenant_b)):
        resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": "101"})
        exts[key] = resp.json()["id"]
    body = {**body}
    if "tenant_id" in body:
        body["tenant_id"] = ids.get(body["tenant_id"], body["tenant_id"])
    if "extension_id" in body:
        body["extension_id"] = exts.get(body["extension_id"], body["extension_id"])
    resp = client.post("/api/v1/users", json=body)
    assert resp.status_code == 422, resp.text
    assert client.get("/api/v1/users").json()["total"] == 3


def test_user_names_are_unique_and_last_admin_stays(client: TestClient) -> None:
    resp = client.post("/api/v1/users", json={"name": BOOTSTRAP_ADMIN, "role": "system_admin"})
    assert resp.status_code == 409
    admin = client.get("/api/v1/users").json()["items"][0]
    resp = client.delete(f"/api/v1/users/{admin['id']}")
    assert resp.status_code == 409
    assert "last system admin" in resp.json()["message"]


def test_tenant_admin_manages_only_its_supervisors_and_agents(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    headers = bearer(tenant_a["token"])
    ext = anon.post(
        f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": "101"}, headers=headers
    ).json()
    # Admins and other tenants' users are out of reach: 403 for roles, 404 for tenants.
    for role in ("system_admin", "tenant_admin"):
        resp = anon.post("/api/v1/users", json={"name": "me too", "role": role}, headers=headers)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error_id"] == "permission-denied"
        assert "system admin" in resp.json()["message"]
    body = {"name": "boss", "role": "supervisor", "tenant_id": tenant_b["id"]}
    assert anon.post("/api/v1/users", json=body, headers=headers).status_code == 404
    # Its own tenant by default; the token is shown once and works at once.
    resp = anon.post("/api/v1/users", json={"name": "boss", "role": "supervisor"}, headers=headers)
    assert resp.status_code == 201, resp.text
    boss = resp.json()
    assert (boss["tenant_id"], boss["extension_id"]) == (tenant_a["id"], None)
    body = {"name": "ann", "role": "agent", "extension_id": ext["id"]}
    ann = anon.post("/api/v1/users", json=body, headers=headers).json()
    assert (ann["role"], ann["tenant_id"], ann["extension_id"]) == (
        "agent",
        tenant_a["id"],
        ext["id"],
    )
    me = anon.get("/api/v1/users/me", headers=bearer(ann["token"])).json()
    assert (me["id"], me["role"], me["extension_id"]) == (ann["id"], "agent", ext["id"])
    assert "token" not in me and "token_hash" not in me
    # It lists, renames and deletes its tenant's users only.
    listed = anon.get("/api/v1/users", headers=headers).json()
    assert [u["name"] for u in listed["items"]] == ["Tenant A admin", "boss", "ann"]
    resp = anon.get("/api/v1/users", params={"tenant_id": tenant_b["id"]}, headers=headers)
    assert resp.status_code == 404
    others = client.get("/api/v1/users", params={"tenant_id": tenant_b["id"]}).json()["items"]
    b_admin = others[0]["id"]
    for method in ("GET", "PATCH", "DELETE"):
        resp = anon.request(method, f"/api/v1/users/{b_admin}", json={"name": "x"}, headers=headers)
        assert resp.status_code == 404, (method, resp.text)
    a_admin = listed["items"][0]["id"]
    assert anon.get(f"/api/v1/users/{a_admin}", headers=headers).status_code == 200
    for method in ("PATCH", "DELETE"):
        resp = anon.request(method, f"/api/v1/users/{a_admin}", json={"name": "x"}, headers=headers)
        assert resp.status_code == 403, (method, resp.text)
    # Supervisors and agents manage no users, not even themselves.
    for user in (boss, ann):
        mine = bearer(user["token"])
        assert anon.get("/api/v1/users", headers=mine).status_code == 403
        body = {"name": "x", "role": "agent", "extension_id": ext["id"]}
        assert anon.post("/api/v1/users", json=body, headers=mine).status_code == 403
        resp = anon.patch(f"/api/v1/users/{user['id']}", json={"name": "x"}, headers=mine)
        assert resp.status_code == 403
    resp = anon.patch(f"/api/v1/users/{boss['id']}", json={"name": "chief"}, headers=headers)
    assert resp.json()["name"] == "chief"
    assert anon.delete(f"/api/v1/users/{boss['id']}", headers=headers).status_code == 204
    assert anon.get("/api/v1/users/me", headers=bearer(boss["token"])).status_code == 401


def test_deleting_an_extension_deletes_its_agent_user(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    ext = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": "101"})
    body = {
        "name": "ann",
        "role": "agent",
        "tenant_id": tenant_a["id"],
        "extension_id": ext.json()["id"],
    }
    ann = client.post("/api/v1/users", json=body).json()
    assert client.get("/api/v1/users/me", headers=bearer(ann["token"])).status_code == 200
    resp = client.delete(f"/api/v1/tenants/{tenant_a['id']}/extensions/{ext.json()['id']}")
    assert resp.status_code == 204, resp.text
    assert client.get(f"/api/v1/users/{ann['id']}").status_code == 404
    assert client.get("/api/v1/users/me", headers=bearer(ann["token"])).status_code == 401


def _admins(db_sessions: SessionFactory) -> list[ApiUser]:
    with db_sessions() as session:
        return list(session.exec(select(ApiUser).where(ApiUser.role == Role.SYSTEM_ADMIN)).all())


def test_ensure_admin(db_sessions: SessionFactory, db_url: str) -> None:
    generated = Settings(engine="fake", database_url=db_url, admin_token="")
    with db_sessions() as session:
        token = ensure_admin(session, generated)
        assert token is not None and len(token) >= 32
        # Once an admin exists, nothing more happens.
        assert ensure_admin(session, generated) is None
    assert [a.token_hash for a in _admins(db_sessions)] == [hash_token(token)]

    # A new ORCH_ADMIN_TOKEN replaces the bootstrap admin's token (rotation).
    rotated = Settings(engine="fake", database_url=db_url, admin_token="r" * 32)
    with db_sessions() as session:
        assert ensure_admin(session, rotated) is None
        assert ensure_admin(session, rotated) is None
    admins = _admins(db_sessions)
    assert [(a.name, a.token_hash) for a in admins] == [(BOOTSTRAP_ADMIN, hash_token("r" * 32))]

    with db_sessions() as session, pytest.raises(ValidationError):
        ensure_admin(session, Settings(engine="fake", database_url=db_url, admin_token="short"))


def test_the_admin_of_orch_admin_token_cannot_be_deleted(client: TestClient) -> None:
    """Deleting it made ORCH_ADMIN_TOKEN stop working, with no message, until a restart."""
    other = client.post("/api/v1/users", json={"name": "ops", "role": "system_admin"}).json()
    users = client.get("/api/v1/users").json()["items"]
    [first] = [u for u in users if u["name"] == BOOTSTRAP_ADMIN]
    resp = client.delete(f"/api/v1/users/{first['id']}", headers=bearer(other["token"]))
    assert resp.status_code == 409, resp.text
    assert "ORCH_ADMIN_TOKEN" in resp.json()["message"]
    assert client.get("/api/v1/users/me").status_code == 200
    # The other admin is deleted as usual; then the first is the last one.
    assert client.delete(f"/api/v1/users/{other['id']}").status_code == 204
    resp = client.delete(f"/api/v1/users/{first['id']}")
    assert resp.status_code == 409
    assert "last system admin" in resp.json()["message"]


def test_admin_token_rules_are_said(db_sessions: SessionFactory, db_url: str) -> None:
    for bad in ["short", "x" * 15, "sixteen chars ok", "é" * 16, "x" * 257]:
        settings = Settings(engine="fake", database_url=db_url, admin_token=bad)
        with db_sessions() as session, pytest.raises(ValidationError) as refused:
            ensure_admin(session, settings)
        assert ADMIN_TOKEN_RULES in refused.value.message
    assert check_admin_token("x" * 16) == "x" * 16
    assert check_admin_token("") == ""


def test_run_refuses_a_bad_admin_token_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORCH_ADMIN_TOKEN", "too-short")
    monkeypatch.setenv("ORCH_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli.app, ["run"])
    assert result.exit_code == 2
    assert ADMIN_TOKEN_RULES in result.output
    assert list(tmp_path.iterdir()) == []  # no database, no engine files
