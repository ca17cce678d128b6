"""``/api/v1/tenants/{id}/schedules``, ``/night-mode``, ``/blacklist``: CRUD, every
refusal a 4xx that changes nothing, tenant scoping, DIDs routed to a schedule, when the
tenant's configuration is applied, and the snapshot the engines render from."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.provisioning.data import load_tenant
from orchestrator.store.db import SessionFactory
from orchestrator.store.schedules import blocked
from tests.api.conftest import bearer
from tests.api.fields import error_field

DID = "+4930555000"


def base(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}"


def office(**fields: Any) -> dict[str, Any]:
    return {
        "name": "office",
        "timezone": "Europe/Berlin",
        "weekly": [{"days": ["fri", "mon"], "open": "09:00", "close": "17:00"}],
        "holidays": [
            {"name": "Christmas", "start": "2026-12-25", "end": "2026-12-26", "yearly": True}
        ],
        "open_destination": "extension:101",
        "closed_destination": "ivr:closed",
        "holiday_destination": "hangup",
        **fields,
    }


@pytest.fixture
def tenant(client: TestClient, tenant_a: dict[str, Any]) -> dict[str, Any]:
    for number in ("101", "102"):
        r = client.post(f"{base(tenant_a)}/extensions", json={"number": number})
        assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/ivr-apps", json={"tenant_id": tenant_a["id"], "name": "closed", "app": "menu"}
    )
    assert r.status_code == 201, r.text
    return tenant_a


def test_crud(
    client: TestClient, tenant: dict[str, Any], provisioner: RecordingProvisioner
) -> None:
    provisioner.changed.clear()
    r = client.post(f"{base(tenant)}/schedules", json=office())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["weekly"] == [{"days": ["mon", "fri"], "open": "09:00", "close": "17:00"}]
    assert body["holidays"][0] == {
        "name": "Christmas",
        "start": "2026-12-25",
        "end": "2026-12-26",
        "yearly": True,
        "destination": None,
    }
    assert provisioner.changed == [tenant["id"]]
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 409
    r = client.get(f"{base(tenant)}/schedules")
    assert [s["name"] for s in r.json()] == ["office"]
    new = {k: v for k, v in office(open_destination="extension:102").items() if k != "name"}
    new["holidays"] = []
    r = client.put(f"{base(tenant)}/schedules/office", json=new)
    assert r.status_code == 200, r.text
    assert (r.json()["open_destination"], r.json()["holidays"]) == ("extension:102", [])
    assert client.get(f"{base(tenant)}/schedules/office").json()["open_destination"] == (
        "extension:102"
    )
    assert client.delete(f"{base(tenant)}/schedules/office").status_code == 204
    assert client.get(f"{base(tenant)}/schedules/office").status_code == 404
    assert client.delete(f"{base(tenant)}/schedules/office").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Office"}, "name"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"weekly": [{"days": ["mon"], "open": "18:00", "close": "09:00"}]}, "weekly[0]"),
        ({"holidays": [{"name": "X", "start": "2026-13-01"}]}, "holidays[0].start"),
        (
            {"holidays": [{"name": "X", "start": "2026-12-01", "destination": "extension:999"}]},
            "holidays[0].destination",
        ),
        ({"open_destination": "extension:999"}, "open_destination"),
        ({"closed_destination": "ivr:nope"}, "closed_destination"),
        ({"closed_destination": "schedule:office"}, "closed_destination"),
        ({"holiday_destination": "voicemail"}, "holiday_destination"),
        ({"open_destination": 101}, "open_destination"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_schedules_refused(
    client: TestClient, tenant: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    r = client.post(f"{base(tenant)}/schedules", json=office(**fields))
    assert r.status_code == 422, r.text
    assert error_field(r.json()) == field
    assert client.get(f"{base(tenant)}/schedules").json() == []


def test_a_bad_put_changes_nothing(client: TestClient, tenant: dict[str, Any]) -> None:
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 201
    before = client.get(f"{base(tenant)}/schedules/office").json()
    new = {k: v for k, v in office(timezone="Nowhere/Land").items() if k != "name"}
    assert client.put(f"{base(tenant)}/schedules/office", json=new).status_code == 422
    assert client.put(f"{base(tenant)}/schedules/office", json=office()).status_code == 422
    assert client.get(f"{base(tenant)}/schedules/office").json() == before


def test_did_routes_to_a_schedule(
    client: TestClient, tenant: dict[str, Any], db_sessions: SessionFactory
) -> None:
    did = {"number": DID, "pricing_batch": "test", "tenant_id": tenant["id"]}
    r = client.post("/api/v1/dids", json={**did, "destination": "schedule:office"})
    assert r.status_code == 422 and error_field(r.json()) == "destination"  # no schedule yet
    r = client.post("/api/v1/dids", json={**did, "destination": "extension:101"})
    did_id = r.json()["id"]
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 201
    r = client.patch(f"/api/v1/dids/{did_id}", json={"destination": "schedule:office"})
    assert r.status_code == 200, r.text
    with db_sessions() as session:
        config = load_tenant(session, tenant["id"])
    assert config is not None
    route = next(d for d in config.dids if d.number == DID)
    assert (route.kind, route.target) == ("inbound", "office")
    assert route in config.routed_dids  # the tenant's phones may dial it
    r = client.delete(f"{base(tenant)}/schedules/office")
    assert r.status_code == 409 and r.json()["details"]["dids"] == [DID]


def test_state_at_fixed_moments(client: TestClient, tenant: dict[str, Any]) -> None:
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 201

    def state(at: str) -> dict[str, Any]:
        r = client.get(f"{base(tenant)}/schedules/office/state", params={"at": at})
        assert r.status_code == 200, r.text
        return dict(r.json())

    s = state("2026-03-30T07:00:00Z")  # Monday 09:00 CEST, the day after the change
    assert (s["state"], s["destination"], s["local_time"]) == (
        "open",
        "extension:101",
        "2026-03-30T09:00:00+02:00",
    )
    assert state("2026-03-23T07:00:00Z")["state"] == "closed"  # 08:00 CET a week earlier
    s = state("2026-12-25T10:00:00+01:00")
    assert (s["state"], s["destination"], s["holiday"]) == ("holiday", "hangup", "Christmas")
    r = client.get(f"{base(tenant)}/schedules/office/state", params={"at": "2026-03-30T09:00"})
    assert r.status_code == 422  # no offset
    for bad in ("tomorrow", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        r = client.get(f"{base(tenant)}/schedules/office/state", params={"at": bad})
        assert r.status_code == 422, (bad, r.text)
    r = client.put(f"{base(tenant)}/night-mode", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True
    s = state("2026-03-30T07:00:00Z")
    assert (s["state"], s["destination"]) == ("night", "ivr:closed")


def test_night_mode(client: TestClient, tenant: dict[str, Any]) -> None:
    r = client.get(f"{base(tenant)}/night-mode")
    assert r.json() == {"tenant_id": tenant["id"], "enabled": False, "updated_at": None}
    r = client.put(f"{base(tenant)}/night-mode", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True and r.json()["updated_at"]
    assert client.get(f"{base(tenant)}/night-mode").json()["enabled"] is True
    for bad in ({"enabled": "yes"}, {"enabled": 1}, {}, {"enabled": True, "x": 1}):
        assert client.put(f"{base(tenant)}/night-mode", json=bad).status_code == 422, bad
    assert client.get(f"{base(tenant)}/night-mode").json()["enabled"] is True
    assert (
        client.put(f"{base(tenant)}/night-mode", json={"enabled": False}).json()["enabled"] is False
    )
    assert client.get("/api/v1/tenants/999999/night-mode").status_code == 404


def test_blacklist(
    client: TestClient,
    tenant: dict[str, Any],
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> None:
    did = {
        "number": DID,
        "pricing_batch": "test",
        "tenant_id": tenant["id"],
        "destination": "extension:101",
    }
    assert client.post("/api/v1/dids", json=did).status_code == 201
    provisioner.changed.clear()
    url = f"{base(tenant)}/blacklist"
    r = client.post(url, json={"number": "+4930111222", "action": "prompt", "note": "spam"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["match"], first["action"]) == ("exact", "prompt")
    assert provisioner.changed == [tenant["id"]]  # DIDs run through the orchestrator now
    with db_sessions() as session:
        config = load_tenant(session, tenant["id"])
    assert config is not None and [d.kind for d in config.dids] == ["inbound"]
    r = client.post(url, json={"number": "0900", "match": "prefix"})
    assert r.status_code == 201 and r.json()["action"] == "reject"
    assert provisioner.changed == [tenant["id"]]  # not the first: no re-apply
    assert client.post(url, json={"number": "4930111222"}).status_code == 409  # same digits
    assert [e["number"] for e in client.get(url).json()] == ["+4930111222", "0900"]
    second = client.get(url).json()[1]["id"]
    assert client.delete(f"{url}/{first['id']}").status_code == 204
    assert provisioner.changed == [tenant["id"]]
    assert client.delete(f"{url}/{second}").status_code == 204
    assert provisioner.changed == [tenant["id"]] * 2  # empty: DIDs direct again
    with db_sessions() as session:
        config = load_tenant(session, tenant["id"])
    assert config is not None and [d.kind for d in config.dids] == ["extension"]
    assert client.delete(f"{url}/{second}").status_code == 404


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"number": "12ab"}, "number"),
        ({"number": "+"}, "number"),
        ({"number": "1" * 21}, "number"),
        ({"number": "123;456"}, "number"),
        ({"number": "123", "match": "regex"}, "match"),
        ({"number": "123", "action": "drop"}, "action"),
        ({"number": "123", "note": "a\nb"}, "note"),
        ({"number": 123}, "number"),
        ({"number": "123", "extra": 1}, "extra"),
        ({"number": "anonymous", "match": "prefix"}, "match"),  # exact only
        ({"number": "Anonymous"}, "number"),
        ({"number": "restricted"}, "number"),
    ],
)
def test_bad_blacklist_entries_refused(
    client: TestClient, tenant: dict[str, Any], entry: dict[str, Any], field: str
) -> None:
    r = client.post(f"{base(tenant)}/blacklist", json=entry)
    assert r.status_code == 422, r.text
    assert error_field(r.json()) == field
    assert client.get(f"{base(tenant)}/blacklist").json() == []


def test_anonymous_callers_blacklisted(
    client: TestClient, tenant: dict[str, Any], db_sessions: SessionFactory
) -> None:
    url = f"{base(tenant)}/blacklist"
    r = client.post(url, json={"number": "anonymous"})
    assert r.status_code == 201, r.text
    assert (r.json()["number"], r.json()["match"]) == ("anonymous", "exact")
    assert client.post(url, json={"number": "anonymous"}).status_code == 409
    with db_sessions() as session:
        cases = [("", True), ("anonymous", True), ("Unknown", True), ("restricted", True),
                 ("+4930111222", False), ("bob", False)]  # fmt: skip
        for caller, taken in cases:
            assert (blocked(session, tenant["id"], caller) is not None) is taken, caller


def test_a_schedule_may_send_calls_to_a_mailbox(client: TestClient, tenant: dict[str, Any]) -> None:
    """``voicemail:<n>``: extension n's mailbox; the extension must have one."""
    url = f"{base(tenant)}/schedules"
    closed = office(closed_destination="voicemail:102", holidays=[
        {"name": "X", "start": "2026-12-01", "destination": "voicemail:102"}])  # fmt: skip
    r = client.post(url, json=closed)
    assert r.status_code == 422 and error_field(r.json()) == "holidays[0].destination", r.text
    assert client.get(url).json() == []
    ext_id = client.get(f"{base(tenant)}/extensions?number_prefix=102").json()["items"][0]["id"]
    box = {"tenant_id": tenant["id"], "number": "102", "pin": "4711", "extension_id": ext_id}
    assert client.post("/api/v1/mailboxes", json=box).status_code == 201
    r = client.post(url, json=closed)
    assert r.status_code == 201, r.text
    assert r.json()["closed_destination"] == "voicemail:102"
    assert r.json()["holidays"][0]["destination"] == "voicemail:102"
    r = client.get(f"{url}/office/state", params={"at": "2026-03-30T05:00:00Z"})
    assert r.json()["destination"] == "voicemail:102", r.text
    # 101 has no mailbox, 999 is no extension: 422, the schedule keeps what it had.
    before = client.get(f"{url}/office").json()
    for value, field in [
        ("voicemail:101", "open_destination"), ("voicemail:999", "open_destination"),
        ("voicemail:", "open_destination"), ("voicemail:10 1", "open_destination"),
    ]:  # fmt: skip
        new = {k: v for k, v in office(open_destination=value).items() if k != "name"}
        r = client.put(f"{url}/office", json=new)
        assert r.status_code == 422 and error_field(r.json()) == field, (value, r.text)
    new = {k: v for k, v in office().items() if k != "name"}
    new["holidays"] = [{"name": "Y", "start": "2026-12-02", "destination": "voicemail:101"}]
    r = client.put(f"{url}/office", json=new)
    assert r.status_code == 422 and error_field(r.json()) == "holidays[0].destination", r.text
    assert client.get(f"{url}/office").json() == before


