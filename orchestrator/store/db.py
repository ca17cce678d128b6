"""The database engine, sessions and schema migrations.

SQLite (the default, a file under ``state_dir``) and PostgreSQL are supported::

    engine = make_engine(settings.database_url)
    upgrade(engine)                      # Alembic migrations up to head
    factory = session_factory(engine)
    with factory() as session:
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import Session

__all__ = [
    "SessionFactory",
    "alembic_config",
    "make_engine",
    "normalize_url",
    "ping",
    "session_factory",
    "upgrade",
]

SessionFactory = Callable[[], Session]


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for PostgreSQL URLs that name no driver.

    SQLAlchemy maps a bare ``postgresql://`` to psycopg2, which is not installed.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores FOREIGN KEY clauses (and ON DELETE) unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create the SQLAlchemy engine for ``url`` (``Settings.database_url``)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        # Sessions are opened in FastAPI's worker threads and may be used from
        # another thread than the one that opened them (never concurrently).
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def session_factory(engine: sa.Engine) -> SessionFactory:
    """A callable returning new sessions; objects stay readable after commit."""

    def factory() -> Session:
        # expire_on_commit=False: handlers serialise rows after the commit,
        # possibly in another thread, without a lazy reload.
        return Session(engine, expire_on_commit=False)

    return factory


def alembic_config() -> Config:
    """The Alembic configuration packaged in ``orchestrator/`` (``alembic.ini``)."""
    root = resources.files("orchestrator")
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    return config


def upgrade(target: str | sa.Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``target`` (a URL or an engine) up to ``revision``."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        config = alembic_config()
        with engine.begin() as connection:
            # env.py uses this connection (and leaves logging alone) when given one.
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def ping(engine: sa.Engine) -> bool:
    """``SELECT 1``: True when the database answers."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True
