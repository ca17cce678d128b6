"""``/api/v1/tenants/{id}/park``: the lot (defaults, replace, every refusal a 4xx that
changes nothing; each fallback form, its target the tenant's), the calls parked now,
tenant scoping, and parking a call's party (validation first; the API-only app has no
park service: 503)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.store.db import SessionFactory
from orchestrator.store.models import ParkedCall
from tests.api.conftest import bearer
from tests.api.fields import error_field

GOOD = {"slots": 20, "timeout_s": 90, "ringback_s": 15, "fallback": "extension:101"}


def url(tenant: dict[str, Any], tail: str = "") -> str:
    return f"/api/v1/tenants/{tenant['id']}/park{tail}"


@pytest.fixture
def targets(client: TestClient, tenant_a: dict[str, Any]) -> None:
    """Tenant A's extensions 101 and 103, ring group 650 and IVR app ``closed``."""
    tid = tenant_a["id"]
    for number in ("101", "103"):
        r = client.post(f"/api/v1/tenants/{tid}/extensions", json={"number": number})
        assert r.status_code == 201, r.text
    group = {"name": "desk", "number": "650",
             "members": [{"destination": "extension:101"}]}  # fmt: skip
    r = client.post(f"/api/v1/tenants/{tid}/ring-groups", json=group)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/ivr-apps", json={"tenant_id": tid, "name": "closed", "app": "menu"})
    assert r.status_code == 201, r.text


def test_defaults_then_replace(client: TestClient, tenant_a: dict[str, Any], targets: None) -> None:
    r = client.get(url(tenant_a))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "tenant_id": tenant_a["id"], "slots": 10, "timeout_s": 120, "ringback_s": 20,
        "fallback": "hangup",
    }  # fmt: skip
    r = client.put(url(tenant_a), json=GOOD)
    assert r.status_code == 200, r.text
    assert r.json() == {"tenant_id": tenant_a["id"], **GOOD}
    # A field left out is its default again.
    r = client.put(url(tenant_a), json={"slots": 5})
    assert r.json()["slots"] == 5 and r.json()["fallback"] == "hangup"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slots", 0), ("slots", 100), ("slots", "5"), ("slots", True), ("timeout_s", 9),
        ("timeout_s", 3601), ("ringback_s", 4), ("ringback_s", 121),
        ("fallback", "ivr:main"), ("fallback", "extension:1"), ("fallback", "hangup;x"),
        ("fallback", "extension:101,n,Dial(x)"), ("fallback", None), ("color", "red"),
        # Unknown forms, and targets the tenant does not have.
        ("fallback", "queue:sales"), ("fallback", "voicemail:"), ("fallback", "ring_group"),
        ("fallback", "number:+442079460000"), ("fallback", "voicemail:102"),
        ("fallback", "ring_group:651"), ("fallback", "extension:102"), ("fallback", "ivr:open"),
        ("fallback", "ring_group:650;x"), ("fallback", "ivr:" + "x" * 41),
    ],
)  # fmt: skip
def test_bad_values_are_refused_and_change_nothing(
    client: TestClient, tenant_a: dict[str, Any], targets: None, field: str, value: Any
) -> None:
    assert client.put(url(tenant_a), json=GOOD).status_code == 200
    r = client.put(url(tenant_a), json={**GOOD, field: value})
    assert r.status_code == 422, r.text
    assert error_field(r.json()) == field
    assert client.get(url(tenant_a)).json() == {"tenant_id": tenant_a["id"], **GOOD}


@pytest.mark.parametrize(
    "fallback", ["voicemail:103", "ivr:closed", "ring_group:650", "extension:103", "hangup"]
)
def test_every_fallback_form_naming_the_tenants_target(
    client: TestClient, tenant_a: dict[str, Any], targets: None, fallback: str
) -> None:
    r = client.put(url(tenant_a), json={**GOOD, "fallback": fallback})
    assert r.status_code == 200, r.text
    assert client.get(url(tenant_a)).json()["fallback"] == fallback


def test_a_fallback_naming_another_tenants_target_is_refused(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any], targets: None
) -> None:
    for fallback in ("voicemail:103", "ivr:closed", "ring_group:650"):
        r = client.put(url(tenant_b), json={**GOOD, "fallback": fallback})
        assert r.status_code == 422, r.text
        assert error_field(r.json()) == "fallback"
    assert client.get(url(tenant_b)).json()["fallback"] == "hangup"


