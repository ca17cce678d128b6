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


@pytest.fixture
def db_sessions(db_engine: sa.Engine) -> SessionFactory:
    """A session factory on an emptied database."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
    return session_factory(db_engine)


@pytest.fixture
def session(db_sessions: SessionFactory) -> Iterator[Session]:
    with db_sessions() as s:
        yield s
