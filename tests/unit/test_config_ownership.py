"""The service removes only engine configuration it wrote itself (files marked with its
identity): two services pointed at one engine do not wipe each other's tenants."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.provisioning.data import TenantConfig
from orchestrator.provisioning.ownership import foreign_owner, mark, owner_of
from tests.unit.test_provisioning import TEMPLATES, DialplanEngine, tenant


async def _service(owner: str, config_dir: Path, configs: dict[int, TenantConfig]):
    engine = DialplanEngine(config_dir)
    await engine.start()
    return AsteriskProvisioner(
        engine=engine,
        config_dir=config_dir,
        renderer=Renderer(TEMPLATES),
        load_tenant=configs.get,
        load_all=lambda: list(configs.values()),
        owner=owner,
    )


async def test_files_are_marked_with_the_service(tmp_path: Path) -> None:
    a = await _service("svc-a", tmp_path, {1: tenant()})
    await a.apply_all()
    text = (tmp_path / "tenants" / "t1.conf").read_text()
    assert text.startswith(mark("svc-a")) and owner_of(text) == "svc-a"
    assert owner_of("[t1]\n") is None


def test_the_mark_is_the_same_rule_in_any_file_syntax() -> None:
    """orchestrator.provisioning.ownership is every engine's: a .conf's ``;`` line (the
    exact line Asterisk's tenant files have carried) or an XML comment."""
    conf = mark("svc-a")
    assert conf == "; orchestrator service svc-a: written from its store; other services leave it\n"
    xml = mark("svc-a", comment="<!--", end=" -->")
    assert xml.startswith("<!-- orchestrator service svc-a:") and xml.endswith(" -->\n")
    for text in (conf, xml):
        assert owner_of(text + "body") == "svc-a"
        assert foreign_owner(text, "svc-a") is None
        assert foreign_owner(text, "svc-b") == "svc-a"
    assert foreign_owner("<include>\n", "svc-b") is None  # unmarked: not another's
    assert owner_of("[t1]\n; orchestrator service svc-a: below the first line\n") is None


async def test_two_services_on_one_engine_keep_each_others_tenants(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    a = await _service("svc-a", tmp_path, {1: tenant(), 2: tenant(2, "b.example")})
    b = await _service("svc-b", tmp_path, {3: tenant(3, "c.example")})
    await a.apply_all()
    a_files = {p.name: p.read_text() for p in tenants.iterdir()}
    assert set(a_files) == {"t1.conf", "t2.conf"}

    # B starts: its start-up apply does not delete A's tenants...
    await b.apply_all()
    assert {p.name for p in tenants.iterdir()} == {"t1.conf", "t2.conf", "t3.conf"}
    assert {n: (tenants / n).read_text() for n in a_files} == a_files
    # ...nor does A's next start delete B's.
    await a.apply_all()
    assert owner_of((tenants / "t3.conf").read_text()) == "svc-b"

    # A tenant id both stores have: the second service does not overwrite the file.
    b_clash = await _service("svc-b", tmp_path, {1: tenant(numbers=("555",))})
    result = await b_clash.tenant_changed(1)
    assert not result.ok and "svc-a" in result.error
    assert (tenants / "t1.conf").read_text() == a_files["t1.conf"]
    await b_clash.apply_all()
    assert (tenants / "t1.conf").read_text() == a_files["t1.conf"]
    # Nor remove it when its own tenant 1 goes.
    removed = await b_clash.tenant_removed(1)
    assert removed.ok and (tenants / "t1.conf").read_text() == a_files["t1.conf"]


async def test_unmarked_files_are_never_removed(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "t7.conf").write_text("[t7]\nexten => 1,1,Hangup()\n")  # by hand
    a = await _service("svc-a", tmp_path, {1: tenant()})
    await a.apply_all()
    assert (tenants / "t7.conf").read_text() == "[t7]\nexten => 1,1,Hangup()\n"
    assert (await a.tenant_removed(7)).ok
    assert (tenants / "t7.conf").exists()
    # One's own stale file goes, as before.
    (tenants / "t8.conf").write_text(mark("svc-a") + "[t8]\n")
    await a.apply_all()
    assert not (tenants / "t8.conf").exists()


async def test_an_unmarked_file_of_our_tenant_is_taken_over(tmp_path: Path) -> None:
    """A file written before files were marked: rewritten (marked) for a tenant we have."""
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "t1.conf").write_text("[t1]\n; an older version's file\n")
    a = await _service("svc-a", tmp_path, {1: tenant()})
    await a.apply_all()
    assert owner_of((tenants / "t1.conf").read_text()) == "svc-a"
