"""``/api/v1/extensions/{id}/speed-dials`` and ``.../blacklist``, and the self-care
``/api/v1/me/speed-dials`` and ``/api/v1/me/blacklist``: programming and reading, every
refusal a 4xx that changes nothing, tenant and own-extension scoping, the blacklist
turning the extension managed (the tenant re-applied, the dialplan snapshot following),
and both lists going with their extension (on SQLite and PostgreSQL).

The role matrix (which role may call which route) is test_roles.py's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import BlacklistEntry, SpeedDial
from tests.api.conftest import bearer
from tests.api.fields import error_field
from tests.api.test_extension_redirect import route_0044

pytestmark = pytest.mark.postgres


def dials_url(ext_id: int) -> str:
    return f"/api/v1/extensions/{ext_id}/speed-dials"


def blacklist_url(ext_id: int) -> str:
    return f"/api/v1/extensions/{ext_id}/blacklist"


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.fixture
def exts(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> dict[str, int]:
    """Tenant A's 101-103 (with a route for 00 + 9-13 digits), tenant B's 201."""
    route_0044(client, tenant_a)
    out = {}
    for number in ("101", "102", "103"):
        path = f"/api/v1/tenants/{tenant_a['id']}/extensions"
        out[number] = _ok(client.post(path, json={"number": number}), 201)["id"]
    path = f"/api/v1/tenants/{tenant_b['id']}/extensions"
    out["201"] = _ok(client.post(path, json={"number": "201"}), 201)["id"]
    return out


def _managed(db_sessions: SessionFactory, tenant_id: int) -> dict[str, bool]:
    from orchestrator.provisioning.data import load_all, load_tenant

    with db_sessions() as session:
        one = load_tenant(session, tenant_id)
        every = {c.id: c for c in load_all(session)}
    assert one is not None and every[tenant_id] == one  # both loaders agree
    return {u.number: u.managed for u in one.users}


# -- speed dials ---------------------------------------------------------------------------
def test_speed_dials_programmed_read_and_cleared(client: TestClient, exts: dict[str, int]) -> None:
    url = dials_url(exts["101"])
    assert _ok(client.get(url))["entries"] == []
    _ok(client.put(f"{url}/05", json={"number": "102"}))
    body = _ok(client.put(f"{url}/01", json={"number": "00442079460000"}))
    assert body["extension"] == "101" and body["entries"] == [
        {"slot": "01", "number": "00442079460000"},
        {"slot": "05", "number": "102"},
    ]
    _ok(client.put(f"{url}/05", json={"number": "103"}))  # a slot is replaced
    assert client.delete(f"{url}/01").status_code == 204
    assert client.delete(f"{url}/01").status_code == 204  # empty already: still 204
    assert _ok(client.get(url))["entries"] == [{"slot": "05", "number": "103"}]
    # The whole table at once; slots left out are emptied.
    body = _ok(client.put(url, json={"entries": [{"slot": "99", "number": "102"},
                                                 {"slot": "00", "number": "103"}]}))  # fmt: skip
    assert [e["slot"] for e in body["entries"]] == ["00", "99"]
    assert _ok(client.put(url, json={"entries": []}))["entries"] == []


@pytest.mark.parametrize(
    ("slot", "body", "field"),
    [
        ("5", {"number": "102"}, "slot"),
        ("100", {"number": "102"}, "slot"),
        ("ab", {"number": "102"}, "slot"),
        ("05", {"number": "101"}, "number"),  # the extension's own number
        ("05", {"number": "104"}, "number"),  # no such extension, no route takes it
        ("05", {"number": "0033123"}, "number"),  # too short for the 00 route
        ("05", {"number": "*72"}, "number"),
        ("05", {"number": "+442079460000"}, "number"),
        ("05", {"number": "10 2"}, "number"),
        ("05", {"number": 102}, "number"),
        ("05", {"number": "1" * 21}, "number"),
        ("05", {"number": "102", "extra": 1}, "extra"),
        ("05", {}, "number"),
    ],
)
def test_bad_speed_dials_are_422_and_change_nothing(
    client: TestClient, exts: dict[str, int], slot: str, body: dict[str, Any], field: str
) -> None:
    url = dials_url(exts["101"])
    _ok(client.put(f"{url}/07", json={"number": "102"}))
    resp = client.put(f"{url}/{slot}", json=body)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert _ok(client.get(url))["entries"] == [{"slot": "07", "number": "102"}]


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"slot": "01", "number": "102"}, {"slot": "01", "number": "103"}], "entries[1].slot"),
        ([{"slot": "01", "number": "102"}, {"slot": "02", "number": "999"}], "entries[1].number"),
        ([{"slot": "01", "number": "102", "label": "Bob"}], "label"),
        ([{"slot": "01", "number": 102}], "number"),
        (
            [{"slot": str(i).zfill(2), "number": "102"} for i in range(100)]
            + [{"slot": "1", "number": "102"}],
            "entries",
        ),
    ],
)
def test_a_bad_table_changes_nothing(
    client: TestClient, exts: dict[str, int], entries: list[dict[str, str]], field: str
) -> None:
    url = dials_url(exts["101"])
    _ok(client.put(f"{url}/07", json={"number": "102"}))
    resp = client.put(url, json={"entries": entries})
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert _ok(client.get(url))["entries"] == [{"slot": "07", "number": "102"}]


def test_speed_dials_of_another_tenant_are_404(
    client: TestClient, exts: dict[str, int], tenant_a: dict[str, Any]
) -> None:
    admin_a = bearer(tenant_a["token"])
    url = dials_url(exts["201"])
    assert client.get(url, headers=admin_a).status_code == 404
    assert client.put(f"{url}/01", json={"number": "201"}, headers=admin_a).status_code == 404
    assert client.delete(f"{url}/01", headers=admin_a).status_code == 404
    # Tenant A's admin may program its own (and the number is checked in tenant A).
    assert client.put(f"{dials_url(exts['101'])}/01", json={"number": "201"},
                      headers=admin_a).status_code == 422  # fmt: skip
    _ok(client.put(f"{dials_url(exts['101'])}/01", json={"number": "102"}, headers=admin_a))
    assert client.get(dials_url(99999)).status_code == 404


# -- the blacklist ---------------------------------------------------------------------------
def test_blacklist_makes_the_extension_managed_and_reapplies(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> None:
    url = blacklist_url(exts["101"])
    body = _ok(client.get(url))
    assert body == {"extension_id": exts["101"], "tenant_id": tenant_a["id"],
                    "extension": "101", "managed": False, "entries": []}  # fmt: skip
    provisioner.changed.clear()
    body = _ok(client.post(url, json={"number": "+442079460000"}), 201)
    assert body["managed"] is True
    assert [(e["number"], e["match"], e["action"]) for e in body["entries"]] == [
        ("+442079460000", "exact", "reject")
    ]
    assert provisioner.changed == [tenant_a["id"]]
    assert _managed(db_sessions, tenant_a["id"]) == {"101": True, "102": False, "103": False}
    # The call settings tell it too.
    assert _ok(client.get(f"/api/v1/extensions/{exts['101']}/call-settings"))["managed"] is True
    # Still managed: a second entry re-applies nothing.
    body = _ok(client.post(url, json={"number": "0044", "match": "prefix", "action": "prompt"}),
               201)  # fmt: skip
    assert len(body["entries"]) == 2 and provisioner.changed == [tenant_a["id"]]
    first, second = (e["id"] for e in body["entries"])
    assert client.delete(f"{url}/{first}").status_code == 204
    assert provisioner.changed == [tenant_a["id"]]
    assert client.delete(f"{url}/{second}").status_code == 204  # the last one: not managed
    assert provisioner.changed == [tenant_a["id"], tenant_a["id"]]
    assert _ok(client.get(url)) == {**body, "managed": False, "entries": []}
    assert _managed(db_sessions, tenant_a["id"])["101"] is False
    assert client.delete(f"{url}/{second}").status_code == 404


def test_blacklist_replaced_whole(
    client: TestClient, exts: dict[str, int], provisioner: RecordingProvisioner
) -> None:
    url = blacklist_url(exts["102"])
    provisioner.changed.clear()
    entries = [{"number": "+1555", "match": "prefix", "action": "prompt"}, {"number": "101"}]
    body = _ok(client.put(url, json={"entries": entries}))
    assert [(e["number"], e["match"], e["action"]) for e in body["entries"]] == [
        ("+1555", "prefix", "prompt"), ("101", "exact", "reject"),
    ]  # fmt: skip
    assert body["managed"] is True
    # The same entries again (kept, not a conflict with themselves), one of them changed.
    entries[1]["action"] = "prompt"
    body = _ok(client.put(url, json={"entries": entries}))
    assert [e["action"] for e in body["entries"]] == ["prompt", "prompt"]
    body = _ok(client.put(url, json={"entries": []}))
    assert body["managed"] is False and body["entries"] == []
    assert len(provisioner.changed) == 2


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"number": "abc"}, "entry.number"),
        ({"number": ""}, "entry.number"),
        ({"number": "+"}, "entry.number"),
        ({"number": "1" * 21}, "entry.number"),
        ({"number": "44 20"}, "entry.number"),
        ({"number": "4420;x"}, "entry.number"),
        ({"number": 4420}, "number"),
        ({"number": "4420", "match": "regex"}, "match"),
        ({"number": "4420", "action": "hangup"}, "action"),
        ({"number": "4420", "extra": True}, "extra"),
        ({"number": "+442079460000"}, "number"),  # listed already
        ({"number": "anonymous", "match": "prefix"}, "entry.match"),  # exact only
        ({"number": "Anonymous"}, "entry.number"),
        ({"number": "withheld"}, "entry.number"),
    ],
)
def test_bad_blacklist_entries_are_422_and_change_nothing(
    client: TestClient,
    exts: dict[str, int],
    provisioner: RecordingProvisioner,
    entry: dict[str, Any],
    field: str,
) -> None:
    url = blacklist_url(exts["101"])
    before = _ok(client.post(url, json={"number": "+442079460000"}), 201)
    provisioner.changed.clear()
    resp = client.post(url, json=entry)
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    # The whole list with that entry in it: refused too (a number twice is the PUT's case).
    listed = entry == {"number": "+442079460000"}
    resp = client.put(url, json={"entries": [entry, entry] if listed else [{"number": "9"}, entry]})
    assert resp.status_code == 422, resp.text
    assert _ok(client.get(url)) == before and provisioner.changed == []


def test_anonymous_callers_blocked_by_the_entry_anonymous(
    client: TestClient, exts: dict[str, int]
) -> None:
    url = blacklist_url(exts["101"])
    body = _ok(client.post(url, json={"number": "anonymous", "action": "prompt"}), 201)
    assert [(e["number"], e["match"], e["action"]) for e in body["entries"]] == [
        ("anonymous", "exact", "prompt")
    ]
    assert body["managed"] is True
    assert client.post(url, json={"number": "anonymous"}).status_code == 422  # listed already


def test_blacklist_of_another_tenant_is_404(
    client: TestClient, exts: dict[str, int], tenant_a: dict[str, Any], db_sessions: SessionFactory
) -> None:
    admin_a = bearer(tenant_a["token"])
    url = blacklist_url(exts["201"])
    entry = _ok(client.post(url, json={"number": "555"}), 201)["entries"][0]
    assert client.get(url, headers=admin_a).status_code == 404
    assert client.post(url, json={"number": "1"}, headers=admin_a).status_code == 404
    assert client.put(url, json={"entries": []}, headers=admin_a).status_code == 404
    assert client.delete(f"{url}/{entry['id']}", headers=admin_a).status_code == 404
    # Nor through one of its own extensions' URL.
    own = blacklist_url(exts["101"])
    assert client.delete(f"{own}/{entry['id']}", headers=admin_a).status_code == 404
    with db_sessions() as session:
        assert len(session.exec(select(BlacklistEntry)).all()) == 1


def test_both_lists_go_with_their_extension(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    _ok(client.put(f"{dials_url(exts['101'])}/01", json={"number": "102"}))
    _ok(client.post(blacklist_url(exts["101"]), json={"number": "555"}), 201)
    resp = client.delete(f"/api/v1/tenants/{tenant_a['id']}/extensions/{exts['101']}")
    assert resp.status_code == 204, resp.text
    with db_sessions() as session:
        assert session.exec(select(SpeedDial)).all() == []
        assert session.exec(select(BlacklistEntry)).all() == []


# -- self-care --------------------------------------------------------------------------------
@pytest.fixture
def users(client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int]) -> dict[str, Any]:
    """Una, tenant A's self-care user on 101; Bob, its agent on 103."""
    admin = bearer(tenant_a["token"])
    out = {}
    for name, role, number in (("Una", "user", "101"), ("Bob", "agent", "103")):
        body = {"name": name, "role": role, "extension_id": exts[number]}
        out[name] = bearer(
            _ok(client.post("/api/v1/users", json=body, headers=admin), 201)["token"]
        )
    return out


