"""``/api/v1/tariffs`` and ``/api/v1/products``: versions validated by the rating model,
CSV import, corrections, quotes, tenant visibility (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import bearer

CSV = """prefix,description,price,fee,increments,free_seconds,minimum,periods
49,Germany,0.02,0,60/60,,,peak|01234|08:00|18:00|0.05
4917,Germany mobile,0.09,,30/6,5,0.01,
,Rest of the world,0.50,0.10,1/1,,,
"""


def _tariff(client: TestClient, tenant_id: int | None = None) -> dict[str, Any]:
    r = client.post(
        "/api/v1/tariffs",
        json={
            "tenant_id": tenant_id,
            "name": "retail",
            "currency": "EUR",
            "timezone": "Europe/Berlin",
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_csv_version_and_an_explained_quote(client: TestClient, tenant_a: dict[str, Any]) -> None:
    tariff = _tariff(client, tenant_a["id"])
    r = client.post(
        f"/api/v1/tariffs/{tariff['id']}/versions.csv",
        params={"label": "2026-01", "effective_from": "2026-01-01T00:00:00Z"},
        content=CSV,
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.text
    version = r.json()
    assert version["rate_count"] == 3
    rates = client.get(f"/api/v1/tariffs/{tariff['id']}/versions/{version['id']}/rates").json()
    mobile = next(x for x in rates["items"] if x["prefix"] == "4917")
    assert (mobile["first_increment"], mobile["next_increment"]) == (30, 6)
    assert Decimal(mobile["price_per_minute"]) == Decimal("0.09")
    r = client.post(
        f"/api/v1/tariffs/{tariff['id']}/quote",
        json={"number": "+4930123456", "start": "2026-03-04T09:03:00Z", "duration_s": 125},
    )
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["amount"] == "0.15" and quote["period"] == "peak"
    assert any("ROUND_HALF_UP" in line for line in quote["explanation"])


def test_bad_rates_are_refused_by_the_model(client: TestClient, tenant_a: dict[str, Any]) -> None:
    tariff = _tariff(client, tenant_a["id"])
    url = f"/api/v1/tariffs/{tariff['id']}/versions"
    base = {"label": "v1", "effective_from": "2026-01-01T00:00:00Z"}
    r = client.post(url, json={**base, "rates": [{"prefix": "49x", "price_per_minute": "1"}]})
    assert r.status_code == 422 and r.json()["details"]["field"] == "rate.prefix"
    r = client.post(url, json={**base, "rates": [{"prefix": "49", "price_per_minute": "1",
                                                   "first_increment": 0}]})  # fmt: skip
    assert r.status_code == 422 and r.json()["details"]["field"] == "rate.first_increment"
    bad_csv = "prefix,price\n49,abc\n"
    r = client.post(f"{url}.csv", params=base, content=bad_csv)
    assert r.status_code == 422 and "line 2" in r.json()["message"]


def test_versions_close_and_replace(client: TestClient, tenant_a: dict[str, Any]) -> None:
    tariff = _tariff(client, tenant_a["id"])
    url = f"/api/v1/tariffs/{tariff['id']}/versions"
    rates = [{"prefix": "", "price_per_minute": "1"}]
    assert client.post(url, json={"label": "v1", "effective_from": "2026-01-01T00:00:00Z",
                                  "rates": rates}).status_code == 201  # fmt: skip
    # A new version inside the open-ended one ends it there.
    assert client.post(url, json={"label": "v2", "effective_from": "2026-06-01T00:00:00Z",
                                  "rates": rates}).status_code == 201  # fmt: skip
    # Overlapping without replacing is refused; replacing is a correction.
    r = client.post(url, json={"label": "v3", "effective_from": "2026-02-01T00:00:00Z",
                               "effective_to": "2026-03-01T00:00:00Z", "rates": rates})  # fmt: skip
    assert r.status_code == 422 and r.json()["details"]["field"] == "tariff.versions"
    r = client.post(url, json={"label": "v1b", "effective_from": "2026-01-01T00:00:00Z",
                               "effective_to": "2026-06-01T00:00:00Z", "replaces": "v1",
                               "rates": rates})  # fmt: skip
    assert r.status_code == 201, r.text
    versions = {
        v["label"]: v for v in client.get(f"/api/v1/tariffs/{tariff['id']}").json()["versions"]
    }
    assert versions["v1"]["effective_to"].startswith("2026-06-01")
    assert versions["v1"]["superseded_by"] == versions["v1b"]["id"]
    assert versions["v2"]["effective_to"] is None


def test_global_tariffs_are_read_only_for_tenants(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    shared = _tariff(client)  # a global tariff (system admin)
    own = _tariff(client, tenant_b["id"])
    a = bearer(tenant_a["token"])
    listed = client.get("/api/v1/tariffs", headers=a).json()["items"]
    assert [t["id"] for t in listed] == [shared["id"]]
    assert client.get(f"/api/v1/tariffs/{own['id']}", headers=a).status_code == 404
    r = client.patch(f"/api/v1/tariffs/{shared['id']}", json={"precision": 4}, headers=a)
    assert r.status_code == 404
    r = client.post("/api/v1/tariffs", json={"name": "x", "currency": "EUR"}, headers=a)
    assert r.status_code == 422
    # A tenant's product may use the global tariff.
    r = client.post(
        "/api/v1/products",
        json={"tenant_id": tenant_a["id"], "name": "basic", "tariffs": {"outgoing": shared["id"]}},
        headers=a,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/products",
        json={"tenant_id": tenant_a["id"], "name": "x", "tariffs": {"outgoing": own["id"]}},
        headers=a,
    )
    assert r.status_code == 422
    assert client.delete(f"/api/v1/tariffs/{shared['id']}").status_code == 409


# -- money is exact, imports are all or nothing, corrections leave no gap ------------------
def _versions(client: TestClient, tariff_id: int) -> dict[str, dict[str, Any]]:
    return {v["label"]: v for v in client.get(f"/api/v1/tariffs/{tariff_id}").json()["versions"]}


def test_money_as_a_json_number_is_refused(client: TestClient, tenant_a: dict[str, Any]) -> None:
    tariff = _tariff(client, tenant_a["id"])
    url = f"/api/v1/tariffs/{tariff['id']}/versions"
    # Raw JSON: a float would already have lost the digits on this side.
    as_number = (
        '{"label": "v1", "effective_from": "2026-01-01T00:00:00Z",'
        ' "rates": [{"prefix": "", "price_per_minute": 0.01230000000000000001}]}'
    )
    r = client.post(url, content=as_number, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    [error] = r.json()["details"]["errors"]
    assert error["loc"][-1] == "price_per_minute" and "JSON string" in error["message"]
    assert client.get(f"/api/v1/tariffs/{tariff['id']}").json()["versions"] == []
    # The same digits as a string are exact, and more places than a price may have: 422.
    rates: list[dict[str, Any]] = [{"prefix": "", "price_per_minute": "0.01230000000000000001"}]
    r = client.post(url, json={"label": "v1", "effective_from": "2026-01-01T00:00:00Z",
                               "rates": rates})  # fmt: skip
    assert r.status_code == 422, r.text
    for bad in ("1e-2", "NaN", "0x10", " 1", "1.", "1000000000", "-0.01", "1" * 40):
        rates = [{"prefix": "", "price_per_minute": bad}]
        r = client.post(url, json={"label": "v1", "effective_from": "2026-01-01T00:00:00Z",
                                   "rates": rates})  # fmt: skip
        assert r.status_code == 422, bad
    rates = [{"prefix": "", "price_per_minute": "0.0000001",
              "periods": [{"name": "night", "weekdays": [0], "start": "00:00", "end": "06:00",
                           "price_per_minute": "0.0123456789"}]}]  # fmt: skip
    r = client.post(url, json={"label": "v1", "effective_from": "2026-01-01T00:00:00Z",
                               "rates": rates})  # fmt: skip
    assert r.status_code == 201, r.text
    [rate] = client.get(f"{url}/{r.json()['id']}/rates").json()["items"]
    # Given back as written: a string, never exponent notation ("1E-7").
    assert rate["price_per_minute"] == "0.0000001"
    assert rate["periods"][0]["price_per_minute"] == "0.0123456789"
    assert rate["connection_fee"] == "0"


def test_openapi_money_fields_are_decimal_strings(openapi_doc: dict[str, Any]) -> None:
    schemas = openapi_doc["components"]["schemas"]
    price = r"^[0-9]{1,9}(\.[0-9]{1,10})?$"
    fields = [
        (schemas["RateIn"]["properties"]["price_per_minute"], price),
        (schemas["RateIn"]["properties"]["minimum_charge"], price),
        (schemas["PeriodIn"]["properties"]["price_per_minute"], price),
        (schemas["AccountCreate"]["properties"]["credit_limit"], price),
        (schemas["AccountUpdate"]["properties"]["credit_limit"]["anyOf"][0], price),
        (schemas["TransactionCreate"]["properties"]["amount"], "^-?" + price[1:]),
        (schemas["AccountPublic"]["properties"]["balance"], r"^-?[0-9]{1,14}(\.[0-9]{1,10})?$"),
    ]
    for field, pattern in fields:
        assert (field["type"], field["pattern"]) == ("string", pattern), field


CSV_V1 = "prefix,description,price,fee\n49,Germany,0.02,0\n"


def _csv(client: TestClient, tariff_id: int, text: str, **params: Any) -> Any:
    return client.post(
        f"/api/v1/tariffs/{tariff_id}/versions.csv",
        params={"effective_from": "2026-01-01T00:00:00Z", **params},
        content=text,
        headers={"Content-Type": "text/csv"},
    )


def test_a_malformed_csv_row_refuses_the_whole_import(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    tariff = _tariff(client, tenant_a["id"])
    assert _csv(client, tariff["id"], CSV_V1, label="v1").status_code == 201
    later = {"label": "v2", "effective_from": "2026-06-01T00:00:00Z"}
    cases = {
        # An unquoted comma in the description: "1" would have become the price.
        "prefix,description,price,fee\n4930,Berlin,0.05,0\n49301,Berlin,1,0.05,0.05\n": 3,
        # A short row: its missing fee and price would have taken defaults.
        "prefix,description,price,fee\n4930,Berlin,0.05,0\n4989,Munich\n": 3,
        "prefix,description,price,fee\n4930,Berlin,0.05,0\n\n4989,Munich,1e-2,0\n": 4,
        "prefix,description,price,fee,increments\n4930,Berlin,0.05,0,60/x\n": 2,
        'prefix,description,price,fee\n4930,"Berlin,0.05,0\n': 2,
    }
    for text, line in cases.items():
        r = _csv(client, tariff["id"], text, **later)
        assert r.status_code == 422, (text, r.text)
        assert f"line {line}:" in r.json()["message"] and r.json()["details"]["line"] == line
    # Nothing changed: v1 is still the only version, still open-ended.
    assert [(v["label"], v["effective_to"]) for v in _versions(client, tariff["id"]).values()] == [
        ("v1", None)
    ]
    quoted = 'prefix,description,price,fee\n49301,"Berlin, city",0.05,0.05\n'
    r = _csv(client, tariff["id"], quoted, **later)
    assert r.status_code == 201, r.text
    [rate] = client.get(f"/api/v1/tariffs/{tariff['id']}/versions/{r.json()['id']}/rates").json()[
        "items"
    ]
    assert (rate["description"], rate["price_per_minute"], rate["connection_fee"]) == (
        "Berlin, city", "0.05", "0.05",
    )  # fmt: skip


def test_replaces_may_not_leave_a_period_without_a_version(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    tariff = _tariff(client, tenant_a["id"])
    url = f"/api/v1/tariffs/{tariff['id']}/versions"
    rates = [{"prefix": "", "price_per_minute": "1"}]
    r = client.post(url, json={"label": "v1", "effective_from": "2026-01-01T00:00:00Z",
                               "rates": rates})  # fmt: skip
    assert r.status_code == 201
    later = {"label": "v1b", "effective_from": "2026-03-01T00:00:00Z", "replaces": "v1",
             "rates": rates}  # fmt: skip
    r = client.post(url, json=later)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["field"] == "replaces"
    gap = ["2026-01-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"]
    assert r.json()["details"]["gaps"] == [gap]
    # A correction with an end leaves its open end uncovered: refused too.
    r = client.post(url, json={**later, "effective_from": "2026-01-01T00:00:00Z",
                               "effective_to": "2026-06-01T00:00:00Z"})  # fmt: skip
    assert r.status_code == 422 and r.json()["details"]["gaps"][0][1] is None
    r = _csv(client, tariff["id"], CSV_V1, label="v1c", replaces="v1",
             effective_from="2026-02-01T00:00:00Z")  # fmt: skip
    assert r.status_code == 422 and r.json()["details"]["field"] == "replaces"
    assert _versions(client, tariff["id"])["v1"]["superseded_by"] is None
    # Asked for explicitly, the gap is accepted.
    r = client.post(url, json={**later, "allow_gap": True})
    assert r.status_code == 201, r.text
    versions = _versions(client, tariff["id"])
    assert versions["v1"]["superseded_by"] == versions["v1b"]["id"]
    # A correction must cover what it replaces: with an end it leaves a gap, open it does not.
    r = client.post(url, json={"label": "v2", "effective_from": "2026-03-01T00:00:00Z",
                               "effective_to": "2026-04-01T00:00:00Z", "replaces": "v1b",
                               "rates": rates})  # fmt: skip
    assert r.status_code == 422
    r = client.post(url, json={"label": "v2", "effective_from": "2026-03-01T00:00:00Z",
                               "replaces": "v1b", "rates": rates})  # fmt: skip
    assert r.status_code == 201, r.text
