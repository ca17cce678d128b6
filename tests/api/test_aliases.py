"""Aliases: CRUD, global uniqueness, validation and tenant scope."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from tests.api.conftest import bearer


def ext(client: TestClient, tenant: dict[str, Any], number: str) -> int:
    resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_crud(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    base = f"/api/v1/tenants/{tenant_a['id']}/aliases"
    e1, e2 = ext(client, tenant_a, "101"), ext(client, tenant_a, "102")
    provisioner.changed.clear()
    resp = client.post(base, json={"alias": "12065552453@pstn", "extension_id": e1})
    assert resp.status_code == 201, resp.text
    alias = resp.json()
    assert alias["tenant_id"] == tenant_a["id"]
    client.post(base, json={"alias": "sales@pstn", "extension_id": e2})
    assert client.get(base).json()["total"] == 2
    assert client.get(base, params={"extension_id": e2}).json()["items"][0]["alias"] == "sales@pstn"
    resp = client.patch(f"{base}/{alias['id']}", json={"extension_id": e2})
    assert resp.json()["extension_id"] == e2
    assert client.delete(f"{base}/{alias['id']}").status_code == 204
    assert client.get(f"{base}/{alias['id']}").status_code == 404
    assert provisioner.changed == [tenant_a["id"]] * 4
    # Deleting an extension takes its aliases with it.
    assert client.delete(f"/api/v1/tenants/{tenant_a['id']}/extensions/{e2}").status_code == 204
    assert client.get(base).json()["total"] == 0


def test_unique_across_tenants_and_validated(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    ea, eb = ext(client, tenant_a, "101"), ext(client, tenant_b, "101")
    url_a = f"/api/v1/tenants/{tenant_a['id']}/aliases"
    url_b = f"/api/v1/tenants/{tenant_b['id']}/aliases"
    assert client.post(url_a, json={"alias": "x@pstn", "extension_id": ea}).status_code == 201
    assert client.post(url_b, json={"alias": "x@pstn", "extension_id": eb}).status_code == 409
    for alias in ["x@pstn;evil", "x\n@pstn", "${x}@pstn", "_x.@pstn", "x@PSTN", "x"]:
        resp = client.post(url_b, json={"alias": alias, "extension_id": eb})
        assert resp.status_code == 422, alias
    # The extension must belong to the tenant of the path.
    resp = client.post(url_b, json={"alias": "y@pstn", "extension_id": ea})
    assert resp.status_code == 422
    assert resp.json()["details"]["field"] == "extension_id"
    assert client.get(url_b).json()["total"] == 0


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    eb = ext(client, tenant_b, "101")
    url_b = f"/api/v1/tenants/{tenant_b['id']}/aliases"
    alias = client.post(url_b, json={"alias": "b@pstn", "extension_id": eb}).json()
    headers = bearer(tenant_a["token"])
    assert anon.get(url_b, headers=headers).status_code == 404
    assert anon.get(f"{url_b}/{alias['id']}", headers=headers).status_code == 404
    assert anon.delete(f"{url_b}/{alias['id']}", headers=headers).status_code == 404
    resp = anon.post(url_b, json={"alias": "c@pstn", "extension_id": eb}, headers=headers)
    assert resp.status_code == 404
    url_a = f"/api/v1/tenants/{tenant_a['id']}/aliases"
    assert anon.get(f"{url_a}/{alias['id']}", headers=headers).status_code == 404
    assert anon.get(url_a, headers=headers).status_code == 200
