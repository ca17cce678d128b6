"""Rendering and applying tenants' configuration, on the FakeEngine."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.realtime import encode_rows
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.provisioning.data import DidRoute, SipUser, TenantConfig, snapshot
from orchestrator.store.models import Did, Extension, Tenant

TEMPLATES = Path(__file__).resolve().parents[2] / "dialplan_templates" / "asterisk"
PASSWORD = "Abcdefgh1234Abcdefgh1234"


def tenant(tid: int = 1, domain: str = "a.example", numbers: tuple[str, ...] = ("101", "102")):
    users = tuple(SipUser(n, n, PASSWORD, f"{n}@{domain}", f'"User {n}" <{n}>') for n in numbers)
    dids = (DidRoute("+12065550100", "extension", numbers[0]),) if numbers else ()
    return TenantConfig(id=tid, domain=domain, enabled=True, users=users, dids=dids)


def test_render_dialplan_and_sip_rows() -> None:
    r = Renderer(TEMPLATES).render(tenant())
    assert "[t1]" in r.dialplan
    assert "exten => 101,1,Dial(PJSIP/101@a.example,30)" in r.dialplan
    assert "exten => +12065550100,1,Goto(t1,101,1)" in r.dialplan
    # The tenant's phones reach its own DIDs (and IVR access numbers) by dialing them.
    own = r.dialplan.split("[t1]")[1].split("[t1-unknown]")[0]
    assert "exten => +12065550100,1,Goto(orchestrator-dids,+12065550100,1)" in own
    assert r.version in r.dialplan
    ep = r.sip["ps_endpoints"]["102@a.example"]
    assert ep["context"] == "t1" and ep["aors"] == "102@a.example"
    assert r.sip["ps_auths"]["102@a.example"]["password"] == PASSWORD
    assert r.sip["ps_auths"]["102@a.example"]["realm"] == "a.example"
    # The same data renders the same version; a change renders another.
    assert Renderer(TEMPLATES).render(tenant()).version == r.version
    assert Renderer(TEMPLATES).render(tenant(numbers=("101",))).version != r.version


def test_disabled_tenant_reaches_nothing() -> None:
    t = TenantConfig(id=3, domain="c.example", enabled=False, users=tenant().users)
    r = Renderer(TEMPLATES).render(t)
    assert "Dial(" not in r.dialplan
    assert r.sip["ps_endpoints"] == {}


@pytest.mark.parametrize(
    "field,value",
    [
        ("number", "101,1,System(rm -rf /)"),
        ("number", "101\nexten => 666"),
        ("sip_username", "x;evil"),
        ("caller_id_name", "Ann ${SHELL(id)}"),
        ("caller_id_name", 'Ann" <666>'),
    ],
)
def test_snapshot_refuses_hostile_rows(field: str, value: str) -> None:
    t = Tenant(id=1, name="A", sip_domain="a.example")
    data = {"tenant_id": 1, "number": "101", "sip_username": "101", "sip_password": PASSWORD}
    data[field] = value
    with pytest.raises(ValidationError):
        snapshot(t, [Extension(**data)], [])


def test_snapshot_routes_did_to_missing_extension_to_hangup() -> None:
    t = Tenant(id=1, name="A", sip_domain="a.example")
    ext = Extension(tenant_id=1, number="101", sip_username="101", sip_password=PASSWORD)
    did = Did(number="+12065550100", pricing_batch="b", tenant_id=1, destination="extension:999")
    config = snapshot(t, [ext], [did])
    assert config.dids == (DidRoute("+12065550100", "hangup", ""),)


def test_realtime_rows_are_url_encoded() -> None:
    text = encode_rows([{"id": "101@a.example", "callerid": '"Ann" <101>'}])
    assert text == "id=101%40a.example&callerid=%22Ann%22%20%3C101%3E\n"


def _provisioner(tmp_path: Path, engine: FakeEngine, configs: dict[int, TenantConfig]):
    return AsteriskProvisioner(
        engine=engine,
        config_dir=tmp_path,
        renderer=Renderer(TEMPLATES),
        load_tenant=configs.get,
        load_all=lambda: list(configs.values()),
    )


async def test_apply_one_tenant_writes_reloads_verifies_and_expires(tmp_path: Path) -> None:
    engine = FakeEngine()
    await engine.start()
    # Users, the own DID dialable from the phones, the agents' feature codes (3), and the
    # catch-all.
    engine.console["dialplan show t1"] = "-= 5 extensions (12 priorities) in 1 context. =-"
    engine.console["dialplan show t2"] = "-= 4 extensions (10 priorities) in 1 context. =-"
    configs = {1: tenant(), 2: tenant(2, "b.example", ("101",))}
    p = _provisioner(tmp_path, engine, configs)
    assert await p.apply_all() >= 0
    assert (tmp_path / "tenants" / "t1.conf").exists() and (
        tmp_path / "tenants" / "t2.conf"
    ).exists()
    assert p.lookup("ps_endpoints", {"id": "101@b.example"}, multi=False)[0]["context"] == "t2"

    engine.commands.clear()
    configs[1] = tenant(numbers=("101", "103"))
    engine.console["dialplan show t1"] = "-= 5 extensions (12 priorities) in 1 context. =-"
    t2_before = (tmp_path / "tenants" / "t2.conf").read_text()
    result = await p.tenant_changed(1)
    assert result.ok, result.error
    assert result.changed == ["dialplan", "sip"]
    assert ("reload", "dialplan") in engine.commands
    # Only the objects that changed are expired; the other tenant's file is untouched.
    # (With the withheld-number twins of the phones that changed: withheld.py.)
    expired = {c[1]: set(c[2]) for c in engine.commands if c[0] == "invalidate"}
    assert expired["endpoint"] == {
        "102@a.example", "103@a.example", "102@orchestrator", "103@orchestrator"
    }  # fmt: skip
    assert (tmp_path / "tenants" / "t2.conf").read_text() == t2_before
    assert p.lookup("ps_endpoints", {"id": "102@a.example"}, multi=False) == []

    # Nothing changed: nothing reloaded.
    engine.commands.clear()
    again = await p.tenant_changed(1)
    assert again.ok and again.changed == []
    assert not [c for c in engine.commands if c[0] == "reload"]


async def test_failed_verification_rolls_back(tmp_path: Path) -> None:
    engine = FakeEngine()
    await engine.start()
    engine.console["dialplan show t1"] = "-= 5 extensions (12 priorities) in 1 context. =-"
    configs = {1: tenant()}
    p = _provisioner(tmp_path, engine, configs)
    await p.tenant_changed(1)
    before = (tmp_path / "tenants" / "t1.conf").read_text()

    configs[1] = tenant(numbers=("101", "102", "104"))  # engine will still show 5
    result = await p.tenant_changed(1)
    assert not result.ok
    assert "expected 6" in result.error
    assert (tmp_path / "tenants" / "t1.conf").read_text() == before
    assert p.lookup("ps_endpoints", {"id": "104@a.example"}, multi=False) == []
    assert [c for c in engine.commands if c[0] == "reload"][-1] == ("reload", "dialplan")


async def test_removed_tenant_loses_file_and_users(tmp_path: Path) -> None:
    engine = FakeEngine()
    await engine.start()
    engine.console["dialplan show t1"] = "-= 5 extensions (12 priorities) in 1 context. =-"
    configs = {1: tenant()}
    p = _provisioner(tmp_path, engine, configs)
    await p.tenant_changed(1)
    del configs[1]
    result = await p.tenant_changed(1)
    assert result.ok and "dialplan" in result.changed
    assert not (tmp_path / "tenants" / "t1.conf").exists()
    assert p.lookup("ps_auths", {"id": "101@a.example"}, multi=False) == []


def test_lookup_like_and_multi(tmp_path: Path) -> None:
    p = _provisioner(tmp_path, FakeEngine(), {})
    p._swap_sip(1, Renderer(TEMPLATES).render(tenant()))
    rows = p.lookup("ps_endpoints", {"id LIKE": "%@a.example"}, multi=True)
    assert {r["id"] for r in rows} == {"101@a.example", "102@a.example"}
    assert p.lookup("ps_nothing", {"id": "x"}, multi=False) == []


async def test_realtime_http_answers_only_with_the_secret(tmp_path: Path) -> None:
    import httpx
    from fastapi import FastAPI

    from orchestrator.engines.asterisk.provisioning.realtime import PREFIX, realtime_router

    p = _provisioner(tmp_path, FakeEngine(), {})
    p._swap_sip(1, Renderer(TEMPLATES).render(tenant()))
    app = FastAPI()
    app.include_router(realtime_router(lambda: p, lambda: "s3cret"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        body = {"id": "101@a.example"}
        ok = await http.post(f"{PREFIX}/s3cret/ps_auths/single", data=body)
        assert ok.status_code == 200
        assert "username=101&password=" + PASSWORD in ok.text
        wrong = await http.post(f"{PREFIX}/guess/ps_auths/single", data=body)
        assert wrong.status_code == 404 and PASSWORD not in wrong.text
        missing = await http.post(f"{PREFIX}/s3cret/ps_auths/single", data={"id": "9@a.example"})
        assert missing.text == ""
        # The engine may not write users back: the store is the only source of truth.
        store = await http.post(f"{PREFIX}/s3cret/ps_auths/store", data=body)
        assert store.text == "-1"


def test_load_all_matches_load_tenant(tmp_path: Path) -> None:
    from orchestrator.provisioning.data import load_all, load_tenant
    from orchestrator.store import db

    url = f"sqlite:///{tmp_path / 'p.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with sessions() as s:
        for tid, domain in ((1, "a.example"), (2, "b.example")):
            s.add(Tenant(id=tid, name=domain, sip_domain=domain, enabled=tid == 1))
        s.flush()
        for tid in (1, 2):
            for n in ("101", "102"):
                s.add(
                    Extension(
                        tenant_id=tid, number=n, sip_username=n, sip_password=PASSWORD, name="X"
                    )
                )
        s.add(
            Did(number="+12065550100", pricing_batch="b", tenant_id=1, destination="extension:101")
        )
        s.add(Did(number="+12065550101", pricing_batch="b"))
        s.commit()
    with sessions() as s:
        everything = load_all(s)
        one_by_one = [load_tenant(s, 1), load_tenant(s, 2)]
    engine.dispose()
    assert everything == one_by_one
    assert everything[0].dids == (DidRoute("+12065550100", "extension", "101"),)
    assert not everything[1].enabled and len(everything[1].users) == 2
