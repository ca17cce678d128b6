"""CDRs and charges of the orchestrator's own call flows on the real Asterisk.

Tenant "flows.example": SIPp phones 701-704 (704 is a queue agent), 705 calls in, a
trunk to a SIPp carrier (route "9", strip 1) and a per-second tariff (0.60 EUR a minute
for 0044, 1/1 increments: 0.01 EUR a second) on the product of four prepaid accounts:
"acme" (1.00 EUR), "tiny" and "spare" (0.03 EUR: 3 seconds) and "broke" (nothing).

- a click-to-call from 701 to the carrier paid by "acme": one CDR, legs
  ``click-to-call-a``/``-b`` with the account, the carrier leg charged once,
  0.01 EUR per billed second, and the ledger shows exactly that;
- "tiny" is cut off when its 3 seconds are used up; "broke" is refused (409) before a
  phone rings;
- blind and attended transfers of a click-to-call keep one CDR with the
  ``transferred`` / ``consult`` leg; an attended transfer to the carrier paid by "spare"
  is cut off after its 3 seconds and the next one is refused (409) with the call kept;
- a caller queued by the builtin "queue" flow and answered by agent 704: one CDR
  with the caller, the agent (``queue-agent``) and the IVR span.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "flows.example"
ACCESS = "+17333558700"  # the queue's access number
_PORT = phone_ports("test_cdrs_flows", "701", "702", "703", "704", "705", "carrier", "dial")
# Where each phone is registered (its answerer), per slot.
PHONE = {n: _PORT[n] for n in ("701", "702", "703", "704", "705")}
CARRIER = _PORT["carrier"]
DIAL_FROM = _PORT["dial"]  # where 705 places its call from
NUMBER = "900442079460001"  # the route strips the 9
SENT = NUMBER[1:]
PER_SECOND = Decimal("0.01")


def _ok(r: httpx.Response, code: int = 201) -> Any:
    assert r.status_code == code, r.text
    return r.json() if r.content else None


@pytest.fixture(scope="module")
def flows(service: Service) -> dict[str, Any]:
    out: dict[str, Any] = {"passwords": {}, "accounts": {}}
    with service.client() as http:
        tenant = _ok(http.post("/api/v1/tenants", json={"name": "Flows", "sip_domain": DOMAIN}))
        tid = out["tenant_id"] = tenant["id"]
        for number in PHONE:
            ext = _ok(http.post(f"/api/v1/tenants/{tid}/extensions", json={"number": number}))
            out["passwords"][number] = ext["sip_password"]
        trunk = _ok(http.post("/api/v1/trunks", json={
            "tenant_id": tid, "name": "carrier", "host": "127.0.0.1", "port": CARRIER,
        }))  # fmt: skip
        _ok(http.post("/api/v1/outbound-routes", json={
            "tenant_id": tid, "name": "intl", "prefix": "9", "strip": 1, "trunk_id": trunk["id"],
        }))  # fmt: skip
        tariff = _ok(http.post("/api/v1/tariffs", json={
            "tenant_id": tid, "name": "per-second", "currency": "EUR",
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
            "tenant_id": tid, "name": "retail", "tariffs": {"outgoing": tariff["id"]},
        }))  # fmt: skip
        for name, credit in (
            ("acme", "1.00"),
            ("tiny", "0.03"),
            ("broke", None),
            ("spare", "0.03"),
        ):
            account = _ok(http.post("/api/v1/accounts", json={
                "tenant_id": tid, "name": name, "kind": "prepaid", "currency": "EUR",
                "product_id": product["id"],
            }))  # fmt: skip
            if credit:
                _ok(http.post(f"/api/v1/accounts/{account['id']}/transactions",
                              json={"kind": "topup", "amount": credit}))  # fmt: skip
            out["accounts"][name] = account
        # The queue "fq" with agent 704, on ACCESS through the builtin flow "queue".
        agent = _ok(http.post("/api/v1/agents", json={"tenant_id": tid, "extension": "704"}))
        out["agent_id"] = agent["id"]
        queue = _ok(http.post("/api/v1/queues", json={
            "tenant_id": tid, "name": "fq", "ring_timeout_s": 8, "retry_s": 0.5,
        }))  # fmt: skip
        _ok(http.post(f"/api/v1/queues/{queue['id']}/members", json={"agent_id": agent["id"]}))
        _ok(http.post("/api/v1/dids", json={"number": ACCESS, "tenant_id": tid,
                                            "pricing_batch": "flows"}))  # fmt: skip
        app = _ok(http.post("/api/v1/ivr-apps", json={
            "tenant_id": tid, "name": "fq", "app": "queue", "settings": {"queue": "fq"},
            "max_duration_s": 60,
        }))  # fmt: skip
        r = http.post(f"/api/v1/ivr-apps/{app['id']}/numbers", json={"number": ACCESS})
        assert r.status_code in (200, 201), r.text
        state = http.get(f"/api/v1/tenants/{tid}/config").json()["last_apply"]
        assert state["ok"], state
    return out


async def register(service: Service, flows: dict[str, Any], *numbers: str) -> None:
    for number in numbers:
        result = await sipp.register(
            server=f"127.0.0.1:{service.instance.ports.sip}",
            username=number,
            password=flows["passwords"][number],
            domain=DOMAIN,
            local_port=PHONE[number],
        )
        assert result.status == 200, result.log


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def seen() -> set[int]:
    """CDR ids earlier tests of this module have looked at."""
    return set()


async def one_cdr(
    http: httpx.AsyncClient, tenant_id: int, seen: set[int], *, rated: bool = True
) -> dict[str, Any]:
    """The one CDR written since ``seen`` (rated, if asked), with its xDRs; then no other."""
    deadline = time.monotonic() + 20
    while True:
        items = (await http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})).json()["items"]
        fresh = [c for c in items if c["id"] not in seen]
        if fresh and (not rated or all(c["charge"] is not None for c in fresh)):
            break
        if time.monotonic() > deadline:
            details = [(await http.get(f"/api/v1/cdrs/{c['id']}")).json() for c in fresh]
            charges = (await http.get("/api/v1/rating/charges")).json()
            raise AssertionError(f"no CDR{' rated' if rated else ''}: {details} {charges}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a second CDR for the same call would be there by now
    items = (await http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})).json()["items"]
    fresh = [c for c in items if c["id"] not in seen]
    seen.update(c["id"] for c in fresh)
    details = [(await http.get(f"/api/v1/cdrs/{c['id']}")).json() for c in fresh]
    assert len(details) == 1, details
    return dict(details[0])


def parties(cdr: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [(leg["role"], leg["extension"], leg["trunk"]) for leg in cdr["legs"]]


async def wait_call(
    http: httpx.AsyncClient, call_id: str, ready: Any, timeout: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"/api/v1/calls/{call_id}")
        assert r.status_code == 200, r.text
        if ready(r.json()):
            return dict(r.json())
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.1)


async def until_available(http: httpx.AsyncClient, agent_id: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (state := (await http.get(f"/api/v1/agents/{agent_id}")).json())["state"] != "available":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)


def both_up(call: dict[str, Any]) -> bool:
    return [leg["state"] for leg in call["legs"]] == ["up", "up"]


async def click_to_call(http: httpx.AsyncClient, tid: int, b: str, **kw: Any) -> httpx.Response:
    return await http.post("/api/v1/click-to-call", json={"tenant_id": tid, "a": "701", "b": b,
                                                          **kw})  # fmt: skip


async def account(
    http: httpx.AsyncClient, account_id: int
) -> tuple[Decimal, Decimal, list[tuple[str, Decimal]]]:
    """Balance, reserved and ledger lines (kind, amount) of an account."""
    data = (await http.get(f"/api/v1/accounts/{account_id}")).json()
    lines = (await http.get(f"/api/v1/accounts/{account_id}/transactions")).json()["items"]
    return (
        Decimal(data["balance"]),
        Decimal(data["reserved"]),
        [(x["kind"], Decimal(x["amount"])) for x in lines],
    )


async def test_click_to_call_to_the_carrier_is_charged_once(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid, acme = flows["tenant_id"], flows["accounts"]["acme"]
    await register(service, flows, "701")
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as phone,
        sipp.Answerer(local_port=CARRIER, calls=1) as carrier,
    ):
        r = await click_to_call(http, tid, f"number:{NUMBER}", account="acme")
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        await wait_call(http, call_id, both_up)
        # While it lasts, the account's money is reserved (1.00 buys 100 s).
        assert (await account(http, acme["id"]))[1] == Decimal("1.00")
        await asyncio.sleep(3)
        _ok(await http.post(f"/api/v1/calls/{call_id}/hangup"), 200)
        await phone.wait_completed(1)
        await carrier.wait_completed(1)
    cdr = await one_cdr(http, tid, seen)
    assert (cdr["call_id"], cdr["direction"], cdr["disposition"]) == (
        call_id,
        "outbound",
        "answered",
    )
    assert cdr["account"] == "acme" and cdr["caller_extension"] == "701", cdr
    assert parties(cdr) == [("click-to-call-a", "701", None), ("click-to-call-b", None, "carrier")]
    a, b = cdr["legs"]
    assert {a["account"], b["account"], a["service"], b["service"]} == {"acme", "click_to_call"}
    assert 3 <= b["billsec"] <= 4 and a["billsec"] >= b["billsec"], cdr
    assert 3 <= cdr["billsec"] <= 5, cdr
    # Only the carrier leg costs money: 0.01 EUR per billed second (1/1 increments).
    expected = PER_SECOND * b["billsec"]
    assert Decimal(cdr["charge"]) == expected and cdr["currency"] == "EUR", cdr
    assert a["charge"] is None and Decimal(b["charge"]) == expected
    charges = (await http.get("/api/v1/rating/charges", params={"cdr_id": cdr["id"]})).json()
    [charge] = charges["items"]
    assert (charge["number"], charge["account_id"], Decimal(charge["amount"])) == (
        SENT,
        acme["id"],
        expected,
    )
    balance, reserved, lines = await account(http, acme["id"])
    assert (balance, reserved) == (Decimal("1.00") - expected, Decimal(0))
    assert lines == [("charge", -expected), ("topup", Decimal("1.00"))]
    # Rating it again books nothing more.
    assert _ok(await http.post("/api/v1/rating/run"), 200)["charges"] == 0
    assert (await account(http, acme["id"]))[2] == lines


async def test_prepaid_click_to_call_is_cut_off_then_refused(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid, tiny = flows["tenant_id"], flows["accounts"]["tiny"]
    await register(service, flows, "701")
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as phone,
        sipp.Answerer(local_port=CARRIER, calls=1) as carrier,
    ):
        r = await click_to_call(http, tid, f"number:{NUMBER}", account="tiny")
        assert r.status_code == 202, r.text
        await wait_call(http, r.json()["id"], both_up)
        up = time.monotonic()
        # Nobody hangs up: the 3 paid seconds end the call.
        await carrier.wait_completed(1, timeout=10)
        talked = time.monotonic() - up
        await phone.wait_completed(1)
    assert 2.0 <= talked <= 4.0, talked
    cdr = await one_cdr(http, tid, seen)
    b = cdr["legs"][1]
    assert b["trunk"] == "carrier" and b["billsec"] == 3, cdr
    assert Decimal(cdr["charge"]) == Decimal("0.03"), cdr
    assert (await account(http, tiny["id"]))[:2] == (Decimal("0.00"), Decimal(0))
    # No money left ("tiny" now, "broke" from the start): refused before anything rings.
    async with sipp.Answerer(local_port=PHONE["701"]) as phone:
        for name in ("tiny", "broke"):
            r = await click_to_call(http, tid, f"number:{NUMBER}", account=name)
            assert r.status_code == 409, r.text
            body = r.json()
            assert body["error_id"] == "payment-required", body
            assert body["details"]["reason"] == "no-balance", body
        await asyncio.sleep(1.0)
        assert phone.answered == 0
    # No channel, so no CDR either.
    items = (await http.get("/api/v1/cdrs", params={"tenant_id": tid})).json()["items"]
    assert {c["id"] for c in items} <= seen


async def test_blind_transfer_of_a_click_to_call_keeps_one_cdr(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid = flows["tenant_id"]
    await register(service, flows, "701", "702", "703")
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as p701,
        sipp.Answerer(local_port=PHONE["702"], calls=1) as p702,
        sipp.Answerer(local_port=PHONE["703"], calls=1) as p703,
    ):
        r = await click_to_call(http, tid, "702")
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        await wait_call(http, call_id, both_up)
        await asyncio.sleep(1)
        # Leg B (702) is sent on to 703; leg A (701) hangs up.
        _ok(await http.post(f"/api/v1/calls/{call_id}/transfer", json={"destination": "703"}), 200)
        await p701.wait_completed(1)
        assert await p703.wait_answered(1) == 1
        await asyncio.sleep(2)
        service.instance.cli("channel request hangup all")
        await p702.wait_completed(1)
        await p703.wait_completed(1)
    cdr = await one_cdr(http, tid, seen, rated=False)
    assert cdr["call_id"] == call_id and cdr["disposition"] == "answered", cdr
    assert parties(cdr) == [
        ("click-to-call-a", "701", None),
        ("click-to-call-b", "702", None),
        ("transferred", "703", None),
    ]
    assert [leg["disposition"] for leg in cdr["legs"]] == ["answered"] * 3
    assert 2 <= cdr["legs"][2]["billsec"] <= 4, cdr
    assert cdr["charge"] is None  # phones of the tenant: nothing to pay


async def test_attended_transfer_has_the_consult_leg(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid = flows["tenant_id"]
    await register(service, flows, "701", "702", "703")
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as p701,
        sipp.Answerer(local_port=PHONE["702"], calls=1) as p702,
        sipp.Answerer(local_port=PHONE["703"], calls=1) as p703,
    ):
        r = await click_to_call(http, tid, "702")
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        await wait_call(http, call_id, both_up)
        # 701 (leg a) waits; 702 consults 703, then completes: 701 talks with 703.
        r = await http.post(
            f"/api/v1/calls/{call_id}/attended-transfer", json={"leg": "a", "to": "703"}
        )
        assert r.status_code == 200, r.text
        await wait_call(http, call_id, lambda c: (c["transfer"] or {}).get("state") == "talking")
        _ok(await http.post(f"/api/v1/calls/{call_id}/attended-transfer/complete"), 200)
        await p702.wait_completed(1)
        await wait_call(http, call_id, lambda c: c["transfer"] is None)
        await asyncio.sleep(2)
        _ok(await http.post(f"/api/v1/calls/{call_id}/hangup"), 200)
        await p701.wait_completed(1)
        await p703.wait_completed(1)
    cdr = await one_cdr(http, tid, seen, rated=False)
    assert cdr["call_id"] == call_id, cdr
    assert parties(cdr) == [
        ("click-to-call-a", "701", None),
        ("click-to-call-b", "702", None),
        ("consult", "703", None),
    ]
    _a, b, consult = cdr["legs"]
    # The consult leg outlives the transferer's and ends with leg A.
    assert consult["ended_at"] > b["ended_at"] and consult["billsec"] >= 2, cdr
    assert consult["service"] == "click_to_call"


async def test_prepaid_attended_transfer_to_a_number_is_authorized_and_cut_off(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid, spare = flows["tenant_id"], flows["accounts"]["spare"]
    await register(service, flows, "701", "702")
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as p701,
        sipp.Answerer(local_port=PHONE["702"], calls=1) as p702,
        sipp.Answerer(local_port=CARRIER, calls=1) as carrier,
    ):
        r = await click_to_call(http, tid, "702", account="spare")
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        await wait_call(http, call_id, both_up)
        # 701 waits; 702 consults the carrier, paid by "spare" (3 seconds), and leaves.
        r = await http.post(
            f"/api/v1/calls/{call_id}/attended-transfer",
            json={"leg": "a", "to": f"number:{NUMBER}"},
        )
        assert r.status_code == 200, r.text
        await wait_call(http, call_id, lambda c: (c["transfer"] or {}).get("state") == "talking")
        up = time.monotonic()
        _ok(await http.post(f"/api/v1/calls/{call_id}/attended-transfer/complete"), 200)
        await p702.wait_completed(1)
        # Nobody hangs up: the paid seconds end the call.
        await carrier.wait_completed(1, timeout=10)
        talked = time.monotonic() - up
        await p701.wait_completed(1)
    assert 2.0 <= talked <= 4.0, talked
    cdr = await one_cdr(http, tid, seen)
    assert cdr["call_id"] == call_id and cdr["account"] == "spare", cdr
    consult = cdr["legs"][2]
    assert (consult["role"], consult["trunk"], consult["billsec"]) == ("consult", "carrier", 3)
    assert Decimal(cdr["charge"]) == Decimal("0.03"), cdr
    assert (await account(http, spare["id"]))[:2] == (Decimal("0.00"), Decimal(0))
    # Now the money is gone: a consultation to the carrier is refused and the call stays.
    async with (
        sipp.Answerer(local_port=PHONE["701"], calls=1) as p701,
        sipp.Answerer(local_port=PHONE["702"], calls=1) as p702,
        sipp.Answerer(local_port=CARRIER) as carrier,
    ):
        r = await click_to_call(http, tid, "702", account="spare")
        call_id = r.json()["id"]
        await wait_call(http, call_id, both_up)
        r = await http.post(
            f"/api/v1/calls/{call_id}/attended-transfer",
            json={"leg": "a", "to": f"number:{NUMBER}"},
        )
        assert r.status_code == 409 and r.json()["error_id"] == "payment-required", r.text
        call = (await http.get(f"/api/v1/calls/{call_id}")).json()
        assert call["transfer"] is None and both_up(call), call
        _ok(await http.post(f"/api/v1/calls/{call_id}/hangup"), 200)
        await p701.wait_completed(1)
        await p702.wait_completed(1)
        assert carrier.answered == 0
    await one_cdr(http, tid, seen, rated=False)


async def test_queue_call_ties_caller_ivr_and_agent(
    service: Service, flows: dict[str, Any], http: httpx.AsyncClient, seen: set[int]
) -> None:
    tid = flows["tenant_id"]
    await register(service, flows, "704")
    r = await http.post(f"/api/v1/agents/{flows['agent_id']}/login", json={"queue": "fq"})
    assert r.status_code == 200, r.text
    # Available once the engine has reported the phone's registration.
    await until_available(http, flows["agent_id"])
    async with sipp.Answerer(local_port=PHONE["704"], calls=1) as agent:
        result = await sipp.call(
            server=f"127.0.0.1:{service.instance.ports.sip}",
            username="705",
            password=flows["passwords"]["705"],
            domain=DOMAIN,
            local_port=DIAL_FROM,
            target=ACCESS,
            hold_ms=4000,
        )
        assert result.answered and result.completed, result.log
        await agent.wait_completed(1)
    cdr = await one_cdr(http, tid, seen, rated=False)
    assert (cdr["caller_extension"], cdr["called_number"], cdr["answered_by"]) == (
        "705",
        ACCESS,
        "704",
    )
    assert [(leg["role"], leg["service"], leg["extension"]) for leg in cdr["legs"]] == [
        ("caller", "voice", "705"),
        ("queue-agent", "queue", "704"),
        ("ivr", "ivr", None),
    ]
    caller, agent_leg, ivr = cdr["legs"]
    assert agent_leg["disposition"] == "answered" and 2 <= agent_leg["billsec"] <= 5, cdr
    assert ivr["detail"] == "fq" and caller["billsec"] >= agent_leg["billsec"]
