"""For tests that restart the orchestrator: the orchestrator in a process of its own, to
kill it (``SIGKILL``: a crash) or stop it as a deploy does (``SIGTERM``: uvicorn's
graceful shutdown), with the test service's settings (same database and engine); and an
ARI client acting behind its back."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

from orchestrator.engines.asterisk.ari import AriClient
from tests.engine.conftest import REPO, Service

# The orchestrator as its own process: the settings (JSON) from argv[1].
CHILD = """
import json, sys, uvicorn
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
settings = Settings(**json.loads(open(sys.argv[1]).read()))
uvicorn.run(build_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning")
"""


@contextlib.contextmanager
def orchestrator_process(service: Service, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The orchestrator in a child process with the service's settings, once healthy
    (stop the in-thread service first: they share the API port)."""
    assert service._settings is not None
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(service._settings.model_dump(mode="json")))
    with (tmp_path / "child.log").open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], cwd=REPO, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                    break
            assert child.poll() is None, (tmp_path / "child.log").read_text()
            assert time.monotonic() < deadline, "the child orchestrator is not healthy"
            time.sleep(0.2)
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)


@contextlib.asynccontextmanager
async def backdoor_ari(service: Service) -> AsyncIterator[AriClient]:
    """An ARI client (REST only) on the service's engine, behind the orchestrator's back."""
    instance = service.instance
    creds = instance.credentials()
    url = f"http://{instance.bind_address}:{instance.ports.http}/ari"
    async with AriClient(url, str(creds["ari_user"]), str(creds["ari_password"]), "x") as client:
        yield client
