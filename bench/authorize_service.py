"""The service under the prepaid authorization benchmark (bench/authorize.py): the whole
app on the FakeEngine in a thread, a fresh database for it, and its tries counted.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.config_state import ConfigState
from api.services import services_of
from bench.authorize_check import Attempt
from bench.harness import _start_up_sync_done
from orchestrator.core.fake import FakeEngine
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.rating.service import RatingService
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
from orchestrator.store import ledger
from orchestrator.store.db import make_engine, normalize_url
from orchestrator.testing.browser import LiveServer


def serve(settings: Settings) -> LiveServer:
    """The whole service on the FakeEngine, started and past its start-up apply."""
    app = build_app(settings, engine=FakeEngine())
    # The FakeEngine shows no dialplan, so the provisioner's check after each admin
    # change would fail (and log) on every account made; authorizing does not read the
    # tenant's dialplan files, so those changes go to a recording provisioner.
    services_of(app).config_state = ConfigState(RecordingProvisioner())
    server = LiveServer(app).start()
    server.run(_start_up_sync_done())  # the start-up apply: before any tenant exists
    return server


class AttemptLog:
    """Records every try of the services' authorizations (their retries after a lost
    compare-and-set are counted nowhere else): wraps each instance's ``_authorize``."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def watch(self, rating: RatingService) -> None:
        inner = rating._authorize

        def attempt(session: Any, tenant_id: int, numbers: Any, call_id: str, *rest: Any) -> Any:
            started, outcome = time.perf_counter(), "error"
            try:
                answer = inner(session, tenant_id, numbers, call_id, *rest)
                outcome = answer.answer()
                return answer
            except ledger.Contended:
                outcome = "contended"
                raise
            finally:
                self.attempts.append(Attempt(call_id, started, time.perf_counter(), outcome))

        rating._authorize = attempt  # type: ignore[method-assign, assignment]

    def since(self, start: int) -> list[Attempt]:
        return self.attempts[start:]


@contextlib.contextmanager
def database(url: str, directory: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new schema of ``url`` (dropped after)."""
    if not url:
        yield f"sqlite:///{directory / 'bench-authorize.db'}"
        return
    url = normalize_url(url)
    admin = make_engine(url)
    schema = f"bench_authorize_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def service_cpu_s() -> float:
    """CPU time of every thread of this process but the main one (the client's)."""
    main, total = threading.main_thread().native_id, 0
    for task in Path("/proc/self/task").iterdir():
        if int(task.name) == main:
            continue
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
