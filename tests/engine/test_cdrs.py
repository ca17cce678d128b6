"""CDRs from real calls on the real Asterisk: two SIPp phones of a tenant (answered,
busy, no answer) and a caller on an IVR access number each give exactly one CDR with the
expected legs, disposition and Q.850 cause, read back through ``/api/v1/cdrs``.

The callee that refuses (486) or only rings is a SIPp UAS (``tests/engine/phones.py``);
the no-answer case waits for the ring timeout (the test service's ``ORCH_RING_TIMEOUT_S``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestrator.testing import sipp
from tests.engine.conftest import RING_TIMEOUT_S, Service
from tests.engine.phones import (
    RINGING_SCENARIO,
    TenantPhones,
    add_ivr_app,
    api,
    assert_applied,
    create_tenant,
    phone_ports,
    refusing_scenario,
    uas_phone,
)

pytestmark = pytest.mark.engine

DOMAIN = "cdr.example"
ACCESS = "+17333558000"
PORT = phone_ports("test_cdrs", "501", "502", "call")


@pytest.fixture(scope="module")
def cdr_tenant(service: Service) -> TenantPhones:
    """A tenant with phones 501 and 502 and the visa IVR app on ``ACCESS``."""
    tenant = create_tenant(
        service,
        "CDR tenant",
        DOMAIN,
        {"501": PORT["501"], "502": PORT["502"]},
        dial_from={"501": PORT["call"]},
    )
    with service.client() as http:
        add_ivr_app(http, tenant.id, ACCESS, pricing_batch="cdr", name="visa", app="visa_status")
        assert_applied(http, tenant.id)
    return tenant


async def call_from_501(tenant: TenantPhones, target: str, **kw: Any) -> sipp.CallResult:
    return await tenant.call("501", target, **kw)


def new_cdrs(service: Service, tenant_id: int, known: set[int], timeout: float = 15) -> list[dict]:
    """The tenant's CDRs written since ``known`` (waits for at least one, then a moment)."""
    deadline = time.monotonic() + timeout
    with service.client() as http:
        while True:
            r = http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
            assert r.status_code == 200, r.text
            fresh = [c for c in r.json()["items"] if c["id"] not in known]
            if fresh:
                time.sleep(1.0)  # a second CDR for the same call would show up by now
                r = http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
                fresh = [c for c in r.json()["items"] if c["id"] not in known]
                details = [http.get(f"/api/v1/cdrs/{c['id']}").json() for c in fresh]
                known.update(c["id"] for c in fresh)
                return details
            assert time.monotonic() < deadline, "no CDR was written"
            time.sleep(0.2)


def legs(cdr: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(leg["role"], leg["extension"], leg["disposition"]) for leg in cdr["legs"]]


@pytest.fixture(scope="module")
def seen() -> set[int]:
    return set()


async def test_answered_call_gives_one_cdr_with_talk_time(
    service: Service, cdr_tenant: TenantPhones, seen: set[int]
) -> None:
    tid = cdr_tenant.id
    new_cdrs_before = new_cdrs_or_none(service, tid, seen)
    assert new_cdrs_before == []
    await cdr_tenant.register("502")
    async with cdr_tenant.answerer("502", calls=1) as phone:
        result = await call_from_501(cdr_tenant, "502", hold_ms=3000)
        assert result.ok, result.log
        await phone.wait_completed(1, timeout=10)
    [cdr] = new_cdrs(service, tid, seen)
    assert (cdr["direction"], cdr["disposition"], cdr["hangup_cause"]) == (
        "internal",
        "answered",
        16,
    )
    assert (cdr["caller_extension"], cdr["called_number"], cdr["called_extension"]) == (
        "501",
        "502",
        "502",
    )
    assert 3 <= cdr["billsec"] <= 5, cdr
    assert cdr["duration_s"] >= cdr["billsec"]
    assert legs(cdr) == [("caller", "501", "answered"), ("callee", "502", "answered")]


def new_cdrs_or_none(service: Service, tenant_id: int, known: set[int]) -> list[dict]:
    with service.client() as http:
        r = http.get("/api/v1/cdrs", params={"tenant_id": tenant_id})
        return [c for c in r.json()["items"] if c["id"] not in known]


async def test_busy_callee(service: Service, cdr_tenant: TenantPhones, seen: set[int]) -> None:
    tid = cdr_tenant.id
    await cdr_tenant.register("502")
    async with uas_phone(refusing_scenario("486 Busy Here"), PORT["502"]):
        result = await call_from_501(cdr_tenant, "502", expect=486)
        assert result.status == 486, result.log
    [cdr] = new_cdrs(service, tid, seen)
    assert (cdr["disposition"], cdr["hangup_cause"], cdr["billsec"]) == ("busy", 17, 0), cdr
    assert cdr["answered_at"] is None
    assert legs(cdr) == [("caller", "501", "busy"), ("callee", "502", "busy")]


async def test_no_answer(service: Service, cdr_tenant: TenantPhones, seen: set[int]) -> None:
    tid = cdr_tenant.id
    await cdr_tenant.register("502")
    async with uas_phone(RINGING_SCENARIO, PORT["502"], timeout=60):
        result = await call_from_501(cdr_tenant, "502", expect=480, timeout=50)
        assert result.status is not None and result.status >= 400, result.log
    [cdr] = new_cdrs(service, tid, seen)
    assert cdr["disposition"] == "no_answer", cdr
    assert cdr["hangup_cause"] in (18, 19), cdr
    # It rang for the configured time: not the engine's default, nor cut short.
    assert RING_TIMEOUT_S - 1 <= cdr["duration_s"] <= RING_TIMEOUT_S + 3, cdr
    assert cdr["billsec"] == 0, cdr
    assert legs(cdr) == [("caller", "501", "no_answer"), ("callee", "502", "no_answer")]


async def test_ivr_call_has_an_ivr_leg(
    service: Service, cdr_tenant: TenantPhones, seen: set[int]
) -> None:
    tid = cdr_tenant.id
    result = await call_from_501(cdr_tenant, ACCESS, hold_ms=4000)
    assert result.answered, result.log
    [cdr] = new_cdrs(service, tid, seen)
    assert (cdr["called_number"], cdr["disposition"], cdr["direction"]) == (
        ACCESS,
        "answered",
        "internal",
    )
    assert [(leg["role"], leg["service"], leg["detail"]) for leg in cdr["legs"]] == [
        ("caller", "voice", None),
        ("ivr", "ivr", "visa"),
    ]
    assert 3 <= cdr["legs"][1]["billsec"] <= 6, cdr
    async with api(service) as http:
        csv_text = (await http.get("/api/v1/cdrs.csv", params={"tenant_id": tid})).text
    assert len(csv_text.splitlines()) == 1 + len(seen)
