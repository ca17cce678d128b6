"""Feature codes through the service on every engine (fake, Asterisk, FreeSWITCH's fake
peer): a phone dials the agents' codes at their defaults, then at a code the tenant changed
through the API while the old one is refused (see worlds.py, ``phone_dials``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from tests.conformance.worlds import Tenant, World


@pytest.fixture
def heard(world: World) -> Iterator[dict[str, list[str]]]:
    """What the service played to each call, by the number dialed."""
    runner = services_of(world.app).ivr_runner
    played: dict[str, list[str]] = {}

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play" and call.routing is not None:
            played.setdefault(call.routing.get("dialed"), []).extend(details["media"])

    runner.observers.append(observe)
    yield played
    runner.observers.remove(observe)


def agent_in_queue(world: World, tenant: Tenant, number: str) -> int:
    r = world.http.post("/api/v1/queues", json={"tenant_id": tenant.id, "name": "codes"})
    assert r.status_code == 201, r.text
    queue_id = r.json()["id"]
    r = world.http.post("/api/v1/agents", json={"tenant_id": tenant.id, "extension": number})
    assert r.status_code == 201, r.text
    agent_id = int(r.json()["id"])
    r = world.http.post(f"/api/v1/queues/{queue_id}/members", json={"agent_id": agent_id})
    assert r.status_code == 201, r.text
    return agent_id


async def test_agent_codes_follow_the_tenants_table(
    world: World, heard: dict[str, list[str]]
) -> None:
    tenant = world.tenant("101")
    agent = agent_in_queue(world, tenant, "101")

    def logged_in() -> list[str]:
        return list(world.http.get(f"/api/v1/agents/{agent}").json()["logged_in"])

    async def dial(code: str) -> list[str]:
        heard.pop(code, None)
        await world.phone_dials(tenant, "101", code)
        return heard.get(code, [])

    assert await dial("*61") == [Prompt.AGENT_LOGGED_IN]
    assert logged_in() == ["codes"]
    assert await dial("*62") == [Prompt.AGENT_LOGGED_OUT]
    assert logged_in() == []
    r = world.http.put(
        f"/api/v1/tenants/{tenant.id}/feature-codes", json={"codes": {"agent_login": "*71"}}
    )
    assert r.status_code == 200, r.text
    assert await dial("*61") == [Prompt.FEATURE_INVALID]
    assert logged_in() == []
    assert await dial("*71") == [Prompt.AGENT_LOGGED_IN]
    assert logged_in() == ["codes"]
    # An action without a handler yet (park): "not available".
    assert await dial("*68") == [Prompt.FEATURE_NOT_AVAILABLE]
