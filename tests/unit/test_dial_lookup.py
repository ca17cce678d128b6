"""The tenant dialplans' per-call lookup (engines/asterisk/provisioning/lookup.py): its
HTTP route under the realtime secret, what it answers, and that nothing of the request
comes back in an answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orchestrator.engines.asterisk.provisioning.lookup import (
    Caller,
    RouteIndex,
    dial_router,
)
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.provisioning.tenant import DialPattern, DidRoute
from tests.unit.test_provisioning import TEMPLATES, tenant

PREFIX = "/engine/asterisk/realtime"
SECRET = "s3cret-s3cret"
ROUTE = DialPattern("9", 4, "pstn", 1, "", "trunk-t1-carrier", "+12065552453")


def index(**kw: Any) -> RouteIndex:
    routes = RouteIndex(**kw)
    config = replace(tenant(), dial_patterns=(ROUTE,))
    routes.swap(1, Renderer(TEMPLATES).render(config).routes)
    other = replace(tenant(2, "b.example", ("101",)), dids=())
    routes.swap(2, Renderer(TEMPLATES).render(other).routes)
    return routes


async def get(routes: RouteIndex | None, path: str, **params: str) -> httpx.Response:
    app = FastAPI()
    app.include_router(dial_router(lambda: routes, lambda: SECRET, PREFIX))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(f"{PREFIX}/{path}", params=params)


async def test_answers_only_with_the_secret() -> None:
    ok = await get(index(), f"{SECRET}/dial/1/101")
    assert (ok.status_code, ok.text) == (200, "ring/101/101@a.example/30")
    for wrong in ("guess", SECRET + "x", ""):
        r = await get(index(), f"{wrong}/dial/1/101")
        assert r.status_code == 404 and "101@a.example" not in r.text, wrong
    assert (await get(index(), "guess/did/+12065550100")).status_code == 404
    # No secret configured: nothing is answered, whatever the path says.
    app = FastAPI()
    app.include_router(dial_router(index, lambda: "", PREFIX))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        assert (await http.get(f"{PREFIX}//dial/1/101")).status_code == 404


async def test_each_tenant_answers_only_for_its_own_numbers() -> None:
    assert (await get(index(), f"{SECRET}/dial/2/101")).text == "ring/101/101@b.example/30"
    assert (await get(index(), f"{SECRET}/dial/2/102")).text == "unknown"  # tenant 1's
    assert (await get(index(), f"{SECRET}/dial/3/101")).text == "unknown"  # no tenant 3
    # The DID is tenant 1's: its own phones reach it, tenant 2's do not.
    assert (await get(index(), f"{SECRET}/dial/1/%2B12065550100")).text == (
        "ring/101/101@a.example/30"
    )
    assert (await get(index(), f"{SECRET}/dial/2/%2B12065550100")).text == "unknown"
    assert (await get(index(), f"{SECRET}/did/%2B12065550100")).text == "ring/101/101@a.example/30"
    assert (await get(index(), f"{SECRET}/did/%2B12065550199")).text == "unknown"
    # Not applied yet (the provisioner is not built): an empty answer, the engine's 41.
    assert (await get(None, f"{SECRET}/dial/1/101")).text == ""


@pytest.mark.parametrize(
    "number",
    [
        "101,1,System(rm -rf /)",
        "101)",
        "${SHELL(id)}",
        "101%0Aexten => 666",
        "101 ",
        "1" * 41,
        "*72;evil",
        "ring",
    ],
)
async def test_hostile_input_is_unknown_and_never_echoed(number: str) -> None:
    r = await get(index(), f"{SECRET}/dial/1/{number}", endpoint="${SHELL(id)}", call="a,b)")
    # A "/" makes another path: no route at all (404); anything else: unknown.
    assert (r.status_code, r.text) in ((200, "unknown"), (404, '{"detail":"Not Found"}'))
    assert "SHELL" not in r.text and "System" not in r.text
    for path in (f"{SECRET}/dial/1%2C1/101", f"{SECRET}/dial/x/101", f"{SECRET}/did/{number}"):
        r = await get(index(), path)
        assert r.status_code in (200, 404) and r.text in ("unknown", "", '{"detail":"Not Found"}')


def test_a_caller_is_taken_only_when_valid() -> None:
    assert Caller.of("101@a.example", "1732451234.17") == Caller("101@a.example", "1732451234.17")
    assert Caller.of("101@a.example,x", "17)") == Caller("", "")


async def test_outbound_routes_and_billing_ride_on_the_lookup() -> None:
    asked: list[dict[str, Any]] = []
    answers = iter(["limit_90000", "refuse_34", "unlimited", "garbage"])

    async def authorize(**kw: Any) -> str:
        asked.append(kw)
        return next(answers)

    routes = index(authorizer=lambda: authorize)
    caller = Caller("101@a.example", "1732451234.17")
    # No billing: no question.
    assert await routes.dial("1", "91234", caller) == (
        "out/91234/trunk-t1-carrier/1234/60/0/+12065552453"
    )
    assert asked == []
    for billing, expected in [
        ("prepaid", "out/91234/trunk-t1-carrier/1234/60/90000/+12065552453"),
        ("prepaid", "refuse/34"),
        ("prepaid", "out/91234/trunk-t1-carrier/1234/60/0/+12065552453"),
        ("prepaid", "refuse/41"),  # no usable answer: a prepaid tenant refuses
    ]:
        routes.tenants[1] = replace(routes.tenants[1], billing=billing)
        assert await routes.dial("1", "91234", caller) == expected
    assert asked[0] == {
        "tenant_id": 1,
        "endpoint": "101@a.example",
        "number": "1234",
        "call_id": "1732451234.17",
    }
    # A postpaid-only tenant dials when the answer cannot be had.
    routes = index(authorizer=lambda: None)
    routes.tenants[1] = replace(routes.tenants[1], billing="postpaid")
    assert await routes.dial("1", "91234", caller) == (
        "out/91234/trunk-t1-carrier/1234/60/0/+12065552453"
    )


async def test_a_did_of_a_disabled_tenant_or_to_nothing_is_refused() -> None:
    config = replace(
        tenant(),
        dids=(DidRoute("+12065550100", "hangup"), DidRoute("+12065550101", "ivr", "visa")),
    )
    routes = RouteIndex()
    routes.swap(1, Renderer(TEMPLATES).render(config).routes)
    assert await routes.did("+12065550100", Caller()) == "refuse/21"
    assert await routes.did("+12065550101", Caller()) == "app/+12065550101/1/visa"
    routes.swap(1, Renderer(TEMPLATES).render(replace(config, enabled=False)).routes)
    assert await routes.did("+12065550101", Caller()) == "refuse/21"
    routes.swap(1, None)
    assert await routes.did("+12065550101", Caller()) == "unknown"
