"""IVR apps: CRUD, validation, tenant scope, the flow registry, access numbers and the
DID destinations that name them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import services_of
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.db import SessionFactory
from orchestrator.store.ivr_apps import get_ivr_app
from tests.api.conftest import bearer
from tests.api.fields import error_field

URL = "/api/v1/ivr-apps"


def add_app(client: TestClient, tenant: dict[str, Any], name: str = "visa", **fields: Any) -> Any:
    body = {"tenant_id": tenant["id"], "name": name, "app": "visa_status", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def add_did(client: TestClient, number: str, **fields: Any) -> Any:
    resp = client.post("/api/v1/dids", json={"number": number, "pricing_batch": "b", **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def add_ext(client: TestClient, tenant: dict[str, Any], number: str) -> Any:
    resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_crud_and_provisioning(
    client: TestClient,
    tenant_a: dict[str, Any],
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> None:
    a = tenant_a["id"]
    add_ext(client, tenant_a, "100")
    provisioner.changed.clear()
    app = add_app(
        client,
        tenant_a,
        description="Visa status line",
        fallback="extension:100",
        max_duration_s=600,
        settings={"greeting": "welcome", "retries": 3, "pause": 0.5},
    )
    assert app["tenant_id"] == a
    assert (app["fallback"], app["max_duration_s"], app["enabled"]) == ("extension:100", 600, True)
    assert app["settings"] == {"greeting": "welcome", "retries": 3, "pause": 0.5}
    defaults = add_app(client, tenant_a, "other")
    assert (defaults["fallback"], defaults["max_duration_s"], defaults["settings"]) == (
        "hangup",
        3600,
        {},
    )
    assert client.get(f"{URL}/{app['id']}").json()["description"] == "Visa status line"
    page = client.get(URL, params={"tenant_id": a}).json()
    assert [x["name"] for x in page["items"]] == ["other", "visa"]

    resp = client.patch(f"{URL}/{app['id']}", json={"enabled": False, "settings": {"x": "y"}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["enabled"], resp.json()["settings"]) == (False, {"x": "y"})
    with db_sessions() as session:
        row = get_ivr_app(session, a, "visa")
        assert row is not None and row.app == "visa_status" and row.enabled is False
        assert get_ivr_app(session, a, "nope") is None
        assert get_ivr_app(session, a + 1000, "visa") is None

    assert client.delete(f"{URL}/{defaults['id']}").status_code == 204
    assert client.get(f"{URL}/{defaults['id']}").status_code == 404
    assert provisioner.changed == [a] * 4


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Visa"}, "name"),
        ({"name": "visa;x"}, "name"),
        ({"name": "${x}"}, "name"),
        ({"app": "Visa"}, "app"),
        ({"app": "1visa"}, "app"),
        ({"app": "visa-status"}, "app"),
        ({"fallback": "ivr:visa"}, "fallback"),
        ({"fallback": "extension:999"}, "fallback"),  # no such extension
        ({"fallback": "extension:1)"}, "fallback"),
        ({"max_duration_s": 9}, "max_duration_s"),
        ({"max_duration_s": 14401}, "max_duration_s"),
        ({"settings": {"a": True}}, "settings"),
        ({"settings": {"a": None}}, "settings"),
        ({"settings": {"a": {"b": 1}}}, "settings"),
        ({"settings": {"a-b": 1}}, "settings"),
        ({"settings": {"a": "x\ny"}}, "settings"),
        ({"settings": {"a": "x" * 1025}}, "settings"),
        ({"settings": {f"k{i}": "x" * 1000 for i in range(5)}}, "settings"),  # > 4 KB
        ({"description": "two\nlines"}, "description"),
        ({"tenant_id": 999_999}, "tenant_id"),
    ],
)
def test_bad_input_is_refused_with_the_field(
    client: TestClient, tenant_a: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    body = {"tenant_id": tenant_a["id"], "name": "visa", "app": "visa_status", **fields}
    resp = client.post(URL, json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert client.get(URL).json()["total"] == 0


def test_bad_patch_changes_nothing(client: TestClient, tenant_a: dict[str, Any]) -> None:
    app = add_app(client, tenant_a)
    for body in ({"name": None}, {"max_duration_s": 5}, {"fallback": "ivr:x"}, {"app": "A"}):
        resp = client.patch(f"{URL}/{app['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
    assert client.get(f"{URL}/{app['id']}").json() == app
    # Pydantic's own checks use the same error body, with the location.
    resp = client.post(URL, json={"name": "x", "app": "y"})
    assert resp.status_code == 422
    assert resp.json()["details"]["errors"][0]["loc"] == ["body", "tenant_id"]


def test_names_are_unique_per_tenant(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    add_app(client, tenant_a)
    resp = client.post(URL, json={"tenant_id": tenant_a["id"], "name": "visa", "app": "x"})
    assert resp.status_code == 409
    add_app(client, tenant_b)  # the same name in another tenant is fine
    other = add_app(client, tenant_a, "other")
    assert client.patch(f"{URL}/{other['id']}", json={"name": "visa"}).status_code == 409


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    mine = add_app(client, tenant_a)
    theirs = add_app(client, tenant_b)
    headers = bearer(tenant_a["token"])
    page = anon.get(URL, headers=headers).json()
    assert [x["id"] for x in page["items"]] == [mine["id"]]
    assert anon.get(URL, params={"tenant_id": tenant_b["id"]}, headers=headers).status_code == 404
    for method in ("get", "delete"):
        resp = anon.request(method, f"{URL}/{theirs['id']}", headers=headers)
        assert resp.status_code == 404, method
    assert (
        anon.patch(f"{URL}/{theirs['id']}", json={"enabled": False}, headers=headers).status_code
        == 404
    )
    assert anon.get(f"{URL}/{theirs['id']}/numbers", headers=headers).status_code == 404
    body = {"tenant_id": tenant_b["id"], "name": "new", "app": "x"}
    assert anon.post(URL, json=body, headers=headers).status_code == 404
    body["tenant_id"] = tenant_a["id"]
    assert anon.post(URL, json=body, headers=headers).status_code == 201
    resp = anon.patch(f"{URL}/{mine['id']}", json={"description": "ok"}, headers=headers)
    assert resp.status_code == 200
    assert client.get(f"{URL}/{theirs['id']}").json()["enabled"] is True


class Registry:
    def names(self) -> list[str]:
        return ["parcel_tracking", "visa_status"]


def test_registry_names_the_known_flows(
    app: FastAPI, client: TestClient, tenant_a: dict[str, Any]
) -> None:
    # Without a registry any well-formed key goes (the flows may be installed later).
    add_app(client, tenant_a, "free", app="not_installed_yet")
    services_of(app).ivr_registry = Registry()
    resp = client.post(URL, json={"tenant_id": tenant_a["id"], "name": "x", "app": "nope"})
    assert resp.status_code == 422
    body = resp.json()
    assert body["details"] == {"field": "app", "known": ["parcel_tracking", "visa_status"]}
    assert "parcel_tracking, visa_status" in body["message"]
    created = add_app(client, tenant_a, "visa")
    resp = client.patch(f"{URL}/{created['id']}", json={"app": "nope"})
    assert resp.status_code == 422
    resp = client.patch(f"{URL}/{created['id']}", json={"app": "parcel_tracking"})
    assert resp.status_code == 200 and resp.json()["app"] == "parcel_tracking"


def test_access_numbers(
    anon: TestClient,
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    a = tenant_a["id"]
    app = add_app(client, tenant_a)
    numbers = f"{URL}/{app['id']}/numbers"
    add_did(client, "+12065550100", tenant_id=a)
    add_did(client, "+12065550101")  # inventory
    add_did(client, "+12065550102", tenant_id=tenant_b["id"])
    add_did(client, "+12065550103", tenant_id=a, destination="hangup")
    headers = bearer(tenant_a["token"])

    provisioner.changed.clear()
    resp = anon.post(numbers, json={"number": "+12065550100"}, headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["destination"] == "ivr:visa"
    assert provisioner.changed == [a]
    # Again: a no-op, not an error.
    assert anon.post(numbers, json={"number": "+12065550100"}, headers=headers).status_code == 201
    # A tenant admin cannot take inventory or another tenant's DID: to it they do not exist.
    for number in ("+12065550101", "+12065550102", "+19999999999"):
        resp = anon.post(numbers, json={"number": number}, headers=headers)
        assert resp.status_code == 422, number
        assert resp.json()["details"]["field"] == "number"
    resp = anon.post(numbers, json={"number": "12065550100"}, headers=headers)
    assert resp.status_code == 422
    # A DID that already rings something else must be cleared first.
    assert client.post(numbers, json={"number": "+12065550103"}).status_code == 409
    # The system admin assigns inventory to the app's tenant; not another tenant's DID.
    resp = client.post(numbers, json={"number": "+12065550101"})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["tenant_id"], resp.json()["destination"]) == (a, "ivr:visa")
    assert client.post(numbers, json={"number": "+12065550102"}).status_code == 409

    listed = anon.get(numbers, headers=headers).json()
    assert [d["number"] for d in listed["items"]] == ["+12065550100", "+12065550101"]

    # In use: neither deleted nor renamed.
    assert client.delete(f"{URL}/{app['id']}").status_code == 409
    resp = client.patch(f"{URL}/{app['id']}", json={"name": "visa2"})
    assert resp.status_code == 409
    assert resp.json()["details"]["dids"] == ["+12065550100", "+12065550101"]
    assert client.patch(f"{URL}/{app['id']}", json={"enabled": False}).status_code == 200

    provisioner.changed.clear()
    assert anon.delete(f"{numbers}/+12065550100", headers=headers).status_code == 204
    assert provisioner.changed == [a]
    did = client.get("/api/v1/dids", params={"number_prefix": "+12065550100"}).json()["items"][0]
    assert (did["tenant_id"], did["destination"]) == (a, None)
    assert anon.delete(f"{numbers}/+12065550100", headers=headers).status_code == 404
    assert client.delete(f"{numbers}/+12065550101").status_code == 204
    assert client.patch(f"{URL}/{app['id']}", json={"name": "visa2"}).status_code == 200
    assert client.delete(f"{URL}/{app['id']}").status_code == 204


def test_did_destinations_must_name_an_app(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    a = tenant_a["id"]
    add_app(client, tenant_b, "menu")  # another tenant's app does not count
    body = {"number": "+12065550100", "pricing_batch": "b", "tenant_id": a}
    resp = client.post("/api/v1/dids", json={**body, "destination": "ivr:menu"})
    assert resp.status_code == 422
    assert "no IVR app menu" in resp.json()["message"]
    did = add_did(client, "+12065550100", tenant_id=a)
    resp = client.patch(f"/api/v1/dids/{did['id']}", json={"destination": "ivr:menu"})
    assert resp.status_code == 422
    files = {
        "file": (
            "d.csv",
            f"number,pricing_batch,tenant_id,destination\n+12065550109,b,{a},ivr:menu\n".encode(),
            "text/csv",
        )
    }
    resp = client.post("/api/v1/dids/bulk", files=files)
    assert resp.status_code == 422
    assert resp.json()["details"]["errors"][0]["field"] == "destination"

    add_app(client, tenant_a, "menu")
    resp = client.patch(f"/api/v1/dids/{did['id']}", json={"destination": "ivr:menu"})
    assert resp.status_code == 200, resp.text
    assert client.post("/api/v1/dids/bulk", files=files).status_code == 201


def test_fallback_extension_is_protected(client: TestClient, tenant_a: dict[str, Any]) -> None:
    ext = add_ext(client, tenant_a, "100")
    add_app(client, tenant_a, fallback="extension:100")
    base = f"/api/v1/tenants/{tenant_a['id']}/extensions/{ext['id']}"
    resp = client.delete(base)
    assert resp.status_code == 409
    assert resp.json()["details"]["ivr_apps"] == ["visa"]
    assert client.patch(base, json={"number": "200"}).status_code == 409
    assert client.patch(base, json={"name": "Reception"}).status_code == 200


def test_deleting_the_tenant_deletes_its_apps(client: TestClient, tenant_a: dict[str, Any]) -> None:
    app = add_app(client, tenant_a)
    add_did(client, "+12065550100", tenant_id=tenant_a["id"], destination="ivr:visa")
    assert client.delete(f"/api/v1/tenants/{tenant_a['id']}").status_code == 204
    assert client.get(f"{URL}/{app['id']}").status_code == 404
    did = client.get("/api/v1/dids").json()["items"][0]
    assert (did["tenant_id"], did["destination"]) == (None, None)
