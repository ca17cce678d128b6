"""The standing per-extension redirect (agent busy/away): set and clear it over REST,
its validation (targets, loops, reasons), tenant scoping, what the tenant's dialplan
and the directory that IVR flows and CTI dial through make of it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.core import FakeEngine
from orchestrator.core.targets import Extension, SipUser, TrunkNumber
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.ivr.store_backed import StoreDirectory
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.provisioning.data import load_tenant
from orchestrator.store.db import SessionFactory
from tests.api.conftest import bearer
from tests.api.fields import error_field
from tests.unit.test_provisioning import answer

TEMPLATES = Path(__file__).resolve().parents[2] / "dialplan_templates" / "asterisk"


def url(tenant: dict[str, Any], suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant['id']}/extensions{suffix}"


@pytest.fixture
def exts(client: TestClient, tenant_a: dict[str, Any]) -> dict[str, int]:
    """Extensions 101, 102, 103 and 104 of tenant A, by number."""
    out = {}
    for number in ("101", "102", "103", "104"):
        resp = client.post(url(tenant_a), json={"number": number})
        assert resp.status_code == 201, resp.text
        out[number] = resp.json()["id"]
    return out


def put(client: TestClient, tenant: dict, ext_id: int, **body: Any) -> Any:
    return client.put(url(tenant, f"/{ext_id}/redirect"), json=body)


def route_0044(client: TestClient, tenant: dict[str, Any]) -> None:
    """A trunk and a route for numbers 00 + 9 to 13 digits."""
    resp = client.post(
        "/api/v1/trunks",
        json={"tenant_id": tenant["id"], "name": "carrier", "host": "carrier.example"},
    )
    assert resp.status_code == 201, resp.text
    resp = client.post(
        "/api/v1/outbound-routes",
        json={
            "tenant_id": tenant["id"],
            "name": "intl",
            "trunk_id": resp.json()["id"],
            "prefix": "00",
            "min_length": 9,
            "max_length": 13,
        },
    )
    assert resp.status_code == 201, resp.text


def answers(db_sessions: SessionFactory, tenant_id: int) -> dict[str, str]:
    """What the engine's dialplan lookup answers for each of the tenant's numbers."""
    with db_sessions() as session:
        config = load_tenant(session, tenant_id)
    assert config is not None
    return {n: answer(config, n) for n in ("101", "102", "103", "104", "00442079460000")}


def fixed(db_sessions: SessionFactory, tenant_id: int) -> dict[str, str]:
    """The tenant's numbers as the lookup index holds them ("=<n>": redirected to n)."""
    with db_sessions() as session:
        config = load_tenant(session, tenant_id)
    assert config is not None
    return Renderer(TEMPLATES).render(config).routes.fixed


def test_set_show_and_clear_a_redirect(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    provisioner: RecordingProvisioner,
    db_sessions: SessionFactory,
) -> None:
    provisioner.changed.clear()
    resp = put(client, tenant_a, exts["101"], to="102", reason="away")
    assert resp.status_code == 200, resp.text
    assert (resp.json()["redirect_to"], resp.json()["redirect_reason"]) == ("extension:102", "away")
    read = client.get(url(tenant_a, f"/{exts['101']}")).json()
    assert read["redirect_to"] == "extension:102"
    listed = {e["number"]: e["redirect_to"] for e in client.get(url(tenant_a)).json()["items"]}
    assert listed == {"101": "extension:102", "102": None, "103": None, "104": None}
    assert provisioner.changed == [tenant_a["id"]]  # applied to the engine
    got = answers(db_sessions, tenant_a["id"])
    assert got["101"] == got["102"] == "ring/102/102@a.example/30"
    assert fixed(db_sessions, tenant_a["id"])["101"] == "=102"

    # Another target replaces it; DELETE removes it.
    assert put(client, tenant_a, exts["101"], to="extension:103").status_code == 200
    assert answers(db_sessions, tenant_a["id"])["101"] == "ring/103/103@a.example/30"
    resp = client.delete(url(tenant_a, f"/{exts['101']}/redirect"))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["redirect_to"], resp.json()["redirect_reason"]) == (None, "")
    assert answers(db_sessions, tenant_a["id"])["101"] == "ring/101/101@a.example/30"
    assert provisioner.changed == [tenant_a["id"]] * 3


