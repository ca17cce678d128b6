"""``/api/v1/cdrs``: filters, tenant scoping, detail with legs and the CSV export
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator.cdr.export import COLUMNS
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Cdr, CdrLeg
from tests.api.conftest import bearer

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def add_cdr(
    sessions: SessionFactory,
    call_id: str,
    tenant_id: int | None,
    *,
    minutes: int,
    disposition: str = "answered",
    direction: str = "internal",
    extensions: tuple[str, ...] = ("101", "102"),
    charge: Decimal | None = None,
    caller_name: str = "",
) -> int:
    start = T0 + timedelta(minutes=minutes)
    cdr = Cdr(
        uuid=f"u{call_id}",
        node="n1",
        call_id=call_id,
        tenant_id=tenant_id,
        direction=direction,
        caller_number="+4930123" if direction == "inbound" else extensions[0],
        caller_name=caller_name,
        caller_extension=extensions[0],
        called_number=extensions[-1],
        called_extension=extensions[-1],
        started_at=start,
        answered_at=start + timedelta(seconds=2) if disposition == "answered" else None,
        ended_at=start + timedelta(seconds=30),
        duration_s=30,
        billsec=28 if disposition == "answered" else 0,
        disposition=disposition,
        hangup_cause=16,
        recordings=["rec-" + call_id],
        charge=charge,
        currency="EUR" if charge is not None else None,
    )
    legs = [
        CdrLeg(
            seq=i,
            channel_id=f"{call_id}-{i}",
            role="caller" if i == 0 else "callee",
            service="voice",
            extension=ext,
            number=ext,
            tenant_id=tenant_id,
            started_at=start,
            ended_at=start + timedelta(seconds=30),
            disposition=disposition,
            charge=charge if i == 1 else None,
        )
        for i, ext in enumerate(extensions)
    ]
    with sessions() as session:
        cdr_id = write_cdr(session, cdr, legs)
    assert cdr_id is not None
    return cdr_id


@pytest.fixture
def cdrs(
    db_sessions: SessionFactory, tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> dict[str, int]:
    a, b = tenant_a["id"], tenant_b["id"]
    return {
        "a1": add_cdr(db_sessions, "a1", a, minutes=0, charge=Decimal("0.123456")),
        "a2": add_cdr(db_sessions, "a2", a, minutes=10, disposition="busy"),
        "a3": add_cdr(
            db_sessions,
            "a3",
            a,
            minutes=20,
            direction="inbound",
            extensions=("103",),
            caller_name="=HYPERLINK(1)",
        ),
        "b1": add_cdr(db_sessions, "b1", b, minutes=5),
        "x1": add_cdr(db_sessions, "x1", None, minutes=7, disposition="failed"),
    }


def ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [c["call_id"] for c in resp.json()["items"]]


def test_system_admin_lists_all_newest_first(client: TestClient, cdrs: dict[str, int]) -> None:
    resp = client.get("/api/v1/cdrs")
    assert ids(resp) == ["a3", "a2", "x1", "b1", "a1"]
    assert resp.json()["total"] == 5
    assert ids(client.get("/api/v1/cdrs", params={"limit": 2, "offset": 1})) == ["a2", "x1"]


def test_filters(client: TestClient, cdrs: dict[str, int], tenant_a: dict[str, Any]) -> None:
    tid = tenant_a["id"]
    assert ids(client.get("/api/v1/cdrs", params={"tenant_id": tid})) == ["a3", "a2", "a1"]
    assert ids(client.get("/api/v1/cdrs", params={"tenant_id": tid, "extension": "103"})) == ["a3"]
    assert ids(client.get("/api/v1/cdrs", params={"disposition": "busy"})) == ["a2"]
    assert ids(client.get("/api/v1/cdrs", params={"direction": "inbound"})) == ["a3"]
    window = {"from": "2026-11-20T09:05:00Z", "to": "2026-11-20T09:10:00+00:00"}
    assert ids(client.get("/api/v1/cdrs", params=window)) == ["x1", "b1"]
    # A time without an offset is UTC.
    assert ids(client.get("/api/v1/cdrs", params={"from": "2026-11-20T09:10:00"})) == [
        "a3",
        "a2",
    ]
    for bad in ({"disposition": "maybe"}, {"extension": "1;2"}, {"from": "yesterday"}):
        assert client.get("/api/v1/cdrs", params=bad).status_code == 422, bad


def test_tenant_admin_sees_only_its_tenant(
    client: TestClient, cdrs: dict[str, int], tenant_a: dict[str, Any], tenant_b: dict[str, Any]
) -> None:
    me = bearer(tenant_a["token"])
    assert ids(client.get("/api/v1/cdrs", headers=me)) == ["a3", "a2", "a1"]
    assert (
        client.get("/api/v1/cdrs", params={"tenant_id": tenant_b["id"]}, headers=me).status_code
        == 404
    )
    assert client.get(f"/api/v1/cdrs/{cdrs['b1']}", headers=me).status_code == 404
    assert client.get(f"/api/v1/cdrs/{cdrs['x1']}", headers=me).status_code == 404
    assert client.get(f"/api/v1/cdrs/{cdrs['a1']}", headers=me).status_code == 200
    resp = client.get("/api/v1/cdrs.csv", params={"tenant_id": tenant_b["id"]}, headers=me)
    assert resp.status_code == 404
    lines = client.get("/api/v1/cdrs.csv", headers=me).text.splitlines()
    assert len(lines) == 4


def test_anonymous_is_refused(anon: TestClient, cdrs: dict[str, int]) -> None:
    assert anon.get("/api/v1/cdrs").status_code == 401
    assert anon.get("/api/v1/cdrs.csv").status_code == 401


def test_detail_has_legs_in_order_and_exact_money(client: TestClient, cdrs: dict[str, int]) -> None:
    resp = client.get(f"/api/v1/cdrs/{cdrs['a1']}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["started_at"] == "2026-11-20T09:00:00Z"
    assert (body["disposition"], body["billsec"], body["recordings"]) == (
        "answered",
        28,
        ["rec-a1"],
    )
    assert Decimal(str(body["charge"])) == Decimal("0.123456")
    assert [(leg["seq"], leg["role"], leg["extension"]) for leg in body["legs"]] == [
        (0, "caller", "101"),
        (1, "callee", "102"),
    ]
    assert client.get("/api/v1/cdrs/999999").status_code == 404


def test_csv_export(client: TestClient, cdrs: dict[str, int], tenant_a: dict[str, Any]) -> None:
    resp = client.get("/api/v1/cdrs.csv", params={"tenant_id": tenant_a["id"]})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["call_id"] for r in rows] == ["a1", "a2", "a3"]  # oldest first
    first = rows[0]
    assert first["started_at"] == "2026-11-20T09:00:00+00:00"
    assert first["answered_at"] == "2026-11-20T09:00:02+00:00"
    assert (first["charge"], first["currency"], first["recordings"]) == (
        "0.123456",
        "EUR",
        "rec-a1",
    )
    assert rows[1]["answered_at"] == "" and rows[1]["charge"] == ""
    # A carrier's caller name is not a formula; an E.164 number stays a number.
    assert rows[2]["caller_name"] == "'=HYPERLINK(1)" and rows[2]["caller_number"] == "+4930123"
    busy = client.get("/api/v1/cdrs.csv", params={"disposition": "busy"}).text
    assert len(busy.splitlines()) == 2


def test_csv_export_pages_through_many_rows(
    client: TestClient, db_sessions: SessionFactory, tenant_a: dict[str, Any]
) -> None:
    for i in range(1203):
        add_cdr(db_sessions, f"m{i}", tenant_a["id"], minutes=i % 7, extensions=("101",))
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/cdrs.csv").text)))
    assert len(rows) == 1203 and len({r["call_id"] for r in rows}) == 1203
    starts = [r["started_at"] for r in rows]
    assert starts == sorted(starts)
