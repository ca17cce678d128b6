"""``/api/v1/accounts``, its ledger, and ``/api/v1/rating`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from orchestrator.store.db import SessionFactory
from tests.api.conftest import bearer
from tests.unit.billing_fixtures import outbound_cdr

D = Decimal


def _shop(client: TestClient, tenant: dict[str, Any]) -> dict[str, Any]:
    tariff = client.post("/api/v1/tariffs", json={"tenant_id": tenant["id"], "name": "t",
                                                   "currency": "EUR"}).json()  # fmt: skip
    r = client.post(
        f"/api/v1/tariffs/{tariff['id']}/versions",
        json={
            "label": "v1",
            "effective_from": "2020-01-01T00:00:00Z",
            "rates": [
                {
                    "prefix": "",
                    "price_per_minute": "0.60",
                    "first_increment": 1,
                    "next_increment": 1,
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    product = client.post("/api/v1/products", json={"tenant_id": tenant["id"], "name": "p",
                          "tariffs": {"outgoing": tariff["id"]}}).json()  # fmt: skip
    r = client.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": "101"})
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/accounts",
        json={
            "tenant_id": tenant["id"],
            "name": "acme",
            "kind": "prepaid",
            "currency": "EUR",
            "product_id": product["id"],
        },
    )
    assert r.status_code == 201, r.text
    return {"tariff": tariff, "product": product, "account": r.json()}


def test_top_ups_and_the_ledger(client: TestClient, tenant_a: dict[str, Any]) -> None:
    account = _shop(client, tenant_a)["account"]
    url = f"/api/v1/accounts/{account['id']}/transactions"
    assert D(account["balance"]) == 0
    for amount in ("0.10", "0.20"):
        r = client.post(url, json={"kind": "topup", "amount": amount})
        assert r.status_code == 201, r.text
    r = client.post(url, json={"kind": "adjustment", "amount": "-0.05", "description": "goodwill"})
    assert r.status_code == 201, r.text
    assert D(r.json()["balance_after"]) == D("0.25")  # exact: 0.1 + 0.2 is 0.3 here
    assert client.post(url, json={"kind": "topup", "amount": "-1"}).status_code == 422
    assert client.post(url, json={"kind": "charge", "amount": "1"}).status_code == 422
    lines = client.get(url).json()
    assert lines["total"] == 3 and lines["items"][0]["description"] == "goodwill"
    got = client.get(f"/api/v1/accounts/{account['id']}").json()
    assert D(got["balance"]) == D(got["available"]) == D("0.25")


def test_extensions_and_tenant_scope(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    account = _shop(client, tenant_a)["account"]
    url = f"/api/v1/accounts/{account['id']}/extensions"
    assert client.post(url, json={"extension": "101"}).status_code == 204
    assert client.post(url, json={"extension": "999"}).status_code == 404
    assert client.get(url).json() == ["101"]
    b = bearer(tenant_b["token"])
    assert client.get(f"/api/v1/accounts/{account['id']}", headers=b).status_code == 404
    assert client.get("/api/v1/accounts", headers=b).json()["total"] == 0
    assert client.delete(f"{url}/101").status_code == 204
    assert client.get(url).json() == []


def test_rating_run_charges_and_rerate(
    client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    shop = _shop(client, tenant_a)
    account = shop["account"]
    client.patch(f"/api/v1/accounts/{account['id']}", json={"is_default": True})
    client.post(f"/api/v1/accounts/{account['id']}/transactions",
                json={"kind": "topup", "amount": "1"})  # fmt: skip
    cdr_id = outbound_cdr(db_sessions, tenant_a["id"], number="0044207946001", billsec=12)
    assert client.post("/api/v1/rating/run").json() == {"charges": 1}
    assert client.post("/api/v1/rating/run").json() == {"charges": 0}
    [charge] = client.get("/api/v1/rating/charges", params={"cdr_id": cdr_id}).json()["items"]
    assert D(charge["amount"]) == D("0.12") and charge["explanation"]["billed_s"] == 12
    assert D(client.get(f"/api/v1/accounts/{account['id']}").json()["balance"]) == D("0.88")
    body = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    r = client.post("/api/v1/rating/rerate", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["checked"], r.json()["changed"]) == (1, 0)
    r = client.post("/api/v1/rating/run", headers=bearer(tenant_a["token"]))
    assert r.status_code == 403
