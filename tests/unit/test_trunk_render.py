"""Trunks, outbound routes and IVR DIDs in a tenant's rendered configuration (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.lookup import Caller
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.provisioning.data import DidRoute, TenantConfig, snapshot
from orchestrator.store.models import Did, Extension, IvrApp, OutboundRoute, Tenant, Trunk
from tests.unit.test_provisioning import DialplanEngine, answer

TEMPLATES = Path(__file__).resolve().parents[2] / "dialplan_templates" / "asterisk"
PASSWORD = "Abcdefgh1234Abcdefgh1234"


def trunk(tid: int = 1, trunk_id: int = 7, name: str = "carrier", **fields: Any) -> Trunk:
    fields.setdefault("host", "sip.carrier.example")
    return Trunk(id=trunk_id, tenant_id=tid, name=name, **fields)


def route(name: str = "intl", trunk_id: int = 7, route_id: int = 1, **fields: Any):
    return OutboundRoute(id=route_id, tenant_id=1, name=name, trunk_id=trunk_id, **fields)


def config(
    trunks: list[Trunk],
    routes: list[OutboundRoute],
    *,
    enabled: bool = True,
    dids: list[Did] | None = None,
    apps: list[IvrApp] | None = None,
) -> TenantConfig:
    tenant = Tenant(id=1, name="A", sip_domain="a.example", enabled=enabled)
    ext = Extension(tenant_id=1, number="101", sip_username="101", sip_password=PASSWORD)
    return snapshot(tenant, [ext], dids or [], trunks=trunks, routes=routes, ivr_apps=apps or [])


def context(dialplan: str, name: str) -> str:
    return dialplan.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]


def test_trunk_sip_objects() -> None:
    full = trunk(
        username="acct1",
        password="s3cret/Pass",
        from_user="acct1",
        from_domain="carrier.example",
        port=5080,
    )
    plain = trunk(trunk_id=8, name="backup", host="192.0.2.10")
    r = Renderer(TEMPLATES).render(config([full, plain], []))
    ep = r.sip["ps_endpoints"]["trunk-t1-carrier"]
    assert ep["context"] == "orchestrator-dids"
    assert (ep["disallow"], ep["allow"]) == ("all", "ulaw,alaw")
    assert (ep["direct_media"], ep["dtmf_mode"]) == ("no", "rfc4733")
    assert ep["transport"] == "transport-udp"
    # Never matched by the From user: only an identify section (none yet) could match it.
    assert ep["identify_by"] == "ip"
    assert "auth" not in ep  # no inbound auth: nothing may register as a trunk
    assert (ep["aors"], ep["outbound_auth"]) == ("trunk-t1-carrier", "trunk-t1-carrier")
    assert (ep["from_user"], ep["from_domain"]) == ("acct1", "carrier.example")
    auth = r.sip["ps_auths"]["trunk-t1-carrier"]
    assert (auth["username"], auth["password"], auth["auth_type"]) == (
        "acct1",
        "s3cret/Pass",
        "digest",
    )
    assert r.sip["ps_aors"]["trunk-t1-carrier"]["contact"] == "sip:sip.carrier.example:5080"

    assert "outbound_auth" not in r.sip["ps_endpoints"]["trunk-t1-backup"]
    assert "from_user" not in r.sip["ps_endpoints"]["trunk-t1-backup"]
    assert "trunk-t1-backup" not in r.sip["ps_auths"]
    assert r.sip["ps_aors"]["trunk-t1-backup"]["contact"] == "sip:192.0.2.10:5060"


def test_disabled_trunks_and_tenants_give_nothing() -> None:
    off = trunk(enabled=False)
    r = Renderer(TEMPLATES).render(config([off], [route(prefix="9", strip=1)]))
    assert "trunk-t1-carrier" not in r.sip["ps_endpoints"]
    assert answer(config([off], [route(prefix="9", strip=1)]), "9123") == "unknown"
    disabled = config([trunk()], [route(prefix="9")], enabled=False)
    r = Renderer(TEMPLATES).render(disabled)
    assert r.sip["ps_endpoints"] == {} and "trunk-" not in r.dialplan
    assert answer(disabled, "9123") == "refuse/21"


def test_routes_in_the_dialplan() -> None:
    carrier = trunk(caller_id_number="+442079460000")
    cheap = trunk(trunk_id=8, name="cheap")
    routes = [
        route("intl", prefix="9", strip=1, min_length=12, max_length=13),
        route("uk", route_id=2, prefix="9", strip=1, prepend="+", min_length=13, max_length=14,
              priority=200),
        route("uk-cheap", trunk_id=8, route_id=3, prefix="9", strip=1, min_length=14,
              max_length=14, priority=10),
    ]  # fmt: skip
    t = config([carrier, cheap], routes)
    # One pattern per length; a shared pattern goes to the lowest priority. The answer:
    # out/<trunk>/<number>/<ring s>/<limit ms>/<caller ID number>.
    assert (
        answer(t, "9" + "1" * 12)
        == f"out/9{'1' * 12}/trunk-t1-carrier/{'1' * 12}/60/0/+442079460000"
    )
    assert (
        answer(t, "9" + "1" * 13)
        == f"out/9{'1' * 13}/trunk-t1-carrier/{'1' * 13}/60/0/+442079460000"
    )
    assert answer(t, "9" + "1" * 14) == f"out/9{'1' * 14}/trunk-t1-cheap/{'1' * 14}/60/0/"
    assert answer(t, "9" + "1" * 11) == "unknown"
    assert answer(t, "9" + "1" * 15) == "unknown"
    # The routes are not in the file: a route's change needs no reload.
    assert "trunk-" not in Renderer(TEMPLATES).render(t).dialplan
    assert len(t.dial_patterns) == 3
    prepended = config([carrier], [route(prefix="00", strip=2, prepend="+", max_length=3)])
    assert answer(prepended, "00123") == "out/00123/trunk-t1-carrier/+123/60/0/+442079460000"
    # An extension's own number wins over a route's prefix, a longer prefix over a shorter.
    own = config([carrier], [route(prefix="1", strip=0, min_length=2, max_length=2)])
    assert answer(own, "101") == "ring/101/101@a.example/30"
    assert answer(own, "102") == "out/102/trunk-t1-carrier/102/60/0/+442079460000"
    longer = config(
        [carrier, cheap],
        [route(prefix="9", strip=1, min_length=3, max_length=3),
         route("x", trunk_id=8, route_id=2, prefix="91", strip=2, min_length=2, max_length=2)],
    )  # fmt: skip
    assert answer(longer, "9123") == "out/9123/trunk-t1-cheap/23/60/0/"
    # A route with a literal * prefix wins over the feature codes.
    star = config([cheap], [route("s", trunk_id=8, prefix="*7", strip=2, max_length=4)])
    assert answer(star, "*71234") == "out/*71234/trunk-t1-cheap/1234/60/0/"
    assert answer(star, "*72") == "code"


@pytest.mark.parametrize(
    ("trunk_fields", "route_fields"),
    [
        ({"host": "carrier.example;transport=tcp"}, {}),
        ({"host": "carrier.example\n[evil]"}, {}),
        ({"name": "x,y"}, {}),
        ({"port": 0}, {}),
        ({"transport": "tls"}, {}),
        ({"username": "acct", "password": "pw;x"}, {}),
        ({"username": "acct"}, {}),  # no password
        ({"from_domain": "a.example)"}, {}),
        ({"caller_id_number": "+44,Hangup"}, {}),
        ({}, {"prefix": "9X."}),
        ({}, {"prefix": "9,1"}),
        ({}, {"prepend": "${SHELL(id)}"}),
        ({}, {"prepend": "1)"}),
        ({}, {"prefix": "9", "strip": 2}),
        ({}, {"min_length": 10, "max_length": 5}),
        ({}, {"max_length": 100}),
        ({}, {"name": "a\nexten => 1"}),
        ({}, {"trunk_id": 99}),  # not this tenant's trunk
    ],
)
def test_snapshot_refuses_hostile_rows(
    trunk_fields: dict[str, Any], route_fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        config([trunk(**trunk_fields)], [route(**{"prefix": "9", **route_fields})])


def test_snapshot_refuses_another_tenants_trunk() -> None:
    with pytest.raises(ValidationError):
        config([trunk(tid=2)], [])


def test_ivr_dids_need_an_enabled_app() -> None:
    dids = [
        Did(number="+12065550100", pricing_batch="b", tenant_id=1, destination="ivr:visa"),
        Did(number="+12065550101", pricing_batch="b", tenant_id=1, destination="ivr:off"),
        Did(number="+12065550102", pricing_batch="b", tenant_id=1, destination="ivr:gone"),
    ]
    apps = [
        IvrApp(tenant_id=1, name="visa", app="visa_status"),
        IvrApp(tenant_id=1, name="off", app="visa_status", enabled=False),
    ]
    t = config([], [], dids=dids, apps=apps)
    assert t.dids == (
        DidRoute("+12065550100", "ivr", "visa"),
        DidRoute("+12065550101", "hangup", ""),
        DidRoute("+12065550102", "hangup", ""),
    )
    assert answer(t, "+12065550100", did=True) == "app/+12065550100/1/visa"
    assert answer(t, "+12065550101", did=True) == "refuse/21"
    assert answer(t, "+12065550199", did=True) == "unknown"


async def test_a_route_change_needs_no_reload_and_expires_changed_trunks(
    tmp_path: Path,
) -> None:
    engine = DialplanEngine(tmp_path)
    await engine.start()
    configs = {1: config([trunk()], [route(prefix="9", strip=1, min_length=3, max_length=4)])}
    p = AsteriskProvisioner(
        engine=engine,
        config_dir=tmp_path,
        renderer=Renderer(TEMPLATES),
        load_tenant=configs.get,
        load_all=lambda: list(configs.values()),
    )
    result = await p.tenant_changed(1)
    assert result.ok, result.error
    assert p.lookup("ps_aors", {"id": "trunk-t1-carrier"}, multi=False)[0]["contact"] == (
        "sip:sip.carrier.example:5060"
    )

    engine.commands.clear()
    configs[1] = config(
        [trunk(port=5070, username="u", password="p")],
        [route(prefix="9", strip=1, min_length=3, max_length=4)],
    )
    result = await p.tenant_changed(1)
    assert result.ok and "sip" in result.changed, result
    expired = {c[1]: set(c[2]) for c in engine.commands if c[0] == "invalidate"}
    assert expired == {
        "endpoint": {"trunk-t1-carrier"},
        "auth": {"trunk-t1-carrier"},
        "aor": {"trunk-t1-carrier"},
    }

    assert not [c for c in engine.commands if c[0] == "reload"]

    # A route changed: answered at once, and still no reload.
    configs[1] = config([trunk()], [route(prefix="9", strip=1, min_length=3, max_length=5)])
    result = await p.tenant_changed(1)
    assert result.ok and "dialplan" in result.changed, result
    assert await p.routes.dial("1", "912345", Caller()) == "out/912345/trunk-t1-carrier/12345/60/0/"
    assert not [c for c in engine.commands if c[0] == "reload"]
