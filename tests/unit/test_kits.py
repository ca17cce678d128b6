"""Engine kits and settings groups: ORCH_ENGINE picks a kit; a service on one engine
reads nothing of another; an unknown engine is a clear start-up error."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its test client; httpx (a dev dependency) still works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from orchestrator.core import FakeEngine
from orchestrator.engines import UnknownEngineError, load_kit, local_instance
from orchestrator.engines.kit import KitDeps
from orchestrator.provisioning.ownership import owner_of
from orchestrator.runtime import build_app
from orchestrator.settings import RENAMED, Settings

TOKEN = "kits-admin-token-0123456789abcdef"


def _deps(settings: Settings) -> KitDeps:
    return KitDeps(settings, lambda tid: None, lambda: [])


def test_asterisk_group_parses_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCH_ENGINE", "asterisk")
    monkeypatch.setenv("ORCH_ASTERISK__ROOT", str(tmp_path))
    monkeypatch.setenv("ORCH_ASTERISK__INSTANCE", "lab")
    monkeypatch.setenv("ORCH_ASTERISK__ARI_URL", "http://pbx.example:8088/ari")
    monkeypatch.setenv("ORCH_ASTERISK__ARI_USER", "orch")
    monkeypatch.setenv("ORCH_ASTERISK__ARI_PASSWORD", "x" * 24)
    monkeypatch.setenv("ORCH_ASTERISK__AMI_HOST", "pbx.example")
    monkeypatch.setenv("ORCH_ASTERISK__AMI_PORT", "5039")
    monkeypatch.setenv("ORCH_ASTERISK__CONFIG_DIR", str(tmp_path / "etc"))
    settings = Settings(state_dir=tmp_path)
    group = settings.asterisk
    assert (group.root, group.instance) == (tmp_path, "lab")
    assert (group.ari_url, group.ari_user, group.ari_password) == (
        "http://pbx.example:8088/ari",
        "orch",
        "x" * 24,
    )
    assert (group.ami_host, group.ami_port) == ("pbx.example", 5039)
    assert group.config_dir == tmp_path / "etc"
    assert group.ari_app == "orchestrator"  # defaults stay


def test_group_refuses_weak_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCH_ASTERISK__AMI_PASSWORD", "changeme")
    with pytest.raises(SettingsError, match="ORCH_ASTERISK__AMI_PASSWORD"):
        Settings(engine="asterisk", state_dir=tmp_path, asterisk={"root": tmp_path})


@pytest.mark.parametrize("old", ["ORCH_ARI_URL", "ORCH_ASTERISK_ROOT", "ORCH_AMI_PORT"])
def test_renamed_variables_are_refused(monkeypatch: pytest.MonkeyPatch, old: str) -> None:
    monkeypatch.setenv(old, "1")
    with pytest.raises(SettingsError, match=f"{old} is now {RENAMED[old]}"):
        Settings(engine="fake")


@pytest.mark.parametrize("name", ["yate", "FreeSWITCH", ""])
def test_an_unknown_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ORCH_ENGINE", name)
    with pytest.raises(SettingsError, match="choose one of asterisk, freeswitch, fake"):
        Settings()
    # A kit asked for by name (settings built without validation) refuses too.
    bogus = Settings.model_construct(engine=name)
    with pytest.raises(UnknownEngineError, match="no such engine"):
        load_kit(_deps(bogus))
    with pytest.raises(UnknownEngineError):
        local_instance(bogus)


def test_cli_reports_an_unknown_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app
    from orchestrator.settings import get_settings

    monkeypatch.setenv("ORCH_ENGINE", "yate")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "ORCH_ENGINE='yate'" in result.output


def test_fake_kit(tmp_path: Path) -> None:
    kit = load_kit(_deps(Settings(engine="fake", state_dir=tmp_path)))
    assert isinstance(kit.engine, FakeEngine)
    assert (kit.name, kit.node, kit.routers, kit.config) == ("fake", "fake", [], None)
    assert local_instance(Settings(engine="fake", state_dir=tmp_path)) is None


def _asterisk_instance(root: Path, foreign: str) -> Path:
    """A default Asterisk instance under ``root``, with a tenant file of another service."""
    inst = root / "var/lib/orchestrator/default"
    tenants = inst / "etc" / "tenants"
    tenants.mkdir(parents=True)
    creds = {
        "http_port": 8088,
        "ami_port": 5038,
        "ari_user": "orchestrator",
        "ari_password": "a" * 24,
        "ami_user": "orchestrator",
        "ami_password": "b" * 24,
        "realtime_secret": "s" * 24,
        "config_dir": str(inst / "etc"),
        "journal_dir": str(inst / "journal"),
    }
    (inst / "credentials.json").write_text(json.dumps(creds))
    (tenants / "t1.conf").write_text(foreign)
    return tenants


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("foreign", ["[t1]\n; by hand\n", "; orchestrator service other: x\n"])
def test_a_fake_engine_service_reads_and_touches_nothing_of_asterisk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, foreign: str
) -> None:
    root = tmp_path / "asterisk-root"
    _asterisk_instance(root, foreign)
    before = _tree(root)
    monkeypatch.setenv("ORCH_ENGINE", "fake")
    monkeypatch.setenv("ORCH_ASTERISK__ROOT", str(root))
    state = tmp_path / "state"
    settings = Settings(
        state_dir=state, database_url=f"sqlite:///{state / 'o.db'}", admin_token=TOKEN
    )
    # Not the instance's credentials, secret or folders.
    assert settings.asterisk.ari_password == "" and settings.asterisk.ami_password == ""
    assert settings.realtime_secret == ""
    assert settings.asterisk.config_dir is None and settings.credentials() is None
    app = build_app(settings)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:  # start-up apply included
        tenant = client.post(
            "/api/v1/tenants", json={"name": "A", "sip_domain": "a.example"}, headers=headers
        )
        assert tenant.status_code == 201, tenant.text
        apply = client.post(f"/api/v1/tenants/{tenant.json()['id']}/config/apply", headers=headers)
        assert apply.status_code == 200 and apply.json()["ok"], apply.text
    # The instance is as it was: its tenant file survives, nothing was written there.
    assert _tree(root) == before
    assert not (state / "engine-config").exists()


def test_asterisk_kit_wires_its_provisioner_and_hooks(tmp_path: Path) -> None:
    tenants = _asterisk_instance(tmp_path, "[t1]\n; by hand\n")
    settings = Settings(engine="asterisk", state_dir=tmp_path, asterisk={"root": tmp_path})
    engine = FakeEngine()
    kit = load_kit(KitDeps(settings, lambda tid: None, lambda: [], engine))
    assert (kit.name, kit.node, kit.engine, kit.config) == ("asterisk", "default", engine, engine)
    assert kit.settings is settings.asterisk
    assert [r.prefix for r in kit.routers] == ["/engine/asterisk/realtime"] * 2  # SIP, lookups
    provisioner = kit.provisioner
    assert provisioner.tenants_dir == tenants  # the instance's folder
    assert provisioner.owner == settings.service_id
    assert owner_of((tenants / "t1.conf").read_text()) is None
