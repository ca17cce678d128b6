"""The ``bench`` Asterisk instance and the whole service, started for a run, always stopped.

The service is what ``make run`` serves (:func:`orchestrator.runtime.build_app`),
run by uvicorn in a thread on an event loop of its own, as in
``tests/engine/conftest.py``. :meth:`Service.run` runs a coroutine on that loop,
so the benchmark can time the provisioner exactly where the API runs it while
its own loop keeps driving the SIP phones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import uvicorn

from api.services import services_of
from orchestrator.engines.asterisk.instance import PRESETS, AsteriskInstance, Ports
from orchestrator.engines.asterisk.kit import templates_dir
from orchestrator.engines.asterisk.provisioning.apply import AsteriskProvisioner
from orchestrator.engines.asterisk.provisioning.realtime import PREFIX
from orchestrator.front_door import server_config
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
from orchestrator.testing.sipp_live import SIPP_PHONE_SETTINGS

T = TypeVar("T")

ROOT = Path(os.environ.get("ORCH_ASTERISK__ROOT", "/var/cache/orchestrator/asterisk-root"))
# ORCH_TEST_SLOT=k (1-9, as in tests/engine/conftest.py): an engine instance
# ("bench<k>") and ports of its own, so a developer's parallel test run, which runs
# every benchmark in smoke mode, does not share (and restart) another's bench engine.
SLOT = int(os.environ.get("ORCH_TEST_SLOT", "0"))
INSTANCE = f"bench{SLOT}" if SLOT else "bench"
_base = PRESETS["bench"]
PORTS = Ports(
    _base.http + 100 * SLOT, _base.ami + 100 * SLOT, _base.sip + 100 * SLOT,
    _base.rtp_start, _base.rtp_end,
)  # fmt: skip
# The service the bench engine fetches its SIP users from (realtime over HTTP).
API_PORT = int(os.environ.get("ORCH_BENCH_API_PORT", str(28000 + 100 * SLOT)))


def sipp_port(port: int) -> int:
    """A SIPp phone's local port (27101-27651), moved for the slot.

    7 a slot: no two slots 0-9 then share a port (``tests/unit/test_bench_main.py``).
    """
    return port + 7 * SLOT


def progress(message: str) -> None:
    """Progress goes to stderr: stdout carries only the results."""
    print(message, file=sys.stderr, flush=True)


def make_instance() -> AsteriskInstance:
    return AsteriskInstance(
        root=ROOT,
        name=INSTANCE,
        ports=PORTS,
        templates_dir=templates_dir(),
        realtime_url_base=f"http://127.0.0.1:{API_PORT}{PREFIX}",
        progress=progress,
    )


@contextlib.contextmanager
def engine_instance() -> Iterator[AsteriskInstance]:
    """A freshly started ``bench`` instance with no tenant configuration; stopped on exit."""
    instance = make_instance()
    instance.install()
    if instance.pid():
        # Left by a run that was killed: its memory and caches would skew every number.
        progress("engine: restarting the bench instance left running by an earlier run")
        instance.stop()
    # The store is fresh, so "from scratch" must hold for the engine too.
    for stale in instance.tenants_dir.glob("t*.conf"):
        stale.unlink()
    shutil.rmtree(instance.etc / "tenants-history", ignore_errors=True)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def bench_settings(state_dir: Path) -> Settings:
    """The service's settings for a run: a fresh SQLite store in ``state_dir``, the
    ``bench`` engine, a new admin token."""
    return Settings(
        state_dir=state_dir,
        database_url=f"sqlite:///{state_dir / 'bench.db'}",
        admin_token="bench-" + secrets.token_urlsafe(24),
        api_port=API_PORT,
        asterisk={"root": ROOT, "instance": INSTANCE},
        engine="asterisk",
        # The benchmarks' SIPp phones send no RTP and do not answer OPTIONS (see the constant).
        **SIPP_PHONE_SETTINGS,
    )


def rss_mb(instance: AsteriskInstance) -> float:
    """The engine's resident memory (VmRSS), in MB."""
    pid = instance.pid()
    if pid is None:
        raise RuntimeError("the engine is not running")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


class Service:
    """The orchestrator serving on ``settings.api_port`` from a thread; ``async with`` it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = build_app(settings)
        self.url = f"http://127.0.0.1:{settings.api_port}"
        self.headers = {"Authorization": f"Bearer {settings.admin_token}"}
        # As `make run` serves it (an engine kit's front door answering on the port).
        config = server_config(
            self.app, host="127.0.0.1", port=settings.api_port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="orchestrator-bench", daemon=True)

    @property
    def provisioner(self) -> AsteriskProvisioner:
        return cast(AsteriskProvisioner, services_of(self.app).provisioner)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=60)

    def _serve(self) -> None:
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            self._loop = runner.get_loop()
            runner.run(self.server.serve())

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the service's event loop and wait for it without blocking ours."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the service is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def launch(self) -> None:
        """Start serving, without waiting for anything (a restart's clock starts here)."""
        self._thread.start()

    async def start(self, timeout: float = 60) -> None:
        """Serve, and return once healthy (engine connected) and the start-up sync is done."""
        self.launch()
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/health")).status_code == 200:
                        break
                if time.monotonic() > deadline or not self._thread.is_alive():
                    raise RuntimeError(f"the service did not become healthy within {timeout} s")
                await asyncio.sleep(0.2)
        # Once connected the service brings the engine in sync with the store; that
        # pass must be over before the store is filled, or it would do the full
        # apply itself, unmeasured.
        await self.run(_start_up_sync_done())

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self._thread.join, 30)

    async def __aenter__(self) -> Service:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _start_up_sync_done() -> None:
    # The task build_app's lifespan starts: see orchestrator.runtime._sync_when_connected.
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        if task is not current and getattr(coro, "__name__", "") == "_sync_when_connected":
            await task
