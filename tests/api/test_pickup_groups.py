"""``/api/v1/tenants/{id}/pickup-groups``: create, read, replace, delete; every refusal is
a 4xx that changes nothing; tenant scope; members become managed (their calls run
through the orchestrator) and the tenant is re-applied; deleting an extension removes
it from its groups; the group lookup behind ``*98``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.provisioning.data import load_all, load_tenant
from orchestrator.store.db import SessionFactory, alembic_config, make_engine, upgrade
from orchestrator.store.pickup import pickable_numbers
from tests.api.conftest import bearer
from tests.api.fields import error_field
from tests.api.test_roles_store import _downgrade


def url(tenant: dict[str, Any], group_id: int | None = None) -> str:
    base = f"/api/v1/tenants/{tenant['id']}/pickup-groups"
    return base if group_id is None else f"{base}/{group_id}"


@pytest.fixture
def exts(client: TestClient, tenant_a: dict[str, Any]) -> dict[str, int]:
    out = {}
    for number in ("101", "102", "103", "104"):
        resp = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": number})
        assert resp.status_code == 201, resp.text
        out[number] = resp.json()["id"]
    return out


def managed(db_sessions: SessionFactory, tenant_id: int) -> set[str]:
    with db_sessions() as session:
        one = load_tenant(session, tenant_id)
        every = {c.id: c for c in load_all(session)}
    assert one is not None and every[tenant_id] == one  # both loaders agree
    return {u.number for u in one.users if u.managed}


def test_crud_and_the_managed_members(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    db_sessions: SessionFactory,
    provisioner: RecordingProvisioner,
) -> None:
    assert client.get(url(tenant_a)).json() == []
    assert managed(db_sessions, tenant_a["id"]) == set()
    provisioner.changed.clear()
    resp = client.post(url(tenant_a), json={"name": "sales", "members": ["102", "101"]})
    assert resp.status_code == 201, resp.text
    group = resp.json()
    assert (group["name"], group["members"], group["tenant_id"]) == (
        "sales", ["101", "102"], tenant_a["id"],
    )  # fmt: skip
    assert provisioner.changed == [tenant_a["id"]]
    assert managed(db_sessions, tenant_a["id"]) == {"101", "102"}
    call_settings = client.get(f"/api/v1/extensions/{exts['101']}/call-settings").json()
    assert call_settings["managed"] is True
    assert client.get(url(tenant_a, group["id"])).json() == group
    assert client.get(url(tenant_a)).json() == [group]

    resp = client.put(url(tenant_a, group["id"]), json={"name": "sales-2", "members": ["103"]})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["members"]) == ("sales-2", ["103"])
    assert managed(db_sessions, tenant_a["id"]) == {"103"}
    with db_sessions() as session:
        assert pickable_numbers(session, tenant_a["id"], "103") == []

    resp = client.delete(url(tenant_a, group["id"]))
    assert resp.status_code == 204, resp.text
    assert client.get(url(tenant_a, group["id"])).status_code == 404
    assert managed(db_sessions, tenant_a["id"]) == set()
    assert provisioner.changed == [tenant_a["id"]] * 3


def test_the_pickers_group_lookup(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    for name, members in (("a", ["101", "102"]), ("b", ["101", "103"]), ("c", ["104"])):
        resp = client.post(url(tenant_a), json={"name": name, "members": members})
        assert resp.status_code == 201, resp.text
    with db_sessions() as session:
        assert pickable_numbers(session, tenant_a["id"], "101") == ["102", "103"]
        assert pickable_numbers(session, tenant_a["id"], "102") == ["101"]
        assert pickable_numbers(session, tenant_a["id"], "104") == []
        assert pickable_numbers(session, tenant_a["id"], "999") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Sales", "members": []}, "name"),
        ({"name": "", "members": []}, "name"),
        ({"name": "-x", "members": []}, "name"),
        ({"name": "a" * 41, "members": []}, "name"),
        ({"name": "ok", "members": ["1"]}, "members[0]"),
        ({"name": "ok", "members": ["101", "10a"]}, "members[1]"),
        ({"name": "ok", "members": ["101", "101"]}, "members"),
        ({"name": "ok", "members": ["999"]}, "members[0]"),
        ({"name": "ok", "members": [101]}, "0"),
        ({"name": "ok", "members": "101"}, "members"),
        ({"name": "ok", "members": ["1${x}"]}, "members[0]"),
        ({"name": "ok", "extra": 1}, "extra"),
        ({"members": ["101"]}, "name"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    db_sessions: SessionFactory,
    body: dict[str, Any],
    field: str,
) -> None:
    resp = client.post(url(tenant_a), json={"name": "g", "members": ["101"]})
    group = resp.json()
    for method, target in (("POST", url(tenant_a)), ("PUT", url(tenant_a, group["id"]))):
        resp = client.request(method, target, json=body)
        assert resp.status_code == 422, resp.text
        assert error_field(resp.json()) == field
    assert client.get(url(tenant_a)).json() == [group]
    assert managed(db_sessions, tenant_a["id"]) == {"101"}


def test_a_name_taken_is_409(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int]
) -> None:
    first = client.post(url(tenant_a), json={"name": "a", "members": ["101"]}).json()
    second = client.post(url(tenant_a), json={"name": "b", "members": ["102"]}).json()
    assert client.post(url(tenant_a), json={"name": "a", "members": []}).status_code == 409
    resp = client.put(url(tenant_a, second["id"]), json={"name": "a", "members": ["104"]})
    assert resp.status_code == 409, resp.text
    assert client.get(url(tenant_a)).json() == [first, second]


def test_tenant_scope(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    exts: dict[str, int],
) -> None:
    group = client.post(url(tenant_a), json={"name": "a", "members": ["101"]}).json()
    resp = client.post(f"/api/v1/tenants/{tenant_b['id']}/extensions", json={"number": "201"})
    assert resp.status_code == 201
    admin_b = bearer(tenant_b["token"])
    # Tenant B's admin sees nothing of A's: 404 as if it did not exist.
    for method in ("GET", "PUT", "DELETE"):
        resp = client.request(method, url(tenant_a, group["id"]), headers=admin_b,
                              json={"name": "x", "members": []})  # fmt: skip
        assert resp.status_code == 404, (method, resp.text)
    assert client.get(url(tenant_a), headers=admin_b).status_code == 404
    # A's group through B's path: 404; A's extension in B's group: 422.
    assert client.get(url(tenant_b, group["id"]), headers=admin_b).status_code == 404
    resp = client.post(url(tenant_b), headers=admin_b, json={"name": "b", "members": ["101"]})
    assert resp.status_code == 422 and error_field(resp.json()) == "members[0]"
    resp = client.post(url(tenant_b), headers=admin_b, json={"name": "b", "members": ["201"]})
    assert resp.status_code == 201, resp.text
    assert client.get(url(tenant_a), headers=bearer(tenant_a["token"])).json() == [group]
    assert client.get("/api/v1/tenants/999999/pickup-groups").status_code == 404


def test_deleting_an_extension_removes_it_from_its_groups(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int]
) -> None:
    group = client.post(url(tenant_a), json={"name": "a", "members": ["101", "102"]}).json()
    resp = client.delete(f"/api/v1/tenants/{tenant_a['id']}/extensions/{exts['102']}")
    assert resp.status_code == 204, resp.text
    assert client.get(url(tenant_a, group["id"])).json()["members"] == ["101"]


def test_migration_0023_up_and_down(tmp_path: Path) -> None:
    """The revision's tables come and go; the database around them stays usable.
    (PostgreSQL: test_store's migrations-match-models runs every revision there.)"""
    empty_db = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0023_pickup_groups")
    previous = script.down_revision  # whatever it is chained on at merge
    assert isinstance(previous, str)
    upgrade(empty_db, "0023_pickup_groups")
    assert {"pickup_groups", "pickup_group_members"} <= set(sa.inspect(empty_db).get_table_names())
    _downgrade(empty_db, previous)
    assert not {"pickup_groups", "pickup_group_members"} & set(
        sa.inspect(empty_db).get_table_names()
    )
    upgrade(empty_db)
    assert "pickup_group_members" in sa.inspect(empty_db).get_table_names()
    empty_db.dispose()
