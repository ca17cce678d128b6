"""Follow-me on the real Asterisk: ring_all in an IVR flow reached by a DID, SIPp phones.

A phone of the tenant dials a DID whose IVR app runs the test flow ``follow_me_test``
(registered as a builtin, its follow-me list in the app's settings); the flow rings the
list with :func:`~orchestrator.pbx.follow_me.ring_all`. Phones: SIPp answerers (one
sending "1" as RFC 2833 right after it answers), a phone that only rings, and a SIPp
"carrier" behind the tenant's trunk standing in for a mobile whose voicemail answers.
What the flow saw comes back through the runner's observers and engine events.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from api.services import services_of
from orchestrator.core.events import Event, LegHungUp
from orchestrator.ivr import CallerHungUp, DialResult, IvrCall
from orchestrator.pbx.follow_me import parse_follow_me, ring_all
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import (
    RINGING_SCENARIO,
    TenantPhones,
    add_ivr_app,
    api,
    create_tenant,
    phone_ports,
    uas_phone,
)
from tests.engine.queue_helpers import end_calls

pytestmark = pytest.mark.engine

DOMAIN = "follow-me.example"
PORT = phone_ports("test_follow_me", "521", "522", "523", "call", "carrier")
FLOW = "follow_me_test"
DID_SIMULTANEOUS = "+17333551400"
DID_MOBILE = "+17333551401"
MOBILE = "0044770090012"  # through the trunk's route "00"

# What each run of the flow ended with, by IVR app name: a DialResult or "caller_hung_up".
RESULTS: dict[str, list[Any]] = {}
# (app, action, details) the flow's calls reported; every leg's LegHungUp, in order.
ACTIONS: list[tuple[str, str, dict[str, Any]]] = []
HUNG_UP: list[str] = []


async def follow_me_flow(call: IvrCall) -> None:
    """Ring the app's ``follow_me`` setting (JSON), then hang up."""
    setting = parse_follow_me(json.loads(str(call.settings["follow_me"])))
    try:
        result = await ring_all(call, setting.steps, mode=setting.mode)
    except CallerHungUp:
        RESULTS.setdefault(call.app, []).append("caller_hung_up")
        raise
    RESULTS.setdefault(call.app, []).append(result)
    await call.hangup(16 if result.answered else 19)


def _observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
    if action in ("dial", "connected", "follow_me_declined"):
        ACTIONS.append((call.app, action, dict(details)))


def _on_event(event: Event) -> None:
    if isinstance(event, LegHungUp):
        HUNG_UP.append(event.leg_id)


@pytest.fixture(scope="module")
def fm(service: Service) -> Iterator[TenantPhones]:
    assert service.app is not None
    services = services_of(service.app)
    assert services.ivr_registry is not None and services.ivr_runner is not None
    services.ivr_registry.builtins[FLOW] = follow_me_flow
    services.ivr_runner.observers.append(_observe)
    unsubscribe = services.ivr_runner.engine.subscribe(_on_event)
    tenant = create_tenant(
        service, "Follow me", DOMAIN, {n: PORT[n] for n in ("521", "522", "523")},
        dial_from={"521": PORT["call"]},
    )  # fmt: skip
    with service.client() as http:
        r = http.post(
            "/api/v1/trunks",
            json={"tenant_id": tenant.id, "name": "carrier", "host": "127.0.0.1",
                  "port": PORT["carrier"]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        route = {"tenant_id": tenant.id, "name": "intl", "prefix": "00", "trunk_id": r.json()["id"]}
        r = http.post("/api/v1/outbound-routes", json=route)
        assert r.status_code == 201, r.text
        for name, did, setting in (
            ("fm-both", DID_SIMULTANEOUS, {
                "mode": "simultaneous",
                "steps": [{"destination": "extension:522", "ring_s": 30, "confirm": True},
                          {"destination": "extension:523", "ring_s": 30}],
            }),
            ("fm-mobile", DID_MOBILE, {
                "mode": "sequential",
                "steps": [{"destination": f"number:{MOBILE}", "ring_s": 20}],
            }),
        ):  # fmt: skip
            add_ivr_app(
                http, tenant.id, did, pricing_batch="follow-me", name=name, app=FLOW,
                max_duration_s=120, settings={"follow_me": json.dumps(setting)},
            )  # fmt: skip
    yield tenant
    unsubscribe()
    services.ivr_runner.observers.remove(_observe)


@pytest.fixture(autouse=True)
async def no_calls_left(service: Service, fm: TenantPhones) -> AsyncIterator[None]:
    yield
    async with api(service) as http:
        await end_calls(http, fm.id)


async def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return value


def legs_of(app: str) -> dict[str, str]:
    """destination -> leg id, for the legs the app's flow dialed."""
    return {d["destination"]: d["leg_id"] for a, act, d in ACTIONS if a == app and act == "dial"}


async def test_simultaneous_the_phone_that_presses_1_gets_the_caller(fm: TenantPhones) -> None:
    await fm.register("522", "523")
    # 522 answers and presses 1 at once (over the prompt); 523 only rings.
    async with (
        fm.answerer("522", calls=1, dtmf="1") as desk,
        uas_phone(RINGING_SCENARIO, PORT["523"]),
    ):
        result = await fm.call("521", DID_SIMULTANEOUS, hold_ms=3000, timeout=40)
        assert result.answered, result.log
        assert await desk.wait_completed(1, timeout=15) == 1
    await until(lambda: RESULTS.get("fm-both"))
    legs = legs_of("fm-both")
    assert set(legs) == {"extension:522", "extension:523"}
    connected = [d["leg_id"] for a, act, d in ACTIONS if a == "fm-both" and act == "connected"]
    assert connected == [legs["extension:522"]]
    # The caller hung up while talking (SIPp's BYE after 3 s)...
    assert RESULTS["fm-both"] == ["caller_hung_up"]
    # ...and 523 had stopped ringing long before: it was hung up before the talk ended.
    await until(lambda: legs["extension:522"] in HUNG_UP)
    assert HUNG_UP.index(legs["extension:523"]) < HUNG_UP.index(legs["extension:522"])


async def test_a_mobile_whose_voicemail_answers_is_never_connected(fm: TenantPhones) -> None:
    # The "carrier" answers every call and never presses a key: a mobile's voicemail.
    started = time.monotonic()
    async with sipp.Answerer(local_port=PORT["carrier"], calls=1) as mobile:
        result = await fm.call("521", DID_MOBILE, hold_ms=1000, expect=480, timeout=45)
        assert not result.answered, result.log
        assert mobile.answered == 1
        assert await mobile.wait_completed(1, timeout=10) == 1  # we hung it up
    elapsed = time.monotonic() - started
    results = await until(lambda: RESULTS.get("fm-mobile"))
    assert isinstance(results[0], DialResult) and results[0].status == "no_answer", results
    leg = legs_of("fm-mobile")[f"number:{MOBILE}"]
    assert ("fm-mobile", "follow_me_declined", {"leg_id": leg}) in ACTIONS
    assert not [d for a, act, d in ACTIONS if a == "fm-mobile" and act == "connected"]
    # It had the prompt and 10 s to press 1 before it was let go.
    assert elapsed >= 10, elapsed
