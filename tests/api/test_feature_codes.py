"""Feature codes over REST: the table with defaults, changes, 422/409 that change nothing,
tenant scope, and outbound routes whose prefix would shadow a code (and codes a prefix)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from orchestrator.pbx.codes import CATALOGUE
from orchestrator.store.db import SessionFactory
from orchestrator.store.feature_codes import enabled_codes
from orchestrator.store.models import FeatureCode
from tests.api.conftest import bearer
from tests.api.fields import error_field
from tests.api.test_outbound_routes import add_route, add_trunk


def url(tenant: dict[str, Any] | int) -> str:
    tid = tenant if isinstance(tenant, int) else tenant["id"]
    return f"/api/v1/tenants/{tid}/feature-codes"


def codes_of(body: dict[str, Any]) -> dict[str, str]:
    return {c["action"]: c["code"] for c in body["codes"]}


def test_the_table_shows_every_action_with_its_default(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    body = client.get(url(tenant_a)).json()
    assert body["tenant_id"] == tenant_a["id"]
    assert [c["action"] for c in body["codes"]] == [a.name for a in CATALOGUE]
    login = next(c for c in body["codes"] if c["action"] == "agent_login")
    assert login == {
        "action": "agent_login", "code": "*61", "default": "*61", "enabled": True,
        "argument": "none", "description": "queue agent: log into every queue",
    }  # fmt: skip
    pickup = next(c for c in body["codes"] if c["action"] == "directed_pickup")
    assert (pickup["code"], pickup["argument"]) == ("*97", "digits")


def test_change_turn_off_and_back_to_default(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    db_sessions: SessionFactory,
) -> None:
    resp = client.put(url(tenant_a), json={"codes": {"agent_login": "*71", "dnd_on": "#78"},
                                            "enabled": {"paging": False}})  # fmt: skip
    assert resp.status_code == 200, resp.text
    table = codes_of(resp.json())
    assert (table["agent_login"], table["dnd_on"], table["agent_logout"]) == ("*71", "#78", "*62")
    paging = next(c for c in resp.json()["codes"] if c["action"] == "paging")
    assert (paging["code"], paging["enabled"]) == ("*46", False)
    assert client.get(url(tenant_a)).json() == resp.json()
    with db_sessions() as session:
        effective = enabled_codes(session, tenant_a["id"])
        assert effective["agent_login"] == "*71" and "paging" not in effective
        # Another tenant keeps the defaults.
        assert enabled_codes(session, tenant_b["id"])["agent_login"] == "*61"
    # Actions not named keep theirs; null is the default again; a code set to its
    # default and an action turned on again leave no row behind.
    resp = client.put(url(tenant_a), json={"codes": {"agent_login": None, "dnd_on": "*78"},
                                            "enabled": {"paging": True}})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert codes_of(resp.json()) == {a.name: a.default for a in CATALOGUE}
    with db_sessions() as session:
        assert session.exec(select(FeatureCode)).all() == []
    # A freed code may be taken by another action (the old one moves first, one request).
    resp = client.put(
        url(tenant_a), json={"codes": {"agent_login": "*91", "forward_busy_off": "*89"}}
    )
    assert resp.status_code == 200, resp.text
    assert codes_of(resp.json())["agent_login"] == "*91"
    # A code turned off frees its code too.
    resp = client.put(
        url(tenant_a), json={"codes": {"agent_pause": "*78"}, "enabled": {"dnd_on": False}}
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"codes": {"agent_login": "71"}}, "codes.agent_login"),
        ({"codes": {"agent_login": "*7a"}}, "codes.agent_login"),
        ({"codes": {"agent_login": "*12345"}}, "codes.agent_login"),
        ({"codes": {"agent_login": "*"}}, "codes.agent_login"),
        ({"codes": {"agent_login": "*7;Hangup"}}, "codes.agent_login"),
        ({"codes": {"no_such_thing": "*71"}}, "codes.no_such_thing"),
        ({"enabled": {"no_such_thing": False}}, "enabled.no_such_thing"),
        ({"codes": {"agent_login": 71}}, "agent_login"),
        ({"enabled": {"paging": "no"}}, "paging"),
        ({"code": {"agent_login": "*71"}}, "code"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, tenant_a: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = client.get(url(tenant_a)).json()
    # A good change in the same request is not kept either.
    resp = client.put(
        url(tenant_a), json={**body, "codes": {**body.get("codes", {}), "dnd_on": "*77"}}
    )
    assert resp.status_code == 422, resp.text
    assert error_field(resp.json()) == field
    assert client.get(url(tenant_a)).json() == before


def test_collisions_are_409_naming_both_sides_and_change_nothing(
    client: TestClient, tenant_a: dict[str, Any]
) -> None:
    before = client.get(url(tenant_a)).json()
    resp = client.put(url(tenant_a), json={"codes": {"agent_login": "*72"}})
    assert resp.status_code == 409, resp.text
    err = resp.json()
    assert "agent_login" in err["message"] and "forward_all_on" in err["message"]
    assert err["details"]["collisions"] == [
        {"action": "agent_login", "code": "*72", "how": "equal", "other_kind": "feature_code",
         "other": "*72", "other_name": "forward_all_on"},
    ]  # fmt: skip
    # *8 would take every call to *800...: a code may not be a prefix of another.
    resp = client.put(url(tenant_a), json={"codes": {"group_pickup": "*8", "paging": "*800"}})
    assert resp.status_code == 409
    assert resp.json()["details"]["collisions"][0]["how"] == "prefix_of"
    resp = client.put(url(tenant_a), json={"codes": {"agent_login": "*7"}})  # *72, *73...
    assert resp.status_code == 409
    assert len(resp.json()["details"]["collisions"]) >= 5
    # Two actions swapping codes in one request is fine; the table is checked whole.
    resp = client.put(url(tenant_a), json={"codes": {"dnd_on": "*79", "dnd_off": "*78"}})
    assert resp.status_code == 200, resp.text
    table = codes_of(resp.json())
    assert (table["dnd_on"], table["dnd_off"]) == ("*79", "*78")
    assert codes_of(client.get(url(tenant_a)).json()) == {
        **codes_of(before),
        "dnd_on": "*79",
        "dnd_off": "*78",
    }


def test_outbound_route_prefixes_and_codes_may_not_shadow_each_other(
    client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    trunk = add_trunk(client, tenant_a, "carrier")
    body = {"tenant_id": tenant_a["id"], "name": "star", "trunk_id": trunk, "prefix": "*7",
            "min_length": 1, "max_length": 10}  # fmt: skip
    # *7 + digits would take *72, *73, *78... (and a prefix *7215 would be taken by *72).
    for prefix in ("*7", "*7215", "*61"):
        resp = client.post("/api/v1/outbound-routes", json={**body, "prefix": prefix})
        assert resp.status_code == 409, resp.text
        assert resp.json()["details"]["field"] == "prefix"
        assert resp.json()["details"]["collisions"][0]["other_kind"] == "outbound_route"
    # A prefix of digits, or a starred one no code uses: fine.
    add_route(client, tenant_a, "plain", trunk, prefix="9")
    route = add_route(client, tenant_a, "hash", trunk, prefix="#5")
    resp = client.patch(f"/api/v1/outbound-routes/{route['id']}", json={"prefix": "*62"})
    assert resp.status_code == 409, resp.text
    assert client.get(f"/api/v1/outbound-routes/{route['id']}").json()["prefix"] == "#5"
    # The other way round: a code under the route's prefix is refused too.
    resp = client.put(url(tenant_a), json={"codes": {"agent_login": "#51"}})
    assert resp.status_code == 409, resp.text
    (collision,) = resp.json()["details"]["collisions"]
    assert (collision["other_kind"], collision["other_name"]) == ("outbound_route", "hash")
    assert "outbound route hash (#5)" in resp.json()["message"]
    # Another tenant's routes are not this tenant's concern.
    assert client.put(url(tenant_b), json={"codes": {"agent_login": "#51"}}).status_code == 200
    # Turning the code off frees the prefix for a route.
    client.put(url(tenant_a), json={"enabled": {"agent_logout": False}})
    assert (
        client.patch(f"/api/v1/outbound-routes/{route['id']}", json={"prefix": "*62"}).status_code
        == 200
    )
    # ...and turning it on again is refused while the route holds it.
    assert client.put(url(tenant_a), json={"enabled": {"agent_logout": True}}).status_code == 409


def test_tenant_admin_scope(
    anon: TestClient, client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    mine = bearer(tenant_a["token"])
    assert anon.get(url(tenant_a), headers=mine).status_code == 200
    resp = anon.put(url(tenant_a), json={"codes": {"agent_login": "*71"}}, headers=mine)
    assert resp.status_code == 200, resp.text
    # Another tenant, or none: 404 like a missing one; no credentials: 401.
    assert anon.get(url(tenant_b), headers=mine).status_code == 404
    assert anon.put(url(tenant_b), json={"codes": {}}, headers=mine).status_code == 404
    assert client.get(url(987654)).status_code == 404
    assert anon.get(url(tenant_a)).status_code == 401
    assert codes_of(client.get(url(tenant_b)).json())["agent_login"] == "*61"
