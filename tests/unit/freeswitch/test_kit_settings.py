"""ORCH_ENGINE=freeswitch: the settings group, the kit load_kit builds, the local or
remote instance, the CLI's engine commands and the in-process prepaid authorization."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.core import FakeEngine
from orchestrator.engines import load_kit, local_instance
from orchestrator.engines.freeswitch.instance import FreeSwitchInstance
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.kit import KitDeps
from orchestrator.rating.dialplan import dialplan_answer, dialplan_authorizer
from orchestrator.rating.prepaid import Authorization
from orchestrator.settings import Settings, get_settings

STRONG = "s3cret-esl-password-0123456789"


def test_group_parses_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "ORCH_ENGINE": "freeswitch",
        "ORCH_FREESWITCH__ESL_HOST": "10.0.0.5",
        "ORCH_FREESWITCH__ESL_PORT": "8022",
        "ORCH_FREESWITCH__ESL_PASSWORD": STRONG,
        "ORCH_FREESWITCH__ROOT": str(tmp_path),
        "ORCH_FREESWITCH__INSTANCE": "lab",
        "ORCH_FREESWITCH__SIP_PROFILE": "tenants",
        "ORCH_FREESWITCH__SIP_PORT": "5090",
        "ORCH_FREESWITCH__TRUNK_CIDRS": '["192.0.2.0/24"]',
        "ORCH_FREESWITCH__XML_CURL_SECRET": "x" * 24,
        "ORCH_FREESWITCH__RECORDINGS_DIR": str(tmp_path / "rec"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    group = Settings(state_dir=tmp_path).freeswitch
    assert (group.esl_host, group.esl_port, group.esl_password) == ("10.0.0.5", 8022, STRONG)
    assert (group.root, group.instance, group.instance_dir) == (tmp_path, "lab", tmp_path / "lab")
    assert (group.sip_profile, group.sip_port, group.trunk_cidrs) == (
        "tenants",
        5090,
        ["192.0.2.0/24"],
    )
    assert group.xml_curl_secret == "x" * 24 and group.recordings_dir == tmp_path / "rec"
    assert group.conference_profile == "default" and group.xml_curl_timeout_s == 3


@pytest.mark.parametrize(
    "env,message",
    [
        ({"ORCH_FREESWITCH__ESL_PASSWORD": "ClueCon"}, "ESL_PASSWORD"),
        ({"ORCH_FREESWITCH__XML_CURL_SECRET": "short"}, "XML_CURL_SECRET"),
        ({"ORCH_FREESWITCH__SIP_PROFILE": "bad profile"}, "sip_profile"),
        ({"ORCH_FREESWITCH__ESL_PORT": "0"}, "esl_port"),
    ],
)
def test_weak_or_malformed_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("ORCH_ENGINE", "freeswitch")
    monkeypatch.setenv("ORCH_FREESWITCH__ROOT", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings(state_dir=tmp_path)


def test_the_local_instances_credentials_fill_the_group(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    creds = {"esl_password": STRONG, "xml_curl_secret": "y" * 24, "esl_port": 18021}
    (tmp_path / "default" / "credentials.json").write_text(json.dumps(creds))
    settings = Settings(engine="freeswitch", state_dir=tmp_path, freeswitch={"root": tmp_path})
    group = settings.freeswitch
    assert (group.esl_password, group.xml_curl_secret, group.esl_port) == (
        STRONG,
        "y" * 24,
        18021,
    )
    assert settings.credentials() == creds
    # Another engine's service reads none of it.
    other = Settings(engine="fake", state_dir=tmp_path, freeswitch={"root": tmp_path})
    assert other.freeswitch.esl_password == "" and other.credentials() is None


def test_load_kit_builds_the_freeswitch_kit(tmp_path: Path) -> None:
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        freeswitch={"root": tmp_path, "xml_curl_secret": "z" * 24},
    )
    engine = FakeEngine()
    kit = load_kit(KitDeps(settings, lambda tid: None, lambda: [], engine))
    assert (kit.name, kit.node, kit.engine) == ("freeswitch", "freeswitch-default", engine)
    assert kit.settings is settings.freeswitch
    # The engine's configuration side is what the provisioner flushes users through.
    assert kit.config is engine
    assert isinstance(kit.provisioner, FreeSwitchProvisioner)
    assert [r.prefix for r in kit.routers] == ["/engine/freeswitch/xml-curl"]
    assert asyncio.run(kit.provisioner.apply_all()) >= 0


def test_without_a_password_the_kit_says_what_to_do(tmp_path: Path) -> None:
    settings = Settings(engine="freeswitch", state_dir=tmp_path, freeswitch={"root": tmp_path})
    with pytest.raises(SystemExit, match="orchestrator engine configure"):
        load_kit(KitDeps(settings, lambda tid: None, lambda: []))


def test_local_or_remote_instance(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    creds = {"esl_password": STRONG, "xml_curl_secret": "y" * 24}
    (tmp_path / "default" / "credentials.json").write_text(json.dumps(creds))
    local = Settings(engine="freeswitch", state_dir=tmp_path, freeswitch={"root": tmp_path})
    # The password read from the instance's credentials keeps it local.
    assert local.freeswitch.esl_password == STRONG and not local.freeswitch.remote
    instance = local_instance(local)
    assert isinstance(instance, FreeSwitchInstance) and instance.dir == tmp_path / "default"
    given = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        freeswitch={"root": tmp_path, "esl_password": "another-" + STRONG},
    )
    assert given.freeswitch.remote and local_instance(given) is None
    remote = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        freeswitch={"root": tmp_path, "esl_host": "10.0.0.5", "esl_password": STRONG},
    )
    assert local_instance(remote) is None


def _cli(monkeypatch: pytest.MonkeyPatch, args: list[str], **env: str) -> tuple[int, str]:
    monkeypatch.setenv("ORCH_ENGINE", "freeswitch")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, args)
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_cli_configure_writes_the_instance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, output = _cli(
        monkeypatch,
        ["engine", "configure"],
        ORCH_FREESWITCH__ROOT=str(tmp_path),
        ORCH_STATE_DIR=str(tmp_path / "state"),
    )
    assert code == 0, output
    assert (tmp_path / "default" / "conf" / "freeswitch.xml").is_file()
    assert "configuration written" in output


def test_cli_without_a_binary_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no freeswitch there
    monkeypatch.setattr("orchestrator.engines.freeswitch.instance.SEARCH", ())
    code, output = _cli(
        monkeypatch,
        ["engine", "start"],
        ORCH_FREESWITCH__ROOT=str(tmp_path),
        ORCH_FREESWITCH__BINARY=str(tmp_path / "nope"),
        ORCH_STATE_DIR=str(tmp_path / "state"),
    )
    assert code == 1
    assert "no `freeswitch` executable found" in output
    assert "ORCH_FREESWITCH__ESL_HOST" in output  # or use a remote one


def test_cli_refuses_to_start_a_remote_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, output = _cli(
        monkeypatch,
        ["engine", "stop"],
        ORCH_FREESWITCH__ESL_HOST="192.0.2.9",
        ORCH_FREESWITCH__ESL_PASSWORD=STRONG,
        ORCH_STATE_DIR=str(tmp_path / "state"),
    )
    assert code == 2 and "is remote" in output


def test_cli_status_of_an_unreachable_remote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, output = _cli(
        monkeypatch,
        ["engine", "status"],
        ORCH_FREESWITCH__ESL_HOST="127.0.0.2",
        ORCH_FREESWITCH__ESL_PORT="9",  # discard: nothing listens
        ORCH_FREESWITCH__ESL_PASSWORD=STRONG,
        ORCH_STATE_DIR=str(tmp_path / "state"),
    )
    assert code == 1
    status = json.loads(output)
    assert status["running"] is False and status["remote"] == "127.0.0.2:9"


class Rating:
    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []

    def authorize(self, **question: object) -> Authorization:
        self.asked.append(question)
        return Authorization("limit", max_ms=90_000)


def test_the_in_process_authorizer_asks_as_the_http_route_does() -> None:
    rating = Rating()
    authorize = dialplan_authorizer(lambda: rating)  # type: ignore[arg-type, return-value]
    answer = asyncio.run(
        authorize(tenant_id=3, endpoint="101@a.example", number="+441234567890", call_id="u-1")
    )
    assert answer == "limit_90000"
    assert rating.asked == [
        {
            "tenant_id": 3,
            "number": "+441234567890",
            "call_id": "u-1",
            "endpoint": "101@a.example",
        }
    ]
    # Malformed values are refused before the service is asked.
    bad = asyncio.run(
        dialplan_answer(rating, tenant="3", endpoint="x", number="+44", call="u 1")  # type: ignore[arg-type]
    )
    assert bad.startswith("refuse_") and len(rating.asked) == 1


def test_run_without_a_binary_is_a_one_line_start_up_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator import serve

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("orchestrator.engines.freeswitch.instance.SEARCH", ())
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        admin_token="run-admin-token-0123456789abcdef",
        freeswitch={"root": tmp_path / "fs"},
    )
    with pytest.raises(SystemExit) as info:
        serve.serve(settings)
    assert info.value.code == serve.STARTUP_FAILURE
    out = capsys.readouterr().out
    assert "engine: no `freeswitch` executable found" in out and "Traceback" not in out