def test_parked_calls_are_listed_by_slot_and_scoped(
    client: TestClient,
    tenant_a: dict[str, Any],
    targets: None,
    tenant_b: dict[str, Any],
    db_sessions: SessionFactory,
) -> None:
    now = datetime.now(UTC)
    with db_sessions() as session:
        for slot, leg in ((3, "leg-3"), (1, "leg-1")):
            session.add(
                ParkedCall(
                    tenant_id=tenant_a["id"], slot=slot, leg_id=leg, caller="+4420", parker="102",
                    parked_at=now, timeout_at=now + timedelta(seconds=120),
                )
            )  # fmt: skip
        session.commit()
    r = client.get(url(tenant_a, "/calls"))
    assert r.status_code == 200, r.text
    assert [(c["slot"], c["leg_id"], c["parker"]) for c in r.json()] == [
        (1, "leg-1", "102"), (3, "leg-3", "102"),
    ]  # fmt: skip
    assert client.get(url(tenant_b, "/calls")).json() == []
    # Tenant B's admin sees nothing of tenant A's.
    other = bearer(tenant_b["token"])
    for path in (url(tenant_a), url(tenant_a, "/calls")):
        assert client.get(path, headers=other).status_code == 404, path
    assert client.put(url(tenant_a), json=GOOD, headers=other).status_code == 404
    assert client.get(url({"id": 999999}, "/calls")).status_code == 404


def test_parking_a_call_validates_first(client: TestClient, tenant_a: dict[str, Any]) -> None:
    bad: list[dict[str, Any]] = [
        {}, {"call_id": "c1"}, {"call_id": 5, "leg_id": "x"},
        {"call_id": "c", "leg_id": "l", "slot": 3}, {"call_id": "c" * 200, "leg_id": "l"},
    ]  # fmt: skip
    for body in bad:
        r = client.post(url(tenant_a, "/calls"), json=body)
        assert r.status_code == 422, (body, r.text)
    # The API-only app runs no features: no park service.
    r = client.post(url(tenant_a, "/calls"), json={"call_id": "c1", "leg_id": "l1"})
    assert r.status_code == 503, r.text


@pytest.mark.parametrize(
    ("fallback", "method", "target"),
    [
        ("extension:103", "DELETE", "extension"),
        ("extension:103", "PATCH", "extension"),
        ("voicemail:103", "DELETE", "extension"),
        ("voicemail:103", "DELETE", "mailbox"),
        ("ring_group:650", "DELETE", "ring_group"),
        ("ring_group:650", "PATCH", "ring_group"),
        ("ivr:closed", "DELETE", "ivr"),
        ("ivr:closed", "PATCH", "ivr"),
    ],
)
def test_a_fallback_target_is_kept_while_the_lot_names_it(
    client: TestClient,
    tenant_a: dict[str, Any],
    targets: None,
    fallback: str,
    method: str,
    target: str,
) -> None:
    """Deleting (or renumbering, renaming) the lot's fallback target is 409 naming the
    lot, as for a ring group's fallback, and changes nothing; once the lot falls back
    elsewhere it goes through."""
    tid = tenant_a["id"]
    extensions = client.get(f"/api/v1/tenants/{tid}/extensions").json()["items"]
    ext_103 = next(e["id"] for e in extensions if e["number"] == "103")
    box = client.post("/api/v1/mailboxes", json={
        "tenant_id": tid, "extension_id": ext_103, "number": "103", "pin": "4711"})  # fmt: skip
    assert box.status_code == 201, box.text
    group = client.get(f"/api/v1/tenants/{tid}/ring-groups").json()["items"][0]
    app = next(a for a in client.get("/api/v1/ivr-apps").json()["items"] if a["tenant_id"] == tid)
    path, rename = {
        "extension": (f"/api/v1/tenants/{tid}/extensions/{ext_103}", {"number": "104"}),
        "mailbox": (f"/api/v1/mailboxes/{box.json()['id']}", {}),
        "ring_group": (f"/api/v1/tenants/{tid}/ring-groups/{group['id']}", {"number": "651"}),
        "ivr": (f"/api/v1/ivr-apps/{app['id']}", {"name": "open"}),
    }[target]
    assert client.put(url(tenant_a), json={**GOOD, "fallback": fallback}).status_code == 200
    before = client.get(path).json()

    r = client.request(method, path, json=rename if method == "PATCH" else None)
    assert r.status_code == 409, r.text
    assert "park lot" in r.json()["message"] and fallback in r.json()["message"], r.json()
    assert client.get(path).json() == before
    assert client.get(url(tenant_a)).json()["fallback"] == fallback

    assert client.put(url(tenant_a), json={**GOOD, "fallback": "hangup"}).status_code == 200
    r = client.request(method, path, json=rename if method == "PATCH" else None)
    assert r.status_code in (200, 204), r.text
