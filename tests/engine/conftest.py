"""The real Asterisk, started once per test session (instance "test").

The instance is installed (debootstrap, cached in /var/cache/orchestrator) and
started if it is not running; it is stopped at the end only if this session
started it. Every test in tests/engine/ talks to it: none is skipped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from moto.server import ThreadedMotoServer

from orchestrator.engines.asterisk.ari import AriClient
from orchestrator.engines.asterisk.instance import PRESETS, AsteriskInstance, Ports
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
from orchestrator.testing.sipp_live import SIPP_PHONE_SETTINGS

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("ORCH_ASTERISK__ROOT", "/var/cache/orchestrator/asterisk-root"))
# ORCH_TEST_SLOT=k (1-9) gives a developer's parallel run its own engine instance
# ("test<k>") and ports (+100*k), so several people can run tests/engine at once; under
# pytest -n, ORCH_TEST_SLOTS gives each worker its own (tests/conftest.py).
SLOT = int(os.environ.get("ORCH_TEST_SLOT", "0"))
# The orchestrator service the test engine fetches SIP users from (see tests/engine/test_*).
TEST_API_PORT = 18000 + 100 * SLOT
PORTS = (
    Ports(18088 + 100 * SLOT, 15038 + 100 * SLOT, 15060 + 100 * SLOT,
          30000 + 1000 * SLOT, 30999 + 1000 * SLOT)
    if SLOT else PRESETS["test"]
)  # fmt: skip


# How long a call to an extension rings (ORCH_RING_TIMEOUT_S; 30 s by default): short, so
# that the no-answer test waits 10 s, not 30; long enough for every test that answers.
RING_TIMEOUT_S = 10

# The S3-compatible server (moto) recordings are uploaded to, and its bucket.
S3_PORT = 18050 + 100 * SLOT
S3_BUCKET = "orchestrator-recordings"


T = TypeVar("T")


@contextlib.contextmanager
def dialplan_file(asterisk: AsteriskInstance, file_name: str, text: str) -> Iterator[Path]:
    """A test-only dialplan file in the instance's tenants folder, loaded, then removed
    (and the dialplan reloaded without it) at the end; yields its path."""
    path = asterisk.tenants_dir / file_name
    path.write_text(text)
    asterisk.cli("dialplan reload")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        asterisk.cli("dialplan reload")


def shared(fixture: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    """One value per session for a session fixture that tests/conformance/conftest.py
    imports too: pytest makes a fixture per conftest that names it, and two test engines
    or services on one slot's ports would clash. The first user makes it, the last one
    to finish tears it down."""
    made: list[tuple[T, Iterator[T]]] = []
    users = 0

    @functools.wraps(fixture)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[T]:
        nonlocal users
        if not made:
            steps = fixture(*args, **kwargs)
            made.append((next(steps), steps))
        users += 1
        try:
            yield made[0][0]
        finally:
            users -= 1
            if not users:
                _, steps = made.pop()
                next(steps, None)

    return wrapper


def make_instance() -> AsteriskInstance:
    return AsteriskInstance(
        root=ROOT,
        name=f"test{SLOT}" if SLOT else "test",
        templates_dir=REPO / "dialplan_templates" / "asterisk",
        realtime_url_base=f"http://127.0.0.1:{TEST_API_PORT}/engine/asterisk/realtime",
        ports=PORTS,
    )


@pytest.fixture(scope="session")
@shared
def asterisk() -> Iterator[AsteriskInstance]:
    """The running test instance of Asterisk (ports: ARI 18088, AMI 15038, SIP 15060)."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1 and not os.environ.get(
        "ORCH_TEST_SLOTS"
    ):
        pytest.fail(
            "engine tests on several xdist workers need a slot each: "
            "ORCH_TEST_SLOTS=a,b (see tests/conftest.py), or run them without -n"
        )
    instance = make_instance()
    instance.install()
    started_here = instance.pid() is None
    if started_here:
        instance.start()
    else:
        instance.configure()
        instance.cli("core reload")
        instance.wait_ready()
    yield instance
    if started_here:
        instance.stop()


class Service:
    """The whole orchestrator (API, provisioning, Asterisk adapter) serving on TEST_API_PORT."""

    def __init__(
        self,
        url: str,
        token: str,
        instance: AsteriskInstance,
        *,
        app: FastAPI | None = None,
        s3_url: str = "",
        settings: Settings | None = None,
        server: uvicorn.Server | None = None,
        thread: threading.Thread | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.instance = instance
        # The app object itself (its state: IVR registry, recordings...) for tests that
        # add a test-only flow; and the S3 server's URL (bucket S3_BUCKET).
        self.app = app
        self.s3_url = s3_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self._settings, self._server, self._thread = settings, server, thread

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30)

    def stop(self) -> None:
        """Stop the orchestrator as a deploy does (a graceful shutdown); the engine runs on."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = self._thread = None

    def start(self) -> None:
        """A new orchestrator on the same database and engine (after :meth:`stop`).

        Tests that restart the service must keep ``self.app`` current: they read it anew.
        """
        assert self._settings is not None and self._server is None
        self.app, self._server, self._thread = _serve(self._settings, self.url)


@pytest.fixture(scope="session")
@shared
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) with the bucket S3_BUCKET."""
    import boto3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{S3_PORT}"
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ).create_bucket(Bucket=S3_BUCKET)  # fmt: skip
    yield url
    server.stop()


@pytest.fixture(scope="session")
@shared
def service(
    asterisk: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory, s3_server: str
) -> Iterator[Service]:
    """The orchestrator in a thread, on a fresh SQLite database, connected to the test engine."""
    tmp = tmp_path_factory.mktemp("service")
    token = "e2e-" + secrets.token_urlsafe(24)
    settings = Settings(
        state_dir=tmp,
        database_url=f"sqlite:///{tmp / 'e2e.db'}",
        admin_token=token,
        api_port=TEST_API_PORT,
        asterisk={"root": ROOT, "instance": asterisk.name},
        engine="asterisk",
        s3_bucket=S3_BUCKET,
        s3_endpoint_url=s3_server,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        recording_upload_poll_s=0.5,
        ring_timeout_s=RING_TIMEOUT_S,
        # SIPp phones send no RTP and do not answer OPTIONS once registered; the
        # dead-phone tests restart the service with short real timeouts.
        **SIPP_PHONE_SETTINGS,
    )
    # A previous run's tenants must not linger in the engine: the store is fresh.
    for stale in asterisk.tenants_dir.glob("t*.conf"):
        stale.unlink()
    url = f"http://127.0.0.1:{TEST_API_PORT}"
    app, server, thread = _serve(settings, url)
    service = Service(
        url, token, asterisk, app=app, s3_url=s3_server,
        settings=settings, server=server, thread=thread,
    )  # fmt: skip
    yield service
    service.stop()


def _serve(settings: Settings, url: str) -> tuple[FastAPI, uvicorn.Server, threading.Thread]:
    """The orchestrator in a thread, once it is healthy (engine connected)."""
    app = build_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=TEST_API_PORT, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="orchestrator-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the orchestrator did not become healthy within 30 s")
        time.sleep(0.2)
    return app, server, thread


@pytest.fixture
async def ari(service: Service) -> AsyncIterator[AriClient]:
    """An ARI client acting behind the orchestrator's back (REST only)."""
    from tests.engine.child_service import backdoor_ari

    async with backdoor_ari(service) as client:
        yield client
