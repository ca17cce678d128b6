"""Forwarding through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer): a phone sets its unconditional forward with *72<ext> (the settings change, the
tenant's configuration is applied again: the extension is managed now), a call for the
extension (an access number whose app is the ``pbx_extension`` flow for it) rings the
forward target, which answers; *73 turns it off again."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.drivers import FarEnd
from tests.conformance.worlds import Tenant, World, unique_number


async def dial_code(world: World, tenant: Tenant, code: str) -> None:
    """101 dials ``code`` (idempotent); a second try if a loaded machine's slow first
    look-up of the cold tenant made the phone give up (as phones.register_retrying)."""
    try:
        await world.phone_dials(tenant, "101", code)
    except AssertionError:
        await asyncio.sleep(1)
        await world.phone_dials(tenant, "101", code)


def settings(world: World, tenant: Tenant, number: str) -> dict[str, Any]:
    r = world.http.get(f"/api/v1/tenants/{tenant.id}/extensions?number_prefix={number}")
    assert r.status_code == 200, r.text
    ext_id = r.json()["items"][0]["id"]
    r = world.http.get(f"/api/v1/extensions/{ext_id}/call-settings")
    assert r.status_code == 200, r.text
    return dict(r.json())


def extension_number(world: World, tenant: Tenant, extension: str) -> tuple[int, str]:
    """An access number whose IVR app runs ``pbx_extension`` for ``extension`` (a DID
    "for" the extension that keeps its settings)."""
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": f"ext{extension}", "app": "pbx_extension",
              "settings": {"dialed": extension}, "max_duration_s": 60},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    app_id = int(r.json()["id"])
    r = world.http.post(f"/api/v1/ivr-apps/{app_id}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)
    return app_id, number


async def test_forward_set_by_code_then_followed(world: World) -> None:
    tenant = world.tenant("101", "102")
    await dial_code(world, tenant, "*72102")
    s = settings(world, tenant, "101")
    assert (s["forward_all"], s["managed"]) == ("extension:102", True)
    world.tenant_ready(tenant.id)  # re-applied (managed flipped) without an error
    app_id, number = extension_number(world, tenant, "101")
    async with world.answering(tenant, "102"):
        world.call_in(number, far=FarEnd.hangs_up(after=3))
        calls = await world.poll(f"/api/v1/ivr-apps/{app_id}/recent-calls", bool, timeout=30)
    summary = calls[-1]
    assert summary["answered"] and summary["outcome"] == "caller_hung_up", summary
    # The forward target's phone took the call (the flow answers the caller only then).
    cdrs = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: any(c["called_number"] == number for c in d["items"]),
    )
    cdr = next(c for c in cdrs["items"] if c["called_number"] == number)
    r = world.http.get(f"/api/v1/cdrs/{cdr['id']}")
    answered = [(leg["extension"], leg["disposition"]) for leg in r.json()["legs"]]
    assert ("102", "answered") in answered and "101" not in [e for e, _ in answered], answered
    await dial_code(world, tenant, "*73")
    s = settings(world, tenant, "101")
    assert (s["forward_all"], s["managed"]) == (None, False)
    world.tenant_ready(tenant.id)
