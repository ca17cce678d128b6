"""Tenants are isolated in what mod_xml_curl is answered: the same extension number in
two tenants, users never crossing domains, no phone dialing in another tenant's
context, disabled tenants reaching nothing, DIDs and IVR access numbers."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import (
    dialplan_answer,
    directory_answer,
)
from tests.unit.freeswitch.kit_fixtures import Store, actions, parse, provisioner, tenant


@pytest.fixture
def prov() -> FreeSwitchProvisioner:
    store = Store(
        tenant(1, "a.example", ("101", "102")),
        tenant(2, "b.example", ("101", "201")),
        tenant(3, "c.example", ("101",), enabled=False),
    )
    p = provisioner(store)
    asyncio.run(p.apply_all())
    return p


def lookup_user(p: FreeSwitchProvisioner, domain: str, user: str) -> str | None:
    form = {"section": "directory", "tag_name": "domain", "key_name": "name"}
    return directory_answer(p, form | {"key_value": domain, "user": user, "domain": domain})


def dial(p: FreeSwitchProvisioner, context: str, number: str, **variables: str) -> str | None:
    form = {"section": "dialplan", "Hunt-Context": context, "Hunt-Destination-Number": number}
    return asyncio.run(dialplan_answer(p, form | variables))


def test_the_same_extension_in_two_tenants(prov: FreeSwitchProvisioner) -> None:
    a = lookup_user(prov, "a.example", "101")
    b = lookup_user(prov, "b.example", "101")
    assert a is not None and b is not None
    assert 'value="t1"' in a and 'value="t2"' not in a
    assert 'value="t2"' in b and "a.example" not in b
    assert ("bridge", "[leg_timeout=30]user/101@a.example") in actions(dial(prov, "t1", "101"))  # type: ignore[arg-type]
    assert ("bridge", "[leg_timeout=30]user/101@b.example") in actions(dial(prov, "t2", "101"))  # type: ignore[arg-type]


def test_a_user_of_one_tenant_is_never_in_anothers_answer(prov: FreeSwitchProvisioner) -> None:
    assert lookup_user(prov, "b.example", "102") is None
    assert lookup_user(prov, "a.example", "201") is None
    # Tenant 2's number 201 is unknown in tenant 1's context (no bridge to it).
    answer = dial(prov, "t1", "201")
    assert answer is not None and "b.example" not in answer
    assert actions(answer)[-1] == ("hangup", "UNALLOCATED_NUMBER")


def test_a_phone_cannot_dial_in_another_tenants_context(prov: FreeSwitchProvisioner) -> None:
    # A phone of tenant 1 (its directory variable) hunting in t2: refused.
    answer = dial(prov, "t2", "101", variable_tenant_id="1")
    assert answer is not None
    assert actions(answer) == [("hangup", "CALL_REJECTED")]
    assert parse(answer).find(".//context").get("name") == "t2"  # type: ignore[union-attr]
    # Its own context works.
    assert "user/101@a.example" in (dial(prov, "t1", "101", variable_tenant_id="1") or "")


def test_a_disabled_tenant_reaches_nothing(prov: FreeSwitchProvisioner) -> None:
    assert lookup_user(prov, "c.example", "101") is None
    assert actions(dial(prov, "t3", "101") or "") == [("hangup", "CALL_REJECTED")]
    for did in prov.tenants[3].config.dids:
        assert actions(dial(prov, "orchestrator-dids", did.number) or "") == [
            ("hangup", "CALL_REJECTED")
        ]


def test_unknown_contexts_and_numbers_are_not_found(prov: FreeSwitchProvisioner) -> None:
    for context in ("t99", "default", "public", "t01", "t1x", "orchestrator-dial", ""):
        assert dial(prov, context, "101") is None
    assert dial(prov, "orchestrator-dids", "+19999999999") is None


def test_dids_route_to_their_tenant(prov: FreeSwitchProvisioner) -> None:
    assert actions(dial(prov, "orchestrator-dids", "+12065550001") or "") == [
        ("transfer", "101 XML t1")
    ]
    assert actions(dial(prov, "orchestrator-dids", "+12065550002") or "") == [
        ("transfer", "101 XML t2")
    ]
    ivr = actions(dial(prov, "orchestrator-dids", "+12065560002") or "")
    assert ivr == [
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=support"),
        ("set", "orch_route_tenant=2"),
        ("park", ""),
    ]
    # The tenant's phones reach its own DIDs by dialing them.
    assert actions(dial(prov, "t1", "+12065560001") or "") == [
        ("transfer", "+12065560001 XML orchestrator-dids")
    ]


def test_feature_codes_carry_the_calling_phone(prov: FreeSwitchProvisioner) -> None:
    # *91 was the agents' login: now it is a code like any other (the tenant's table, read
    # by the orchestrator's pbx.code flow, says what it does).
    answer = dial(prov, "t1", "*91", variable_orch_endpoint="102@a.example")
    assert actions(answer or "") == [
        ("set", "orch_transferer_channel="),  # dialed by the phone itself: unset
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=pbx.code"),
        ("set", "orch_route_tenant=1"),
        ("set", "orch_route_endpoint=102@a.example"),
        ("set", "orch_route_dialed=*91"),
        ("park", ""),
    ]
    assert parse(answer or "").find(".//condition").get("expression") == r"^\*91$"  # type: ignore[union-attr]
    # An endpoint that is not one of the tenant's users is left out.
    other = actions(dial(prov, "t1", "*63", variable_orch_endpoint="101@b.example") or "")
    assert ("set", "orch_route_dialed=*63") in other
    assert not [a for a in other if a[1].startswith("orch_route_endpoint")]


XFER = "8c3a487f-8570-4c08-b2d0-eca34e5f80e5"


@pytest.mark.parametrize(
    ("refer_to", "last_bridge_to", "number", "named"),
    [
        # What mod_sofia leaves on a channel a phone blind-transferred (REFER) here.
        ("<sip:*68@a.example>", XFER, "*68", XFER),
        ('"Bob" <sip:*683@a.example;transport=udp>', XFER, "*683", XFER),
        ("sip:*68@a.example", XFER, "*68", XFER),
        # A REFER to another number earlier (this lookup is not its transfer).
        ("<sip:*69@a.example>", XFER, "*68", ""),
        ("<sip:*68@a.example>", XFER, "*683", ""),
        # Never bridged; a value that is no uuid; no REFER at all.
        ("<sip:*68@a.example>", "", "*68", ""),
        ("<sip:*68@a.example>", "x}${system(id)}", "*68", ""),
        ("<sip:*68@a.example>", "a b", "*68", ""),
        ("", XFER, "*68", ""),
    ],
)
def test_a_blind_transfer_names_the_transferring_channel(
    prov: FreeSwitchProvisioner, refer_to: str, last_bridge_to: str, number: str, named: str
) -> None:
    form = {"variable_orch_endpoint": "101@a.example", "variable_last_bridge_to": last_bridge_to}
    if refer_to:
        form["variable_sip_refer_to"] = refer_to
    answer = dial(prov, "t1", number, **form) or ""
    assert actions(answer)[0] == ("set", f"orch_transferer_channel={named}")
    assert ("set", f"orch_route_dialed={number}") in actions(answer)
    assert "system" not in answer


def test_redirects_and_outbound_routes() -> None:
    from dataclasses import replace

    t = tenant(1, "a.example", ("101", "102"))
    t = replace(t, users=(replace(t.users[0], redirect="102"), t.users[1]))
    p = provisioner(Store(t))
    asyncio.run(p.apply_all())
    assert actions(dial(p, "t1", "101") or "")[-1] == ("transfer", "102 XML t1")
    # The route: "0", then 10 digits; the 0 stripped, +44 prepended.
    out = actions(dial(p, "t1", "01234567890") or "")
    assert ("bridge", "[leg_timeout=60]sofia/gateway/trunk-t1-carrier/+441234567890") in out
    # One digit too many or too few: not the route's.
    assert actions(dial(p, "t1", "012345678901") or "")[-1] == ("hangup", "UNALLOCATED_NUMBER")
    assert actions(dial(p, "t1", "0123456789") or "")[-1] == ("hangup", "UNALLOCATED_NUMBER")
