"""``/api/v1/accounts``, its ledger, and ``/api/v1/rating`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import services_of
from orchestrator.rating import RatingService
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


def test_money_as_a_json_number_is_refused(client: TestClient, tenant_a: dict[str, Any]) -> None:
    account = _shop(client, tenant_a)["account"]
    url = f"/api/v1/accounts/{account['id']}/transactions"
    for body in ('{"kind": "topup", "amount": 10}', '{"kind": "topup", "amount": 0.1}'):
        r = client.post(url, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert "JSON string" in r.json()["details"]["errors"][0]["message"]
    r = client.patch(f"/api/v1/accounts/{account['id']}", json={"credit_limit": 5})
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/accounts", json={"tenant_id": tenant_a["id"], "name": "b",
                                              "credit_limit": 1.5})  # fmt: skip
    assert r.status_code == 422, r.text
    assert client.get(url).json()["total"] == 0
    assert client.post(url, json={"kind": "topup", "amount": "10.0000000001"}).status_code == 201
    r = client.patch(f"/api/v1/accounts/{account['id']}", json={"credit_limit": "5.50"})
    assert r.status_code == 200 and D(r.json()["credit_limit"]) == D("5.50")
    assert client.get(f"/api/v1/accounts/{account['id']}").json()["balance"] == "10.0000000001"


def test_simultaneous_rerates_of_one_period_one_runs_the_others_409(
    app: FastAPI, client: TestClient, tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    shop = _shop(client, tenant_a)
    account, tariff = shop["account"], shop["tariff"]
    client.patch(f"/api/v1/accounts/{account['id']}", json={"is_default": True})
    client.post(f"/api/v1/accounts/{account['id']}/transactions",
                json={"kind": "topup", "amount": "1"})  # fmt: skip
    cdrs = [
        outbound_cdr(db_sessions, tenant_a["id"], number="0044207946001", billsec=12)
        for _ in range(2)
    ]
    assert client.post("/api/v1/rating/run").json() == {"charges": 2}
    # The price was wrong: correct it (0.60 -> 0.30 a minute), then re-rate 4 times at once.
    r = client.post(f"/api/v1/tariffs/{tariff['id']}/versions", json={
        "label": "v1b", "effective_from": "2020-01-01T00:00:00Z", "replaces": "v1",
        "rates": [{"prefix": "", "price_per_minute": "0.30", "first_increment": 1,
                   "next_increment": 1}]})  # fmt: skip
    assert r.status_code == 201, r.text
    service = RatingService(db_sessions)
    services_of(app).rating = service
    # The winner stays inside its re-rating long enough for the others to arrive.
    service.before_rerate = lambda _cdr_id: time.sleep(1.5)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post("/api/v1/rating/rerate", json=body),
                                range(4)))  # fmt: skip
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    [done] = [a.json() for a in answers if a.status_code == 200]
    assert (done["checked"], done["changed"], done["delta"]) == (2, 2, {"EUR": "-0.12"})
    for refused in (a.json() for a in answers if a.status_code == 409):
        assert "re-rating" in refused["message"] and refused["details"]["lease"]
    # Nothing twice: one rerate line per call, and the lease is free again.
    lines = client.get(f"/api/v1/accounts/{account['id']}/transactions").json()["items"]
    assert sorted((x["kind"], x["amount"]) for x in lines if x["kind"] == "rerate") == [
        ("rerate", "0.06"), ("rerate", "0.06"),
    ]  # fmt: skip
    # 1.00 - 2 x 0.12 charged + 2 x 0.06 given back
    assert client.get(f"/api/v1/accounts/{account['id']}").json()["balance"] == "0.88"
    service.before_rerate = None
    again = client.post("/api/v1/rating/rerate", json=body)
    assert again.status_code == 200 and again.json()["changed"] == 0
    charges = client.get("/api/v1/rating/charges", params={"current": False}).json()["items"]
    assert sorted(c["cdr_id"] for c in charges) == sorted(cdrs * 2)
