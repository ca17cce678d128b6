"""How feature codes and extensions with PBX features reach the orchestrator (issue 14):
both engines' dialplans hand a dialed ``*``/``#`` string to the ``pbx.code`` flow and a
managed extension's calls to ``pbx.ext``, with the calling phone's endpoint; the IVR
lookup answers those names with the builtin flows; nothing dialed reaches an argument
unfiltered."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.engines.asterisk.targets import routing_from_args
from orchestrator.ivr.store_backed import store_lookup
from orchestrator.provisioning.tenant import DialPattern
from tests.unit.freeswitch.kit_fixtures import Store, actions, provisioner
from tests.unit.freeswitch.kit_fixtures import tenant as fs_tenant
from tests.unit.freeswitch.test_xml_curl_isolation import dial
from tests.unit.test_provisioning import TEMPLATES, answer, tenant


def _own(config: object) -> str:
    plan = Renderer(TEMPLATES).render(config).dialplan  # type: ignore[arg-type]
    return plan.split("[t1]")[1].split("[t1-unknown]")[0]


def _context(name: str) -> str:
    path = TEMPLATES / "base" / "extensions.conf.j2"
    return path.read_text().split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]


def _route() -> str:
    return _context("orchestrator-route")


def test_asterisk_sends_codes_and_managed_extensions_to_the_pbx_flows() -> None:
    base = tenant()
    managed = replace(base, users=(replace(base.users[0], managed=True), *base.users[1:]))
    number = base.users[0].number
    assert answer(base, number) == f"ring/{number}/{number}@a.example/30"
    assert answer(managed, number) == f"ext/{number}/1"
    assert answer(managed, "*72") == "code"
    own = _own(managed)
    assert "exten => _[*#]!,1,Set(ORCH_DIALED=${FILTER(0-9*#,${EXTEN})})" in own
    route = _route()
    assert "exten => ext,1,Set(ORCH_FLOW=pbx.ext)" in route
    assert (
        " same => n,Stasis({{ ari_app }},ivr,${ORCH_FLOW},${ORCH_A},${CHANNEL(endpoint)},"
        "${ORCH_AT})" in _context("orchestrator-flow")
    )
    code = _context("orchestrator-code")
    assert (
        " same => n,Stasis({{ ari_app }},ivr,pbx.code,${ORCH_TENANT},${CHANNEL(endpoint)},"
        "${ORCH_DIALED},${ORCH_XFER})" in code
    )
    # A blind transfer to a code (call park) names the transferring phone's endpoint.
    assert (
        'exten => _[*#]!,1,Set(ORCH_XFER=${IF($["${BLINDTRANSFER}" = ""]?:'
        "${FILTER(--.0-9A-Za-z@_+,${BLINDTRANSFER:6:-9})})})" in code
    )
    # The flag is part of what the tenant's version covers, not its file: no reload.
    assert Renderer(TEMPLATES).render(base).version != Renderer(TEMPLATES).render(managed).version
    assert _own(base) == own


def test_asterisk_stasis_arguments_name_the_transferring_phone() -> None:
    routing = routing_from_args(["ivr", "pbx.code", "7", "", "*68", "102@a.example"])
    assert routing is not None
    assert routing.get("transferer") == "102@a.example" and routing.get("dialed") == "*68"
    routing = routing_from_args(["ivr", "pbx.code", "7", "101@a.example", "*68", ""])
    assert routing is not None and routing.get("transferer") == ""


def test_asterisk_stasis_arguments_of_the_pbx_flows() -> None:
    routing = routing_from_args(["ivr", "pbx.code", "7", "101@a.example", "*72#"])
    assert routing is not None and routing.service == "ivr"
    assert routing.data == {"flow": "pbx.code", "tenant": "7", "endpoint": "101@a.example",
                            "dialed": "*72#"}  # fmt: skip
    # A trunk's call has no phone endpoint: the argument is empty, not shifted.
    routing = routing_from_args(["ivr", "pbx.ext", "7", "", "101"])
    assert routing is not None and routing["endpoint"] == "" and routing["dialed"] == "101"
    # An access number still passes two.
    routing = routing_from_args(["ivr", "visa", "7"])
    assert routing is not None and routing.data == {"flow": "visa", "tenant": "7"}


def test_freeswitch_sends_codes_and_managed_extensions_to_the_pbx_flows() -> None:
    t = fs_tenant(1, "a.example", ("101", "102"))
    t = replace(t, users=(replace(t.users[0], managed=True), t.users[1]))
    p = provisioner(Store(t))
    asyncio.run(p.apply_all())
    assert actions(dial(p, "t1", "101") or "") == [
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=pbx.ext"),
        ("set", "orch_route_tenant=1"),
        ("set", "orch_route_endpoint=${orch_endpoint}"),
        ("set", "orch_route_dialed=101"),
        ("park", ""),
    ]
    assert ("bridge", "[leg_timeout=30]user/102@a.example") in actions(dial(p, "t1", "102") or "")
    code = dial(p, "t1", "*72#0044", variable_orch_endpoint="102@a.example") or ""
    assert actions(code) == [
        ("set", "orch_transferer_channel="),  # no blind transfer (see test_xml_curl_isolation)
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=pbx.code"),
        ("set", "orch_route_tenant=1"),
        ("set", "orch_route_endpoint=102@a.example"),
        ("set", "orch_route_dialed=*72#0044"),
        ("park", ""),
    ]
    # Another tenant's phone's endpoint is not passed on as the caller.
    code = dial(p, "t1", "*73", variable_orch_endpoint="101@b.example") or ""
    assert ("set", "orch_route_endpoint=101@b.example") not in actions(code)
    assert ("set", "orch_route_flow=pbx.code") in actions(code)


def test_freeswitch_outbound_route_with_a_star_prefix_wins_over_codes() -> None:
    t = fs_tenant(1, "a.example", ("101",))
    star = DialPattern("*7", 3, "star", 2, "", "trunk-t1-carrier", "")
    p = provisioner(Store(replace(t, dial_patterns=(*t.dial_patterns, star))))
    asyncio.run(p.apply_all())
    answer = actions(dial(p, "t1", "*7123") or "")
    assert ("set", "orch_route_flow=pbx.code") not in answer
    assert any(app == "bridge" and "/123" in data for app, data in answer), answer


async def test_ivr_lookup_answers_the_pbx_flows_without_the_store() -> None:
    def no_store() -> None:
        raise AssertionError("the pbx flows are not looked up among IVR apps")

    lookup = store_lookup(no_store)  # type: ignore[arg-type]
    code, ext = await lookup("3", "pbx.code"), await lookup("3", "pbx.ext")
    assert (code.app, code.tenant, ext.app, ext.tenant) == ("pbx_code", "3", "pbx_extension", "3")