def test_redirect_to_an_external_number_needs_a_route(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    resp = put(client, tenant_a, exts["101"], to="00442079460000")
    assert resp.status_code == 422 and error_field(resp.json()) == "to", resp.text
    route_0044(client, tenant_a)
    resp = put(client, tenant_a, exts["101"], to="00442079460000", reason="dnd")
    assert resp.status_code == 200, resp.text
    assert resp.json()["redirect_to"] == "number:00442079460000"
    assert fixed(db_sessions, tenant_a["id"])["101"] == "=00442079460000"
    got = answers(db_sessions, tenant_a["id"])
    assert got["101"] == got["00442079460000"] and got["101"].startswith(
        "out/00442079460000/trunk-"
    )
    assert put(client, tenant_a, exts["102"], to="number:00442079460").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"to": "101"}, 422, "to"),  # itself
        ({"to": "extension:199"}, 422, "to"),  # no such extension
        ({"to": "199"}, 422, "to"),  # neither an extension nor a routed number
        ({"to": "10;2"}, 422, "to"),
        ({"to": "102\n"}, 422, "to"),
        ({"to": "102,1,Hangup"}, 422, "to"),
        ({"to": "${EXTEN}"}, 422, "to"),
        ({"to": "102", "reason": "away!"}, 422, "reason"),
        ({"to": "102", "reason": "a" * 41}, 422, "reason"),
        ({"to": "102", "reason": "on a break) same"}, 422, "reason"),
        ({"to": "102", "reason": " lunch"}, 200, ""),
        ({"reason": "away"}, 422, "to"),
    ],
)
def test_redirect_validation(
    client: TestClient,
    tenant_a: dict[str, Any],
    exts: dict[str, int],
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    resp = client.put(url(tenant_a, f"/{exts['101']}/redirect"), json=body)
    assert resp.status_code == status, resp.text
    if field:
        assert error_field(resp.json()) == field
    else:
        assert resp.json()["redirect_reason"] == "lunch"


def test_loops_are_refused_and_chains_allowed(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    assert put(client, tenant_a, exts["101"], to="102").status_code == 200
    assert put(client, tenant_a, exts["102"], to="103").status_code == 200
    resp = put(client, tenant_a, exts["103"], to="101")
    assert resp.status_code == 409, resp.text
    assert resp.json()["details"]["chain"] == ["103", "101", "102", "103"]
    assert put(client, tenant_a, exts["103"], to="104").status_code == 200
    assert fixed(db_sessions, tenant_a["id"]) | {"104": ""} == {
        "101": "=102", "102": "=103", "103": "=104", "104": "",
    }  # fmt: skip
    got = answers(db_sessions, tenant_a["id"])
    assert got["101"] == got["102"] == got["103"] == "ring/104/104@a.example/30"


def test_a_loop_written_behind_the_apis_back_is_not_rendered(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    from orchestrator.store.models import Extension

    assert put(client, tenant_a, exts["101"], to="102").status_code == 200
    assert put(client, tenant_a, exts["103"], to="101").status_code == 200
    with db_sessions() as session:
        row = session.get(Extension, exts["102"])
        assert row is not None
        row.redirect_to = "extension:101"
        session.add(row)
        session.commit()
    got = answers(db_sessions, tenant_a["id"])
    # 101 and 102 ring their phones; 103 still goes to 101.
    assert got["101"] == "ring/101/101@a.example/30" and got["102"] == "ring/102/102@a.example/30"
    assert got["103"] == "ring/101/101@a.example/30"
    assert fixed(db_sessions, tenant_a["id"])["103"] == "=101"


def test_the_target_cannot_be_deleted_or_renumbered_and_disabling_it_drops_the_redirect(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    assert put(client, tenant_a, exts["101"], to="102").status_code == 200
    resp = client.delete(url(tenant_a, f"/{exts['102']}"))
    assert resp.status_code == 409 and resp.json()["details"]["redirected_from"] == ["101"]
    resp = client.patch(url(tenant_a, f"/{exts['102']}"), json={"number": "112"})
    assert resp.status_code == 409, resp.text
    resp = client.patch(url(tenant_a, f"/{exts['102']}"), json={"enabled": False})
    assert resp.status_code == 200, resp.text
    assert answers(db_sessions, tenant_a["id"])["101"] == "ring/101/101@a.example/30"
    # The redirected extension itself may go.
    assert client.delete(url(tenant_a, f"/{exts['101']}")).status_code == 204


def test_tenant_scoping(
    client: TestClient,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
    exts: dict[str, int],
) -> None:
    as_a, as_b = bearer(tenant_a["token"]), bearer(tenant_b["token"])
    resp = client.put(url(tenant_a, f"/{exts['101']}/redirect"), json={"to": "102"}, headers=as_a)
    assert resp.status_code == 200, resp.text
    for method in ("put", "delete"):
        kwargs: dict[str, Any] = {"json": {"to": "102"}} if method == "put" else {}
        resp = client.request(
            method, url(tenant_a, f"/{exts['101']}/redirect"), headers=as_b, **kwargs
        )
        assert resp.status_code == 404, resp.text
        # Tenant B's own path with A's extension id: not found either.
        resp = client.request(
            method, url(tenant_b, f"/{exts['101']}/redirect"), headers=as_b, **kwargs
        )
        assert resp.status_code == 404, resp.text
    # B's extension 101 cannot point at A's 102 (it does not exist in B).
    b101 = client.post(url(tenant_b), json={"number": "101"}).json()["id"]
    resp = client.put(url(tenant_b, f"/{b101}/redirect"), json={"to": "102"}, headers=as_b)
    assert resp.status_code == 422, resp.text
    assert client.get(url(tenant_a, f"/{exts['101']}")).json()["redirect_to"] == "extension:102"
    resp = client.delete(url(tenant_a, f"/{exts['101']}/redirect"), headers=as_a)
    assert resp.status_code == 200 and resp.json()["redirect_to"] is None


def test_the_directory_follows_redirects(
    client: TestClient, tenant_a: dict[str, Any], exts: dict[str, int], db_sessions: SessionFactory
) -> None:
    """What IVR transfers, flow dials and CTI calls to an extension reach."""
    directory = StoreDirectory(db_sessions, FakeEngine())
    tid = str(tenant_a["id"])

    def resolve(destination: str) -> Any:
        return asyncio.run(directory.resolve(tid, destination))

    assert resolve("101").dial == SipUser("101@a.example")
    assert put(client, tenant_a, exts["101"], to="102").status_code == 200
    assert put(client, tenant_a, exts["102"], to="103").status_code == 200
    target = resolve("101")
    assert (target.number, target.dial) == ("103", SipUser("103@a.example"))
    assert target.transfer == Extension(tid, "103")
    route_0044(client, tenant_a)
    assert put(client, tenant_a, exts["103"], to="00442079460000").status_code == 200
    target = resolve("extension:101")
    number = TrunkNumber("trunk-t1-carrier", "00442079460000")
    assert (target.kind, target.dial) == ("number", number)
    # A target that stopped resolving (its extension disabled) is skipped.
    assert client.delete(url(tenant_a, f"/{exts['103']}/redirect")).status_code == 200
    client.patch(url(tenant_a, f"/{exts['103']}"), json={"enabled": False})
    assert resolve("101").dial == SipUser("102@a.example")