def test_tenant_scoping(
    client: TestClient, tenant: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 201
    r = client.post(f"{base(tenant)}/blacklist", json={"number": "+4930111222"})
    entry = r.json()["id"]
    with TestClient(client.app, headers=bearer(tenant_b["token"])) as other:
        for method, path in [
            ("GET", "schedules"),
            ("GET", "schedules/office"),
            ("DELETE", "schedules/office"),
            ("GET", "night-mode"),
            ("GET", "blacklist"),
            ("DELETE", f"blacklist/{entry}"),
        ]:
            assert other.request(method, f"{base(tenant)}/{path}").status_code == 404, path
        r = other.put(f"{base(tenant)}/night-mode", json={"enabled": True})
        assert r.status_code == 404
        # Its own tenant: the other tenant's entry is not there.
        assert other.delete(f"{base(tenant_b)}/blacklist/{entry}").status_code == 404
        assert other.get(f"{base(tenant_b)}/schedules/office").status_code == 404
    assert client.get(f"{base(tenant)}/night-mode").json()["enabled"] is False
    assert len(client.get(f"{base(tenant)}/blacklist").json()) == 1


def test_bulk_import_checks_the_schedule(client: TestClient, tenant: dict[str, Any]) -> None:
    def upload(destination: str) -> Any:
        text = (
            f"number,pricing_batch,tenant_id,destination\n{DID},test,{tenant['id']},{destination}\n"
        )
        files = {"file": ("dids.csv", text.encode(), "text/csv")}
        return client.post("/api/v1/dids/bulk", files=files)

    r = upload("schedule:office")
    assert r.status_code == 422 and "no schedule office" in r.text, r.text
    assert client.post(f"{base(tenant)}/schedules", json=office()).status_code == 201
    r = upload("schedule:office")
    assert r.status_code in (200, 201), r.text
    r = client.get("/api/v1/dids", params={"number_prefix": DID})
    assert r.json()["items"][0]["destination"] == "schedule:office"
