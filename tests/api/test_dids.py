"""DIDs: inventory CRUD, filters, destinations, tenant admin rules, CSV bulk import."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from tests.api.conftest import bearer


def add_did(client: TestClient, number: str, **fields: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/dids", json={"number": number, "pricing_batch": "b1", **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


def add_ext(client: TestClient, tenant: dict[str, Any], number: str) -> None:
    resp = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
    assert resp.status_code == 201, resp.text


def test_crud_and_provisioning(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    a, b = tenant_a["id"], tenant_b["id"]
    add_ext(client, tenant_a, "101")
    provisioner.changed.clear()
    did = add_did(client, "+12065550100")
    assert (did["tenant_id"], did["destination"]) == (None, None)
    assert provisioner.changed == []  # inventory only: no tenant to reconfigure

    resp = client.patch(
        f"/api/v1/dids/{did['id']}", json={"tenant_id": a, "destination": "extension:101"}
    )
    assert resp.status_code == 200, resp.text
    assert provisioner.changed == [a]

    # Moving to another tenant reconfigures both and drops the old destination.
    provisioner.changed.clear()
    resp = client.patch(f"/api/v1/dids/{did['id']}", json={"tenant_id": b})
    assert (resp.json()["tenant_id"], resp.json()["destination"]) == (b, None)
    assert sorted(provisioner.changed) == sorted([a, b])

    provisioner.changed.clear()
    assert client.delete(f"/api/v1/dids/{did['id']}").status_code == 204
    assert provisioner.changed == [b]
    assert client.get(f"/api/v1/dids/{did['id']}").status_code == 404


def test_number_unique_and_validated(client: TestClient, tenant_a: dict[str, Any]) -> None:
    add_did(client, "+12065550100")
    resp = client.post("/api/v1/dids", json={"number": "+12065550100", "pricing_batch": "x"})
    assert resp.status_code == 409
    for body in [
        {"number": "12065550101", "pricing_batch": "b"},
        {"number": "+1206555010;1", "pricing_batch": "b"},
        {"number": "+12065550101", "pricing_batch": "b\n"},
        {"number": "+12065550101", "pricing_batch": "b", "destination": "hangup"},  # no tenant
        {"number": "+12065550101", "pricing_batch": "b", "tenant_id": 999},
        {
            "number": "+12065550101",
            "pricing_batch": "b",
            "tenant_id": tenant_a["id"],
            "destination": "extension:101",
        },  # no such extension
        {
            "number": "+12065550101",
            "pricing_batch": "b",
            "tenant_id": tenant_a["id"],
            "destination": "extension:101&PJSIP/x",
        },
        {
            "number": "+12065550101",
            "pricing_batch": "b",
            "tenant_id": tenant_a["id"],
            "destination": "ivr:${x}",
        },
    ]:
        resp = client.post("/api/v1/dids", json=body)
        assert resp.status_code == 422, (body, resp.text)
    assert client.get("/api/v1/dids").json()["total"] == 1


def test_filters(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> None:
    add_did(client, "+12065550100", tenant_id=tenant_a["id"], destination="hangup")
    add_did(client, "+12065550101", tenant_id=tenant_b["id"])
    add_did(client, "+4930123456", pricing_batch="berlin")
    add_did(client, "+4930123457", pricing_batch="berlin")

    def numbers(**params: Any) -> list[str]:
        resp = client.get("/api/v1/dids", params=params)
        assert resp.status_code == 200, resp.text
        return [d["number"] for d in resp.json()["items"]]

    assert numbers(tenant_id=tenant_a["id"]) == ["+12065550100"]
    assert numbers(unassigned=True) == ["+4930123456", "+4930123457"]
    assert numbers(unassigned=False) == ["+12065550100", "+12065550101"]
    assert numbers(pricing_batch="berlin", limit=1) == ["+4930123456"]
    assert numbers(number_prefix="+1206") == ["+12065550100", "+12065550101"]
    assert numbers(number_prefix="+49", offset=1) == ["+4930123457"]
    assert client.get("/api/v1/dids", params={"number_prefix": "+_"}).status_code == 422


def test_tenant_admin_rules(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    add_ext(client, tenant_a, "101")
    mine = add_did(client, "+12065550100", tenant_id=tenant_a["id"])
    theirs = add_did(client, "+12065550101", tenant_id=tenant_b["id"])
    stock = add_did(client, "+12065550102")
    headers = bearer(tenant_a["token"])

    page = anon.get("/api/v1/dids", headers=headers).json()
    assert [d["id"] for d in page["items"]] == [mine["id"]]
    assert (
        anon.get("/api/v1/dids", params={"unassigned": True}, headers=headers).json()["total"] == 0
    )
    for did in (theirs, stock):
        assert anon.get(f"/api/v1/dids/{did['id']}", headers=headers).status_code == 404
        resp = anon.patch(
            f"/api/v1/dids/{did['id']}", json={"destination": "hangup"}, headers=headers
        )
        assert resp.status_code == 404
        assert anon.delete(f"/api/v1/dids/{did['id']}", headers=headers).status_code == 404

    resp = anon.patch(
        f"/api/v1/dids/{mine['id']}", json={"destination": "extension:101"}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["destination"] == "extension:101"
    for body in ({"tenant_id": tenant_b["id"]}, {"tenant_id": None}, {"pricing_batch": "x"}):
        resp = anon.patch(f"/api/v1/dids/{mine['id']}", json=body, headers=headers)
        assert resp.status_code == 403, body
    assert anon.delete(f"/api/v1/dids/{mine['id']}", headers=headers).status_code == 403
    resp = anon.post(
        "/api/v1/dids", json={"number": "+12065550199", "pricing_batch": "b"}, headers=headers
    )
    assert resp.status_code == 403
    files = {"file": ("d.csv", b"number,pricing_batch\n+12065550199,b\n", "text/csv")}
    assert anon.post("/api/v1/dids/bulk", files=files, headers=headers).status_code == 403
    assert client.get(f"/api/v1/dids/{mine['id']}").json()["tenant_id"] == tenant_a["id"]


def upload(client: TestClient, text: str) -> Any:
    return client.post("/api/v1/dids/bulk", files={"file": ("dids.csv", text.encode(), "text/csv")})


def test_bulk_import(
    client: TestClient, tenant_a: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    add_ext(client, tenant_a, "101")
    a = tenant_a["id"]
    resp = client.post("/api/v1/ivr-apps", json={"tenant_id": a, "name": "main", "app": "menu"})
    assert resp.status_code == 201, resp.text
    provisioner.changed.clear()
    resp = upload(
        client,
        "number,pricing_batch,tenant_id,destination\n"
        f"+12065550100,seattle,{a},extension:101\n"
        "+12065550101,seattle,,\n"
        "\n"
        f"+12065550102,seattle,{a},ivr:main\n",
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"created": 3}
    assert client.get("/api/v1/dids", params={"tenant_id": a}).json()["total"] == 2
    assert provisioner.changed == [a]
    # Columns in any order, without the optional ones, with a byte-order mark.
    resp = upload(client, "\ufeffpricing_batch,number\nberlin,+4930123456\n")
    assert resp.status_code == 201, resp.text


def test_bulk_import_is_all_or_nothing(client: TestClient, tenant_a: dict[str, Any]) -> None:
    add_did(client, "+12065550100")
    a = tenant_a["id"]
    resp = upload(
        client,
        "number,pricing_batch,tenant_id,destination\n"
        "+12065550111,ok,,\n"  # line 2: fine
        "+12065550100,ok,,\n"  # line 3: already exists
        "12065550112,ok,,\n"  # line 4: not E.164
        "+12065550113,bad;batch,,\n"  # line 5
        "+12065550114,ok,999,\n"  # line 6: no such tenant
        f"+12065550115,ok,{a},extension:101\n"  # line 7: no such extension
        "+12065550116,ok,,hangup\n"  # line 8: destination without tenant
        "+12065550111,ok,,\n"  # line 9: repeats line 2
        "+12065550117,ok\n"  # line 10: too few columns
        f"+12065550118,ok,{a},extension:1)\n",  # line 11
    )
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error_id"] == "invalid-input"
    assert "nothing was imported" in body["message"]
    lines = {(e["line"], e["field"]) for e in body["details"]["errors"]}
    assert lines == {
        (3, "number"),
        (4, "number"),
        (5, "pricing_batch"),
        (6, "tenant_id"),
        (7, "destination"),
        (8, "destination"),
        (9, "number"),
        (10, "row"),
        (11, "destination"),
    }
    assert client.get("/api/v1/dids").json()["total"] == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        ("number\n+12065550100\n", 1),
        ("number,pricing_batch,evil\n+12065550100,b,x\n", 1),
        ("number,pricing_batch\n", 2),
    ],
)
def test_bulk_import_bad_files(client: TestClient, text: str, line: int) -> None:
    resp = upload(client, text)
    assert resp.status_code == 422, resp.text
    assert resp.json()["details"]["errors"][0]["line"] == line


def test_bulk_import_needs_a_file(client: TestClient) -> None:
    resp = client.post("/api/v1/dids/bulk")
    assert resp.status_code == 422
    assert resp.json()["error_id"] == "invalid-input"
    resp = client.post("/api/v1/dids/bulk", files={"file": ("x.csv", b"\xff\xfe", "text/csv")})
    assert resp.status_code == 422
