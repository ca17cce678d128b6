"""Extensions: CRUD, SIP credentials, uniqueness per tenant, lists and validation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from tests.api.conftest import bearer


def url(tenant: dict[str, Any], suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant['id']}/extensions{suffix}"


def test_crud_and_password_handling(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    provisioner.changed.clear()
    body = {
        "number": "101",
        "name": "Reception",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@a.example",
        "caller_id_name": "Acme Reception",
    }
    resp = client.post(url(tenant_a), json=body)
    assert resp.status_code == 201, resp.text
    ext = resp.json()
    assert ext["sip_username"] == "101"
    password = ext["sip_password"]
    assert len(password) == 24 and password.isalnum()
    assert provisioner.changed == [tenant_a["id"]]

    # The password is not in reads or lists, only in the explicit credentials call.
    read = client.get(url(tenant_a, f"/{ext['id']}")).json()
    assert "sip_password" not in read
    assert all("sip_password" not in e for e in client.get(url(tenant_a)).json()["items"])
    creds = client.get(url(tenant_a, f"/{ext['id']}/sip-credentials")).json()
    assert creds == {
        "extension_id": ext["id"],
        "sip_username": "101",
        "sip_password": password,
        "sip_domain": "a.example",
    }

    resp = client.patch(url(tenant_a, f"/{ext['id']}"), json={"number": "102", "email": None})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["number"], resp.json()["email"]) == ("102", None)
    assert client.delete(url(tenant_a, f"/{ext['id']}")).status_code == 204
    assert client.get(url(tenant_a, f"/{ext['id']}")).status_code == 404
    assert provisioner.changed == [tenant_a["id"]] * 3


def test_same_number_in_two_tenants_but_not_twice_in_one(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    assert client.post(url(tenant_a), json={"number": "101"}).status_code == 201
    assert client.post(url(tenant_b), json={"number": "101"}).status_code == 201
    resp = client.post(url(tenant_a), json={"number": "101"})
    assert resp.status_code == 409
    assert resp.json()["error_id"] == "conflict"
    assert resp.json()["details"]["field"] == "number"
    # The SIP user name is unique per tenant too.
    resp = client.post(url(tenant_a), json={"number": "102", "sip_username": "101"})
    assert resp.status_code == 409
    other = client.post(url(tenant_a), json={"number": "103"}).json()
    assert client.patch(url(tenant_a, f"/{other['id']}"), json={"number": "101"}).status_code == 409
    assert client.get(url(tenant_a)).json()["total"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"number": "101;"},
        {"number": "101&PJSIP/evil"},
        {"number": "${SHELL(id)}"},
        {"number": "101\n"},
        {"number": "\uff11\uff10\uff11"},
        {"number": "101", "sip_username": 'a"b'},
        {"number": "101", "sip_username": "_x."},
        {"number": "101", "caller_id_name": 'Evil" <sip:x@y>'},
        {"number": "101", "caller_id_name": "a\r\nVia: x"},
        {"number": "101", "name": "a)b${x}"},
        {"number": "101", "email": "x@y"},
        {"number": "101", "caller_id_number": "101&x"},
        {"number": "101", "enabled": None},
    ],
)
def test_hostile_input_is_refused(
    client: TestClient, tenant_a: dict[str, Any], body: dict[str, Any]
) -> None:
    resp = client.post(url(tenant_a), json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error_id"] == "invalid-input"
    assert client.get(url(tenant_a)).json()["total"] == 0


def test_hostile_update_is_refused(client: TestClient, tenant_a: dict[str, Any]) -> None:
    ext = client.post(url(tenant_a), json={"number": "101"}).json()
    for body in ({"number": "1)"}, {"number": None}, {"caller_id_name": "\x00"}):
        assert client.patch(url(tenant_a, f"/{ext['id']}"), json=body).status_code == 422
    assert client.get(url(tenant_a, f"/{ext['id']}")).json()["number"] == "101"


def test_list_filters(client: TestClient, tenant_a: dict[str, Any]) -> None:
    for number, name in [
        ("101", "Reception"),
        ("102", "Sales"),
        ("201", "Support"),
        ("2010", "Sales floor"),
    ]:
        client.post(url(tenant_a), json={"number": number, "name": name})
    numbers = lambda **p: [e["number"] for e in client.get(url(tenant_a), params=p).json()["items"]]  # noqa: E731
    assert numbers() == ["101", "102", "201", "2010"]
    assert numbers(number_prefix="20") == ["201", "2010"]
    assert numbers(name="sales") == ["102", "2010"]
    assert numbers(limit=1, offset=1) == ["102"]
    assert client.get(url(tenant_a), params={"number_prefix": "1%"}).status_code == 422


def test_delete_refused_while_a_did_routes_to_it(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    ext = client.post(url(tenant_a), json={"number": "101"}).json()
    did = client.post(
        "/api/v1/dids",
        json={
            "number": "+12065550100",
            "pricing_batch": "b",
            "tenant_id": tenant_a["id"],
            "destination": "extension:101",
        },
    ).json()
    resp = client.delete(url(tenant_a, f"/{ext['id']}"))
    assert resp.status_code == 409
    assert "+12065550100" in resp.json()["message"]
    assert client.patch(url(tenant_a, f"/{ext['id']}"), json={"number": "109"}).status_code == 409
    client.patch(f"/api/v1/dids/{did['id']}", json={"destination": "hangup"})
    assert client.delete(url(tenant_a, f"/{ext['id']}")).status_code == 204


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    ext_b = client.post(url(tenant_b), json={"number": "101"}).json()
    headers = bearer(tenant_a["token"])
    resp = anon.post(url(tenant_a), json={"number": "101"}, headers=headers)
    assert resp.status_code == 201
    ext_a = resp.json()
    assert anon.get(url(tenant_a, f"/{ext_a['id']}/sip-credentials"), headers=headers).is_success
    for method, suffix in [
        ("GET", ""),
        ("POST", ""),
        ("GET", f"/{ext_b['id']}"),
        ("PATCH", f"/{ext_b['id']}"),
        ("DELETE", f"/{ext_b['id']}"),
        ("GET", f"/{ext_b['id']}/sip-credentials"),
    ]:
        resp = anon.request(method, url(tenant_b, suffix), json={"number": "105"}, headers=headers)
        assert resp.status_code == 404, (method, suffix)
    # Tenant B's extension is not reachable through tenant A's path either.
    assert anon.get(url(tenant_a, f"/{ext_b['id']}"), headers=headers).status_code == 404
    assert client.get(url(tenant_b)).json()["total"] == 1
