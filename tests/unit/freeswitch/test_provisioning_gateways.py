"""The tenants' SIP trunks as sofia gateways: one file per tenant in the local
instance's conf/gateways, marked with the service's identity, re-read by FreeSWITCH
(reloadxml, killgw of the changed ones, rescan) after the tenant's answers are swapped."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.render import Renderer
from orchestrator.provisioning.ownership import owner_of
from orchestrator.provisioning.tenant import SipTrunk, TenantConfig
from tests.unit.freeswitch.kit_fixtures import TEMPLATES, RecordingConfig, Store, tenant

CARRIER = SipTrunk("trunk-t1-carrier", "198.51.100.7", 5060, "acct1", "pa$$".replace("$", "s"))


def with_trunks(t: TenantConfig, *trunks: SipTrunk) -> TenantConfig:
    return replace(t, trunks=trunks)


def make(tmp_path: Path, store: Store, engine: RecordingConfig) -> FreeSwitchProvisioner:
    return FreeSwitchProvisioner(
        engine=engine,
        renderer=Renderer(TEMPLATES),
        load_tenant=store.load_tenant,
        load_all=store.load_all,
        gateways_dir=tmp_path / "gateways",
        sip_profile="orchestrator",
        owner="svc1",
    )


def gateways(path: Path) -> dict[str, dict[str, str]]:
    text = path.read_text()
    root = ElementTree.fromstring(text.split("\n", 1)[1])  # after the mark
    return {
        g.get("name", ""): {p.get("name", ""): p.get("value", "") for p in g.iter("param")}
        for g in root.iter("gateway")
    }


def test_a_tenants_trunks_become_its_gateway_file(tmp_path: Path) -> None:
    store = Store(with_trunks(tenant(1), CARRIER))
    engine = RecordingConfig()
    p = make(tmp_path, store, engine)
    asyncio.run(p.apply_all())
    path = tmp_path / "gateways" / "t1.xml"
    assert owner_of(path.read_text()) == "svc1"
    assert gateways(path) == {
        "trunk-t1-carrier": {
            "proxy": "198.51.100.7:5060",
            "register": "false",
            "username": "acct1",
            "password": "pass",
            "caller-id-in-from": "true",
            "context": "orchestrator-dids",
        }
    }
    # Its address may call in without authentication (into orchestrator-dids).
    acl = tmp_path / "trunk-acl" / "t1.xml"
    assert owner_of(acl.read_text()) == "svc1"
    nodes = ElementTree.fromstring(acl.read_text().split("\n", 1)[1]).findall("node")
    assert [(n.get("type"), n.get("cidr")) for n in nodes] == [("allow", "198.51.100.7/32")]
    assert engine.commands == ["xml_flush_cache", "reload dialplan", "reloadacl", "reload sip"]


def test_files_written_before_the_engine_answered_are_read_at_the_sync(tmp_path: Path) -> None:
    # Start-up: apply_all(reload=False) writes, then apply_all() once FreeSWITCH answers.
    store = Store(with_trunks(tenant(1), CARRIER))
    engine = RecordingConfig()
    p = make(tmp_path, store, engine)
    asyncio.run(p.apply_all(reload=False))
    assert engine.commands == []
    asyncio.run(p.apply_all())
    assert engine.commands == ["xml_flush_cache", "reload dialplan", "reloadacl", "reload sip"]


def test_a_trunk_named_by_dns_is_not_in_the_acl(tmp_path: Path) -> None:
    store = Store(with_trunks(tenant(1), replace(CARRIER, host="sip.carrier.example")))
    p = make(tmp_path, store, RecordingConfig())
    asyncio.run(p.apply_all())
    assert (tmp_path / "gateways" / "t1.xml").exists()
    assert not (tmp_path / "trunk-acl" / "t1.xml").exists()


def test_a_changed_trunk_is_dropped_and_read_again(tmp_path: Path) -> None:
    store = Store(with_trunks(tenant(1), CARRIER))
    engine = RecordingConfig()
    p = make(tmp_path, store, engine)
    asyncio.run(p.apply_all())
    engine.commands.clear()
    store.tenants[1] = with_trunks(tenant(1), replace(CARRIER, port=5080))
    assert asyncio.run(p.tenant_changed(1)).ok
    assert engine.commands == [
        "reload dialplan",
        "sofia profile orchestrator killgw trunk-t1-carrier",
        "reload sip",
    ]
    assert gateways(tmp_path / "gateways" / "t1.xml")["trunk-t1-carrier"]["proxy"].endswith(":5080")
    # Unchanged trunks: nothing re-read.
    engine.commands.clear()
    store.tenants[1] = replace(store.tenants[1], users=store.tenants[1].users[:1])
    assert asyncio.run(p.tenant_changed(1)).ok
    assert engine.commands == []


def test_removed_trunks_and_tenants_take_their_gateways_away(tmp_path: Path) -> None:
    store = Store(with_trunks(tenant(1), CARRIER), with_trunks(tenant(2, "b.example")))
    engine = RecordingConfig()
    p = make(tmp_path, store, engine)
    asyncio.run(p.apply_all())
    assert not (tmp_path / "gateways" / "t2.xml").exists()  # no trunks, no file
    engine.commands.clear()
    del store.tenants[1]
    asyncio.run(p.apply_all())
    assert not (tmp_path / "gateways" / "t1.xml").exists()
    assert not (tmp_path / "trunk-acl" / "t1.xml").exists()
    assert "sofia profile orchestrator killgw trunk-t1-carrier" in engine.commands
    assert "reloadacl" in engine.commands


def test_another_services_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "gateways").mkdir()
    foreign = "<!-- orchestrator service other: written from its store -->\n<include></include>\n"
    (tmp_path / "gateways" / "t1.xml").write_text(foreign)
    store = Store(with_trunks(tenant(1), CARRIER))
    p = make(tmp_path, store, RecordingConfig())
    result = asyncio.run(p.tenant_changed(1))
    assert not result.ok and "service other" in result.error
    assert (tmp_path / "gateways" / "t1.xml").read_text() == foreign
    assert 1 not in p.tenants  # nothing swapped in either
    asyncio.run(p.apply_all())  # the full sync skips that tenant too
    assert 1 not in p.tenants
    asyncio.run(p.tenant_removed(1))
    assert (tmp_path / "gateways" / "t1.xml").read_text() == foreign


@pytest.mark.parametrize(
    "trunk",
    [
        replace(CARRIER, host='198.51.100.7"/><param name="x'),
        replace(CARRIER, host="carrier.example:5060"),
        replace(CARRIER, password="pa${system(id)}"),
        replace(CARRIER, username="a b"),
        replace(CARRIER, from_domain="x{y}"),
        replace(CARRIER, endpoint="trunk t1"),
        replace(CARRIER, port=70000),
    ],
)
def test_trunk_payloads_are_refused(trunk: SipTrunk) -> None:
    with pytest.raises(ValidationError):
        Renderer(TEMPLATES).render(with_trunks(tenant(1), trunk))


def test_an_unknown_gateway_does_not_stop_the_reload(tmp_path: Path) -> None:
    from orchestrator.core.errors import CallError

    class Refusing(RecordingConfig):
        async def command(self, text: str) -> str:
            self.commands.append(text)
            if "killgw" in text:
                raise CallError("-ERR no such gateway")
            return "+OK"

    store = Store(with_trunks(tenant(1), CARRIER))
    engine = Refusing()
    p = make(tmp_path, store, engine)
    asyncio.run(p.apply_all())
    engine.commands.clear()
    store.tenants[1] = with_trunks(tenant(1), replace(CARRIER, port=5080))
    assert asyncio.run(p.tenant_changed(1)).ok
    assert engine.commands[-1] == "reload sip"
