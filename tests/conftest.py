"""Database fixtures shared by the store and API tests.

``db_url`` is parametrised: every test that uses it runs on SQLite (a file in a
temporary directory) and on PostgreSQL (``ORCH_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). On PostgreSQL each test
session works in its own schema, dropped at the end, so parallel or crashed
runs leave nothing behind that breaks the next one. Tables are emptied before
each test. Engine fixtures live in ``tests/engine/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from orchestrator.store import models  # noqa: F401  (registers the tables)
from orchestrator.store.db import SessionFactory, make_engine, session_factory, upgrade


def _worker_slot() -> None:
    """``pytest -n N`` with ``ORCH_TEST_SLOTS=a,b,...``: xdist worker gwI runs on the I-th
    slot (its own engine instance, service and ports, see tests/engine/conftest.py), as
    ``make test`` runs the real-engine tests on two slots at once. ORCH_TEST_SLOT is set
    to it before any module reads it, so the benchmarks' and child processes agree."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slots = [s.strip() for s in os.environ.get("ORCH_TEST_SLOTS", "").split(",") if s.strip()]
    if not worker or not slots:
        return
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if len(set(slots)) < count or not all(s.isdigit() and int(s) <= 9 for s in slots):
        raise pytest.UsageError(
            f"ORCH_TEST_SLOTS={','.join(slots)}: {count} workers need {count} different "
            "slots from 0 to 9"
        )
    os.environ["ORCH_TEST_SLOT"] = slots[int(worker.removeprefix("gw"))]


_worker_slot()

POSTGRES_URL = os.environ.get(
    "ORCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for the test session; yields its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    admin = make_engine(POSTGRES_URL)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL not reachable at {POSTGRES_URL} (make test starts it): {exc.orig}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


# What TRUNCATE ... RESTART IDENTITY did, minus its cost: the sequences a test used (a
# sequence never read, or just reset, has no last_value) start again from their start.
_RESTART_SEQUENCES = sa.text(
    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
    " FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
)


@pytest.fixture
def db_sessions(db_engine: sa.Engine) -> SessionFactory:
    """A session factory on an emptied database, its ids starting again from 1.

    DELETE, children first, not TRUNCATE: on PostgreSQL a TRUNCATE of the ~50 tables
    makes new files for each and took ~0.3-1.3 s a test; the DELETEs of a test's few rows,
    sent in one round trip, take ~30-90 ms (measured on a loaded 2-core machine).
    """
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.exec_driver_sql("; ".join(f"DELETE FROM {table}" for table in tables))
            conn.execute(_RESTART_SEQUENCES)
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
    return session_factory(db_engine)


@pytest.fixture
def session(db_sessions: SessionFactory) -> Iterator[Session]:
    with db_sessions() as s:
        yield s
