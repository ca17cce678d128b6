"""Follow-me on every engine: ring_all in an IVR flow behind a DID, two phones ringing at
once; the one that presses 1 gets the caller, the other (silent: its voicemail) is hung
up and never connected."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from api.services import services_of
from orchestrator.core.events import Event, LegHungUp
from orchestrator.ivr import CallerHungUp, IvrCall
from orchestrator.pbx.follow_me import parse_follow_me, ring_all
from tests.conformance.worlds import World, unique_number

FLOW = "conformance_follow_me"
RESULTS: dict[str, list[Any]] = {}  # IVR app name -> what ring_all ended with


async def follow_me_flow(call: IvrCall) -> None:
    setting = parse_follow_me(json.loads(str(call.settings["follow_me"])))
    try:
        result = await ring_all(call, setting.steps, mode=setting.mode)
    except CallerHungUp:
        RESULTS.setdefault(call.app, []).append("caller_hung_up")
        raise
    RESULTS.setdefault(call.app, []).append(result.status)


async def until(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_follow_me_connects_only_the_phone_that_presses_1(world: World) -> None:
    world.add_flow(FLOW, follow_me_flow)
    tenant = world.tenant("541", "542")
    number = unique_number()
    name = f"fm-{number[-7:]}"
    setting = {
        "mode": "simultaneous",
        "steps": [
            {"destination": "extension:541", "ring_s": 30, "confirm": True},
            {"destination": "extension:542", "ring_s": 30, "confirm": True},
        ],
    }
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": name, "app": FLOW, "max_duration_s": 60,
              "settings": {"follow_me": json.dumps(setting)}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = world.http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)

    actions: list[tuple[str, dict[str, Any]]] = []
    hung_up: list[str] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if call.app == name:
            actions.append((action, dict(details)))

    def on_event(event: Event) -> None:
        if isinstance(event, LegHungUp):
            hung_up.append(event.leg_id)

    services = services_of(world.app)
    assert services.ivr_runner is not None
    services.ivr_runner.observers.append(observe)
    unsubscribe = services.engine.subscribe(on_event)
    try:
        async with world.answering(tenant, "541", keys="1"), world.answering(tenant, "542"):
            world.call_in(number)
            connected = await until(lambda: [d for a, d in actions if a == "connected"])
            legs = {d["destination"]: d["leg_id"] for a, d in actions if a == "dial"}
            assert set(legs) == {"extension:541", "extension:542"}
            assert connected == [{"leg_id": legs["extension:541"]}]
            # The silent phone was let go (it never pressed 1) while the call talks on.
            await until(lambda: legs["extension:542"] in hung_up)
            assert legs["extension:541"] not in hung_up
            world.hang_up_everything()
            await until(lambda: RESULTS.get(name))
        # Whoever hung up first (the caller or the answered phone), the talk was theirs.
        assert RESULTS[name][0] in ("caller_hung_up", "answered"), RESULTS[name]
        assert [a for a, _ in actions].count("connected") == 1
    finally:
        unsubscribe()
        services.ivr_runner.observers.remove(observe)
