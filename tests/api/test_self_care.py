"""The self-care role ``user``: who may create one, ``/api/v1/me``, its own call history
(``/api/v1/me/calls``: nothing of other extensions or tenants), its own mailbox
(``/api/v1/me/voicemail``: no other box's PIN or messages), everything else refused,
and its token after its extension is disabled or deleted (on SQLite and PostgreSQL).

The route-by-route matrix (every route refuses a user unless it is its own) is
test_roles.py's; its WebSockets are there too.

Tenant A has extensions 101 (Una's, a self-care user), 102 and 103 (Bob, an agent);
tenant B has 101 too (Vic's, a self-care user), so a number alone never decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import services_of
from orchestrator.core.fake import FakeEngine, silent_wav
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import VoicemailStorage
from orchestrator.store import voicemail as vm
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Cdr, CdrLeg, Mailbox, VoicemailMessage
from tests.api.conftest import bearer
from tests.api.test_mailboxes import Mwi

pytestmark = pytest.mark.postgres


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def refused(resp: Any, role: str = "user") -> dict[str, Any]:
    assert resp.status_code == 403, resp.text
    body: dict[str, Any] = resp.json()
    assert body["error_id"] == "permission-denied" and body["details"]["role"] == role, body
    return body


@dataclass
class World:
    a: int
    b: int
    ext: dict[str, int]  # tenant A's extension ids by number; "B101": tenant B's 101
    admin_a: dict[str, str]
    admin_b: dict[str, str]
    una: dict[str, str]  # tenant A's user on 101
    una_id: int
    vic: dict[str, str]  # tenant B's user on its 101
    bob: dict[str, str]  # tenant A's agent on 103
    boss: dict[str, str]  # tenant A's supervisor


@pytest.fixture
def world(client: TestClient, tenant_a: dict[str, Any], tenant_b: dict[str, Any]) -> World:
    a, b = tenant_a["id"], tenant_b["id"]
    ext = {}
    for number in ("101", "102", "103"):
        path = f"/api/v1/tenants/{a}/extensions"
        ext[number] = _ok(client.post(path, json={"number": number, "name": f"Ext {number}"}), 201)[
            "id"
        ]
    ext["B101"] = _ok(client.post(f"/api/v1/tenants/{b}/extensions", json={"number": "101"}), 201)[
        "id"
    ]
    admin_a, admin_b = bearer(tenant_a["token"]), bearer(tenant_b["token"])

    def make(headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = _ok(client.post("/api/v1/users", json=body, headers=headers), 201)
        return created

    una = make(admin_a, {"name": "Una", "role": "user", "extension_id": ext["101"]})
    vic = make(admin_b, {"name": "Vic", "role": "user", "extension_id": ext["B101"]})
    bob = make(admin_a, {"name": "Bob", "role": "agent", "extension_id": ext["103"]})
    boss = make(admin_a, {"name": "Boss", "role": "supervisor"})
    del client.headers["Authorization"]  # every request below names its caller
    return World(
        a=a,
        b=b,
        ext=ext,
        admin_a=admin_a,
        admin_b=admin_b,
        una=bearer(una["token"]),
        una_id=una["id"],
        vic=bearer(vic["token"]),
        bob=bearer(bob["token"]),
        boss=bearer(boss["token"]),
    )


# -- creating users ---------------------------------------------------------------------------
def test_tenant_admin_creates_users_for_its_own_extensions_only(
    client: TestClient, world: World
) -> None:
    made = _ok(
        client.post(
            "/api/v1/users",
            json={"name": "Ola", "role": "user", "extension_id": world.ext["102"]},
            headers=world.admin_a,
        ),
        201,
    )
    assert (made["role"], made["tenant_id"], made["extension_id"]) == (
        "user",
        world.a,
        world.ext["102"],
    )
    assert len(made["token"]) >= 40
    who = _ok(client.get("/api/v1/me", headers=bearer(made["token"])))
    assert (who["extension"], who["tenant_id"]) == ("102", world.a)
    # Another tenant's extension: 422; another tenant: 404; no extension: 422.
    bad = [
        ({"name": "x1", "role": "user", "extension_id": world.ext["B101"]}, 422),
        ({"name": "x2", "role": "user", "extension_id": world.ext["B101"], "tenant_id": world.b},
         404),
        ({"name": "x3", "role": "user"}, 422),
        ({"name": "x4", "role": "user", "extension_id": 99999}, 422),
        ({"name": "x5", "role": "supervisor", "extension_id": world.ext["102"]}, 422),
    ]  # fmt: skip
    for body, status in bad:
        resp = client.post("/api/v1/users", json=body, headers=world.admin_a)
        assert resp.status_code == status, (body, resp.text)
    # Tenant B's admin cannot make one on tenant A's extension either.
    body = {"name": "x6", "role": "user", "extension_id": world.ext["101"], "tenant_id": world.a}
    assert client.post("/api/v1/users", json=body, headers=world.admin_b).status_code == 404
    # Supervisors, agents and users mint no tokens, in their tenant or another.
    for headers, role in ((world.boss, "supervisor"), (world.bob, "agent"), (world.una, "user")):
        for tenant, number in ((world.a, "102"), (world.b, "B101")):
            body = {"name": f"y-{role}-{number}", "role": "user",
                    "tenant_id": tenant, "extension_id": world.ext[number]}  # fmt: skip
            refused(client.post("/api/v1/users", json=body, headers=headers), role)
    # Only Ola was made; the tenant admin sees the tenant's users, with their roles.
    listed = _ok(client.get("/api/v1/users", headers=world.admin_a))["items"]
    assert sorted(u["name"] for u in listed if u["role"] == "user") == ["Ola", "Una"]
    # It manages them: rename, delete (the token stops working).
    path = f"/api/v1/users/{made['id']}"
    assert _ok(client.patch(path, json={"name": "Ola B"}, headers=world.admin_a))["name"] == "Ola B"
    assert client.delete(path, headers=world.admin_a).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(made["token"])).status_code == 401


# -- who am I ---------------------------------------------------------------------------------
def test_me_tells_who_the_caller_is(client: TestClient, world: World) -> None:
    me = _ok(client.get("/api/v1/me", headers=world.una))
    assert me == {
        "user_id": world.una_id,
        "name": "Una",
        "role": "user",
        "tenant_id": world.a,
        "tenant_name": "Tenant A",
        "sip_domain": "a.example",
        "extension_id": world.ext["101"],
        "extension": "101",
        "extension_name": "Ext 101",
    }
    vic = _ok(client.get("/api/v1/me", headers=world.vic))
    assert (vic["tenant_id"], vic["extension"], vic["sip_domain"]) == (world.b, "101", "b.example")
    assert _ok(client.get("/api/v1/users/me", headers=world.una))["role"] == "user"
    admin = _ok(client.get("/api/v1/me", headers=world.admin_a))
    assert (admin["role"], admin["tenant_id"], admin["extension"]) == (
        "tenant_admin",
        world.a,
        None,
    )
    system = _ok(client.get("/api/v1/me", headers=bearer_admin()))
    assert (system["role"], system["tenant_id"], system["tenant_name"]) == (
        "system_admin",
        None,
        None,
    )
    assert client.get("/api/v1/me").status_code == 401


def bearer_admin() -> dict[str, str]:
    from tests.api.conftest import ADMIN_TOKEN

    return bearer(ADMIN_TOKEN)


# -- its calls --------------------------------------------------------------------------------
def add_call(
    sessions: SessionFactory,
    call_id: str,
    tenant_id: int,
    legs: list[tuple[str, int]],
    *,
    start: datetime,
    disposition: str = "answered",
    caller: str | None = None,
) -> int:
    """A CDR whose xDRs are ``legs`` (extension number, its tenant), the first the caller's
    unless ``caller`` (a number from outside) is given."""
    first = legs[0][0] if caller is None else None
    cdr = Cdr(
        uuid=f"u{call_id}",
        node="n1",
        call_id=call_id,
        tenant_id=tenant_id,
        direction="internal" if caller is None else "inbound",
        caller_number=caller or legs[0][0],
        caller_extension=first,
        called_number=legs[-1][0],
        called_extension=legs[-1][0],
        answered_by=legs[-1][0] if disposition == "answered" else None,
        started_at=start,
        answered_at=start + timedelta(seconds=2) if disposition == "answered" else None,
        ended_at=start + timedelta(seconds=30),
        duration_s=30,
        billsec=28 if disposition == "answered" else 0,
        disposition=disposition,
        hangup_cause=16,
        account="acme",
        charge=Decimal("0.05"),
        currency="EUR",
        recordings=[f"rec-{call_id}"],
    )
    rows = [
        CdrLeg(
            seq=i,
            channel_id=f"{call_id}-{i}",
            role="caller" if i == 0 and caller is None else "callee",
            service="voice",
            extension=number,
            number=number,
            tenant_id=tenant,
            started_at=start,
            ended_at=start + timedelta(seconds=30),
            disposition=disposition,
        )
        for i, (number, tenant) in enumerate(legs)
    ]
    with sessions() as session:
        cdr_id = write_cdr(session, cdr, rows)
    assert cdr_id is not None
    return cdr_id


def test_my_calls_are_my_extensions_only(
    client: TestClient, world: World, db_sessions: SessionFactory
) -> None:
    a, b = world.a, world.b
    now = datetime.now(UTC)
    at = [now + timedelta(minutes=m) for m in range(8)]
    out = add_call(db_sessions, "out", a, [("101", a), ("102", a)], start=at[0])
    into = add_call(db_sessions, "in", a, [("102", a), ("101", a)], start=at[1], disposition="busy")
    pstn = add_call(db_sessions, "pstn", a, [("101", a)], start=at[2], caller="+4930123")
    fwd = add_call(db_sessions, "fwd", a, [("103", a), ("102", a), ("101", a)], start=at[3])
    # Not Una's: other extensions of its tenant, tenant B's own 101, and a CDR of its
    # tenant where tenant B's 101 took a leg (a number alone never decides).
    add_call(db_sessions, "other", a, [("102", a), ("103", a)], start=at[4])
    add_call(db_sessions, "b", b, [("101", b)], start=at[5])
    add_call(db_sessions, "cross", a, [("103", a), ("101", b)], start=at[6])
    # Before extension 101 was created (a former holder of the number): not Una's either.
    add_call(db_sessions, "old", a, [("101", a), ("102", a)], start=now - timedelta(days=30))

    page = _ok(client.get("/api/v1/me/calls", headers=world.una))
    assert (page["total"], page["offset"], page["limit"]) == (4, 0, 100)
    assert [c["id"] for c in page["items"]] == [fwd, pstn, into, out]  # newest first
    assert [c["party"] for c in page["items"]] == ["callee", "callee", "callee", "caller"]
    first = page["items"][-1]
    assert (first["caller_extension"], first["called_extension"], first["answered_by"]) == (
        "101",
        "102",
        "102",
    )
    # The tenant's side of a call is not a user's: no account, charge, recordings, legs.
    assert not {"account", "charge", "currency", "recordings", "legs", "tenant_id"} & set(first)
    # Paged and filtered like /api/v1/cdrs.
    one = _ok(client.get("/api/v1/me/calls", params={"limit": 1, "offset": 1}, headers=world.una))
    assert ([c["id"] for c in one["items"]], one["total"]) == ([pstn], 4)
    busy = _ok(client.get("/api/v1/me/calls", params={"disposition": "busy"}, headers=world.una))
    assert [c["id"] for c in busy["items"]] == [into]
    inbound = {"direction": "inbound"}
    assert [c["id"] for c in _ok(client.get("/api/v1/me/calls", params=inbound,
                                            headers=world.una))["items"]] == [pstn]  # fmt: skip
    window = {"from": at[1].isoformat(), "to": at[3].isoformat()}
    got = _ok(client.get("/api/v1/me/calls", params=window, headers=world.una))
    assert [c["id"] for c in got["items"]] == [pstn, into]
    # An early "from" does not reach past the extension's creation.
    early = {"from": (now - timedelta(days=365)).isoformat()}
    assert _ok(client.get("/api/v1/me/calls", params=early, headers=world.una))["total"] == 4
    # Asking for someone else's changes nothing: the extension comes from the token.
    sneaky = {"extension": "102", "tenant_id": b}
    assert _ok(client.get("/api/v1/me/calls", params=sneaky, headers=world.una))["total"] == 4
    # Tenant B's 101 sees its own call only.
    vic = _ok(client.get("/api/v1/me/calls", headers=world.vic))
    assert [c["call_id"] for c in vic["items"]] == ["cross", "b"]
    # An agent reads its own extension's calls too; admins and supervisors have none.
    bob = _ok(client.get("/api/v1/me/calls", headers=world.bob))
    assert [c["call_id"] for c in bob["items"]] == ["cross", "other", "fwd"]
    for headers, role in ((world.admin_a, "tenant_admin"), (world.boss, "supervisor")):
        error = refused(client.get("/api/v1/me/calls", headers=headers), role)
        assert "no extension of its own" in error["message"]
    # Bad filters: 422, as /api/v1/cdrs.
    for params in ({"disposition": "nope"}, {"from": "yesterday"}, {"limit": 0}):
        resp = client.get("/api/v1/me/calls", params=params, headers=world.una)
        assert resp.status_code == 422, (params, resp.text)


# -- everything else is refused ---------------------------------------------------------------
def test_a_user_reads_and_changes_nothing_else(client: TestClient, world: World) -> None:
    a, own, other = world.a, world.ext["101"], world.ext["102"]
    base = f"/api/v1/tenants/{a}/extensions"
    attempts = [
        ("GET", "/api/v1/tenants", None),
        ("GET", f"/api/v1/tenants/{a}", None),
        ("GET", base, None),
        ("GET", f"{base}/{own}", None),  # its own extension's row: the SIP user is an admin's
        ("GET", f"{base}/{own}/sip-credentials", None),
        ("PATCH", f"{base}/{own}", {"name": "Una"}),
        ("PUT", f"{base}/{own}/redirect", {"to": "102"}),
        ("DELETE", f"{base}/{own}/redirect", None),
        ("PUT", f"{base}/{other}/redirect", {"to": "101"}),
        ("GET", "/api/v1/cdrs", None),
        ("GET", "/api/v1/cdrs", {"extension": "101"}),
        ("GET", "/api/v1/calls", None),
        ("POST", "/api/v1/click-to-call", {"tenant_id": a, "a": "101", "b": "102"}),
        ("POST", "/api/v1/calls", {"tenant_id": a, "extension": "101", "destination": "102"}),
        ("GET", "/api/v1/agents", None),
        ("GET", "/api/v1/conferences", None),
        ("GET", "/api/v1/recordings", None),
        ("GET", "/api/v1/users", None),
        ("GET", f"/api/v1/users/{world.una_id}", None),
        ("PATCH", f"/api/v1/users/{world.una_id}", {"name": "Una 2"}),
        ("DELETE", f"/api/v1/users/{world.una_id}", None),
    ]
    for method, path, data in attempts:
        params = data if method == "GET" else None
        body = data if method != "GET" else None
        resp = client.request(method, path, params=params, json=body, headers=world.una)
        error = refused(resp)
        assert error["details"]["needs"] in ("agent", "tenant_admin"), (method, path, error)
    # Another tenant's things: the same 403 (the role first), nothing about whether they exist.
    b_ext = f"/api/v1/tenants/{world.b}/extensions/{world.ext['B101']}"
    assert refused(client.get(b_ext, headers=world.una))["details"]["needs"] == "agent"
    # Nothing changed.
    row = _ok(client.get(f"{base}/{own}", headers=world.admin_a))
    assert (row["name"], row["redirect_to"]) == ("Ext 101", None)
    assert _ok(client.get("/api/v1/users/me", headers=world.una))["name"] == "Una"


def test_an_agent_on_the_users_extension_is_not_the_users(client: TestClient, world: World) -> None:
    """An agent on a user's extension: the user may not act as it (the agent is staff)."""
    body = {"tenant_id": world.a, "extension": "101"}
    agent = _ok(client.post("/api/v1/agents", json=body, headers=world.admin_a), 201)["id"]
    for action in ("login", "logout", "pause", "unpause"):
        refused(client.post(f"/api/v1/agents/{agent}/{action}", headers=world.una))
    refused(client.get(f"/api/v1/agents/{agent}", headers=world.una))


