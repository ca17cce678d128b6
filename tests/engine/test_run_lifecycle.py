"""``orchestrator run`` as an operator runs it, Ctrl-C included: which engine it stops, and when.

Each test runs the real command in a subprocess against an Asterisk instance of
its own (``run<slot>``, ports next to the slot's test instance), never the
session's test instance, which the service would provision and might stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.engines.asterisk.instance import AsteriskInstance, Ports
from tests.engine.conftest import PORTS, REPO, ROOT, SLOT, TEST_API_PORT

pytestmark = [pytest.mark.engine, pytest.mark.alone]

API_PORT = TEST_API_PORT + 20
INSTANCE_PORTS = Ports(
    PORTS.http + 50, PORTS.ami + 50, PORTS.sip + 50, PORTS.rtp_start + 500, PORTS.rtp_end
)
# A call that stays up without a phone: two Local channels waiting.
HOLD_CONTEXT = "[lifecycle-hold]\nexten => s,1,Answer()\n same => n,Wait(600)\n"


def make_instance() -> AsteriskInstance:
    return AsteriskInstance(
        root=ROOT,
        name=f"run{SLOT}",
        templates_dir=REPO / "dialplan_templates" / "asterisk",
        realtime_url_base=f"http://127.0.0.1:{API_PORT}/engine/asterisk/realtime",
        ports=INSTANCE_PORTS,
    )


@pytest.fixture
def instance() -> Iterator[AsteriskInstance]:
    """The instance, configured (so `orchestrator run` finds its ports) and not running."""
    inst = make_instance()
    inst.stop()  # a run killed earlier may have left it
    inst.configure()
    (inst.tenants_dir / "lifecycle-hold.conf").write_text(HOLD_CONTEXT)
    yield inst
    inst.stop()


class Run:
    """``orchestrator run`` in a subprocess; its output collected line by line."""

    def __init__(self, tmp: Path, *, admin_token: str, grace_s: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update(
            ORCH_STATE_DIR=str(tmp),
            ORCH_ADMIN_TOKEN=admin_token,
            ORCH_API_PORT=str(API_PORT),
            ORCH_ASTERISK__ROOT=str(ROOT),
            ORCH_ASTERISK__INSTANCE=f"run{SLOT}",
            ORCH_ENGINE_STOP_GRACE_S=str(grace_s),
        )
        self.lines: list[str] = []
        # cwd: a developer's .env in the repository must not change the settings.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "run"],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"orchestrator run exited:\n{self.output}"
            try:
                if httpx.get(f"http://127.0.0.1:{API_PORT}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"not healthy within {timeout} s:\n{self.output}")

    def wait_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output}"
            time.sleep(0.1)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s:\n{self.output}") from None
        self._close()
        return code

    def _close(self) -> None:
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self._close()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.kill()


def engine_answers(inst: AsteriskInstance) -> bool:
    try:
        return inst.pid() is not None and isinstance(inst.ari_get("/asterisk/info"), dict)
    except OSError:
        return False


def hold_call(inst: AsteriskInstance) -> None:
    inst.cli("channel originate Local/s@lifecycle-hold application Wait 600")
    deadline = time.monotonic() + 20
    while inst.channels() < 2:
        assert time.monotonic() < deadline, "the held call did not come up"
        time.sleep(0.2)


TOKEN = "lifecycle-" + "x" * 20


def test_ctrl_c_leaves_an_engine_it_found_running(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run]
) -> None:
    instance.start()
    hold_call(instance)
    run = Run(tmp_path, admin_token=TOKEN)
    runs.append(run)
    run.wait_healthy()
    run.interrupt()
    assert run.wait() == 0, run.output
    assert engine_answers(instance), run.output
    assert instance.channels() == 2  # the call it did not own is still up
    assert "was running before this service: left running" in run.output


def test_a_bad_admin_token_is_refused_before_anything_starts(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run]
) -> None:
    run = Run(tmp_path, admin_token="too-short")  # refused: fewer than 16 characters
    runs.append(run)
    assert run.wait(timeout=120) != 0
    assert "16 to 256 printable ASCII characters" in run.output
    assert instance.pid() is None, run.output  # no engine started for a service that can't run


@pytest.mark.parametrize("engine_was_running", [True, False], ids=["found", "started"])
def test_a_start_up_error_leaves_the_engine_running(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run], engine_was_running: bool
) -> None:
    if engine_was_running:
        instance.start()
    # A start-up error after the engine is up: the API's port is taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", API_PORT))
        busy.listen()
        run = Run(tmp_path, admin_token=TOKEN)
        runs.append(run)
        assert run.wait(timeout=120) != 0
    assert engine_answers(instance), run.output
    if not engine_was_running:
        assert "the service did not start" in run.output and "left running" in run.output


# SIGTERM as a service manager sends it: before, uvicorn re-raised it once shut down
# and the process died of it, leaving the engine it started running.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_an_idle_engine_it_started(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run], signum: int
) -> None:
    run = Run(tmp_path, admin_token=TOKEN)
    runs.append(run)
    run.wait_healthy()
    assert engine_answers(instance)
    run.interrupt(signum)
    assert run.wait() == 0, run.output
    assert instance.pid() is None, run.output
    assert "stopped" in run.output


def interrupted_with_a_call_up(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run], grace_s: float
) -> Run:
    """A run that started the engine, a call up on it, Ctrl-C once: now in the grace."""
    run = Run(tmp_path, admin_token=TOKEN, grace_s=grace_s)
    runs.append(run)
    run.wait_healthy()
    hold_call(instance)
    run.interrupt()
    run.wait_output(f"at the latest in {grace_s:g} s")
    return run


def test_with_a_call_up_it_waits_and_a_second_ctrl_c_forces(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run]
) -> None:
    run = interrupted_with_a_call_up(instance, tmp_path, runs, grace_s=300)
    time.sleep(2)
    assert run.proc.poll() is None, run.output
    assert instance.channels() == 2, run.output
    run.interrupt()
    assert run.wait(timeout=60) == 0, run.output
    assert instance.pid() is None, run.output


def test_with_a_call_up_it_stops_the_engine_after_the_grace(
    instance: AsteriskInstance, tmp_path: Path, runs: list[Run]
) -> None:
    run = interrupted_with_a_call_up(instance, tmp_path, runs, grace_s=4)
    waiting = time.monotonic()
    assert run.wait(timeout=60) == 0, run.output
    assert time.monotonic() - waiting >= 3  # the grace, less the poll's half second
    assert "grace of 4 s over" in run.output
    assert instance.pid() is None, run.output
