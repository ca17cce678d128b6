"""The tenant dialplans' one lookup per call, on the real Asterisk with SIPp phones.

A tenant's file holds only tenant-level lines; what a number reaches is asked of the
orchestrator per call (docs/provisioning.md). So a user added through the API is
callable at once and the engine's dialplan is not reloaded; and when the orchestrator
does not answer, a call fails with Q.850 41 (temporary failure), nothing is rung.
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import Service
from tests.engine.phones import assert_applied, create_tenant, orch_api, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "lookup.example"
PORT = phone_ports("test_dial_lookup", "101", "102", "103")
# A context the CLI adds: `dialplan reload` drops it (only files survive a reload), so
# while it is there, nothing reloaded the dialplan.
PROBE = "orch-reload-probe"


def _probe(service: Service) -> None:
    service.instance.cli(f"dialplan add extension 1,1,NoOp() into {PROBE} replace")
    assert f"[ Context '{PROBE}'" in service.instance.cli(f"dialplan show {PROBE}")


def _reloaded(service: Service) -> bool:
    return f"[ Context '{PROBE}'" not in service.instance.cli(f"dialplan show {PROBE}")


async def test_a_user_added_is_callable_at_once_without_a_reload(service: Service) -> None:
    pbx = create_tenant(service, "Lookup", DOMAIN, {"101": PORT["101"]})
    await pbx.register("101")
    tenant_file = service.instance.tenants_dir / f"t{pbx.id}.conf"
    before = tenant_file.read_text()
    _probe(service)
    with service.client() as http:
        r = http.post(f"/api/v1/tenants/{pbx.id}/extensions", json={"number": "102"})
        assert r.status_code == 201, r.text
        state = http.get(f"/api/v1/tenants/{pbx.id}/config").json()["last_apply"]
        assert state["ok"] and state["changed"] == ["dialplan", "sip"], state
        pbx.passwords["102"] = r.json()["sip_password"]
        pbx.ports["102"] = PORT["102"]
    await pbx.register("102")
    async with pbx.answerer("102", calls=1) as phone:
        result = await pbx.call("101", "102", hold_ms=500)
        assert result.ok, result.log
        assert await phone.wait_answered(1, timeout=10) == 1
    assert not _reloaded(service)
    assert tenant_file.read_text() == before
    # A user removed is unknown at once (404), again without a reload.
    with service.client() as http:
        r = http.delete(f"/api/v1/tenants/{pbx.id}/extensions/{r.json()['id']}")
        assert r.status_code in (200, 204), r.text
        assert_applied(http, pbx.id)
    gone = await pbx.call("101", "102", expect=404)
    assert gone.ok, gone.log
    assert not _reloaded(service)
    # The probe does see a reload: a tenant-level change (disabled, enabled) reloads.
    with service.client() as http:
        for enabled in (False, True):
            r = http.patch(f"/api/v1/tenants/{pbx.id}", json={"enabled": enabled})
            assert r.status_code == 200, r.text
            state = http.get(f"/api/v1/tenants/{pbx.id}/config").json()["last_apply"]
            assert state["ok"] and "reload" in state["changed"], state
    assert _reloaded(service)


async def test_no_answer_from_the_orchestrator_fails_the_call_with_41(service: Service) -> None:
    pbx = create_tenant(service, "Lookup down", "down." + DOMAIN, {"103": PORT["103"]})
    await pbx.register("103")
    original = orch_api(service)
    # Nothing listens on port 9: every lookup's CURL fails and answers nothing.
    service.instance.cli("dialplan set global ORCH_API http://127.0.0.1:9/down")
    try:
        # Q.850 41 (temporary failure), which Asterisk 22 sends as 603 with its Reason.
        down = await pbx.call("103", "555", expect=603)
        assert down.ok, down.log
    finally:
        service.instance.cli(f"dialplan set global ORCH_API {original}")
    # The orchestrator answers again: the same number is its 404 (unknown), not a 503.
    back = await pbx.call("103", "555", expect=404)
    assert back.ok, back.log
