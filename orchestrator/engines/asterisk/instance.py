"""Install, configure, start and stop an Asterisk instance the orchestrator owns.

Asterisk 22 comes from Debian sid in a minbase root made by debootstrap (Debian 12
does not package Asterisk); a system Asterisk >= 20 is used instead when present.
Several instances (``default`` for ``make run``, ``test`` for the test suite,
``bench``...) share one root: each has its own configuration, run, spool, log and
database directories under ``/var/lib/orchestrator/<name>`` inside the root, its
own ports and its own generated credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestrator.engines.asterisk.provisioning.withheld import REALM as WITHHELD_REALM
from orchestrator.engines.credentials import load_or_create, rewrite

Progress = Callable[[str], None]

PACKAGES = ["asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm"]
MIN_SYSTEM_VERSION = 20
# Packaged configuration files that carry no credentials and that we take as they are.
STOCK_FILES = [
    "indications.conf",
    "ccss.conf",
    "acl.conf",
    "udptl.conf",
    "pjproject.conf",
    "confbridge.conf",
    "res_parking.conf",
    "codecs.conf",
    "dsp.conf",
    "pjsip_notify.conf",
    "amd.conf",
]


@dataclass(frozen=True, slots=True)
class Ports:
    http: int
    ami: int
    sip: int
    rtp_start: int
    rtp_end: int


PRESETS: dict[str, Ports] = {
    "default": Ports(8088, 5038, 5060, 10000, 10999),
    "test": Ports(18088, 15038, 15060, 11000, 11999),
    "bench": Ports(28088, 25038, 25060, 12000, 13999),
}

# glibc gives the threads that allocate up to 8 malloc arenas per core, and a dialplan
# reload builds the new dialplan beside the old one in the arena of the thread that runs
# it (an AMI session, a remote console): each arena that ever held a reload keeps about
# two dialplans' worth of pages after the old one is freed. Measured at 100,000
# extensions: 1,281 MB after 8 AMI sessions took turns reloading (+151 MB each), 371 MB
# with two arenas (docs/provisioning.md#engine-memory-across-reloads). Not a leak: the
# bytes in use stay the same reload after reload. A value in the caller's environment wins.
ENGINE_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def engine_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The environment Asterisk runs with: ``base`` plus :data:`ENGINE_ENVIRONMENT`."""
    return {**ENGINE_ENVIRONMENT, **base}


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class InstanceError(RuntimeError):
    """The engine could not be installed, configured, started or stopped."""


def _print(msg: str) -> None:
    print(msg, flush=True)


def _system_asterisk_version() -> int | None:
    exe = shutil.which("asterisk") or (
        "/usr/sbin/asterisk" if Path("/usr/sbin/asterisk").exists() else None
    )
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Asterisk (\d+)", out)
    return int(m.group(1)) if m else None


