"""Ring groups over REST: CRUD, strict validation (nothing changes on a 4xx), numbers
checked against the tenant's extensions and rooms (both ways), DIDs routed to a group,
tenant scope and roles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import RingGroup
from orchestrator.store.ring_groups import group_by_number, next_start
from tests.api.conftest import bearer
from tests.api.fields import error_field

MEMBERS = [{"destination": "101"}, {"destination": "extension:102", "ring_s": 15}]


def url(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/ring-groups"


@pytest.fixture
def phones(client: TestClient, tenant_a: dict[str, Any]) -> None:
    for number in ("101", "102", "103"):
        r = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": number})
        assert r.status_code == 201, r.text


def add_group(client: TestClient, tenant: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": "sales", "number": "600", "members": MEMBERS, **fields}
    r = client.post(url(tenant), json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_crud(
    client: TestClient,
    tenant_a: dict[str, Any],
    phones: None,
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> None:
    provisioner.changed.clear()
    group = add_group(client, tenant_a, strategy="round_robin", timeout_s=45,
                      fallback="voicemail:103")  # fmt: skip
    assert group["members"] == [
        {"destination": "extension:101", "ring_s": 20, "confirm": False},
        {"destination": "extension:102", "ring_s": 15, "confirm": False},
    ]
    assert (group["strategy"], group["timeout_s"], group["fallback"]) == (
        "round_robin", 45, "voicemail:103",
    )  # fmt: skip
    assert "rr_next" not in group  # the flow's own
    assert provisioner.changed == [tenant_a["id"]]  # its number joined the dialplan
    assert client.get(f"{url(tenant_a)}/{group['id']}").json() == group
    listed = client.get(url(tenant_a)).json()
    assert listed["total"] == 1 and listed["items"] == [group]

    with db_sessions() as session:
        next_start(session, group["id"], start=1)
    r = client.patch(f"{url(tenant_a)}/{group['id']}", json={"timeout_s": 30})
    assert r.status_code == 200 and r.json()["timeout_s"] == 30
    assert provisioner.changed == [tenant_a["id"]]  # read per call: no re-apply
    with db_sessions() as session:
        row = group_by_number(session, tenant_a["id"], "600")
        assert row is not None and row.rr_next == 1  # a timeout keeps the position
    # Another member list: round robin starts over.
    r = client.patch(f"{url(tenant_a)}/{group['id']}",
                     json={"members": [{"destination": "103"}, *MEMBERS]})  # fmt: skip
    assert r.status_code == 200, r.text
    with db_sessions() as session:
        row = group_by_number(session, tenant_a["id"], "600")
        assert row is not None and row.rr_next == 0
    r = client.patch(f"{url(tenant_a)}/{group['id']}", json={"number": "601"})
    assert r.status_code == 200 and provisioner.changed == [tenant_a["id"]] * 2
    assert client.delete(f"{url(tenant_a)}/{group['id']}").status_code == 204
    assert client.get(f"{url(tenant_a)}/{group['id']}").status_code == 404
    assert provisioner.changed == [tenant_a["id"]] * 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Sales Team"}, "name"),
        ({"number": "6"}, "number"),
        ({"number": "600,1,Hangup"}, "number"),
        ({"number": 600}, "number"),
        ({"strategy": "random"}, "strategy"),
        ({"timeout_s": 4}, "timeout_s"),
        ({"timeout_s": 601}, "timeout_s"),
        ({"timeout_s": "60"}, "timeout_s"),
        ({"members": []}, "members"),
        ({"members": [{"destination": "109"}]}, "members[0].destination"),  # no such extension
        ({"members": [{"destination": "number:+44 20"}]}, "members[0].destination"),
        ({"members": [{"destination": "101", "ring_s": 500}]}, "members[0].ring_s"),
        ({"members": [{"destination": "101"}, {"destination": "101"}]}, "members[1].destination"),
        ({"members": "101,102"}, "members"),
        ({"fallback": "extension:109"}, "fallback"),
        ({"fallback": "voicemail:109"}, "fallback"),
        ({"fallback": "ivr:nothing"}, "fallback"),
        ({"fallback": "number:+442079460000"}, "fallback"),
        ({"fallback": None}, "fallback"),
        ({"ring_time": 5}, "ring_time"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any], phones: None, fields: dict[str, Any], field: str
) -> None:
    r = client.post(url(tenant_a), json={"name": "sales", "number": "600", "members": MEMBERS,
                                         **fields})  # fmt: skip
    assert r.status_code == 422, r.text
    assert error_field(r.json()) == field, r.json()
    assert client.get(url(tenant_a)).json()["total"] == 0

    group = add_group(client, tenant_a, name="kept", number="610")
    r = client.patch(f"{url(tenant_a)}/{group['id']}", json=fields)
    assert r.status_code == 422, r.text
    assert client.get(f"{url(tenant_a)}/{group['id']}").json() == group


def test_external_members_confirm_by_default(
    client: TestClient, tenant_a: dict[str, Any], phones: None
) -> None:
    group = add_group(client, tenant_a, members=[
        {"destination": "number:+447700900123"},
        {"destination": "number:+447700900124", "confirm": False},
    ])  # fmt: skip
    assert [m["confirm"] for m in group["members"]] == [True, False]


def test_numbers_collide_with_extensions_rooms_and_groups(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any], phones: None
) -> None:
    tid = tenant_a["id"]
    group = add_group(client, tenant_a)
    for body, field in (
        ({"name": "sales", "number": "601"}, "name"),
        ({"name": "other", "number": "600"}, "number"),
        ({"name": "other", "number": "101"}, "number"),  # an extension's
    ):
        r = client.post(url(tenant_a), json={"members": MEMBERS, **body})
        assert r.status_code == 409, r.text
        assert r.json()["details"]["field"] == field
    room = {"tenant_id": tid, "name": "board", "number": "800"}
    assert client.post("/api/v1/conference-rooms", json=room).status_code == 201
    r = client.post(url(tenant_a), json={"name": "x", "number": "800", "members": MEMBERS})
    assert r.status_code == 409 and "conference room" in r.json()["message"]
    r = client.patch(f"{url(tenant_a)}/{group['id']}", json={"number": "101"})
    assert r.status_code == 409
    # ...and the other way round: no extension or room may take a group's number.
    r = client.post(f"/api/v1/tenants/{tid}/extensions", json={"number": "600"})
    assert r.status_code == 409 and "ring group" in r.json()["message"]
    r = client.post("/api/v1/conference-rooms", json={**room, "name": "b2", "number": "600"})
    assert r.status_code == 409 and "ring group" in r.json()["message"]
    # Another tenant's numbers are its own.
    r = client.post(f"/api/v1/tenants/{tenant_b['id']}/extensions", json={"number": "600"})
    assert r.status_code == 201


def test_a_did_routes_to_a_group_which_then_cannot_go(
    client: TestClient, tenant_a: dict[str, Any], phones: None
) -> None:
    group = add_group(client, tenant_a)
    did = {"number": "+12065550100", "pricing_batch": "b", "tenant_id": tenant_a["id"]}
    r = client.post("/api/v1/dids", json=did)
    assert r.status_code == 201, r.text
    did_id = r.json()["id"]
    r = client.patch(f"/api/v1/dids/{did_id}", json={"destination": "ring_group:699"})
    assert r.status_code == 422 and "no ring group 699" in r.json()["message"]
    r = client.patch(f"/api/v1/dids/{did_id}", json={"destination": "ring_group:600"})
    assert r.status_code == 200 and r.json()["destination"] == "ring_group:600"
    for resp in (
        client.delete(f"{url(tenant_a)}/{group['id']}"),
        client.patch(f"{url(tenant_a)}/{group['id']}", json={"number": "601"}),
    ):
        assert resp.status_code == 409 and resp.json()["details"]["dids"] == ["+12065550100"]
    assert client.get(f"{url(tenant_a)}/{group['id']}").json() == group
    r = client.patch(f"/api/v1/dids/{did_id}", json={"destination": "hangup"})
    assert client.delete(f"{url(tenant_a)}/{group['id']}").status_code == 204


def test_tenant_scope_and_roles(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any], phones: None,
    db_sessions: SessionFactory,
) -> None:  # fmt: skip
    group = add_group(client, tenant_a)
    one = f"{url(tenant_a)}/{group['id']}"
    as_b = bearer(tenant_b["token"])
    assert client.get(url(tenant_a), headers=as_b).status_code == 404
    assert client.get(one, headers=as_b).status_code == 404
    assert client.patch(one, json={"timeout_s": 9}, headers=as_b).status_code == 404
    assert client.delete(one, headers=as_b).status_code == 404
    body = {"name": "x", "number": "620", "members": MEMBERS}
    assert client.post(url(tenant_a), json=body, headers=as_b).status_code == 404
    # B's own list does not show A's group, nor does A's id work under B's path.
    assert client.get(url(tenant_b), headers=as_b).json()["total"] == 0
    assert client.get(f"{url(tenant_b)}/{group['id']}", headers=as_b).status_code == 404
    as_a = bearer(tenant_a["token"])
    assert client.get(url(tenant_a), headers=as_a).json()["total"] == 1
    boss = {"name": "boss", "role": "supervisor", "tenant_id": tenant_a["id"]}
    r = client.post("/api/v1/users", json=boss)
    assert r.status_code == 201, r.text
    assert client.get(url(tenant_a), headers=bearer(r.json()["token"])).status_code == 403
    with db_sessions() as session:
        assert session.get(RingGroup, group["id"]) is not None


def test_members_and_fallbacks_cannot_vanish_under_a_group(
    client: TestClient, tenant_a: dict[str, Any], phones: None
) -> None:
    tid = tenant_a["id"]
    exts = {e["number"]: e["id"] for e in
            client.get(f"/api/v1/tenants/{tid}/extensions").json()["items"]}  # fmt: skip
    r = client.post("/api/v1/ivr-apps", json={"tenant_id": tid, "name": "menu", "app": "menu"})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    add_group(client, tenant_a, name="a", number="600", fallback="voicemail:103")
    add_group(client, tenant_a, name="b", number="601", fallback="ivr:menu")
    for number, groups in (("101", ["a", "b"]), ("103", ["a"])):
        r = client.delete(f"/api/v1/tenants/{tid}/extensions/{exts[number]}")
        assert r.status_code == 409 and r.json()["details"]["ring_groups"] == groups, r.text
    r = client.patch(f"/api/v1/tenants/{tid}/extensions/{exts['102']}", json={"number": "109"})
    assert r.status_code == 409 and r.json()["details"]["ring_groups"] == ["a", "b"]
    assert client.delete(f"/api/v1/ivr-apps/{app_id}").status_code == 409
    r = client.patch(f"/api/v1/ivr-apps/{app_id}", json={"name": "other"})
    assert r.status_code == 409 and r.json()["details"]["ring_groups"] == ["b"]
    # The mailbox group a falls back to (103's) stays while a names it.
    box = client.post("/api/v1/mailboxes", json={
        "tenant_id": tid, "extension_id": exts["103"], "number": "103", "pin": "4711"})  # fmt: skip
    assert box.status_code == 201, box.text
    r = client.delete(f"/api/v1/mailboxes/{box.json()['id']}")
    assert r.status_code == 409 and r.json()["details"]["ring_groups"] == ["a"], r.text
    assert "voicemail:103" in r.json()["message"], r.text
    assert client.get(f"/api/v1/mailboxes/{box.json()['id']}").status_code == 200
    # Once the groups let go, they may go.
    for group in client.get(url(tenant_a)).json()["items"]:
        assert client.delete(f"{url(tenant_a)}/{group['id']}").status_code == 204
    assert client.delete(f"/api/v1/ivr-apps/{app_id}").status_code == 204
    assert client.delete(f"/api/v1/mailboxes/{box.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/tenants/{tid}/extensions/{exts['101']}").status_code == 204
