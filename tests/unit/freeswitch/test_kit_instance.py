"""The base configuration `orchestrator engine configure` writes for FreeSWITCH, and the
instance's life cycle against a stand-in binary and event socket.

What must hold: the static directory and dialplan that FreeSWITCH falls back to on a
404, "not found", garbage or a timeout deny everything; the event socket listens on
127.0.0.1 with a generated password; xml_curl binds the directory and the dialplan to
the orchestrator's secret URL with a timeout; one SIP profile on explicit addresses.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path
from xml.etree import ElementTree

import pytest

from orchestrator.engines.freeswitch.instance import (
    FreeSwitchInstance,
    InstanceError,
    Layout,
    esl_request,
)
from tests.unit.freeswitch.kit_fixtures import TEMPLATES


def instance(tmp_path: Path, **layout: object) -> FreeSwitchInstance:
    return FreeSwitchInstance(
        root=tmp_path,
        name="lab",
        templates_dir=TEMPLATES,
        xml_curl_url_base="http://127.0.0.1:8000/engine/freeswitch/xml-curl",
        layout=Layout(**layout),  # type: ignore[arg-type]
        binary=str(tmp_path / "no-such-freeswitch"),
        progress=lambda _msg: None,
    )


def conf(inst: FreeSwitchInstance, name: str) -> ElementTree.Element:
    return ElementTree.parse(inst.conf_dir / name).getroot()


@pytest.fixture
def configured(tmp_path: Path) -> FreeSwitchInstance:
    inst = instance(tmp_path, sip_ip="192.0.2.10", sip_port=5090, trunk_cidrs=("198.51.100.0/24",))
    inst.configure()
    return inst


def test_every_file_is_well_formed_xml(configured: FreeSwitchInstance) -> None:
    files = sorted(p for p in configured.conf_dir.rglob("*.xml"))
    names = {str(p.relative_to(configured.conf_dir)) for p in files}
    assert {
        "freeswitch.xml",
        "autoload_configs/modules.conf.xml",
        "autoload_configs/event_socket.conf.xml",
        "autoload_configs/sofia.conf.xml",
        "autoload_configs/xml_curl.conf.xml",
        "dialplan/deny.xml",
        "directory/deny.xml",
        "gateways/_none.xml",
    } <= names
    for path in files:
        ElementTree.parse(path)  # raises on a malformed file


def test_the_static_fallback_denies(configured: FreeSwitchInstance) -> None:
    directory = conf(configured, "directory/deny.xml")
    assert list(directory.iter("user")) == [] and list(directory.iter("domain")) == []
    dialplan = conf(configured, "dialplan/deny.xml")
    apps = {a.get("application") for a in dialplan.iter("action")}
    assert apps == {"hangup"}
    # No tenant context is there: FreeSWITCH answers an unknown context with a hangup.
    contexts = {c.get("name") for c in dialplan.iter("context")}
    assert not [c for c in contexts if c and c.startswith("t")]


def test_event_socket_on_loopback_with_a_generated_password(
    configured: FreeSwitchInstance,
) -> None:
    params = {
        p.get("name"): p.get("value")
        for p in conf(configured, "autoload_configs/event_socket.conf.xml").iter("param")
    }
    creds = json.loads(configured.credentials_path.read_text())
    assert params["listen-ip"] == "127.0.0.1"
    assert params["password"] == creds["esl_password"] and len(creds["esl_password"]) >= 24
    assert params["apply-inbound-acl"] == "loopback.auto"
    assert stat.S_IMODE(os.stat(configured.credentials_path).st_mode) == 0o600
    # Configuring again keeps the credentials.
    configured.configure()
    assert json.loads(configured.credentials_path.read_text())["esl_password"] == params["password"]


def test_xml_curl_bindings_point_at_the_orchestrator(configured: FreeSwitchInstance) -> None:
    root = conf(configured, "autoload_configs/xml_curl.conf.xml")
    secret = json.loads(configured.credentials_path.read_text())["xml_curl_secret"]
    bindings = {}
    for binding in root.iter("binding"):
        params = {p.get("name"): p for p in binding.iter("param")}
        url = params["gateway-url"]
        bindings[url.get("bindings")] = url.get("value")
        assert params["timeout"].get("value") == "3"
    base = f"http://127.0.0.1:8000/engine/freeswitch/xml-curl/{secret}"
    assert bindings == {"directory": f"{base}/directory", "dialplan": f"{base}/dialplan"}


def test_one_sip_profile_on_explicit_addresses(configured: FreeSwitchInstance) -> None:
    root = conf(configured, "autoload_configs/sofia.conf.xml")
    (profile,) = root.iter("profile")
    assert profile.get("name") == "orchestrator"
    params = {p.get("name"): p.get("value") for p in profile.iter("param")}
    for name in ("sip-ip", "rtp-ip", "ext-sip-ip", "ext-rtp-ip"):
        assert params[name] == "192.0.2.10"
    assert params["sip-port"] == "5090"
    assert params["auth-calls"] == "true" and params["accept-blind-reg"] == "false"
    assert params["context"] == "orchestrator-dids"
    values = " ".join(v or "" for v in params.values()).lower()
    assert "stun" not in values and "auto" not in params.get("ext-sip-ip", "")
    acl = conf(configured, "autoload_configs/acl.conf.xml")
    trunks = next(x for x in acl.iter("list") if x.get("name") == "orchestrator-trunks")
    assert trunks.get("default") == "deny"
    assert [n.get("cidr") for n in trunks.iter("node")] == ["198.51.100.0/24"]


def test_modules_load_xml_curl_before_sofia(configured: FreeSwitchInstance) -> None:
    modules = [
        m.get("module") for m in conf(configured, "autoload_configs/modules.conf.xml").iter("load")
    ]
    assert modules.index("mod_xml_curl") < modules.index("mod_sofia")
    for needed in ("mod_event_socket", "mod_loopback", "mod_conference", "mod_dptools",
                   "mod_dialplan_xml", "mod_commands", "mod_tone_stream",
                   "mod_local_stream"):  # fmt: skip
        assert needed in modules


def test_music_on_hold_classes(configured: FreeSwitchInstance) -> None:
    """The classes a hold names (local_stream://default) and a held loopback leg's
    hold_music (local_stream://moh) exist: an unknown stream fails the broadcast."""
    streams = conf(configured, "autoload_configs/local_stream.conf.xml").iter("directory")
    assert {d.get("name"): d.get("path") for d in streams} == {
        "default": "$${sounds_dir}/music/8000",
        "moh": "$${sounds_dir}/music/8000",
    }


def test_no_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("orchestrator.engines.freeswitch.instance.SEARCH", ())
    inst = instance(tmp_path)
    assert inst.executable() is None
    with pytest.raises(InstanceError, match="ORCH_FREESWITCH__BINARY"):
        inst.install()
    with pytest.raises(InstanceError, match="remote FreeSWITCH"):
        inst.start()
    status = inst.status()
    assert status["running"] is False and status["binary"] is None


class FakeEventSocket:
    """Just enough of FreeSWITCH's event socket (as the captures show) for status/stop."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.commands: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                conn.sendall(b"Content-Type: auth/request\n\n")
                while line := reader.readline():
                    if line == b"\n":
                        continue
                    command = line.decode().strip()
                    reader.readline()
                    self.commands.append(command)
                    if command.startswith("auth "):
                        ok = command == f"auth {self.password}"
                        text = "+OK accepted" if ok else "-ERR invalid"
                        conn.sendall(
                            f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()
                        )
                        if not ok:
                            break
                    elif command.startswith("api "):
                        body = b"UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12) is ready\n"
                        if command == "api show channels count":
                            body = b"\n2 total.\n"
                        head = f"Content-Type: api/response\nContent-Length: {len(body)}\n\n"
                        conn.sendall(head.encode() + body)

    def close(self) -> None:
        self.server.close()


def test_the_binary_is_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "freeswitch"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert instance(tmp_path).executable() == str(exe)


def test_esl_request_speaks_the_event_socket() -> None:
    esl = FakeEventSocket("pw-0123456789")
    try:
        assert "is ready" in esl_request("127.0.0.1", esl.port, "pw-0123456789", "status")
        with pytest.raises(InstanceError, match="refused the password"):
            esl_request("127.0.0.1", esl.port, "wrong", "status")
    finally:
        esl.close()
    assert esl.commands[:2] == ["auth pw-0123456789", "api status"]


def test_status_and_channels_of_a_running_instance(tmp_path: Path) -> None:
    inst = instance(tmp_path)
    inst.configure()
    password = str(inst.credentials()["esl_password"])
    esl = FakeEventSocket(password)
    try:
        inst = instance(tmp_path, esl_port=esl.port)
        inst.pid_path.write_text(str(os.getpid()))  # "running": a live pid
        status = inst.status()
        assert status["running"] is True and status["esl"] is True
        assert inst.channels() == 2
        inst.wait_ready(timeout=5)
    finally:
        esl.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_status_stop_with_a_stand_in_binary(tmp_path: Path) -> None:
    import sys

    exe = tmp_path / "freeswitch"
    script = Path(__file__).with_name("fake_freeswitch_binary.py")
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    exe.chmod(0o755)
    port = _free_port()
    inst = FreeSwitchInstance(
        root=tmp_path,
        name="lab",
        templates_dir=TEMPLATES,
        xml_curl_url_base="http://127.0.0.1:8000/engine/freeswitch/xml-curl",
        layout=Layout(esl_port=port),
        binary=str(exe),
        progress=lambda _msg: None,
    )
    assert inst.start(timeout=20) is True
    try:
        args = json.loads((inst.dir / "args.json").read_text())
        assert args[:3] == ["-nf", "-nc", "-nonat"]
        assert args[args.index("-conf") + 1] == str(inst.conf_dir)
        assert args[args.index("-db") + 1] == str(inst.dir / "db")
        status = inst.status()
        assert status["running"] is True and "1.10.12" in str(status["version"])
        assert inst.channels() == 0
        # Already running: not started again, and not this caller's to stop.
        assert inst.start(timeout=5) is False
    finally:
        inst.stop(timeout=10)
    assert inst.pid() is None and not inst.pid_path.exists()
    assert inst.status()["running"] is False