# -- its extension disabled or deleted --------------------------------------------------------
def test_token_of_a_disabled_or_deleted_extension(client: TestClient, world: World) -> None:
    path = f"/api/v1/tenants/{world.a}/extensions/{world.ext['101']}"
    _ok(client.patch(path, json={"enabled": False}, headers=world.admin_a))
    for url in ("/api/v1/me", "/api/v1/me/calls", "/api/v1/users/me", "/api/v1/tenants"):
        error = refused(client.get(url, headers=world.una))
        assert "extension 101 is disabled" in error["message"], url
    # Tenant B's user of its own 101 is not affected; an agent's token is not either.
    assert _ok(client.get("/api/v1/me", headers=world.vic))["extension"] == "101"
    _ok(client.patch(path, json={"enabled": True}, headers=world.admin_a))
    assert _ok(client.get("/api/v1/me", headers=world.una))["extension"] == "101"
    # Deleted: the user goes with its extension, and its token with it.
    assert client.delete(path, headers=world.admin_a).status_code == 204
    resp = client.get("/api/v1/me", headers=world.una)
    assert resp.status_code == 401 and resp.json()["error_id"] == "unauthenticated", resp.text
    users = _ok(client.get("/api/v1/users", headers=world.admin_a))["items"]
    assert "Una" not in {u["name"] for u in users}


