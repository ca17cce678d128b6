"""Feature-level conformance: the same scenarios through the service on every engine.

Each test runs on the service the composition root builds over the FakeEngine and on the
test service over the real Asterisk (the ``world`` fixture, see worlds.py), through the
HTTP API and calls that arrive from outside; it names no engine.
"""

from __future__ import annotations

import uuid
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


def ivr_number(world: World, flow: str, key: str) -> dict[str, Any]:
    """A tenant with an access number whose IVR app runs ``flow``; returns the app."""
    world.add_flow(key, flow_by_key[key])
    tag = uuid.uuid4().hex[:8]
    http = world.http
    r = http.post(
        "/api/v1/tenants", json={"name": f"Conf {tag}", "sip_domain": f"{tag}.conf.example"}
    )
    assert r.status_code == 201, r.text
    tenant = r.json()
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant["id"]}
    assert http.post("/api/v1/dids", json=did).status_code == 201
    r = http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant["id"], "name": flow, "app": key, "max_duration_s": 60},
    )
    assert r.status_code == 201, r.text
    app = r.json()
    r = http.post(f"/api/v1/ivr-apps/{app['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant["id"])
    return {**app, "number": number, "tenant": tenant}


flow_by_key = {MENU_FLOW: menu_flow}


def last_call(world: World, app_id: int) -> dict[str, Any]:
    calls = world.poll(f"/api/v1/ivr-apps/{app_id}/recent-calls", lambda calls: bool(calls))
    return dict(calls[-1])


def test_ivr_flow_collects_and_branches(world: World) -> None:
    app = ivr_number(world, "menu", MENU_FLOW)
    world.call_in(app["number"], caller="+15550001", far=FarEnd.dtmf("2#", after=1))
    summary = last_call(world, app["id"])
    assert summary["collected"] == ["2"]
    assert summary["variables"] == {"branch": "support"}
    assert summary["outcome"] == "flow_hung_up"
    assert summary["called"] == app["number"]


def test_ivr_flow_without_input_takes_the_default_branch(world: World) -> None:
    app = ivr_number(world, "menu", MENU_FLOW)
    world.call_in(app["number"])
    summary = last_call(world, app["id"])
    assert summary["collected"] == [""]
    assert summary["variables"] == {"branch": "none"}
    assert summary["outcome"] == "flow_hung_up"
