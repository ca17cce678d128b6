"""``ORCH_RING_TIMEOUT_S``: how long a call to an extension rings, from the setting to the
dialplan of both engines (no engine). The real-engine side (a call nobody answers ends
after that many seconds, with a no-answer CDR) is tests/engine/test_cdrs.py::test_no_answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from orchestrator.core import FakeEngine
from orchestrator.engines import load_kit
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.lookup import Caller
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.kit import KitDeps
from orchestrator.settings import Settings
from tests.unit.test_trunk_render import config, route, trunk


def test_the_default_is_thirty_seconds() -> None:
    assert Settings(engine="fake").ring_timeout_s == 30


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_RING_TIMEOUT_S", "12")
    assert Settings(engine="fake").ring_timeout_s == 12


@pytest.mark.parametrize("value", ["4", "601", "abc", "7.5"])
def test_out_of_range_stops_the_service(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ORCH_RING_TIMEOUT_S", value)
    with pytest.raises(SettingsError, match="ring_timeout_s"):
        Settings(engine="fake")


def _asterisk_answers(tmp_path: Path, **kw: int) -> tuple[dict[str, str], str]:
    """What the engine's dialplan lookup answers for an extension and an outbound number."""
    settings = Settings(engine="asterisk", state_dir=tmp_path, asterisk={"root": tmp_path}, **kw)
    kit = load_kit(KitDeps(settings, lambda tid: None, lambda: [], FakeEngine()))
    assert isinstance(kit.provisioner, AsteriskProvisioner)
    rendered = kit.provisioner.renderer.render(config([trunk()], [route(prefix="9")]))
    routes = kit.provisioner.routes
    routes.swap(1, rendered.routes)
    got = {n: asyncio.run(routes.dial("1", n, Caller())) for n in ("101", "9123")}
    return got, rendered.version


def test_asterisk_extensions_ring_for_the_setting(tmp_path: Path) -> None:
    got, version = _asterisk_answers(tmp_path / "a", ring_timeout_s=12)
    assert got["101"] == "ring/101/101@a.example/12", got
    default, default_version = _asterisk_answers(tmp_path / "b")
    assert default["101"] == "ring/101/101@a.example/30", default
    # Another timeout is another configuration: re-applied at start, not taken as unchanged.
    assert version != default_version
    # Calls out through a trunk keep their own (longer) timeout.
    assert got["9123"] == "out/9123/trunk-t1-carrier/9123/60/0/", got  # strip 0


def test_freeswitch_extensions_ring_for_the_setting(tmp_path: Path) -> None:
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        freeswitch={"root": tmp_path, "xml_curl_secret": "z" * 24},
        ring_timeout_s=12,
    )
    kit = load_kit(KitDeps(settings, lambda tid: None, lambda: [], FakeEngine()))
    assert isinstance(kit.provisioner, FreeSwitchProvisioner)
    renderer = kit.provisioner.renderer
    assert renderer.ring_timeout == 12
    index = renderer.render(config([trunk()], [route(prefix="9")]))
    text = index.dialplan[("t1", "101")]  # rendered when first looked up
    assert "leg_timeout=12]user/101@a.example" in text, text
