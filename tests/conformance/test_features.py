"""Feature-level conformance: the same scenarios through the service on every engine.

Each test runs on the service the composition root builds over the FakeEngine and on the
test service over the real Asterisk (the ``world`` fixture, see worlds.py), through the
HTTP API, calls that arrive from outside and phones that answer; it names no engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.ivr.call import IvrCall
from tests.conformance.drivers import FarEnd
from tests.conformance.worlds import World, unique_number

MENU_FLOW = "conformance_menu"
BRANCHES = {"1": "sales", "2": "support"}


async def menu_flow(call: IvrCall) -> None:
    """Answer, play a prompt, collect one key (up to #), branch on it, say goodbye."""
    await call.answer()
    choice = await call.play_and_collect(
        "sound:beep", max_digits=2, validate=r"[12]", retries=1, first_timeout=3,
        inter_timeout=2, invalid_prompt=None,
    )  # fmt: skip
    await call.set_variable("branch", BRANCHES.get(choice or "", "none"))
    await call.play("sound:beep")
    await call.hangup()


def ivr_number(world: World, name: str, flow: Any) -> dict[str, Any]:
    """A tenant with an access number whose IVR app runs ``flow``; returns the app."""
    key = f"conformance_{name}"
    world.add_flow(key, flow)
    tenant = world.tenant()
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": name, "app": key, "max_duration_s": 60},
    )
    assert r.status_code == 201, r.text
    app = r.json()
    r = world.http.post(f"/api/v1/ivr-apps/{app['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)
    return {**app, "number": number, "tenant_id": tenant.id}


async def last_call(world: World, app_id: int) -> dict[str, Any]:
    calls = await world.poll(f"/api/v1/ivr-apps/{app_id}/recent-calls", bool)
    return dict(calls[-1])


async def one_cdr(world: World, tenant_id: int) -> dict[str, Any]:
    """The tenant's one CDR, with its legs."""
    items = (await world.poll(f"/api/v1/cdrs?tenant_id={tenant_id}", lambda d: d["items"]))["items"]
    assert len(items) == 1, items
    r = world.http.get(f"/api/v1/cdrs/{items[0]['id']}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def parties(cdr: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [(leg["role"], leg["extension"], leg["trunk"]) for leg in cdr["legs"]]


# -- IVR --------------------------------------------------------------------------------


async def test_ivr_flow_collects_and_branches(world: World) -> None:
    app = ivr_number(world, "menu", menu_flow)
    world.call_in(app["number"], caller="+15550001", far=FarEnd.dtmf("2#", after=1))
    summary = await last_call(world, app["id"])
    assert summary["collected"] == ["2"]
    assert summary["variables"] == {"branch": "support"}
    assert summary["outcome"] == "flow_hung_up"
    assert summary["called"] == app["number"]
    # The call's CDR: one, with the IVR's leg answered at the access number. (What the
    # caller's own leg looks like depends on where the call came from: the Asterisk world
    # calls in from a Local channel, not a trunk; tests/engine/test_cdrs*.py cover those.)
    cdr = await one_cdr(world, app["tenant_id"])
    ivr = [leg for leg in cdr["legs"] if leg["role"] == "ivr"]
    assert [(leg["service"], leg["detail"], leg["number"], leg["disposition"]) for leg in ivr] == [
        ("ivr", "menu", app["number"], "answered")
    ], cdr
    assert cdr["called_number"] == app["number"]


async def test_ivr_flow_without_input_takes_the_default_branch(world: World) -> None:
    app = ivr_number(world, "menu", menu_flow)
    world.call_in(app["number"])
    summary = await last_call(world, app["id"])
    assert summary["collected"] == [""]
    assert summary["variables"] == {"branch": "none"}
    assert summary["outcome"] == "flow_hung_up"


# -- CTI --------------------------------------------------------------------------------


def both_up(call: dict[str, Any]) -> bool:
    return [(leg["role"], leg["state"]) for leg in call["legs"]] == [("a", "up"), ("b", "up")]


async def click_to_call(world: World, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """POST a click-to-call; its id and the call once both legs are up."""
    r = world.http.post("/api/v1/click-to-call", json=body)
    assert r.status_code == 202, r.text
    call_id = str(r.json()["id"])
    return call_id, await world.poll(f"/api/v1/calls/{call_id}", both_up)


async def until_gone(world: World, call_id: str, timeout: float = 15) -> None:
    """Until ``GET /calls`` no longer lists the call."""
    await world.poll(
        "/api/v1/calls", lambda d: call_id not in [c["id"] for c in d["items"]], timeout=timeout
    )


async def test_click_to_call_connects_two_phones_then_rest_hangs_up(world: World) -> None:
    tenant = world.tenant("801", "802")
    async with world.answering(tenant, "801"), world.answering(tenant, "802"):
        call_id, call = await click_to_call(
            world, {"tenant_id": tenant.id, "a": "801", "b": "802", "account": "conf-7"}
        )
        assert (call["state"], call["kind"], call["account"]) == (
            "answered", "click_to_call", "conf-7",
        )  # fmt: skip
        listed = world.http.get("/api/v1/calls", params={"extension": "802"}).json()
        assert [c["id"] for c in listed["items"]] == [call_id]
        assert world.http.post(f"/api/v1/calls/{call_id}/hangup").status_code == 200
        await until_gone(world, call_id)
    cdr = await one_cdr(world, tenant.id)
    assert cdr["call_id"] == call_id and cdr["disposition"] == "answered", cdr
    assert parties(cdr) == [("click-to-call-a", "801", None), ("click-to-call-b", "802", None)]
    assert [leg["disposition"] for leg in cdr["legs"]] == ["answered"] * 2


async def test_attended_transfer_and_the_transferred_calls_cdr(world: World) -> None:
    """811 calls 812 (click-to-call); 812 consults 813 and hands 811 over to 813."""
    tenant = world.tenant("811", "812", "813")
    http = world.http
    async with (
        world.answering(tenant, "811"),
        world.answering(tenant, "812"),
        world.answering(tenant, "813"),
    ):
        call_id, _ = await click_to_call(world, {"tenant_id": tenant.id, "a": "811", "b": "812"})
        # Leg a (811) waits while 812 consults 813.
        r = http.post(f"/api/v1/calls/{call_id}/attended-transfer", json={"leg": "a", "to": "813"})
        assert r.status_code == 200, r.text
        await world.poll(
            f"/api/v1/calls/{call_id}",
            lambda c: (c["transfer"] or {}).get("state") == "talking",
        )
        r = http.post(f"/api/v1/calls/{call_id}/attended-transfer/complete")
        assert r.status_code == 200, r.text
        call = await world.poll(f"/api/v1/calls/{call_id}", lambda c: c["transfer"] is None)
        legs = {(leg["role"], leg["number"], leg["state"]) for leg in call["legs"]}
        assert legs == {("a", "811", "up"), ("b", "813", "up")}, call
        assert call["state"] == "answered" and "813" in call["extensions"], call
        assert http.post(f"/api/v1/calls/{call_id}/hangup").status_code == 200
        await until_gone(world, call_id)
    cdr = await one_cdr(world, tenant.id)
    assert cdr["call_id"] == call_id, cdr
    assert parties(cdr) == [
        ("click-to-call-a", "811", None),
        ("click-to-call-b", "812", None),
        ("consult", "813", None),
    ], cdr
    _a, b, consult = cdr["legs"]
    # The consult leg outlives the transferer's and ends with leg a.
    assert consult["ended_at"] > b["ended_at"] and consult["service"] == "click_to_call", cdr


async def test_blind_transfer_and_the_transferred_calls_cdr(world: World) -> None:
    """821 calls 822 (click-to-call); the CTI client sends 822 on to 823 (blind)."""
    tenant = world.tenant("821", "822", "823")
    http = world.http
    async with (
        world.answering(tenant, "821"),
        world.answering(tenant, "822"),
        world.answering(tenant, "823"),
    ):
        call_id, _ = await click_to_call(world, {"tenant_id": tenant.id, "a": "821", "b": "822"})
        # Leg b (822) leaves for 823; leg a (821) hangs up; the call is ours no more.
        r = http.post(f"/api/v1/calls/{call_id}/transfer", json={"destination": "823"})
        assert r.status_code == 200, r.text
        await until_gone(world, call_id)
        await asyncio.sleep(2)  # 822 talks with 823
        world.hang_up_everything()
        cdr = await one_cdr(world, tenant.id)
    assert cdr["call_id"] == call_id and cdr["disposition"] == "answered", cdr
    assert parties(cdr) == [
        ("click-to-call-a", "821", None),
        ("click-to-call-b", "822", None),
        ("transferred", "823", None),
    ], cdr
    assert [leg["disposition"] for leg in cdr["legs"]] == ["answered"] * 3, cdr
    assert 1 <= cdr["legs"][2]["billsec"] <= 4, cdr


# -- call queues ------------------------------------------------------------------------


async def test_queue_offers_the_caller_to_an_agent(world: World) -> None:
    tenant = world.tenant("803")
    http = world.http
    agent = http.post("/api/v1/agents", json={"tenant_id": tenant.id, "extension": "803"})
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]
    queue = http.post(
        "/api/v1/queues",
        json={"tenant_id": tenant.id, "name": "cq", "ring_timeout_s": 8, "retry_s": 0.5},
    )
    assert queue.status_code == 201, queue.text
    r = http.post(f"/api/v1/queues/{queue.json()['id']}/members", json={"agent_id": agent_id})
    assert r.status_code == 201, r.text
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert http.post("/api/v1/dids", json=did).status_code == 201
    app = http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": "cq", "app": "queue",
              "settings": {"queue": "cq"}, "max_duration_s": 60},
    )  # fmt: skip
    assert app.status_code == 201, app.text
    r = http.post(f"/api/v1/ivr-apps/{app.json()['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)
    async with world.answering(tenant, "803"):
        r = http.post(f"/api/v1/agents/{agent_id}/login", json={"queue": "cq"})
        assert r.status_code == 200, r.text
        # Available once the engine has reported the phone's registration.
        await world.poll(f"/api/v1/agents/{agent_id}", lambda a: a["state"] == "available")
        world.call_in(number, far=FarEnd.hangs_up(after=3))
        cdr = await one_cdr(world, tenant.id)
    assert (cdr["called_number"], cdr["answered_by"]) == (number, "803"), cdr
    roles = [(leg["role"], leg["service"], leg["extension"]) for leg in cdr["legs"]]
    assert ("queue-agent", "queue", "803") in roles and ("ivr", "ivr", None) in roles, cdr
    agent_leg = next(leg for leg in cdr["legs"] if leg["role"] == "queue-agent")
    assert agent_leg["disposition"] == "answered", cdr


# -- prepaid ----------------------------------------------------------------------------


async def test_prepaid_click_to_call_is_cut_off_when_the_money_is_used_up(world: World) -> None:
    """3 seconds' worth of credit (0.01 EUR a second): the call ends by itself."""
    tenant = world.tenant("804")
    world.carrier(tenant)
    http = world.http
    tariff = http.post(
        "/api/v1/tariffs", json={"tenant_id": tenant.id, "name": "ps", "currency": "EUR"}
    )
    assert tariff.status_code == 201, tariff.text
    r = http.post(
        f"/api/v1/tariffs/{tariff.json()['id']}/versions",
        json={"label": "v1", "effective_from": "2020-01-01T00:00:00Z", "rates": [
            {"prefix": "0044", "description": "UK", "price_per_minute": "0.60",
             "first_increment": 1, "next_increment": 1},
        ]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    product = http.post(
        "/api/v1/products",
        json={
            "tenant_id": tenant.id,
            "name": "retail",
            "tariffs": {"outgoing": tariff.json()["id"]},
        },
    )
    assert product.status_code == 201, product.text
    account = http.post(
        "/api/v1/accounts",
        json={"tenant_id": tenant.id, "name": "tiny", "kind": "prepaid", "currency": "EUR",
              "product_id": product.json()["id"]},
    )  # fmt: skip
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    r = http.post(
        f"/api/v1/accounts/{account_id}/transactions", json={"kind": "topup", "amount": "0.03"}
    )
    assert r.status_code in (200, 201), r.text
    async with world.answering(tenant, "804"), world.carrier_answering():
        call_id, _ = await click_to_call(
            world,
            {"tenant_id": tenant.id, "a": "804", "b": "number:900442079460001", "account": "tiny"},
        )
        # Nobody hangs up: the 3 paid seconds end the call.
        await until_gone(world, call_id, timeout=10)
    cdr = await one_cdr(world, tenant.id)
    b = cdr["legs"][1]
    assert (b["trunk"], b["billsec"]) == ("carrier", 3), cdr
    rated = await world.poll(f"/api/v1/cdrs/{cdr['id']}", lambda c: c["charge"] is not None)
    assert rated["charge"] == "0.03", rated
    balance = http.get(f"/api/v1/accounts/{account_id}").json()
    assert (balance["balance"], balance["reserved"]) == ("0.00", "0"), balance
    # No money left: refused before anything rings.
    r = http.post(
        "/api/v1/click-to-call",
        json={"tenant_id": tenant.id, "a": "804", "b": "number:900442079460001", "account": "tiny"},
    )
    assert r.status_code == 409 and r.json()["error_id"] == "payment-required", r.text