# -- own call settings ------------------------------------------------------------------------
def test_a_user_reads_and_changes_its_own_call_settings_only(
    client: TestClient, world: World
) -> None:
    mine = _ok(client.get("/api/v1/me/call-settings", headers=world.una))
    assert (mine["extension"], mine["dnd"], mine["forward_all"]) == ("101", False, None)
    changed = _ok(
        client.patch(
            "/api/v1/me/call-settings",
            json={"dnd": True, "forward_busy": "102"},
            headers=world.una,
        )
    )
    assert (changed["dnd"], changed["forward_busy"], changed["managed"]) == (
        True,
        "extension:102",
        True,
    )
    # The admin sees the change on 101, and 102 is untouched.
    admin = client.get(f"/api/v1/extensions/{world.ext['101']}/call-settings",
                       headers=world.admin_a)  # fmt: skip
    assert _ok(admin)["dnd"] is True
    other = client.get(f"/api/v1/extensions/{world.ext['102']}/call-settings",
                       headers=world.admin_a)  # fmt: skip
    assert _ok(other)["dnd"] is False
    # Bad values: 422 and nothing changed; another extension's settings are not its own.
    for body in ({"forward_all": "101"}, {"forward_all": "1,2"}, {"no_answer_ring_s": 1},
                 {"extension_id": world.ext["102"], "dnd": False}):  # fmt: skip
        r = client.patch("/api/v1/me/call-settings", json=body, headers=world.una)
        assert r.status_code == 422, (body, r.text)
    assert _ok(client.get("/api/v1/me/call-settings", headers=world.una))["dnd"] is True
    path = f"/api/v1/extensions/{world.ext['102']}/call-settings"
    refused(client.patch(path, json={"dnd": True}, headers=world.una))
    # Vic (tenant B's 101) sees its own, not Una's.
    vic = _ok(client.get("/api/v1/me/call-settings", headers=world.vic))
    assert (vic["tenant_id"], vic["dnd"]) == (world.b, False)
    # Supervisors and admins have no own phone here.
    refused(client.get("/api/v1/me/call-settings", headers=world.boss), role="supervisor")


