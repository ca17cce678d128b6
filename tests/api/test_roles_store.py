"""The database's side of the API roles: its CHECK constraints and foreign key, and
migration 0009 over existing users, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, select

from orchestrator.store import crud
from orchestrator.store.db import alembic_config, make_engine, upgrade
from orchestrator.store.models import ApiUser, ExtensionCreate, Role, TenantCreate
from tests.conftest import POSTGRES_URL


@pytest.mark.parametrize(
    ("role", "tenant", "extension"),
    [
        (Role.AGENT, True, False),  # an agent without its extension
        (Role.SUPERVISOR, True, True),  # an extension on another role
        (Role.TENANT_ADMIN, True, True),
        (Role.SUPERVISOR, False, False),  # a tenant's role without a tenant
        (Role.AGENT, False, True),
        (Role.SYSTEM_ADMIN, True, False),  # a system admin in a tenant
    ],
)
def test_the_database_refuses_inconsistent_users(
    session: Session, role: Role, tenant: bool, extension: bool
) -> None:
    t = crud.create_tenant(session=session, data=TenantCreate(name="A", sip_domain="a.example"))
    assert t.id is not None
    ext = crud.create_extension(session=session, tenant_id=t.id, data=ExtensionCreate(number="101"))
    session.add(
        ApiUser(
            name="odd",
            role=role,
            tenant_id=t.id if tenant else None,
            extension_id=ext.id if extension else None,
            token_hash="0" * 64,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_an_agent_user_goes_with_its_extension(session: Session) -> None:
    t = crud.create_tenant(session=session, data=TenantCreate(name="A", sip_domain="a.example"))
    assert t.id is not None
    ext = crud.create_extension(session=session, tenant_id=t.id, data=ExtensionCreate(number="101"))
    session.add(ApiUser(name="ann", role=Role.AGENT, tenant_id=t.id, extension_id=ext.id,
                        token_hash="1" * 64))  # fmt: skip
    session.commit()
    assert ext.id is not None
    crud.delete_extension(session=session, tenant_id=t.id, extension_id=ext.id)
    session.expire_all()
    assert session.exec(select(ApiUser.name)).all() == []


# -- migration 0009 over existing data --------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A database of its own (not the session's migrated one), dropped afterwards."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
        return
    admin = make_engine(POSTGRES_URL)
    schema = f"test_mig_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _users(engine: sa.Engine) -> list[tuple[str, str, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, role, tenant_id FROM api_users ORDER BY name"))
        return [tuple(r) for r in rows]


def _insert_user(engine: sa.Engine, name: str, role: str, tenant_id: int | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_users (name, role, tenant_id, token_hash, created_at)"
                " VALUES (:name, :role, :tenant_id, :hash, CURRENT_TIMESTAMP)"
            ),
            {"name": name, "role": role, "tenant_id": tenant_id, "hash": name * 8},
        )


def test_migration_0009_keeps_users_and_goes_back(empty_db: sa.Engine) -> None:
    upgrade(empty_db, "0008")
    with empty_db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, name, sip_domain, enabled, config_version, created_at,"
                " updated_at) VALUES (1, 'A', 'a.example', true, 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            )
        )
    _insert_user(empty_db, "admin", "system_admin", None)
    _insert_user(empty_db, "boss", "tenant_admin", 1)
    before = _users(empty_db)
    upgrade(empty_db)
    assert _users(empty_db) == before
    checks = {c["name"] for c in sa.inspect(empty_db).get_check_constraints("api_users")}
    assert {"ck_api_users_role", "ck_api_users_tenant", "ck_api_users_extension"} <= checks
    _insert_user(empty_db, "floor", "supervisor", 1)
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "ann", "agent", 1)  # no extension
    # Down: supervisors and agents cannot exist under the old rule, the others stay.
    _downgrade(empty_db, "0008")
    assert _users(empty_db) == before
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "floor", "supervisor", 1)
    upgrade(empty_db)
    assert _users(empty_db) == before
