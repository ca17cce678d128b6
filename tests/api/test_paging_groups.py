"""Paging groups over REST: CRUD, strict validation (422/409 that change nothing), tenant
scope, and the call's lookup (a group first, then an extension; enabled phones only)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.store.db import SessionFactory
from orchestrator.store.paging import page_targets
from tests.api.conftest import bearer
from tests.api.fields import error_field


def url(tenant: dict[str, Any] | int, group_id: int | None = None) -> str:
    tid = tenant if isinstance(tenant, int) else tenant["id"]
    base = f"/api/v1/tenants/{tid}/paging-groups"
    return base if group_id is None else f"{base}/{group_id}"


def extensions(client: TestClient, tenant: dict[str, Any], *numbers: str) -> None:
    for number in numbers:
        resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
        assert resp.status_code == 201, resp.text


def test_create_read_list_update_delete(client: TestClient, tenant_a: dict[str, Any]) -> None:
    extensions(client, tenant_a, "101", "102", "103")
    body = {"name": "warehouse", "number": "700", "members": ["101", "102"]}
    resp = client.post(url(tenant_a), json=body)
    assert resp.status_code == 201, resp.text
    group = resp.json()
    assert {k: group[k] for k in body} == body and group["tenant_id"] == tenant_a["id"]
    assert client.get(url(tenant_a, group["id"])).json() == group
    listed = client.get(url(tenant_a)).json()
    assert listed["total"] == 1 and listed["items"] == [group]
    resp = client.patch(url(tenant_a, group["id"]), json={"members": ["103", "101"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["members"] == ["103", "101"] and resp.json()["name"] == "warehouse"
    assert client.delete(url(tenant_a, group["id"])).status_code == 204
    assert client.get(url(tenant_a, group["id"])).status_code == 404
    assert client.get(url(tenant_a)).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "number": "700", "members": ["101"]}, "name"),
        ({"name": "g", "number": "7", "members": ["101"]}, "number"),
        ({"name": "g", "number": "70a", "members": ["101"]}, "number"),
        ({"name": "g", "number": 700, "members": ["101"]}, "number"),
        ({"name": "g", "number": "700", "members": []}, "members"),
        ({"name": "g", "number": "700", "members": [101]}, "members"),
        ({"name": "g", "number": "700", "members": ["101", "101"]}, "members"),
        ({"name": "g", "number": "700", "members": ["999"]}, "members"),  # no such extension
        ({"name": "g", "number": "700", "members": ["*46"]}, "members"),
        ({"name": "g", "number": "700", "members": "101"}, "members"),
        ({"name": "g", "number": "700", "members": [f"1{n:02d}" for n in range(51)]}, "members"),
        ({"name": "g", "number": "700", "members": ["101"], "extra": 1}, "extra"),
        ({"number": "700", "members": ["101"]}, "name"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    extensions(client, tenant_a, "101")
    resp = client.post(url(tenant_a), json=body)
    assert resp.status_code == 422, resp.text
    details = resp.json()["details"]
    # The store's checks name the field; pydantic's give its path (body, field, index).
    assert error_field(resp.json()) == field or details["errors"][0]["loc"][1] == field
    assert client.get(url(tenant_a)).json()["total"] == 0


def test_conflicts_are_409_and_a_refused_update_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    extensions(client, tenant_a, "101", "102")
    first = client.post(url(tenant_a), json={"name": "a", "number": "700", "members": ["101"]})
    assert first.status_code == 201
    for body in (
        {"name": "a", "number": "701", "members": ["101"]},  # the name is taken
        {"name": "b", "number": "700", "members": ["101"]},  # the number is taken
        {"name": "b", "number": "102", "members": ["101"]},  # an extension's number
    ):
        resp = client.post(url(tenant_a), json=body)
        assert resp.status_code == 409, (body, resp.text)
    group = first.json()
    for patch, status in (
        ({"number": "101"}, 409),
        ({"members": ["404"]}, 422),
        ({"name": None}, 422),
        ({"members": None}, 422),
    ):
        resp = client.patch(url(tenant_a, group["id"]), json=patch)
        assert resp.status_code == status, (patch, resp.text)
    assert client.get(url(tenant_a, group["id"])).json() == group
    # Nor may an extension take a group's number later (*46700 would be both).
    resp = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": "700"})
    assert resp.status_code == 409, resp.text
    assert "paging group" in resp.json()["message"]


def test_tenant_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    extensions(client, tenant_a, "101")
    extensions(client, tenant_b, "101")
    mine = bearer(tenant_a["token"])
    resp = anon.post(url(tenant_a), json={"name": "g", "number": "700", "members": ["101"]},
                     headers=mine)  # fmt: skip
    assert resp.status_code == 201, resp.text
    gid = resp.json()["id"]
    theirs = client.post(url(tenant_b), json={"name": "g", "number": "700", "members": ["101"]})
    assert theirs.status_code == 201  # the same name and number in another tenant
    # Another tenant's groups, through either path: 404 like missing ones.
    assert anon.get(url(tenant_b), headers=mine).status_code == 404
    assert anon.get(url(tenant_b, theirs.json()["id"]), headers=mine).status_code == 404
    assert anon.get(url(tenant_a, theirs.json()["id"]), headers=mine).status_code == 404
    assert anon.delete(url(tenant_a, theirs.json()["id"]), headers=mine).status_code == 404
    assert client.get(url(tenant_b, gid)).status_code == 404
    assert client.get(url(987654)).status_code == 404
    assert anon.get(url(tenant_a)).status_code == 401


def test_the_call_lookup_reads_a_group_then_an_extension(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    extensions(client, tenant_a, "101", "102", "103")
    resp = client.post(url(tenant_a), json={"name": "all", "number": "700",
                                             "members": ["102", "101", "103"]})  # fmt: skip
    assert resp.status_code == 201
    ext = client.get(f"/api/v1/tenants/{tenant_a['id']}/extensions").json()["items"]
    by_number = {e["number"]: e for e in ext}
    # A disabled phone is not paged; a deleted one is skipped.
    resp = client.patch(
        f"/api/v1/tenants/{tenant_a['id']}/extensions/{by_number['103']['id']}",
        json={"enabled": False},
    )
    assert resp.status_code == 200, resp.text
    assert (
        client.delete(
            f"/api/v1/tenants/{tenant_a['id']}/extensions/{by_number['102']['id']}"
        ).status_code
        == 204
    )
    domain = tenant_a["sip_domain"]
    with db_sessions() as session:
        kind, name, targets = page_targets(session, tenant_a["id"], "700") or ("", "", [])
        assert (kind, name) == ("group", "all")
        assert targets == [("101", f"{by_number['101']['sip_username']}@{domain}")]
        assert page_targets(session, tenant_a["id"], "101") == (
            "intercom", "101", [("101", f"{by_number['101']['sip_username']}@{domain}")]
        )  # fmt: skip
        assert page_targets(session, tenant_a["id"], "103") is None  # disabled
        assert page_targets(session, tenant_a["id"], "555") is None
        assert page_targets(session, tenant_a["id"], "x; DROP") is None
