"""Prepaid calls on the real Asterisk: authorized before dialing, cut off when the money
runs out, rated from the CDR, the balance down by exactly the charge; an account with
nothing left is refused before the carrier is ever called.

Tenant "prepaid.example": phones 101 (account "alice", 0.03 EUR) and 102 (account
"bob", 0 EUR), a trunk to a SIPp carrier and the route "9" (strip 1). The tariff
charges 0.60 EUR a minute per second (1/1), so 0.03 EUR buys 3 seconds.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import ask_lookup, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "prepaid.example"
_PORT = phone_ports("test_prepaid", "101", "102", "carrier")
PHONE_PORT = {"101": _PORT["101"], "102": _PORT["102"]}
CARRIER = _PORT["carrier"]
NUMBER = "90044207946001"  # the route strips the 9


def _ok(r: httpx.Response, code: int = 201) -> Any:
    assert r.status_code == code, r.text
    return r.json() if r.content else None


@pytest.fixture(scope="module")
def shop(service: Service) -> dict[str, Any]:
    out: dict[str, Any] = {"passwords": {}, "accounts": {}}
    with service.client() as http:
        tenant = _ok(http.post("/api/v1/tenants", json={"name": "Prepaid", "sip_domain": DOMAIN}))
        out["tenant"] = tenant
        for number in PHONE_PORT:
            ext = _ok(http.post(f"/api/v1/tenants/{tenant['id']}/extensions",
                                json={"number": number}))  # fmt: skip
            out["passwords"][number] = ext["sip_password"]
        trunk = _ok(http.post("/api/v1/trunks", json={
            "tenant_id": tenant["id"], "name": "carrier", "host": "127.0.0.1", "port": CARRIER,
        }))  # fmt: skip
        _ok(http.post("/api/v1/outbound-routes", json={
            "tenant_id": tenant["id"], "name": "intl", "prefix": "9", "strip": 1,
            "trunk_id": trunk["id"],
        }))  # fmt: skip
        tariff = _ok(http.post("/api/v1/tariffs", json={
            "tenant_id": tenant["id"], "name": "per-second", "currency": "EUR",
        }))  # fmt: skip
        _ok(http.post(f"/api/v1/tariffs/{tariff['id']}/versions", json={
            "label": "v1", "effective_from": "2020-01-01T00:00:00Z",
            "rates": [
                {"prefix": "0044", "description": "UK", "price_per_minute": "0.60",
                 "first_increment": 1, "next_increment": 1},
                {"prefix": "", "description": "world", "price_per_minute": "3.00"},
            ],
        }))  # fmt: skip
        product = _ok(http.post("/api/v1/products", json={
            "tenant_id": tenant["id"], "name": "retail", "tariffs": {"outgoing": tariff["id"]},
        }))  # fmt: skip
        for name, number, credit in (("alice", "101", "0.03"), ("bob", "102", None)):
            account = _ok(http.post("/api/v1/accounts", json={
                "tenant_id": tenant["id"], "name": name, "kind": "prepaid", "currency": "EUR",
                "product_id": product["id"],
            }))  # fmt: skip
            _ok(http.post(f"/api/v1/accounts/{account['id']}/extensions",
                          json={"extension": number}), 204)  # fmt: skip
            if credit:
                _ok(http.post(f"/api/v1/accounts/{account['id']}/transactions",
                              json={"kind": "topup", "amount": credit}))  # fmt: skip
            out["accounts"][number] = account
        state = http.get(f"/api/v1/tenants/{tenant['id']}/config").json()["last_apply"]
        assert state["ok"], state
    # The tenant's outbound calls are now authorized by the orchestrator on the engine's
    # dial lookup: one that names no call cannot be, and a prepaid tenant refuses it.
    asked = ask_lookup(service, f"dial/{tenant['id']}/{NUMBER}")
    assert asked == "refuse/41", asked
    return out


async def place(service: Service, shop: dict[str, Any], phone: str, **kw: Any) -> sipp.CallResult:
    return await sipp.call(
        server=f"127.0.0.1:{service.instance.ports.sip}",
        username=phone,
        password=shop["passwords"][phone],
        domain=DOMAIN,
        local_port=PHONE_PORT[phone],
        target=NUMBER,
        **kw,
    )


def _get(http: httpx.Client, url: str, **params: Any) -> Any:
    r = http.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _charged_cdr(http: httpx.Client, tenant_id: int) -> dict[str, Any]:
    """The tenant's newest CDR, once the rating service has charged it."""
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = (await asyncio.to_thread(_get, http, "/api/v1/cdrs", tenant_id=tenant_id))["items"]
        if rows and rows[0]["charge"] is not None:
            return dict(await asyncio.to_thread(_get, http, f"/api/v1/cdrs/{rows[0]['id']}"))
        await asyncio.sleep(0.3)
    detail = rows and await asyncio.to_thread(_get, http, f"/api/v1/cdrs/{rows[0]['id']}")
    charges = await asyncio.to_thread(_get, http, "/api/v1/rating/charges")
    raise AssertionError(f"no rated CDR within 20 s: {detail} {charges}")


async def test_prepaid_call_is_cut_off_and_charged_exactly(
    service: Service, shop: dict[str, Any]
) -> None:
    account = shop["accounts"]["101"]
    async with sipp.Answerer(local_port=CARRIER, calls=1) as carrier:
        started = time.monotonic()
        # The phone would talk for 15 s; the engine ends the call when the money runs out.
        result = await place(service, shop, "101", hold_ms=15_000, timeout=30)
        elapsed = time.monotonic() - started
        assert result.status == 200 and result.far_end_hangup, result.log
        assert await carrier.wait_completed(1) == 1
    assert elapsed < 8, f"the call was not cut off ({elapsed:.1f} s)"
    with service.client() as http:
        cdr = await _charged_cdr(http, shop["tenant"]["id"])
        trunk_leg = next(leg for leg in cdr["legs"] if leg["trunk"])
        assert trunk_leg["billsec"] == 3, cdr
        assert Decimal(cdr["charge"]) == Decimal("0.03") and cdr["currency"] == "EUR"
        charges = http.get("/api/v1/rating/charges", params={"cdr_id": cdr["id"]}).json()
        [charge] = charges["items"]
        assert charge["rated"] and Decimal(charge["amount"]) == Decimal("0.03")
        # Rated on the number sent to the carrier (the route's strip applied).
        assert charge["number"] == NUMBER[1:] and charge["explanation"]["prefix"] == "0044"
        after = http.get(f"/api/v1/accounts/{account['id']}").json()
        assert Decimal(after["balance"]) == Decimal("0.00")
        assert Decimal(after["reserved"]) == 0  # released when the charge was booked
        lines = http.get(f"/api/v1/accounts/{account['id']}/transactions").json()["items"]
        assert [(x["kind"], Decimal(x["amount"])) for x in lines] == [
            ("charge", Decimal("-0.03")),
            ("topup", Decimal("0.03")),
        ]
    # A second call now finds nothing left: refused (403) before the carrier rings.
    async with sipp.Answerer(local_port=CARRIER) as carrier:
        again = await place(service, shop, "101", expect=403)
        assert again.status == 403, again.log
        assert carrier.answered == 0


async def test_zero_balance_is_refused(service: Service, shop: dict[str, Any]) -> None:
    async with sipp.Answerer(local_port=CARRIER) as carrier:
        result = await place(service, shop, "102", expect=403)
        assert result.status == 403, result.log
        await asyncio.sleep(0.3)
        assert carrier.answered == 0
