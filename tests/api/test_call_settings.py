"""``/api/v1/extensions/{id}/call-settings``: read, replace, patch; every refusal is a 4xx
that changes nothing; tenant scoping; the tenant is re-applied only when ``managed``
flips; destinations are stored only in their checked form."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import CallSettings
from tests.api.conftest import bearer
from tests.api.fields import error_field
from tests.api.test_extension_redirect import route_0044


def url(ext_id: int) -> str:
    return f"/api/v1/extensions/{ext_id}/call-settings"


@pytest.fixture
def exts(client: TestClient, tenant_a: dict[str, Any]) -> dict[str, int]:
    out = {}
    for number in ("101", "102", "103"):
        resp = client.post(f"/api/v1/tenants/{tenant_a['id']}/extensions", json={"number": number})
        assert resp.status_code == 201, resp.text
        out[number] = resp.json()["id"]
    return out


def test_defaults_without_a_row(client: TestClient, exts: dict[str, int]) -> None:
    resp = client.get(url(exts["101"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["extension"] == "101" and body["managed"] is False
    assert body["dnd"] is False and body["call_waiting"] is True
    assert body["no_answer_ring_s"] == 20
    assert all(body[f] is None for f in ("forward_all", "forward_busy", "forward_no_answer"))


def test_patch_normalizes_and_reapplies_when_managed_flips(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    provisioner: RecordingProvisioner,
) -> None:
    route_0044(client, tenant_a)
    provisioner.changed.clear()
    resp = client.patch(url(exts["101"]), json={"forward_busy": "102"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["forward_busy"] == "extension:102" and resp.json()["managed"] is True
    assert provisioner.changed == [tenant_a["id"]]
    # Still managed: no re-apply.
    resp = client.patch(url(exts["101"]), json={"forward_no_answer": "00442079460000"})
    assert resp.json()["forward_no_answer"] == "number:00442079460000", resp.text
    resp = client.patch(url(exts["101"]), json={"dnd": True, "dnd_mode": "voicemail"})
    assert resp.json()["dnd_mode"] == "voicemail"
    assert provisioner.changed == [tenant_a["id"]]
    # Everything off again: not managed, re-applied.
    resp = client.put(url(exts["101"]), json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["managed"] is False and resp.json()["forward_busy"] is None
    assert provisioner.changed == [tenant_a["id"], tenant_a["id"]]


def test_put_replaces_everything(client: TestClient, exts: dict[str, int]) -> None:
    client.patch(url(exts["101"]), json={"dnd": True, "no_answer_ring_s": 30})
    resp = client.put(url(exts["101"]), json={"forward_all": "voicemail"})
    body = resp.json()
    assert body["forward_all"] == "voicemail" and body["dnd"] is False
    assert body["no_answer_ring_s"] == 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"forward_all": "101"}, "forward_all"),  # itself
        ({"forward_all": "extension:999"}, "forward_all"),  # no such extension
        ({"forward_all": "number:+15550100"}, "forward_all"),  # no route takes it
        ({"forward_all": "sip:evil@example.com"}, "forward_all"),
        ({"forward_all": "102;foo=bar"}, "forward_all"),
        ({"forward_all": "102\n"}, "forward_all"),
        ({"forward_busy": "102)"}, "forward_busy"),
        ({"forward_busy": "Voicemail"}, "forward_busy"),
        ({"forward_busy": 102}, "forward_busy"),
        ({"dnd_mode": "reject"}, "dnd_mode"),
        ({"dnd": "yes"}, "dnd"),
        ({"dnd": None}, "dnd"),
        ({"no_answer_ring_s": 4}, "no_answer_ring_s"),
        ({"no_answer_ring_s": 121}, "no_answer_ring_s"),
        ({"no_answer_ring_s": "20"}, "no_answer_ring_s"),
        ({"forward_al": "102"}, "forward_al"),
        ({"follow_me": {"mode": "random", "steps": []}}, "follow_me.mode"),
        (
            {"follow_me": {"steps": [{"destination": "voicemail"}]}},
            "follow_me.steps[0].destination",
        ),
        (
            {"follow_me": {"steps": [{"destination": "102", "ring_s": 1}]}},
            "follow_me.steps[0].ring_s",
        ),
        ({"follow_me": {"steps": [{"destination": "102"}] * 11}}, "follow_me.steps"),
        ({"follow_me": {"steps": [{"destination": "102", "x": 1}]}}, "follow_me.steps[0]"),
        (  # the same phone twice: the flow would skip the whole list at call time
            {"follow_me": {"steps": [{"destination": "102"}, {"destination": "extension:102"}]}},
            "follow_me.steps[1].destination",
        ),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient,
    exts: dict[str, int],
    db_sessions: SessionFactory,
    provisioner: RecordingProvisioner,
    body: dict[str, Any],
    field: str,
) -> None:
    client.patch(url(exts["101"]), json={"forward_no_answer": "103"})
    before = client.get(url(exts["101"])).json()
    changed = list(provisioner.changed)
    # One good value with the bad one: neither is applied.
    resp = client.patch(url(exts["101"]), json={"call_waiting": False, **body})
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert client.get(url(exts["101"])).json() == before
    assert provisioner.changed == changed
    resp = client.put(url(exts["101"]), json=body)
    assert resp.status_code == 422, resp.text
    assert client.get(url(exts["101"])).json() == before


def test_follow_me_is_normalized(client: TestClient, exts: dict[str, int]) -> None:
    plan = {"mode": "simultaneous", "steps": [{"destination": "102", "ring_s": 15}]}
    resp = client.patch(url(exts["101"]), json={"follow_me": plan, "follow_me_enabled": True})
    assert resp.status_code == 200, resp.text
    assert resp.json()["follow_me"] == {
        "mode": "simultaneous",
        "steps": [{"destination": "extension:102", "ring_s": 15, "confirm": False}],
    }


def test_tenant_scoping(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    exts: dict[str, int],
) -> None:
    other = bearer(tenant_b["token"])
    assert client.get(url(exts["101"]), headers=other).status_code == 404
    assert client.patch(url(exts["101"]), json={"dnd": True}, headers=other).status_code == 404
    assert client.put(url(exts["101"]), json={}, headers=other).status_code == 404
    own = bearer(tenant_a["token"])
    resp = client.patch(url(exts["101"]), json={"dnd": True}, headers=own)
    assert resp.status_code == 200 and resp.json()["dnd"] is True
    assert client.get(url(999999)).status_code == 404
    # tenant B's extension cannot be a forward target of tenant A's
    resp = client.post(f"/api/v1/tenants/{tenant_b['id']}/extensions", json={"number": "555"})
    assert resp.status_code == 201
    assert client.patch(url(exts["101"]), json={"forward_all": "555"}).status_code == 422


def test_one_row_per_extension_and_deleted_with_it(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    from sqlmodel import select

    client.patch(url(exts["101"]), json={"dnd": True})
    client.patch(url(exts["101"]), json={"dnd": False})
    with db_sessions() as session:
        rows = session.exec(select(CallSettings)).all()
        assert [r.extension_id for r in rows] == [exts["101"]]
    resp = client.delete(f"/api/v1/tenants/{tenant_a['id']}/extensions/{exts['101']}")
    assert resp.status_code == 204, resp.text
    with db_sessions() as session:
        assert session.exec(select(CallSettings)).all() == []


def _managed(db_sessions: SessionFactory, tenant_id: int, **kw: Any) -> dict[str, bool]:
    from orchestrator.provisioning.data import load_all, load_tenant

    with db_sessions() as session:
        one = load_tenant(session, tenant_id, **kw)
        every = {c.id: c for c in load_all(session, **kw)}
    assert one is not None and every[tenant_id] == one  # both loaders agree
    return {u.number: u.managed for u in one.users}


@pytest.mark.parametrize(
    "body",
    [
        {"dnd": True},
        {"forward_all": "102"},
        {"forward_busy": "voicemail"},
        {"forward_no_answer": "102"},
        {"forward_unreachable": "102"},
        {"follow_me_enabled": True},
        {"call_waiting": False},
    ],
)
def test_managed_rule_and_the_dialplan(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    db_sessions: SessionFactory,
    body: dict[str, Any],
) -> None:
    from tests.api.test_extension_redirect import answers

    assert _managed(db_sessions, tenant_a["id"]) == {"101": False, "102": False, "103": False}
    resp = client.patch(url(exts["101"]), json=body)
    assert resp.status_code == 200 and resp.json()["managed"] is True, resp.text
    assert _managed(db_sessions, tenant_a["id"]) == {"101": True, "102": False, "103": False}
    # The engine's lookup: 101 goes to the pbx.ext flow, 102 rings its phone.
    got = answers(db_sessions, tenant_a["id"])
    assert got["101"] == f"ext/101/{tenant_a['id']}"
    assert got["102"].startswith("ring/102/102@")


def test_a_mailbox_makes_an_extension_managed(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    """Voicemail is another package's: its query of mailbox owners is injected."""

    def mailboxes(_session: Any, tenant_id: int | None) -> set[int]:
        assert tenant_id in (None, tenant_a["id"])
        return {exts["103"]}

    assert _managed(db_sessions, tenant_a["id"], mailboxes=mailboxes)["103"] is True
    from orchestrator.pbx.settings import get_settings

    with db_sessions() as session:
        assert get_settings(session, exts["103"], mailboxes=mailboxes).managed is True
        assert get_settings(session, exts["102"], mailboxes=mailboxes).managed is False