def _apt_mirror() -> str | None:
    """The Debian archive this host's apt uses, so debootstrap goes where apt goes."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                m = re.search(r"(https?://\S+/debian)/?(\s|$)", line)
                if m and not line.lstrip().startswith("#") and "security" not in m.group(1):
                    return m.group(1)
    return None


class AsteriskInstance:
    """One Asterisk instance: ``install()``, ``configure()``, ``start()``, ``stop()``."""

    def __init__(
        self,
        *,
        root: Path,
        name: str,
        templates_dir: Path,
        realtime_url_base: str,
        ports: Ports | None = None,
        bind_address: str = "127.0.0.1",
        ari_app: str = "orchestrator",
        progress: Progress = _print,
        use_system: bool | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", name):
            raise InstanceError(f"bad instance name {name!r}")
        if use_system is None:
            version = _system_asterisk_version()
            use_system = version is not None and version >= MIN_SYSTEM_VERSION
        self.system = use_system
        self.root = Path("/") if use_system else root
        self.name = name
        self.templates_dir = templates_dir
        self.realtime_url_base = realtime_url_base.rstrip("/")
        self.bind_address = bind_address
        self.ari_app = ari_app
        self.progress = progress
        # Paths as Asterisk sees them (inside the root) and as we see them.
        self.inner_dir = f"/var/lib/orchestrator/{name}"
        self.dir = self.host(self.inner_dir)
        # An instance keeps the ports it was configured with: a command naming only the
        # instance (`orchestrator run`, `engine stop --instance`) must reach that engine,
        # not whatever the preset of its name says.
        self.ports = ports or self._recorded_ports() or PRESETS.get(name) or PRESETS["default"]

    def _recorded_ports(self) -> Ports | None:
        try:
            data = json.loads(self.credentials_path.read_text())
            return Ports(
                int(data["http_port"]),
                int(data["ami_port"]),
                int(data["sip_port"]),
                int(data["rtp_start"]),
                int(data["rtp_end"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def host(self, inner: str) -> Path:
        """A path inside the root, as seen from the host."""
        return self.root / inner.lstrip("/")

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    @property
    def tenants_dir(self) -> Path:
        return self.etc / "tenants"

    @property
    def journal_dir(self) -> Path:
        """Where the engine journals its channels' answers and hang-ups (cel.conf)."""
        return self.dir / "journal"

    @property
    def credentials_path(self) -> Path:
        return self.dir / "credentials.json"

    @property
    def pid_path(self) -> Path:
        return self.dir / "asterisk.pid"

    @property
    def console_log(self) -> Path:
        return self.dir / "log" / "console.log"

    # -- install ----------------------------------------------------------
    def installed(self) -> bool:
        return (self.root / "usr/sbin/asterisk").exists() and (
            self.root / "usr/lib/x86_64-linux-gnu/asterisk/modules/res_ari.so"
        ).exists()

    def install(self) -> None:
        """Make the Debian sid root with Asterisk (about 45 s and 500 MB), unless present."""
        if self.installed():
            self.progress(f"engine: Asterisk already installed in {self.root}")
            return
        if self.system:
            raise InstanceError("system Asterisk is present but incomplete (no res_ari.so)")
        if not shutil.which("debootstrap"):
            raise InstanceError("debootstrap is not installed: apt-get install debootstrap")
        tmp = self.root.with_name(self.root.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            "sid",
            str(tmp),
        ]
        mirror = _apt_mirror()
        if mirror:
            cmd.append(mirror)
        self.progress(
            f"engine: installing Asterisk from Debian sid into {self.root} (about a minute)"
        )
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for steps, raw in enumerate(proc.stdout, start=1):
            line = raw.rstrip()
            if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting", "I: Unpacking")):
                if steps % 25 == 0:
                    self.progress(f"engine:   [{time.monotonic() - started:5.0f} s] {line[3:]}")
            else:
                self.progress(f"engine:   [{time.monotonic() - started:5.0f} s] {line}")
        if proc.wait() != 0:
            raise InstanceError(f"debootstrap failed (exit {proc.returncode}); see output above")
        tmp.rename(self.root)
        self.progress(f"engine: installed in {time.monotonic() - started:.0f} s")

    # -- configure --------------------------------------------------------
    def credentials(self) -> dict[str, str | int]:
        """Load this instance's credentials, generating them the first time."""
        return load_or_create(
            self.credentials_path,
            lambda: {
                "ari_user": "orchestrator",
                "ari_password": secrets.token_urlsafe(24),
                "ami_user": "orchestrator",
                "ami_password": secrets.token_urlsafe(24),
                "realtime_secret": secrets.token_urlsafe(24),
            },
        )

    def _ids(self) -> tuple[int, int]:
        try:
            passwd = (self.root / "etc/passwd").read_text()
        except OSError as exc:
            raise InstanceError(f"cannot read {self.root}/etc/passwd") from exc
        m = re.search(r"^asterisk:[^:]*:(\d+):(\d+):", passwd, re.M)
        if not m:
            raise InstanceError(f"no asterisk user in {self.root}/etc/passwd")
        return int(m.group(1)), int(m.group(2))

    def configure(self) -> None:
        """Write the base configuration from the project's templates; keep tenant files."""
        creds = self.credentials()
        dirs = {
            d: f"{self.inner_dir}/{d}"
            for d in ("etc", "run", "log", "spool", "db", "cache", "journal")
        }
        for d in dirs.values():
            self.host(d).mkdir(parents=True, exist_ok=True)
        self.tenants_dir.mkdir(exist_ok=True)
        # Asterisk creates directories below spool/recording for ARI recordings, but
        # not that one: without it every record request fails with a 500.
        self.host(f"{dirs['spool']}/recording").mkdir(parents=True, exist_ok=True)
        self.host("/var/lib/asterisk/keys").mkdir(parents=True, exist_ok=True)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates_dir / "base"),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        ctx = {
            "instance": self.name,
            "dirs": dirs,
            "bind_address": self.bind_address,
            "http_port": self.ports.http,
            "ami_port": self.ports.ami,
            "sip_port": self.ports.sip,
            "rtp_start": self.ports.rtp_start,
            "rtp_end": self.ports.rtp_end,
            "realm": WITHHELD_REALM,  # withheld-number phones answer its challenge
            "ari_app": self.ari_app,
            "realtime_url": f"{self.realtime_url_base}/{creds['realtime_secret']}",
            **creds,
        }
        for template in sorted(env.list_templates(extensions=["j2"])):
            target = self.etc / template.removesuffix(".j2")
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_text(env.get_template(template).render(ctx))
            tmp.replace(target)
        trunks = self.etc / "pjsip_trunks.conf"
        if not trunks.exists():
            trunks.write_text("; SIP trunks, written by the orchestrator\n")
        # "#include tenants/*.conf" fails the whole dialplan when nothing matches.
        (self.tenants_dir / "_none.conf").write_text("; keeps the tenants/*.conf include valid\n")
        self._copy_stock_files()
        try:
            uid, gid = self._ids() if not self.system else self._system_ids()
        except (InstanceError, KeyError):
            # The engine runs elsewhere (another container): it owns its files there.
            uid = gid = -1
        if uid >= 0:
            for path in [self.dir, *self.dir.rglob("*")]:
                if path.name != "credentials.json":
                    os.chown(path, uid, gid)
        creds.update(
            http_port=self.ports.http,
            ami_port=self.ports.ami,
            sip_port=self.ports.sip,
            rtp_start=self.ports.rtp_start,
            rtp_end=self.ports.rtp_end,
            config_dir=str(self.etc),
            journal_dir=str(self.journal_dir),
        )
        rewrite(self.credentials_path, creds)
        if not self.system and self.root != Path("/"):
            self._hosts_file()

    def _copy_stock_files(self) -> None:
        """Take the packaged defaults for modules we do not configure ourselves."""
        stock = self.root / "etc/asterisk"
        if self.system:
            stock = Path("/etc/asterisk")
        for name in STOCK_FILES:
            src, dst = stock / name, self.etc / name
            if src.exists() and not dst.exists():
                shutil.copyfile(src, dst)

    def _system_ids(self) -> tuple[int, int]:
        import pwd

        entry = pwd.getpwnam("asterisk")
        return entry.pw_uid, entry.pw_gid

    def _hosts_file(self) -> None:
        # No DNS here: Asterisk resolves its own hostname (and a root server name to
        # find its address) at start; unanswered, those lookups stall PJSIP.
        hostname = socket.gethostname()
        lines = [
            "127.0.0.1 localhost",
            f"127.0.1.1 {hostname}",
            "::1 localhost ip6-localhost ip6-loopback",
            "198.41.0.4 a.root-servers.net",
        ]
        (self.root / "etc/hosts").write_text("\n".join(lines) + "\n")
        (self.root / "etc/resolv.conf").write_text("options timeout:1 attempts:1\n")

    # -- run --------------------------------------------------------------
    def _mount(self) -> None:
        if self.system:
            return
        for fs in ("proc", "dev"):
            target = self.root / fs
            if not os.path.ismount(target):
                subprocess.run(["mount", "--bind", f"/{fs}", str(target)], check=True)

    def _cmd(self, *args: str) -> list[str]:
        conf = f"{self.inner_dir}/etc/asterisk.conf"
        base = ["asterisk", "-C", conf, *args]
        return base if self.system else ["chroot", str(self.root), *base]

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

    def start(self, *, timeout: float = 60.0) -> bool:
        """Start Asterisk in the background and wait until ARI answers.

        Returns False when the instance was already running: whoever started it owns
        it, and only the owner may stop it (live calls would be cut).
        """
        if self.pid():
            self.progress(f"engine: instance {self.name} already running (pid {self.pid()})")
            self.wait_ready(timeout=timeout)
            return False
        self.configure()
        self._mount()
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.console_log, "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            self._cmd("-f", "-U", "asterisk", "-G", "asterisk", "-n"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=engine_environment(os.environ),
        )
        log.close()
        # Keep the Popen alive while Asterisk runs: dropping it would warn, and stop() reaps it.
        _CHILDREN[proc.pid] = proc
        self.pid_path.write_text(str(proc.pid))
        self.progress(f"engine: starting Asterisk instance {self.name} (pid {proc.pid})")
        self.wait_ready(timeout=timeout, proc=proc)
        return True

    def ari_get(self, path: str, timeout: float = 2.0) -> object:
        creds = self.credentials()
        req = urllib.request.Request(f"http://{self.bind_address}:{self.ports.http}/ari{path}")
        token = b64encode(f"{creds['ari_user']}:{creds['ari_password']}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def channels(self) -> int:
        """How many channels the engine has up (every leg of every call, dialplan's too)."""
        channels = self.ari_get("/channels")
        return len(channels) if isinstance(channels, list) else 0

    def wait_ready(
        self, *, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = self.console_log.read_text(errors="replace")[-2000:]
                raise InstanceError(f"Asterisk exited with {proc.returncode}:\n{tail}")
            try:
                info = self.ari_get("/asterisk/info")
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    raise InstanceError(
                        f"port {self.ports.http} answers with other credentials: another "
                        "Asterisk instance holds this instance's ports"
                    ) from exc
                time.sleep(0.2)
                continue
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.2)
                continue
            version = info.get("system", {}).get("version", "?") if isinstance(info, dict) else "?"
            self.progress(f"engine: Asterisk {version} ready on ARI port {self.ports.http}")
            return
        raise InstanceError(f"Asterisk did not answer on ARI within {timeout} s")

    def stop(self, *, timeout: float = 20.0) -> None:
        pid = self.pid()
        if not pid:
            self.progress(f"engine: instance {self.name} is not running")
            return
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(self._cmd("-rx", "core stop now"), capture_output=True, timeout=10)
        deadline = time.monotonic() + timeout
        while self.pid() and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
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

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk console command through the remote console."""
        out = subprocess.run(
            self._cmd("-rx", command), capture_output=True, text=True, timeout=timeout
        )
        return out.stdout

    def status(self) -> dict[str, object]:
        pid = self.pid()
        result: dict[str, object] = {
            "instance": self.name,
            "root": str(self.root),
            "installed": self.installed(),
            "running": bool(pid),
            "pid": pid,
            "ports": {"ari": self.ports.http, "ami": self.ports.ami, "sip": self.ports.sip},
        }
        if pid:
            try:
                info = self.ari_get("/asterisk/info")
                result["version"] = (
                    info.get("system", {}).get("version") if isinstance(info, dict) else None
                )
                result["ari"] = True
            except (OSError, urllib.error.URLError, ValueError):
                result["ari"] = False
        return result
