"""Outbound calls on the real Asterisk: a phone dials a route's prefix and the number, the
call leaves through the tenant's trunk to a SIPp "carrier", with the prefix stripped and
the trunk's caller ID; an extension's own number still beats a route's pattern."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "trunk.example"
_PORT = phone_ports("test_trunks", "call", "9001", "carrier")
CALL_PORT = _PORT["call"]  # where 101 places its calls from
PHONE_9001 = _PORT["9001"]  # 9001's registered contact
CARRIER = _PORT["carrier"]  # the SIPp UAS standing in for the carrier
TRUNK_CALLER_ID = "+442079460000"

_REQUEST_LINE = re.compile(r"^INVITE (sip:\S+) SIP/2\.0", re.M)
_FROM = re.compile(r"^From:.*$", re.M | re.I)


@pytest.fixture(scope="module")
def pbx(service: Service) -> dict[str, Any]:
    """A tenant with extensions 101 and 9001, a trunk to the carrier and a route "9", strip 1."""
    out: dict[str, Any] = {"passwords": {}}
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": "Trunk tenant", "sip_domain": DOMAIN})
        assert r.status_code == 201, r.text
        tenant = r.json()
        out["tenant"] = tenant
        for number in ("101", "9001"):
            r = http.post(f"/api/v1/tenants/{tenant['id']}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            out["passwords"][number] = r.json()["sip_password"]
        r = http.post(
            "/api/v1/trunks",
            json={
                "tenant_id": tenant["id"],
                "name": "carrier",
                "host": "127.0.0.1",
                "port": CARRIER,
                "caller_id_number": TRUNK_CALLER_ID,
            },
        )
        assert r.status_code == 201, r.text
        out["trunk"] = r.json()
        r = http.post(
            "/api/v1/outbound-routes",
            json={
                "tenant_id": tenant["id"],
                "name": "international",
                "prefix": "9",
                "strip": 1,
                "trunk_id": out["trunk"]["id"],
            },
        )
        assert r.status_code == 201, r.text
        state = http.get(f"/api/v1/tenants/{tenant['id']}/config").json()["last_apply"]
        assert state["ok"], state
    return out


def server(service: Service) -> str:
    return f"127.0.0.1:{service.instance.ports.sip}"


async def place(service: Service, pbx: dict[str, Any], target: str, **kw: Any) -> sipp.CallResult:
    return await sipp.call(
        server=server(service),
        username="101",
        password=pbx["passwords"]["101"],
        domain=DOMAIN,
        local_port=CALL_PORT,
        target=target,
        **kw,
    )


async def test_route_dials_out_through_the_trunk(service: Service, pbx: dict[str, Any]) -> None:
    endpoint = pbx["trunk"]["endpoint"]
    assert endpoint == f"trunk-t{pbx['tenant']['id']}-carrier"
    async with sipp.Answerer(local_port=CARRIER, calls=1) as carrier:
        result = await place(service, pbx, "90044207946000", hold_ms=1000)
        assert result.status == 200 and result.completed, result.log
        assert await carrier.wait_completed(1) == 1
        messages = (carrier.workdir / "messages.log").read_text(errors="replace")
    assert carrier.answered == 1
    request_uri = _REQUEST_LINE.search(messages)
    assert request_uri is not None, messages
    # The prefix "9" is stripped; the rest goes to the trunk's contact.
    assert request_uri.group(1) == f"sip:0044207946000@127.0.0.1:{CARRIER}"
    from_header = _FROM.search(messages)
    assert from_header is not None and f"sip:{TRUNK_CALLER_ID}@" in from_header.group(0)
    # The engine knows the trunk as a realtime endpoint of its own.
    assert endpoint in service.instance.cli(f"pjsip show endpoint {endpoint}")


async def test_extension_number_beats_a_route_pattern(
    service: Service, pbx: dict[str, Any]
) -> None:
    registered = await sipp.register(
        server=server(service),
        username="9001",
        password=pbx["passwords"]["9001"],
        domain=DOMAIN,
        local_port=PHONE_9001,
    )
    assert registered.status == 200, registered.log
    async with (
        sipp.Answerer(local_port=PHONE_9001, calls=1) as phone,
        sipp.Answerer(local_port=CARRIER) as carrier,
    ):
        # "9001" also fits the route ("9" then 3 digits): the extension must win.
        result = await place(service, pbx, "9001")
        assert result.status == 200 and result.completed, result.log
        assert await phone.wait_answered(1) == 1
        await asyncio.sleep(0.5)
        assert carrier.answered == 0


async def test_number_too_short_for_the_route_is_unknown(
    service: Service, pbx: dict[str, Any]
) -> None:
    async with sipp.Answerer(local_port=CARRIER) as carrier:
        result = await place(service, pbx, "912", expect=404)
        assert result.status == 404, result.log
        assert carrier.answered == 0
