"""Outbound routes: CRUD, validation, tenant scope, and the resolver behind click-to-call."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.db import SessionFactory
from orchestrator.store.routes import OutboundTarget, resolve_outbound
from tests.api.conftest import bearer
from tests.api.fields import error_field

URL = "/api/v1/outbound-routes"


def add_trunk(client: TestClient, tenant: dict[str, Any], name: str, **fields: Any) -> int:
    body = {"tenant_id": tenant["id"], "name": name, "host": f"{name}.example", **fields}
    resp = client.post("/api/v1/trunks", json=body)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def add_route(client: TestClient, tenant: dict[str, Any], name: str, trunk_id: int, **fields: Any):
    body = {"tenant_id": tenant["id"], "name": name, "trunk_id": trunk_id, **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_crud_and_provisioning(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    a = tenant_a["id"]
    trunk = add_trunk(client, tenant_a, "carrier")
    backup = add_trunk(client, tenant_a, "backup")
    provisioner.changed.clear()
    route = add_route(client, tenant_a, "intl", trunk, prefix="900", strip=1, prepend="+")
    assert (route["min_length"], route["max_length"], route["priority"]) == (3, 20, 100)
    local = add_route(client, tenant_a, "local", trunk, priority=5)
    assert (local["prefix"], local["strip"], local["prepend"]) == ("", 0, "")
    page = client.get(URL, params={"tenant_id": a}).json()
    assert [r["name"] for r in page["items"]] == ["local", "intl"]  # by priority
    resp = client.patch(f"{URL}/{route['id']}", json={"trunk_id": backup, "max_length": 16})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["trunk_id"], resp.json()["max_length"]) == (backup, 16)
    assert client.get(f"{URL}/{route['id']}").json()["trunk_id"] == backup
    assert client.delete(f"{URL}/{local['id']}").status_code == 204
    assert client.get(f"{URL}/{local['id']}").status_code == 404
    assert provisioner.changed == [a] * 4


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Intl"}, "name"),
        ({"prefix": "9X"}, "prefix"),
        ({"prefix": "9."}, "prefix"),
        ({"prefix": "123456789"}, "prefix"),
        ({"prefix": "9", "strip": 2}, "strip"),  # more than the prefix
        ({"strip": -1}, "strip"),
        ({"prepend": "9;"}, "prepend"),
        ({"prepend": "${X}"}, "prepend"),
        ({"min_length": 0}, "min_length"),
        ({"max_length": 25}, "max_length"),
        ({"min_length": 10, "max_length": 9}, "min_length"),
        ({"priority": -1}, "priority"),
        ({"priority": 1001}, "priority"),
        ({"trunk_id": 999_999}, "trunk_id"),
        ({"tenant_id": 999_999}, "tenant_id"),
    ],
)
def test_bad_input_is_refused_with_the_field(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    trunk = add_trunk(client, tenant_a, "carrier")
    body = {"tenant_id": tenant_a["id"], "name": "intl", "prefix": "9", "trunk_id": trunk}
    resp = client.post(URL, json={**body, **fields})
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert client.get(URL).json()["total"] == 0


def test_patch_is_checked_against_the_stored_route(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    trunk = add_trunk(client, tenant_a, "carrier")
    theirs = add_trunk(client, tenant_b, "carrier")
    route = add_route(client, tenant_a, "intl", trunk, prefix="90", strip=2)
    for body, field in [
        ({"prefix": "9"}, "strip"),  # strip 2 no longer fits
        ({"min_length": 21}, "min_length"),
        ({"trunk_id": theirs}, "trunk_id"),  # another tenant's trunk
        ({"trunk_id": None}, "trunk_id"),
    ]:
        resp = client.patch(f"{URL}/{route['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert error_field(resp.json()) == field
    assert client.get(f"{URL}/{route['id']}").json() == route
    resp = client.patch(f"{URL}/{route['id']}", json={"prefix": "9", "strip": 1})
    assert resp.status_code == 200, resp.text


def test_names_are_unique_per_tenant(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    trunk = add_trunk(client, tenant_a, "carrier")
    add_route(client, tenant_a, "intl", trunk)
    body = {"tenant_id": tenant_a["id"], "name": "intl", "trunk_id": trunk}
    assert client.post(URL, json=body).status_code == 409
    add_route(client, tenant_b, "intl", add_trunk(client, tenant_b, "carrier"))
    other = add_route(client, tenant_a, "other", trunk)
    assert client.patch(f"{URL}/{other['id']}", json={"name": "intl"}).status_code == 409


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    trunk_a = add_trunk(client, tenant_a, "carrier")
    trunk_b = add_trunk(client, tenant_b, "carrier")
    mine = add_route(client, tenant_a, "out", trunk_a)
    theirs = add_route(client, tenant_b, "out", trunk_b)
    headers = bearer(tenant_a["token"])
    assert [r["id"] for r in anon.get(URL, headers=headers).json()["items"]] == [mine["id"]]
    assert anon.get(URL, params={"tenant_id": tenant_b["id"]}, headers=headers).status_code == 404
    assert anon.get(f"{URL}/{theirs['id']}", headers=headers).status_code == 404
    resp = anon.patch(f"{URL}/{theirs['id']}", json={"priority": 1}, headers=headers)
    assert resp.status_code == 404
    assert anon.delete(f"{URL}/{theirs['id']}", headers=headers).status_code == 404
    body = {"tenant_id": tenant_b["id"], "name": "new", "trunk_id": trunk_b}
    assert anon.post(URL, json=body, headers=headers).status_code == 404
    # Its own tenant, but another tenant's trunk: that trunk does not exist for it.
    body["tenant_id"] = tenant_a["id"]
    resp = anon.post(URL, json=body, headers=headers)
    assert resp.status_code == 422 and error_field(resp.json()) == "trunk_id"
    body["trunk_id"] = trunk_a
    assert anon.post(URL, json=body, headers=headers).status_code == 201
    assert client.get(f"{URL}/{theirs['id']}").json()["priority"] == 100


def test_resolve_outbound(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    db_sessions: SessionFactory,
) -> None:
    a = tenant_a["id"]
    carrier = add_trunk(client, tenant_a, "carrier", caller_id_number="+442079460000")
    cheap = add_trunk(client, tenant_a, "cheap")
    off = add_trunk(client, tenant_a, "off", enabled=False)
    add_route(client, tenant_a, "intl", carrier, prefix="9", strip=1, min_length=5)
    add_route(client, tenant_a, "uk", carrier, prefix="900", strip=1, prepend="+", priority=50)
    add_route(client, tenant_a, "uk-cheap", cheap, prefix="900", strip=3, priority=10)
    # "#7": no feature code starts so ("*7" would shadow *72, *73...: test_feature_codes.py).
    add_route(client, tenant_a, "hash", cheap, prefix="#7", strip=2, max_length=4)
    add_route(client, tenant_a, "disabled", off, prefix="8", priority=0)
    add_route(client, tenant_b, "all", add_trunk(client, tenant_b, "b"), prefix="7")

    with db_sessions() as s:
        # The longest prefix wins, then the lowest priority.
        assert resolve_outbound(s, a, "9004420794600") == OutboundTarget(
            f"trunk-t{a}-cheap", "4420794600", ""
        )
        assert resolve_outbound(s, a, "90044207946000") == OutboundTarget(
            f"trunk-t{a}-cheap", "44207946000", ""
        )
        assert resolve_outbound(s, a, "9001234").trunk_endpoint == f"trunk-t{a}-cheap"
        # Only "9" matches here: the trunk's caller ID comes along.
        assert resolve_outbound(s, a, "901234") == OutboundTarget(
            f"trunk-t{a}-carrier", "01234", "+442079460000"
        )
        assert resolve_outbound(s, a, "#7123").number == "123"
        for number in (
            "9123",  # 3 digits after "9": under min_length 5
            "#712345",  # over max_length 4
            "81234567",  # the trunk is disabled
            "7123456",  # another tenant's route
            "+442079460000",  # '+' is no digit of a route
            "9*1234",
        ):
            with pytest.raises(NotFoundError, match="no outbound route"):
                resolve_outbound(s, a, number)
        for number in ("", "9 123", "9123;", "9" * 41, "\uff19\uff11\uff12\uff13"):
            with pytest.raises(ValidationError):
                resolve_outbound(s, a, number)
        with pytest.raises(NotFoundError):
            resolve_outbound(s, 999_999, "901234")

    client.patch(f"/api/v1/tenants/{a}", json={"enabled": False})
    with db_sessions() as s, pytest.raises(NotFoundError):
        resolve_outbound(s, a, "901234")
