"""Feature codes on the real Asterisk: a SIPp phone dials the queue agents' codes at their
new defaults (*61, *62), then at a code the tenant changed through the API (*71) while
the old one (*61) is refused; *8, Asterisk's stock pickup code, reaches the orchestrator
instead of the engine's own pickup (features.conf). What the phone heard is read from the
IVR runner (the prompts the flow played, before the adapter names Asterisk's files)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports
from tests.engine.queue_helpers import QueueSpec, QueueTenant, create_queue_tenant

pytestmark = pytest.mark.engine

DOMAIN = "codes.example"
ACCESS = "+17333556600"
PORT = phone_ports("test_feature_codes", "6601", "6601 dials")


@pytest.fixture(scope="module")
def qt(service: Service) -> QueueTenant:
    """A tenant with agent 6601 in the queue ``codes``."""
    return create_queue_tenant(
        service,
        "Codes",
        DOMAIN,
        {"6601": PORT["6601"]},
        dial_from={"6601": PORT["6601 dials"]},
        agents=("6601",),
        queues={"codes": QueueSpec(ACCESS, {}, ("6601",))},
        pricing_batch="codes",
    )


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as c:
        yield c


@pytest.fixture
def heard(service: Service, qt: QueueTenant) -> Iterator[dict[str, list[str]]]:
    """What the feature-code flow played to the tenant's calls, by the number dialed."""
    assert service.app is not None
    runner = services_of(service.app).ivr_runner
    played: dict[str, list[str]] = {}

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        routing = call.routing
        if action == "play" and call.tenant == str(qt.id) and routing is not None:
            played.setdefault(routing.get("dialed"), []).extend(details["media"])

    runner.observers.append(observe)
    yield played
    runner.observers.remove(observe)


async def dial(qt: QueueTenant, code: str, heard: dict[str, list[str]]) -> list[str]:
    """6601 dials ``code``; the prompts it heard (the orchestrator answers and hangs up)."""
    heard.pop(code, None)
    result = await qt.dial("6601", code, hold_ms=10_000, timeout=30)
    assert result.answered and result.far_end_hangup, result.log
    deadline = time.monotonic() + 5
    while code not in heard:
        assert time.monotonic() < deadline, f"{code}: nothing played"
        await asyncio.sleep(0.05)
    return heard[code]


async def logged_in(http: httpx.AsyncClient, qt: QueueTenant) -> list[str]:
    return list((await qt.agent(http, "6601"))["logged_in"])


async def test_agent_codes_at_their_defaults_then_changed_through_the_api(
    qt: QueueTenant, http: httpx.AsyncClient, heard: dict[str, list[str]]
) -> None:
    await qt.register("6601")
    assert await logged_in(http, qt) == []
    assert await dial(qt, "*61", heard) == [Prompt.AGENT_LOGGED_IN]
    assert await logged_in(http, qt) == ["codes"]
    assert await dial(qt, "*62", heard) == [Prompt.AGENT_LOGGED_OUT]
    assert await logged_in(http, qt) == []
    # The old agent code is BroadSoft's "forward on busy off" now: not the agent's.
    assert await dial(qt, "*91", heard) == [Prompt.FORWARD_CANCELLED]
    assert await logged_in(http, qt) == []

    r = await http.put(
        f"/api/v1/tenants/{qt.id}/feature-codes", json={"codes": {"agent_login": "*71"}}
    )
    assert r.status_code == 200, r.text
    try:
        assert await dial(qt, "*61", heard) == [Prompt.FEATURE_INVALID]
        assert await logged_in(http, qt) == []
        assert await dial(qt, "*71", heard) == [Prompt.AGENT_LOGGED_IN]
        assert await logged_in(http, qt) == ["codes"]
    finally:
        r = await http.put(
            f"/api/v1/tenants/{qt.id}/feature-codes", json={"codes": {"agent_login": None}}
        )
        assert r.status_code == 200, r.text
        await qt.agent(http, "6601", "logout")


async def test_asterisks_own_pickup_code_is_off(
    service: Service, qt: QueueTenant, heard: dict[str, list[str]]
) -> None:
    # features.conf: no pickup extension, so chan_pjsip leaves *8 to the dialplan.
    # (The "Pickup" line shows the default *8, then the value in use: none.)
    shown = service.instance.cli("features show")
    pickup = [line.split() for line in shown.splitlines() if line.startswith("Pickup")]
    assert pickup == [["Pickup", "*8"]], shown
    # *8 is no code of the tenant's: the orchestrator answers "not a valid code"...
    assert await dial(qt, "*8", heard) == [Prompt.FEATURE_INVALID]
    # ...and once the tenant makes it its group pickup code, that action's flow runs.
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers) as http:
        url = f"/api/v1/tenants/{qt.id}/feature-codes"
        # (*88, retrieve, would start with *8: it moves in the same request.)
        r = await http.put(url, json={"codes": {"group_pickup": "*8", "retrieve": "#88"}})
        assert r.status_code == 200, r.text
        try:
            # (6601 is in no pickup group: nothing to pick up.)
            assert await dial(qt, "*8", heard) == [Prompt.PICKUP_NONE]
        finally:
            await http.put(url, json={"codes": {"group_pickup": None, "retrieve": None}})
