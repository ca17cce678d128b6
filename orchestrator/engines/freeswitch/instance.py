"""Configure, start and stop a FreeSWITCH instance the orchestrator owns.

FreeSWITCH is in no package registry this project installs from: the instance runs
the ``freeswitch`` binary found on this machine (``ORCH_FREESWITCH__BINARY``, else
``PATH``, else ``/usr/local/freeswitch/bin``). Without one, :meth:`install` says how to
get one, or how to drive a remote FreeSWITCH instead (docs/freeswitch.md).

Each instance has its own directory ``<root>/<name>`` with ``conf/`` (written from
freeswitch_conf/base), ``log/``, ``db/``, ``run/``, ``recordings/`` and its generated
``credentials.json`` (ESL password, xml_curl secret, ports). Status and stop go
through the event socket (``api status``, ``api fsctl shutdown``), then signals.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from orchestrator.engines.credentials import load_or_create, rewrite

Progress = Callable[[str], None]
INSTALL_HINT = (
    "install FreeSWITCH 1.10 (SignalWire's packages, or a build of signalwire/freeswitch) "
    "and set ORCH_FREESWITCH__BINARY if it is not on PATH; or drive a remote FreeSWITCH: "
    "ORCH_FREESWITCH__ESL_HOST=<host> ORCH_FREESWITCH__ESL_PASSWORD=<password> "
    "ORCH_FREESWITCH__XML_CURL_SECRET=<secret> with `orchestrator engine configure`'s "
    "files on it (docs/freeswitch.md)"
)
# Where FreeSWITCH's own build and the packages install it, after PATH.
SEARCH = ("/usr/local/freeswitch/bin/freeswitch", "/usr/bin/freeswitch")
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class InstanceError(RuntimeError):
    """The engine could not be configured, started or stopped."""


def _print(msg: str) -> None:
    print(msg, flush=True)


@dataclass(frozen=True, slots=True)
class Layout:
    """What the base templates need besides the credentials (from FreeSwitchSettings)."""

    sip_profile: str = "orchestrator"
    sip_ip: str = "127.0.0.1"
    sip_port: int = 5080
    esl_port: int = 8021
    esl_listen_ip: str = "127.0.0.1"
    rtp_start: int = 16384
    rtp_end: int = 16999
    trunk_cidrs: tuple[str, ...] = ()
    esl_cidrs: tuple[str, ...] = ()
    conference_profile: str = "default"
    xml_curl_timeout: int = 3
    rtp_timeout: int = 60
    rtp_timeout_hold: int = 120
    session_expires: int = 180
    extra: dict[str, str] = field(default_factory=dict)


def esl_request(host: str, port: int, password: str, command: str, *, timeout: float = 3.0) -> str:
    """One ``api`` command over a fresh event-socket connection; its output.

    Raises OSError when nothing answers, InstanceError when the password is refused.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")

        def frame() -> tuple[dict[str, str], bytes]:
            headers: dict[str, str] = {}
            while (line := reader.readline()) not in (b"\n", b""):
                name, _, value = line.decode().rstrip("\n").partition(": ")
                headers.setdefault(name, value)
            if not headers:
                raise OSError("event socket closed")
            length = int(headers.get("Content-Length", "0"))
            return headers, reader.read(length) if length else b""

        frame()  # auth/request
        sock.sendall(f"auth {password}\n\n".encode())
        reply, _ = frame()
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise InstanceError(f"event socket on {host}:{port} refused the password")
        sock.sendall(f"api {command}\n\n".encode())
        while True:
            headers, body = frame()
            if headers.get("Content-Type") == "api/response":
                return body.decode(errors="replace")