def test_a_user_programs_its_own_speed_dials_only(
    client: TestClient, exts: dict[str, int], users: dict[str, Any]
) -> None:
    una = users["Una"]
    body = _ok(client.put("/api/v1/me/speed-dials/05", json={"number": "102"}, headers=una))
    assert body["extension_id"] == exts["101"] and body["entries"] == [
        {"slot": "05", "number": "102"}
    ]
    _ok(client.put("/api/v1/me/speed-dials", headers=una,
                   json={"entries": [{"slot": "05", "number": "00442079460000"}]}))  # fmt: skip
    # The admin sees the same table; the agent on 103 has its own, empty.
    assert _ok(client.get(dials_url(exts["101"])))["entries"] == [
        {"slot": "05", "number": "00442079460000"}
    ]
    assert _ok(client.get("/api/v1/me/speed-dials", headers=users["Bob"]))["entries"] == []
    resp = client.put("/api/v1/me/speed-dials/05", json={"number": "101"}, headers=una)
    assert resp.status_code == 422 and error_field(resp.json()) == "number"
    assert client.delete("/api/v1/me/speed-dials/05", headers=una).status_code == 204
    assert _ok(client.get("/api/v1/me/speed-dials", headers=una))["entries"] == []
    # Nothing in the request names the extension: the admin's routes stay closed.
    assert client.get(dials_url(exts["101"]), headers=una).status_code == 403
    assert client.get(dials_url(exts["102"]), headers=una).status_code == 403


