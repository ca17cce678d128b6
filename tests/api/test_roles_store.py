"""The database's side of the API roles: its CHECK constraints and foreign key, and
migrations 0009 (supervisors, agents) and 0018 (self-care users) over existing users, up
and down, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
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
        (Role.USER, True, False),  # a self-care user without its extension
        (Role.USER, False, True),  # ... or without its tenant
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


@pytest.mark.parametrize("role", [Role.AGENT, Role.USER])
def test_an_extensions_user_goes_with_its_extension(session: Session, role: Role) -> None:
    t = crud.create_tenant(session=session, data=TenantCreate(name="A", sip_domain="a.example"))
    assert t.id is not None
    ext = crud.create_extension(session=session, tenant_id=t.id, data=ExtensionCreate(number="101"))
    session.add(ApiUser(name="ann", role=role, tenant_id=t.id, extension_id=ext.id,
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


def _insert_user(
    engine: sa.Engine, name: str, role: str, tenant_id: int | None, extension_id: int | None = None
) -> None:
    # extension_id only when given: before 0009 there is no such column.
    columns = "name, role, tenant_id, token_hash, created_at"
    values = ":name, :role, :tenant_id, :hash, CURRENT_TIMESTAMP"
    if extension_id is not None:
        columns, values = f"{columns}, extension_id", f"{values}, :extension_id"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO api_users ({columns}) VALUES ({values})"),
            {"name": name, "role": role, "tenant_id": tenant_id, "extension_id": extension_id,
             "hash": name * 8},
        )  # fmt: skip


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


def test_migration_0018_admits_users_and_goes_back(empty_db: sa.Engine) -> None:
    """Up: a user needs its extension like an agent; down: users go, the others stay."""
    before_0018 = ScriptDirectory.from_config(alembic_config()).get_revision("0018_user_role")
    previous = before_0018.down_revision  # whatever 0018 is chained on
    assert isinstance(previous, str)
    upgrade(empty_db, previous)
    with empty_db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, name, sip_domain, enabled, config_version, created_at,"
                " updated_at) VALUES (1, 'A', 'a.example', true, 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO extensions (id, tenant_id, number, name, first_name, last_name,"
                " caller_id_name, caller_id_number, enabled, sip_username, sip_password,"
                " redirect_reason, created_at, updated_at) VALUES (1, 1, '101', '', '', '',"
                " '', '', true, '101', 'secret', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    _insert_user(empty_db, "admin", "system_admin", None)
    _insert_user(empty_db, "ann", "agent", 1, 1)
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "una", "user", 1, 1)  # not a role before 0018
    before = _users(empty_db)
    upgrade(empty_db, "0018_user_role")
    assert _users(empty_db) == before
    _insert_user(empty_db, "una", "user", 1, 1)
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "ulf", "user", 1)  # no extension
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "sam", "supervisor", 1, 1)  # still only agents and users
    _downgrade(empty_db, previous)
    assert _users(empty_db) == before
    with pytest.raises(sa.exc.IntegrityError):
        _insert_user(empty_db, "una", "user", 1, 1)
    upgrade(empty_db)
    assert _users(empty_db) == before