class FreeSwitchInstance:
    """One local FreeSWITCH: ``configure()``, ``start()``, ``stop()``, ``status()``."""

    def __init__(
        self,
        *,
        root: Path,
        name: str,
        templates_dir: Path,
        xml_curl_url_base: str,
        layout: Layout | None = None,
        binary: str = "",
        progress: Progress = _print,
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", name):
            raise InstanceError(f"bad instance name {name!r}")
        self.root = root
        self.name = name
        self.dir = root / name
        self.templates_dir = templates_dir
        self.xml_curl_url_base = xml_curl_url_base.rstrip("/")
        self.layout = layout or Layout()
        self.binary = binary
        self.progress = progress

    @property
    def conf_dir(self) -> Path:
        return self.dir / "conf"

    @property
    def credentials_path(self) -> Path:
        return self.dir / "credentials.json"

    @property
    def pid_path(self) -> Path:
        return self.dir / "freeswitch.pid"

    @property
    def console_log(self) -> Path:
        return self.dir / "log" / "console.log"

    # -- install / configure -------------------------------------------------
    def executable(self) -> str | None:
        """The ``freeswitch`` binary this instance runs, or None."""
        for candidate in (self.binary, shutil.which("freeswitch") or "", *SEARCH):
            if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
                return candidate
        return None

    def install(self) -> None:
        """Nothing to install: check that a binary is there, or say how to get one."""
        exe = self.executable()
        if exe is None:
            raise InstanceError(f"no `freeswitch` executable found: {INSTALL_HINT}")
        self.progress(f"engine: FreeSWITCH binary {exe}")

    def credentials(self) -> dict[str, str | int]:
        """This instance's credentials, generated the first time (file mode 0600)."""
        return load_or_create(
            self.credentials_path,
            lambda: {
                "esl_password": secrets.token_urlsafe(24),
                "xml_curl_secret": secrets.token_urlsafe(24),
            },
        )

    def configure(self) -> None:
        """Write conf/ from freeswitch_conf/base (credentials generated once)."""
        creds = self.credentials()
        for sub in ("conf", "log", "db", "run", "recordings", "conf/gateways", "conf/trunk-acl"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates_dir / "base"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=True,
        )
        lay = self.layout
        loopback = lay.esl_listen_ip in ("127.0.0.1", "::1")
        ctx = {
            "instance": self.name,
            "max_sessions": 1000,
            "sessions_per_second": 100,
            "ext_ip": lay.sip_ip,
            "esl_acl": "loopback.auto" if loopback else "orchestrator-esl",
            "esl_password": creds["esl_password"],
            "xml_curl_url": f"{self.xml_curl_url_base}/{creds['xml_curl_secret']}",
            "trunk_cidrs": list(lay.trunk_cidrs),
            "esl_cidrs": list(lay.esl_cidrs),
            **{k: getattr(lay, k) for k in Layout.__dataclass_fields__ if k != "extra"},
            **lay.extra,
        }
        for template in sorted(env.list_templates(extensions=["j2"])):
            target = self.conf_dir / template.removesuffix(".j2")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(env.get_template(template).render(ctx))
            tmp.replace(target)
        # An include whose glob matches nothing is an error: keep one file there.
        for sub in ("gateways", "trunk-acl"):
            (self.conf_dir / sub / "_none.xml").write_text("<include></include>\n")
        creds.update(esl_port=lay.esl_port, sip_port=lay.sip_port, conf_dir=str(self.conf_dir))
        rewrite(self.credentials_path, creds)
        self.progress(f"engine: FreeSWITCH configuration written to {self.conf_dir}")

    # -- run ----------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def api(self, command: str, *, timeout: float = 3.0) -> str:
        """An ``api`` command over the instance's event socket."""
        password = str(self.credentials()["esl_password"])
        return esl_request("127.0.0.1", self.layout.esl_port, password, command, timeout=timeout)

    def start(self, *, timeout: float = 60.0) -> bool:
        """Start FreeSWITCH in the background and wait until its event socket answers.

        False when it was already running: whoever started it owns it and stops it.
        """
        if self.pid():
            self.progress(f"engine: instance {self.name} already running (pid {self.pid()})")
            self.wait_ready(timeout=timeout)
            return False
        exe = self.executable()
        if exe is None:
            raise InstanceError(f"no `freeswitch` executable found: {INSTALL_HINT}")
        self.configure()
        d = self.dir
        cmd = [exe, "-nf", "-nc", "-nonat", "-conf", str(d / "conf"), "-log", str(d / "log")]
        cmd += ["-db", str(d / "db"), "-run", str(d / "run")]
        log = open(self.console_log, "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        _CHILDREN[proc.pid] = proc
        self.pid_path.write_text(str(proc.pid))
        self.progress(f"engine: starting FreeSWITCH instance {self.name} (pid {proc.pid})")
        self.wait_ready(timeout=timeout, proc=proc)
        return True

    def wait_ready(
        self, *, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = self.console_log.read_text(errors="replace")[-2000:]
                raise InstanceError(f"FreeSWITCH exited with {proc.returncode}:\n{tail}")
            try:
                out = self.api("status", timeout=1.0)
            except OSError:
                time.sleep(0.2)
                continue
            if "is ready" in out or "UP" in out:
                self.progress(f"engine: FreeSWITCH ready on ESL port {self.layout.esl_port}")
                return
            time.sleep(0.2)
        raise InstanceError(f"FreeSWITCH did not answer on ESL within {timeout} s")

    def channels(self) -> int:
        """How many channels are up (``orchestrator run`` waits for 0 before stopping)."""
        m = re.search(r"(\d+) total", self.api("show channels count"))
        return int(m.group(1)) if m else 0

    def stop(self, *, timeout: float = 20.0) -> None:
        pid = self.pid()
        if not pid:
            self.progress(f"engine: instance {self.name} is not running")
            return
        with contextlib.suppress(OSError, InstanceError):
            self.api("fsctl shutdown", timeout=2.0)
        deadline = time.monotonic() + timeout
        sent_term = False
        while self.pid() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not sent_term and time.monotonic() > deadline - timeout / 2:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
                sent_term = True
            time.sleep(0.1)
        if self.pid():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        self.pid_path.unlink(missing_ok=True)
        self.progress(f"engine: instance {self.name} stopped")

    def status(self) -> dict[str, object]:
        pid = self.pid()
        result: dict[str, object] = {
            "engine": "freeswitch",
            "instance": self.name,
            "dir": str(self.dir),
            "binary": self.executable(),
            "running": bool(pid),
            "pid": pid,
            "ports": {"esl": self.layout.esl_port, "sip": self.layout.sip_port},
        }
        if pid:
            try:
                result["version"] = self.api("version").strip()
                result["esl"] = True
            except (OSError, InstanceError):
                result["esl"] = False
        return result
