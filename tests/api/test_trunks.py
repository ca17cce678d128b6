"""SIP trunks: CRUD, a write-only password, validation, tenant scope and conflicts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from tests.api.conftest import bearer
from tests.api.fields import error_field

URL = "/api/v1/trunks"


def add_trunk(client: TestClient, tenant: dict[str, Any], name: str = "carrier", **fields: Any):
    body = {"tenant_id": tenant["id"], "name": name, "host": "sip.carrier.example", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_crud_and_provisioning(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    a = tenant_a["id"]
    provisioner.changed.clear()
    trunk = add_trunk(
        client,
        tenant_a,
        host="SIP.Carrier.Example",
        port=5080,
        username="acct1",
        password="s3cret/Pass",
        from_user="acct1",
        from_domain="carrier.example",
        caller_id_number="+442079460000",
    )
    assert trunk["host"] == "sip.carrier.example"
    assert trunk["endpoint"] == f"trunk-t{a}-carrier"
    assert (trunk["port"], trunk["transport"], trunk["has_password"]) == (5080, "udp", True)
    assert "password" not in trunk
    plain = add_trunk(client, tenant_a, "backup", host="192.0.2.10")
    assert (plain["port"], plain["username"], plain["has_password"]) == (5060, None, False)

    for body in (client.get(f"{URL}/{trunk['id']}").text, client.get(URL).text):
        assert "s3cret" not in body
    page = client.get(URL, params={"tenant_id": a}).json()
    assert [t["name"] for t in page["items"]] == ["backup", "carrier"]

    resp = client.patch(f"{URL}/{trunk['id']}", json={"name": "main", "port": 5060})
    assert resp.status_code == 200, resp.text
    assert resp.json()["endpoint"] == f"trunk-t{a}-main"
    # Credentials are cleared together; an empty string clears an optional field.
    resp = client.patch(f"{URL}/{trunk['id']}", json={"username": None, "password": ""})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["username"], resp.json()["has_password"]) == (None, False)

    assert client.delete(f"{URL}/{plain['id']}").status_code == 204
    assert client.get(f"{URL}/{plain['id']}").status_code == 404
    assert provisioner.changed == [a] * 5


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Carrier"}, "name"),
        ({"name": "a_b"}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"host": "1.2.3"}, "host"),
        ({"host": "256.1.1.1"}, "host"),
        ({"host": "sip carrier"}, "host"),
        ({"host": "carrier.example;transport=tcp"}, "host"),
        ({"host": "carrier.example\n"}, "host"),
        ({"host": "[::1]"}, "host"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"transport": "tcp"}, "transport"),
        ({"username": "acct"}, "password"),  # a user name without a password
        ({"password": "secret"}, "username"),
        ({"username": "a b", "password": "secret"}, "username"),
        ({"username": "acct", "password": "sec;ret"}, "password"),
        ({"username": "acct", "password": "sec ret"}, "password"),
        ({"from_user": "a@b"}, "from_user"),
        ({"from_domain": "a..b"}, "from_domain"),
        ({"caller_id_number": "12ab"}, "caller_id_number"),
        ({"tenant_id": 999_999}, "tenant_id"),
    ],
)
def test_bad_input_is_refused_with_the_field(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    body = {"tenant_id": tenant_a["id"], "name": "carrier", "host": "carrier.example", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert client.get(URL).json()["total"] == 0


def test_bad_patch_changes_nothing(client: TestClient, tenant_a: dict[str, Any]) -> None:
    trunk = add_trunk(client, tenant_a, username="acct", password="secret")
    for body in ({"host": None}, {"port": 0}, {"username": None}, {"password": None}):
        resp = client.patch(f"{URL}/{trunk['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
    assert client.get(f"{URL}/{trunk['id']}").json() == trunk


def test_conflicts(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> None:
    trunk = add_trunk(client, tenant_a)
    body = {"tenant_id": tenant_a["id"], "name": "carrier", "host": "other.example"}
    assert client.post(URL, json=body).status_code == 409
    add_trunk(client, tenant_b)  # the same name in another tenant
    other = add_trunk(client, tenant_a, "other")
    assert client.patch(f"{URL}/{other['id']}", json={"name": "carrier"}).status_code == 409
    route = {"tenant_id": tenant_a["id"], "name": "out", "prefix": "9", "trunk_id": trunk["id"]}
    assert client.post("/api/v1/outbound-routes", json=route).status_code == 201
    resp = client.delete(f"{URL}/{trunk['id']}")
    assert resp.status_code == 409
    assert resp.json()["details"]["routes"] == ["out"]
    # The tenant goes with its routes and trunks.
    assert client.delete(f"/api/v1/tenants/{tenant_a['id']}").status_code == 204
    assert client.get(f"{URL}/{trunk['id']}").status_code == 404


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    mine = add_trunk(client, tenant_a)
    theirs = add_trunk(client, tenant_b)
    headers = bearer(tenant_a["token"])
    assert [t["id"] for t in anon.get(URL, headers=headers).json()["items"]] == [mine["id"]]
    assert anon.get(URL, params={"tenant_id": tenant_b["id"]}, headers=headers).status_code == 404
    assert anon.get(f"{URL}/{theirs['id']}", headers=headers).status_code == 404
    resp = anon.patch(f"{URL}/{theirs['id']}", json={"port": 5070}, headers=headers)
    assert resp.status_code == 404
    assert anon.delete(f"{URL}/{theirs['id']}", headers=headers).status_code == 404
    body = {"tenant_id": tenant_b["id"], "name": "x", "host": "carrier.example"}
    assert anon.post(URL, json=body, headers=headers).status_code == 404
    body["tenant_id"] = tenant_a["id"]
    assert anon.post(URL, json=body, headers=headers).status_code == 201
    resp = anon.patch(f"{URL}/{mine['id']}", json={"port": 5070}, headers=headers)
    assert resp.status_code == 200 and resp.json()["port"] == 5070
    assert client.get(f"{URL}/{theirs['id']}").json()["port"] == 5060
