"""No input gets a 5xx: integers beyond the store's range, numeric times, CSV exports.

Each case here answered 500 (or a 200 cut short) before: the schemathesis run
(test_schemathesis.py) finds such faults; these pin the ones it found.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from orchestrator.bounds import STORE_INT_MAX
from orchestrator.store import cdrs as cdr_store
from tests.api.conftest import TestClient
from tests.api.fields import error_field

pytestmark = pytest.mark.postgres

HUGE = 2**63  # the overflow schemathesis found on SQLite
BEYOND_INT = 2**31  # PostgreSQL's INTEGER overflows here


@pytest.mark.parametrize("value", [HUGE, BEYOND_INT, -HUGE])
def test_a_huge_path_id_is_422(client: TestClient, tenant_a: dict[str, Any], value: int) -> None:
    for url in [
        f"/api/v1/tenants/{value}",
        f"/api/v1/tenants/{tenant_a['id']}/extensions/{value}",
        f"/api/v1/cdrs/{value}",
        f"/api/v1/agents/{value}",
        f"/api/v1/accounts/{value}/transactions",
    ]:
        resp = client.get(url)
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error_id"] == "invalid-input"
    assert client.get(f"/api/v1/tenants/{STORE_INT_MAX}").status_code == 404


@pytest.mark.parametrize("query", [f"offset={HUGE}", f"offset={BEYOND_INT}", f"tenant_id={HUGE}"])
def test_a_huge_query_integer_is_422(client: TestClient, query: str) -> None:
    for url in ["/api/v1/tenants", "/api/v1/cdrs", "/api/v1/recordings", "/api/v1/trunks"]:
        if query.startswith("tenant_id") and url == "/api/v1/tenants":
            continue
        resp = client.get(f"{url}?{query}")
        assert resp.status_code == 422, (url, resp.text)
        assert error_field(resp.json()) == query.split("=")[0]


def test_a_huge_body_integer_is_422_and_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    body = {"tenant_id": HUGE, "name": "out", "host": "sip.example"}
    resp = client.post("/api/v1/trunks", json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == "tenant_id"
    resp = client.post("/api/v1/trunks", json={**body, "tenant_id": tenant_a["id"], "port": HUGE})
    assert resp.status_code == 422, resp.text
    resp = client.post("/api/v1/queues", json={"tenant_id": BEYOND_INT, "name": "sales"})
    assert resp.status_code == 422, resp.text
    assert client.get("/api/v1/trunks").json()["total"] == 0


def test_csv_export_refuses_a_huge_tenant_before_streaming(client: TestClient) -> None:
    resp = client.get(f"/api/v1/cdrs.csv?tenant_id={HUGE}")
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/json")


def test_csv_export_query_failure_is_an_error_status_not_a_cut_stream(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is gone"))
        yield  # a generator, as the real one

    monkeypatch.setattr(cdr_store, "iter_cdrs", failing)
    with TestClient(client.app, headers=client.headers, raise_server_exceptions=False) as c:
        resp = c.get("/api/v1/cdrs.csv")
    assert resp.status_code != 200
    assert resp.json()["error_id"] == "internal-error"


@pytest.mark.parametrize("url", ["/api/v1/cdrs", "/api/v1/cdrs.csv", "/api/v1/recordings"])
def test_a_time_must_be_iso_8601(client: TestClient, url: str) -> None:
    for bad in ["0.5", "1700000000", "yesterday"]:
        for name in ["from", "to"]:
            resp = client.get(url, params={name: bad})
            assert resp.status_code == 422, (url, name, bad, resp.text)
            assert error_field(resp.json()) == name
    for good in ["2026-01-31", "2026-01-31T12:00:00Z", "2026-01-31T12:00:00+01:00"]:
        assert client.get(url, params={"from": good, "to": good}).status_code == 200, good


def test_rerate_times_must_be_iso_8601(client: TestClient) -> None:
    resp = client.post("/api/v1/rating/rerate", json={"from": 0.5, "to": "2026-01-31T00:00:00Z"})
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == "from"


def test_openapi_lists_the_errors_and_bounds(openapi_doc: dict[str, Any]) -> None:
    doc = openapi_doc
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["components"]["schemas"]["ErrorBody"]["required"]) == {
        "error_id",
        "message",
        "details",
    }
    read = doc["paths"]["/api/v1/tenants/{tenant_id}"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(read["responses"])
    assert "409" not in read["responses"]
    error = read["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    [param] = read["parameters"]
    assert (param["schema"]["maximum"], param["schema"]["format"]) == (STORE_INT_MAX, "int32")
    delete = doc["paths"]["/api/v1/tenants/{tenant_id}"]["delete"]
    assert {"401", "403", "404", "409", "422"} <= set(delete["responses"])
    health = doc["paths"]["/health"]["get"]
    assert "401" not in health["responses"]
    for name in ["from", "to"]:
        [param] = [
            p for p in doc["paths"]["/api/v1/cdrs"]["get"]["parameters"] if p["name"] == name
        ]
        assert param["schema"]["anyOf"][0] == {"type": "string", "format": "date-time"}


def test_openapi_says_which_patch_fields_refuse_null(openapi_doc: dict[str, Any]) -> None:
    """A PATCH's fields may be left out; the document must not offer null where the store
    refuses it (schemathesis sent such schema-valid bodies and got 422)."""
    schemas = openapi_doc["components"]["schemas"]
    trunk = schemas["TrunkUpdate"]["properties"]
    assert trunk["name"]["type"] == "string" and "anyOf" not in trunk["name"]
    assert {"type": "null"} in trunk["username"]["anyOf"]  # null clears it
    did = schemas["DidUpdate"]["properties"]
    assert "anyOf" not in did["pricing_batch"]
    assert {"type": "null"} in did["destination"]["anyOf"]
    queue = schemas["QueueUpdate"]["properties"]
    assert all("anyOf" not in prop for prop in queue.values())


def test_openapi_shows_the_patterns_the_store_checks(
    openapi_doc: dict[str, Any], client: TestClient
) -> None:
    """Schema-valid numbers were refused: the document had no pattern for them."""
    schemas = openapi_doc["components"]["schemas"]
    assert schemas["DidCreate"]["properties"]["number"]["pattern"] == r"^\+[1-9][0-9]{7,14}$"
    assert schemas["ExtensionCreate"]["properties"]["number"]["pattern"] == "^[0-9]{2,10}$"
    assert schemas["DidUpdate"]["properties"]["pricing_batch"]["pattern"].startswith("^[A-Za-z")
    # The store still words the refusal.
    resp = client.post("/api/v1/dids", json={"number": "12065550100", "pricing_batch": "b"})
    assert resp.status_code == 422
    assert "E.164" in resp.json()["message"]
