"""Rendering and applying tenants' configuration, on the FakeEngine."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.lookup import Caller, RouteIndex
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


def answer(config: TenantConfig, number: str, *, did: bool = False, **caller: str) -> str:
    """What the dialplan's lookup answers for ``number`` dialed in ``config``'s context
    (``did``: called in the shared DID context)."""
    index = RouteIndex()
    index.swap(config.id, Renderer(TEMPLATES).render(config).routes)
    ask = (
        index.did(number, Caller(**caller))
        if did
        else index.dial(str(config.id), number, Caller(**caller))
    )
    return asyncio.run(ask)


class DialplanEngine(FakeEngine):
    """A FakeEngine whose ``dialplan reload`` reads the tenant files as Asterisk does and
    whose ``dialplan show <context>`` counts what it read (``frozen``: a reload that
    takes nothing new, as an engine refusing a file would)."""

    def __init__(self, config_dir: Path) -> None:
        super().__init__()
        self.tenants_dir = config_dir / "tenants"
        self.loaded: dict[str, list[str]] = {}
        self.frozen = False

    async def reload(self, what: str) -> None:
        await super().reload(what)
        if what != "dialplan" or self.frozen:
            return
        self.loaded = {}
        for path in sorted(self.tenants_dir.glob("t*.conf")):
            context = None
            for raw in path.read_text().splitlines():
                line = raw.strip()
                if line.startswith("[") and "]" in line:
                    context = line[1 : line.index("]")]
                elif context and line.startswith("exten =>"):
                    name = line.removeprefix("exten =>").split(",", 1)[0].strip()
                    names = self.loaded.setdefault(context, [])
                    if name not in names:
                        names.append(name)

    async def command(self, text: str) -> str:
        await super().command(text)
        context = text.removeprefix("dialplan show ")
        names = self.loaded.get(context, [])
        shown = "".join(f"  '{n}' => 1. NoOp()\n" for n in names)
        return f"{shown}-= {len(names)} extensions (9 priorities) in 1 context. =-"


def test_render_dialplan_and_sip_rows() -> None:
    r = Renderer(TEMPLATES).render(tenant())
    assert "[t1]" in r.dialplan
    # The file holds no user: each number is looked up per call.
    assert "101" not in r.dialplan and "Dial(" not in r.dialplan
    assert answer(tenant(), "101") == "ring/101/101@a.example/30"
    assert answer(tenant(), "+12065550100", did=True) == "ring/101/101@a.example/30"
    # The tenant's phones reach its own DIDs (and IVR access numbers) by dialing them.
    assert answer(tenant(), "+12065550100") == "ring/101/101@a.example/30"
    assert answer(tenant(), "103") == "unknown"
    assert f"version-{r.file_version}" in r.dialplan
    # A user's change changes the answers, not the file.
    other = Renderer(TEMPLATES).render(tenant(numbers=("101", "103")))
    assert other.dialplan == r.dialplan and other.routes != r.routes
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
    assert "Dial(" not in r.dialplan and "Hangup(21)" in r.dialplan
    assert r.sip["ps_endpoints"] == {}
    assert answer(t, "101") == "refuse/21"


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


@pytest.mark.parametrize("field", ["number", "sip_username", "caller_id_name", "name"])
def test_a_value_validated_once_is_still_checked_each_time(field: str) -> None:
    # Values that passed are remembered (recurring numbers and names cost one check per
    # process); a hostile one is refused however often it comes, a non-string never
    # taken for the string it prints as.
    t = Tenant(id=1, name="A", sip_domain="a.example")
    good = {"tenant_id": 1, "number": "101", "sip_username": "101", "sip_password": PASSWORD}
    for _ in range(2):
        assert snapshot(t, [Extension(**good)], []).users[0].number == "101"
        for bad in ("101\nexten => 666", 'Ann" <666>'):
            with pytest.raises(ValidationError):
                snapshot(t, [Extension(**{**good, field: bad})], [])
    for value in (101, None):
        row = Extension.model_construct(**{**good, "enabled": True, field: value})
        if value is None and field in ("name", "caller_id_name"):
            continue  # no name: the caller ID shows the other name, or the number only
        with pytest.raises(ValidationError):
            snapshot(t, [row], [])


def test_a_full_apply_loads_with_the_collector_paused(tmp_path: Path) -> None:
    seen: list[bool] = []

    def load_all() -> list[TenantConfig]:
        seen.append(gc.isenabled())
        return [tenant()]

    p = AsteriskProvisioner(
        engine=FakeEngine(),
        config_dir=tmp_path,
        renderer=Renderer(TEMPLATES),
        load_tenant=lambda _id: None,
        load_all=load_all,
    )
    asyncio.run(p.apply_all(reload=False))
    # Paused while building, on again after (the FreeSWITCH tests: off stays off).
    assert seen == [False] and gc.isenabled() and sorted(p.applied) == [1]


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
    engine = DialplanEngine(tmp_path)
    await engine.start()
    configs = {1: tenant(), 2: tenant(2, "b.example", ("101",))}
    p = _provisioner(tmp_path, engine, configs)
    assert await p.apply_all() >= 0
    assert (tmp_path / "tenants" / "t1.conf").exists() and (
        tmp_path / "tenants" / "t2.conf"
    ).exists()
    assert p.lookup("ps_endpoints", {"id": "101@b.example"}, multi=False)[0]["context"] == "t2"
    assert await p.routes.dial("2", "101", Caller()) == "ring/101/101@b.example/30"

    # A user added and one removed: the answers and the SIP index change, the file does
    # not, and nothing is reloaded.
    engine.commands.clear()
    configs[1] = tenant(numbers=("101", "103"))
    t1_before = (tmp_path / "tenants" / "t1.conf").read_text()
    t2_before = (tmp_path / "tenants" / "t2.conf").read_text()
    result = await p.tenant_changed(1)
    assert result.ok, result.error
    assert result.changed == ["dialplan", "sip"]
    assert not [c for c in engine.commands if c[0] == "reload"]
    assert await p.routes.dial("1", "103", Caller()) == "ring/103/103@a.example/30"
    assert await p.routes.dial("1", "102", Caller()) == "unknown"
    # Only the objects that changed are expired; the files are untouched.
    # (With the withheld-number twins of the phones that changed: withheld.py.)
    expired = {c[1]: set(c[2]) for c in engine.commands if c[0] == "invalidate"}
    assert expired["endpoint"] == {
        "102@a.example", "103@a.example", "102@orchestrator", "103@orchestrator"
    }  # fmt: skip
    assert (tmp_path / "tenants" / "t1.conf").read_text() == t1_before
    assert (tmp_path / "tenants" / "t2.conf").read_text() == t2_before
    assert p.lookup("ps_endpoints", {"id": "102@a.example"}, multi=False) == []

    # Nothing changed: nothing reloaded.
    engine.commands.clear()
    again = await p.tenant_changed(1)
    assert again.ok and again.changed == []
    assert not [c for c in engine.commands if c[0] == "reload"]

    # A tenant-level change (disabled) rewrites its file and reloads, verified.
    configs[1] = replace(configs[1], enabled=False)
    result = await p.tenant_changed(1)
    assert result.ok and result.changed == ["dialplan", "reload", "sip"], result
    assert await p.routes.dial("1", "101", Caller()) == "refuse/21"


async def test_failed_verification_rolls_back(tmp_path: Path) -> None:
    engine = DialplanEngine(tmp_path)
    await engine.start()
    configs = {1: tenant()}
    p = _provisioner(tmp_path, engine, configs)
    await p.tenant_changed(1)
    before = (tmp_path / "tenants" / "t1.conf").read_text()

    engine.frozen = True  # the engine keeps the file it had
    configs[1] = replace(tenant(numbers=("101", "102", "104")), domain="c.example")
    result = await p.tenant_changed(1)
    assert not result.ok
    assert "expected 3 of version" in result.error
    assert (tmp_path / "tenants" / "t1.conf").read_text() == before
    assert p.lookup("ps_endpoints", {"id": "104@c.example"}, multi=False) == []
    # The answers are the ones the engine's file goes with.
    assert await p.routes.dial("1", "104", Caller()) == "unknown"
    assert await p.routes.dial("1", "101", Caller()) == "ring/101/101@a.example/30"
    assert [c for c in engine.commands if c[0] == "reload"][-1] == ("reload", "dialplan")


async def test_removed_tenant_loses_file_and_users(tmp_path: Path) -> None:
    engine = DialplanEngine(tmp_path)
    await engine.start()
    configs = {1: tenant()}
    p = _provisioner(tmp_path, engine, configs)
    await p.tenant_changed(1)
    del configs[1]
    result = await p.tenant_changed(1)
    assert result.ok and "dialplan" in result.changed
    assert not (tmp_path / "tenants" / "t1.conf").exists()
    assert p.lookup("ps_auths", {"id": "101@a.example"}, multi=False) == []
    assert await p.routes.dial("1", "101", Caller()) == "unknown"
    assert await p.routes.did("+12065550100", Caller()) == "unknown"


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
