"""The store below the API: migrations match the models; foreign keys hold."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel

from orchestrator.store.db import make_engine, normalize_url
from orchestrator.store.models import Extension


def test_migrations_match_models(db_engine: sa.Engine) -> None:
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Extension(tenant_id=12345, number="101", sip_username="101", sip_password="x"))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_normalize_url() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    engine = make_engine("postgresql://u@h/db")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
