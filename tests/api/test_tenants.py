"""Tenants: CRUD, lists, validation, provisioning and the config endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from api.services import services_of
from orchestrator.core.errors import ConfigApplyError
from orchestrator.provisioning.base import ApplyResult, RecordingProvisioner
from tests.api.conftest import ADMIN_TOKEN, TestClient, bearer


def test_crud(client: TestClient, provisioner: RecordingProvisioner) -> None:
    resp = client.post("/api/v1/tenants", json={"name": "Acme", "sip_domain": "Acme.Example"})
    assert resp.status_code == 201, resp.text
    tenant = resp.json()
    assert tenant["sip_domain"] == "acme.example"
    assert tenant["enabled"] is True
    assert tenant["created_at"].endswith(("Z", "+00:00"))
    tid = tenant["id"]
    assert provisioner.changed == [tid]

    assert client.get(f"/api/v1/tenants/{tid}").json() == tenant

    resp = client.patch(f"/api/v1/tenants/{tid}", json={"name": "Acme Inc", "enabled": False})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "Acme Inc"
    assert resp.json()["enabled"] is False
    assert resp.json()["config_version"] == tenant["config_version"] + 1
    assert provisioner.changed == [tid, tid]

    assert client.delete(f"/api/v1/tenants/{tid}").status_code == 204
    assert provisioner.removed == [tid]
    resp = client.get(f"/api/v1/tenants/{tid}")
    assert resp.status_code == 404
    assert resp.json()["error_id"] == "not-found"


def test_duplicate_domain_is_conflict(client: TestClient) -> None:
    assert client.post("/api/v1/tenants", json={"name": "A", "sip_domain": "a.example"}).is_success
    resp = client.post("/api/v1/tenants", json={"name": "B", "sip_domain": "A.example"})
    assert resp.status_code == 409
    assert resp.json()["details"]["field"] == "sip_domain"
    other = client.post("/api/v1/tenants", json={"name": "B", "sip_domain": "b.example"}).json()
    resp = client.patch(f"/api/v1/tenants/{other['id']}", json={"sip_domain": "a.example"})
    assert resp.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": "A", "sip_domain": "a.example;transport=tcp"},
        {"name": "A", "sip_domain": "a.example\nContact: x"},
        {"name": "A", "sip_domain": "${SHELL(id)}.example"},
        {"name": "A", "sip_domain": "nodot"},
        {"name": "A\nB", "sip_domain": "a.example"},
        {"name": "", "sip_domain": "a.example"},
        {"name": "A" * 81, "sip_domain": "a.example"},
        {"name": "A"},
        {"name": "A", "sip_domain": "a.example", "enabled": "maybe"},
    ],
)
def test_hostile_input_is_refused(
    client: TestClient, provisioner: RecordingProvisioner, body: dict[str, Any]
) -> None:
    resp = client.post("/api/v1/tenants", json=body)
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert error["error_id"] == "invalid-input"
    assert error["message"]
    assert "details" in error
    assert client.get("/api/v1/tenants").json()["total"] == 0
    assert provisioner.changed == []


def test_list_pagination_and_filters(client: TestClient) -> None:
    for i in range(7):
        body = {"name": f"Tenant {i}", "sip_domain": f"t{i}.example", "enabled": i % 2 == 0}
        assert client.post("/api/v1/tenants", json=body).status_code == 201
    page = client.get("/api/v1/tenants", params={"offset": 2, "limit": 3}).json()
    assert page["total"] == 7
    assert (page["offset"], page["limit"]) == (2, 3)
    assert [t["name"] for t in page["items"]] == ["Tenant 2", "Tenant 3", "Tenant 4"]
    assert client.get("/api/v1/tenants", params={"enabled": "false"}).json()["total"] == 3
    assert client.get("/api/v1/tenants", params={"name": "ant 5"}).json()["total"] == 1
    # LIKE wildcards in a filter are literal.
    assert client.get("/api/v1/tenants", params={"name": "%"}).json()["total"] == 0
    assert client.get("/api/v1/tenants", params={"limit": 501}).status_code == 422
    assert client.get("/api/v1/tenants", params={"offset": -1}).status_code == 422


def test_tenant_admin_sees_only_its_tenant(
    anon: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    headers = bearer(tenant_a["token"])
    page = anon.get("/api/v1/tenants", headers=headers).json()
    assert [t["id"] for t in page["items"]] == [tenant_a["id"]]
    assert anon.get(f"/api/v1/tenants/{tenant_a['id']}", headers=headers).status_code == 200
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "mine"}),
        ("DELETE", "", None),
        ("GET", "/config", None),
        ("POST", "/config/apply", None),
    ]:
        resp = anon.request(
            method, f"/api/v1/tenants/{tenant_b['id']}{path}", json=body, headers=headers
        )
        assert resp.status_code == 404, (method, path, resp.text)
    # Its own tenant: it may rename it, nothing else, and may not create or delete tenants.
    resp = anon.patch(f"/api/v1/tenants/{tenant_a['id']}", json={"name": "A2"}, headers=headers)
    assert resp.status_code == 200
    resp = anon.patch(f"/api/v1/tenants/{tenant_a['id']}", json={"enabled": False}, headers=headers)
    assert resp.status_code == 403
    assert resp.json()["error_id"] == "permission-denied"
    assert anon.delete(f"/api/v1/tenants/{tenant_a['id']}", headers=headers).status_code == 403
    resp = anon.post(
        "/api/v1/tenants", json={"name": "X", "sip_domain": "x.example"}, headers=headers
    )
    assert resp.status_code == 403


def test_delete_cascades_and_returns_dids(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    tid = tenant_a["id"]
    ext = client.post(f"/api/v1/tenants/{tid}/extensions", json={"number": "101"}).json()
    client.post(
        f"/api/v1/tenants/{tid}/aliases", json={"alias": "a@pstn", "extension_id": ext["id"]}
    )
    did = client.post(
        "/api/v1/dids",
        json={
            "number": "+12065550100",
            "pricing_batch": "b1",
            "tenant_id": tid,
            "destination": "extension:101",
        },
    ).json()
    assert client.delete(f"/api/v1/tenants/{tid}").status_code == 204
    did = client.get(f"/api/v1/dids/{did['id']}").json()
    assert (did["tenant_id"], did["destination"]) == (None, None)
    # Its admin is gone with it; the other tenant is untouched.
    assert client.get("/api/v1/users", params={"tenant_id": tid}).json()["total"] == 0
    assert client.get(f"/api/v1/tenants/{tenant_b['id']}").status_code == 200
    # The alias is free again.
    tb = tenant_b["id"]
    ext_b = client.post(f"/api/v1/tenants/{tb}/extensions", json={"number": "101"}).json()
    resp = client.post(
        f"/api/v1/tenants/{tb}/aliases", json={"alias": "a@pstn", "extension_id": ext_b["id"]}
    )
    assert resp.status_code == 201


def test_config_state_and_apply(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    tid = tenant_a["id"]
    state = client.get(f"/api/v1/tenants/{tid}/config").json()
    assert state["tenant_id"] == tid
    assert state["last_apply"]["ok"] is True
    provisioner.changed.clear()
    resp = client.post(f"/api/v1/tenants/{tid}/config/apply")
    assert resp.status_code == 200
    assert resp.json()["tenant_id"] == tid
    assert provisioner.changed == [tid]
    assert client.post("/api/v1/tenants/999/config/apply").status_code == 404


class FailingProvisioner(RecordingProvisioner):
    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        await super().tenant_changed(tenant_id)
        raise ConfigApplyError("dialplan reload refused", tenant_id=tenant_id)


def test_failed_apply_keeps_the_data_and_is_reported(app: FastAPI) -> None:
    services_of(app).config_state.provisioner = FailingProvisioner()
    with TestClient(app, headers=bearer(ADMIN_TOKEN)) as client:
        resp = client.post("/api/v1/tenants", json={"name": "A", "sip_domain": "a.example"})
        assert resp.status_code == 201
        tid = resp.json()["id"]
        last = client.get(f"/api/v1/tenants/{tid}/config").json()["last_apply"]
        assert last["ok"] is False
        assert "dialplan reload refused" in last["error"]
        resp = client.post(f"/api/v1/tenants/{tid}/config/apply")
        assert resp.status_code == 502
        assert resp.json()["error_id"] == "config-apply-failed"