# -- own voicemail ----------------------------------------------------------------------------
ME_VM = "/api/v1/me/voicemail"


@pytest.fixture
def mwi(app: FastAPI, fake_engine: FakeEngine, db_sessions: SessionFactory) -> Mwi:
    """The voicemail service over the FakeEngine, its MWI notifier recording each change."""
    mwi = Mwi()
    storage = VoicemailStorage(fake_engine, db_sessions, None)
    services_of(app).voicemail = VoicemailService(db_sessions, storage, mwi=mwi)
    return mwi


def add_mailbox(
    client: TestClient, headers: dict[str, str], tenant_id: int, extension_id: int, number: str
) -> int:
    body = {"tenant_id": tenant_id, "extension_id": extension_id, "number": number, "pin": "4711"}
    return int(_ok(client.post("/api/v1/mailboxes", json=body, headers=headers), 201)["id"])


def add_message(sessions: SessionFactory, mailbox_id: int, recording: str) -> str:
    with sessions() as s:
        box = s.get(Mailbox, mailbox_id)
        assert box is not None
        return vm.add_message(s, box, recording=recording, duration_s=2.0, size_bytes=10).id


def own_message_routes(message_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    path = f"{ME_VM}/messages/{message_id}"
    return [("GET", f"{path}/audio", None), ("PATCH", path, {"heard": True}),
            ("DELETE", path, None)]  # fmt: skip


def test_own_voicemail_is_the_own_extensions_box_only(
    client: TestClient, world: World, db_sessions: SessionFactory, mwi: Mwi
) -> None:
    all_routes = [("GET", ME_VM, None), ("PUT", f"{ME_VM}/pin", {"pin": "2580"}),
                  ("GET", f"{ME_VM}/messages", None),
                  *own_message_routes("0" * 32)]  # fmt: skip
    # No mailbox yet: 404 everywhere, before any body or id is looked at.
    for method, path, body in all_routes:
        resp = client.request(method, path, json=body, headers=world.una)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["error_id"] == "not-found", resp.text
    una_box = add_mailbox(client, world.admin_a, world.a, world.ext["101"], "101")
    other_box = add_mailbox(client, world.admin_a, world.a, world.ext["102"], "102")
    vic_box = add_mailbox(client, world.admin_b, world.b, world.ext["B101"], "101")
    # Creating a box tells its lamps once (tests/api/test_mailboxes.py); from here on,
    # nothing the user does to other boxes may.
    assert sorted(mwi.changes) == sorted([(world.a, una_box), (world.a, other_box),
                                          (world.b, vic_box)])  # fmt: skip
    mwi.changes.clear()
    mine = _ok(client.get(ME_VM, headers=world.una))
    assert (mine["id"], mine["tenant_id"], mine["extension_id"]) == (
        una_box,
        world.a,
        world.ext["101"],
    )
    assert mine["has_pin"] and "pin" not in mine and "pin_hash" not in mine
    assert "4711" not in str(mine) and "scrypt" not in str(mine)
    vic = _ok(client.get(ME_VM, headers=world.vic))
    assert (vic["id"], vic["tenant_id"]) == (vic_box, world.b)
    # A query or body naming another box changes nothing: the token decides.
    params = {"mailbox_id": other_box, "extension_id": world.ext["102"]}
    assert _ok(client.get(ME_VM, params=params, headers=world.una))["id"] == una_box
    # Bob (an agent on 103) has an own extension but no box there; then one.
    assert client.get(ME_VM, headers=world.bob).status_code == 404
    bob_box = add_mailbox(client, world.admin_a, world.a, world.ext["103"], "103")
    assert mwi.changes == [(world.a, bob_box)]  # the admin's creation, not the user's
    mwi.changes.clear()
    assert _ok(client.get(ME_VM, headers=world.bob))["id"] == bob_box
    # Admins and supervisors have no own phone: 403, even with a box on the tenant.
    for headers, role in ((world.boss, "supervisor"), (world.admin_a, "tenant_admin")):
        for method, path, body in all_routes:
            refused(client.request(method, path, json=body, headers=headers), role)
    # Messages: Una sees hers only; 102's and tenant B's are as missing as a made-up id.
    own = add_message(db_sessions, una_box, "vm/una")
    others = [add_message(db_sessions, other_box, "vm/ola"),
              add_message(db_sessions, vic_box, "vm/vic")]  # fmt: skip
    listed = _ok(client.get(f"{ME_VM}/messages", headers=world.una))
    assert [m["id"] for m in listed["items"]] == [own] and listed["total"] == 1
    assert [m["id"] for m in _ok(client.get(f"{ME_VM}/messages", headers=world.vic))["items"]] == [
        others[1]
    ]
    missing = client.delete(f"{ME_VM}/messages/{'f' * 32}", headers=world.una)
    assert missing.status_code == 404
    for message_id in others:
        for method, path, body in own_message_routes(message_id):
            resp = client.request(method, path, json=body, headers=world.una)
            assert resp.status_code == 404, (method, path, resp.text)
            assert resp.json()["error_id"] == missing.json()["error_id"] == "not-found"
    with db_sessions() as s:
        rows = [s.get(VoicemailMessage, m) for m in others]
        assert [r.folder if r else None for r in rows] == ["new", "new"], "left alone"
    assert mwi.changes == [], "no lamp was told of anything"
    # The admin's mailbox routes stay closed to the user.
    refused(client.get(f"/api/v1/mailboxes/{una_box}", headers=world.una))
    refused(client.get(f"/api/v1/mailboxes/{una_box}/messages", headers=world.una))


def test_own_pin_change_checked_and_never_echoed(
    client: TestClient, world: World, db_sessions: SessionFactory
) -> None:
    una_box = add_mailbox(client, world.admin_a, world.a, world.ext["101"], "101")
    other_box = add_mailbox(client, world.admin_a, world.a, world.ext["102"], "102")
    resp = client.put(f"{ME_VM}/pin", json={"pin": "80516"}, headers=world.una)
    assert resp.status_code == 204 and resp.content == b"", resp.text
    with db_sessions() as s:
        assert vm.check_mailbox_pin(s, una_box, "80516")
        assert not vm.check_mailbox_pin(s, una_box, "4711")
        assert vm.check_mailbox_pin(s, other_box, "4711"), "102's PIN is not Una's to change"
    bad: list[dict[str, Any]] = [
        {"pin": "123"},
        {"pin": "1234567890123"},
        {"pin": "12a45"},
        {"pin": " 24680"},
        {"pin": "\uff12\uff14\uff16\uff18"},  # full-width digits
        {"pin": 24680},
        {"pin": None},
        {},
        {"pin": "24680", "mailbox_id": other_box},
    ]
    for body in bad:
        resp = client.put(f"{ME_VM}/pin", json=body, headers=world.una)
        assert resp.status_code == 422, (body, resp.text)
        if isinstance(body.get("pin"), str):
            assert body["pin"].strip() not in resp.text, "a PIN is never echoed"
    with db_sessions() as s:
        assert vm.check_mailbox_pin(s, una_box, "80516"), "nothing changed on a 422"
        assert vm.check_mailbox_pin(s, other_box, "4711")
    # Tenant B's user of its own 101 changes its own box, not tenant A's 101.
    vic_box = add_mailbox(client, world.admin_b, world.b, world.ext["B101"], "101")
    assert client.put(f"{ME_VM}/pin", json={"pin": "97531"}, headers=world.vic).status_code == 204
    with db_sessions() as s:
        assert vm.check_mailbox_pin(s, vic_box, "97531")
        assert vm.check_mailbox_pin(s, una_box, "80516")


def test_own_messages_heard_fetched_deleted_and_the_lamp_follows(
    client: TestClient,
    world: World,
    db_sessions: SessionFactory,
    fake_engine: FakeEngine,
    mwi: Mwi,
) -> None:
    box = add_mailbox(client, world.admin_a, world.a, world.ext["101"], "101")
    assert mwi.changes == [(world.a, box)]  # created: its lamp is shown (off)
    mwi.changes.clear()
    first, second = add_message(db_sessions, box, "vm/one"), add_message(db_sessions, box, "vm/two")
    audio = silent_wav(2.0)
    fake_engine.recordings["vm/one"], fake_engine.recordings["vm/two"] = audio, silent_wav(1.0)

    def counts() -> tuple[int, int]:
        mine = _ok(client.get(ME_VM, headers=world.una))
        return mine["new_messages"], mine["old_messages"]

    def listed(folder: str) -> list[str]:
        page = _ok(client.get(f"{ME_VM}/messages", params={"folder": folder}, headers=world.una))
        return [m["id"] for m in page["items"]]

    assert counts() == (2, 0) and listed("new") == [first, second] and listed("old") == []
    got = client.get(f"{ME_VM}/messages/{first}/audio", headers=world.una)
    assert got.status_code == 200 and got.content == audio
    assert got.headers["content-type"] == "audio/wav"
    path = f"{ME_VM}/messages/{first}"
    assert _ok(client.patch(path, json={"heard": True}, headers=world.una))["folder"] == "old"
    assert counts() == (1, 1) and listed("old") == [first]
    assert mwi.changes == [(world.a, box)]
    # Heard again: nothing moved, so the lamp is not told again; bad bodies are 422.
    _ok(client.patch(path, json={"heard": True}, headers=world.una))
    assert len(mwi.changes) == 1
    for body in ({"heard": "yes"}, {"heard": None}, {}, {"heard": True, "folder": "new"}):
        assert client.patch(path, json=body, headers=world.una).status_code == 422, body
    assert client.get(f"{ME_VM}/messages", params={"folder": "trash"},
                      headers=world.una).status_code == 422  # fmt: skip
    assert client.patch(f"{ME_VM}/messages/not-an-id", json={"heard": True},
                        headers=world.una).status_code == 422  # fmt: skip
    # Back to new, then delete the other: its audio goes, the lamp is told each time.
    assert _ok(client.patch(path, json={"heard": False}, headers=world.una))["folder"] == "new"
    assert counts() == (2, 0)
    resp = client.delete(f"{ME_VM}/messages/{second}", headers=world.una)
    assert resp.status_code == 204, resp.text
    assert "vm/two" not in fake_engine.recordings, "its audio deleted too"
    assert counts() == (1, 0) and listed("new") == [first]
    assert client.delete(f"{ME_VM}/messages/{second}", headers=world.una).status_code == 404
    assert mwi.changes == [(world.a, box)] * 3