def test_a_user_keeps_its_own_blacklist_only(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    users: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    una = users["Una"]
    provisioner.changed.clear()
    body = _ok(client.post("/api/v1/me/blacklist", json={"number": "+1555", "match": "prefix"},
                           headers=una), 201)  # fmt: skip
    assert body["extension"] == "101" and body["managed"] is True
    assert provisioner.changed == [tenant_a["id"]]
    # Another extension's entry is not Una's to delete.
    other = _ok(client.post(blacklist_url(exts["102"]), json={"number": "555"}), 201)
    other_id = other["entries"][0]["id"]
    assert client.delete(f"/api/v1/me/blacklist/{other_id}", headers=una).status_code == 404
    assert len(_ok(client.get(blacklist_url(exts["102"])))["entries"]) == 1
    assert client.post(blacklist_url(exts["102"]), json={"number": "1"},
                       headers=una).status_code == 403  # fmt: skip
    body = _ok(client.put("/api/v1/me/blacklist", json={"entries": []}, headers=una))
    assert body["managed"] is False and body["entries"] == []
    assert _ok(client.get("/api/v1/me/blacklist", headers=una))["entries"] == []


def test_admins_have_no_own_lists(client: TestClient, tenant_a: dict[str, Any]) -> None:
    admin = bearer(tenant_a["token"])
    for path in ("/api/v1/me/speed-dials", "/api/v1/me/blacklist"):
        assert client.get(path, headers=admin).status_code == 403
