"""DIDs of the kind ``inbound`` (a schedule, or a tenant with a blacklist) in both
engines' tenant dialplans: Asterisk's Stasis into ``pbx.in`` with the DID, FreeSWITCH's
``orch_route`` variables and park; the tenant's own phones may dial them; a disabled
tenant's are refused. And the snapshot's rules that make them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace

from orchestrator.engines.freeswitch.provisioning.xml_curl import dialplan_answer
from orchestrator.provisioning.data import DidRoute, TenantConfig, snapshot
from tests.unit.freeswitch.kit_fixtures import Store, actions, provisioner, tenant
from tests.unit.test_provisioning import answer

DID = "+4930555010"


def with_inbound(enabled: bool = True) -> TenantConfig:
    t = tenant(1, "a.example", ("101", "102"), enabled=enabled)
    return replace(t, dids=(*t.dids, DidRoute(DID, "inbound", "office")))


def test_asterisk_hands_the_did_to_pbx_in() -> None:
    # [orchestrator-route]'s inbound: Stasis(orchestrator,ivr,pbx.in,1,<endpoint>,<DID>)
    assert answer(with_inbound(), DID, did=True) == f"inbound/{DID}/1"
    assert answer(with_inbound(), DID) == f"inbound/{DID}/1"  # from its phones
    assert answer(with_inbound(enabled=False), DID, did=True) == "refuse/21"


def dial(enabled: bool, context: str) -> list[tuple[str, str]]:
    p = provisioner(Store(with_inbound(enabled)))
    asyncio.run(p.apply_all())
    form = {"section": "dialplan", "Hunt-Context": context, "Hunt-Destination-Number": DID}
    answer = asyncio.run(dialplan_answer(p, form))
    assert answer is not None
    return actions(answer)


def test_freeswitch_parks_the_did_for_pbx_in() -> None:
    got = dial(True, "orchestrator-dids")
    for expected in (
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=pbx.in"),
        ("set", "orch_route_tenant=1"),
        ("set", f"orch_route_dialed={DID}"),
        ("park", ""),
    ):
        assert expected in got, got
    assert ("transfer", f"{DID} XML orchestrator-dids") in dial(True, "t1")
    assert dial(False, "orchestrator-dids")[-1] == ("hangup", "CALL_REJECTED")


def row(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**values)


def test_snapshot_kinds() -> None:
    t = row(id=1, sip_domain="a.example", enabled=True)
    ext = row(id=5, number="101", name="", sip_username="101", sip_password="A" * 12 + "1" * 12,
              caller_id_name="", caller_id_number="", enabled=True, redirect_to=None,
              redirect_reason="")  # fmt: skip
    dids = [
        row(number="+4930555001", destination="schedule:office"),
        row(number="+4930555002", destination="schedule:gone"),
        row(number="+4930555003", destination="extension:101"),
        row(number="+4930555004", destination="hangup"),
    ]
    kinds = {d.number: d.kind for d in snapshot(t, [ext], dids, schedules={"office"}).dids}
    assert kinds == {"+4930555001": "inbound", "+4930555002": "hangup",
                     "+4930555003": "extension", "+4930555004": "hangup"}  # fmt: skip
    blacklisted = snapshot(t, [ext], dids, schedules={"office"}, blacklist=True).dids
    assert {d.number: d.kind for d in blacklisted}["+4930555003"] == "inbound"
    assert {d.number: d.kind for d in blacklisted}["+4930555004"] == "hangup"
    # A DID to a ring group is screened too: a blacklisted caller must not reach it.
    group = [row(number="+4930555005", destination="ring_group:600")]
    groups = [row(number="600", name="sales")]
    assert [d.kind for d in snapshot(t, [ext], group, ring_groups=groups).dids] == ["ring_group"]
    screened = snapshot(t, [ext], group, ring_groups=groups, blacklist=True).dids
    assert [(d.kind, d.target) for d in screened] == [("inbound", "600")]
