"""The whole service on ORCH_ENGINE=freeswitch (the FakeEngine in FreeSWITCH's place):
tenants made through the REST API are served over xml_curl from the same store, with
the same validation, and an outbound call of a prepaid tenant is authorized by the
service's rating at dialplan-lookup time."""

from __future__ import annotations

import re
import socket
import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from orchestrator.core import FakeEngine
from orchestrator.engines.freeswitch.kit import xml_curl_url
from orchestrator.engines.freeswitch.provisioning.xml_curl import NOT_FOUND, PREFIX
from orchestrator.runtime import build_app
from orchestrator.settings import Settings
from tests.unit.freeswitch.kit_fixtures import SECRET, actions, captured_form, encode

TOKEN = "fskit-admin-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def service(tmp_path: Path) -> TestClient:
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        admin_token=TOKEN,
        freeswitch={"root": tmp_path / "fs", "xml_curl_secret": SECRET},
    )
    return TestClient(build_app(settings, FakeEngine()))


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=HEADERS)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def lookup(client: TestClient, section: str, form: dict[str, str]) -> str:
    response = client.post(f"{PREFIX}/{SECRET}/{section}", content=encode(form))
    assert response.status_code == 200
    return response.text


def test_users_made_through_the_api_are_served(tmp_path: Path) -> None:
    with service(tmp_path) as client:
        tenant = post(client, "/api/v1/tenants", {"name": "A", "sip_domain": "a.example"})
        ext = post(client, f"/api/v1/tenants/{tenant['id']}/extensions", {"number": "101"})
        form = captured_form(0, key_value="a.example", domain="a.example", user="101")
        answer = lookup(client, "directory", form)
        assert f'value="{ext["sip_password"]}"' in answer
        assert f'name="user_context" value="t{tenant["id"]}"' in answer
        # Disabled through the API: gone from what FreeSWITCH gets.
        response = client.patch(
            f"/api/v1/tenants/{tenant['id']}", json={"enabled": False}, headers=HEADERS
        )
        assert response.status_code == 200, response.text
        assert lookup(client, "directory", form) == NOT_FOUND


def test_a_prepaid_tenants_outbound_call_is_authorized(tmp_path: Path) -> None:
    with service(tmp_path) as client:
        tenant = post(client, "/api/v1/tenants", {"name": "A", "sip_domain": "a.example"})
        tid = tenant["id"]
        post(client, f"/api/v1/tenants/{tid}/extensions", {"number": "101"})
        trunk = post(
            client, "/api/v1/trunks", {"tenant_id": tid, "name": "carrier", "host": "198.51.100.7"}
        )
        post(
            client,
            "/api/v1/outbound-routes",
            {
                "tenant_id": tid,
                "name": "national",
                "trunk_id": trunk["id"],
                "prefix": "0",
                "strip": 1,
                "min_length": 10,
                "max_length": 10,
            },
        )
        tariff = post(client, "/api/v1/tariffs", {"tenant_id": tid, "name": "t", "currency": "EUR"})
        post(
            client,
            f"/api/v1/tariffs/{tariff['id']}/versions",
            {
                "label": "v1",
                "effective_from": "2020-01-01T00:00:00Z",
                "rates": [{"prefix": "", "price_per_minute": "0.60",
                           "first_increment": 1, "next_increment": 1}],
            },
        )  # fmt: skip
        product = post(
            client,
            "/api/v1/products",
            {"tenant_id": tid, "name": "p", "tariffs": {"outgoing": tariff["id"]}},
        )
        account = post(
            client,
            "/api/v1/accounts",
            {"tenant_id": tid, "name": "acme", "kind": "prepaid", "currency": "EUR",
             "product_id": product["id"]},
        )  # fmt: skip
        response = client.post(
            f"/api/v1/accounts/{account['id']}/extensions", json={"extension": "101"},
            headers=HEADERS,
        )  # fmt: skip
        assert response.status_code == 204, response.text
        form = {
            "section": "dialplan",
            "Hunt-Context": f"t{tid}",
            "Hunt-Destination-Number": "01234567890",
            "variable_tenant_id": str(tid),
            "variable_orch_endpoint": "101@a.example",
            "Channel-Call-UUID": "a1b2c3d4-0000-4000-8000-000000000001",
        }
        # No money yet: refused by the rating service (not the fallback's 41).
        refused = actions(lookup(client, "dialplan", form))
        assert refused[-1][0] == "hangup" and refused[-1][1] != "41"
        url = f"/api/v1/accounts/{account['id']}/transactions"
        post(client, url, {"kind": "topup", "amount": "0.60"})
        form["Channel-Call-UUID"] = "a1b2c3d4-0000-4000-8000-000000000002"
        bridge = [d for a, d in actions(lookup(client, "dialplan", form)) if a == "bridge"]
        # 0.60 EUR at 0.60/min: about a minute (whole seconds, rounded down), cut off
        # when the carrier leg has lasted it.
        assert len(bridge) == 1
        limit = re.search(r"execute_on_answer=sched_hangup \+(\d+) ALLOTTED_TIMEOUT\]", bridge[0])
        assert limit is not None and 50 <= int(limit.group(1)) <= 60
        assert bridge[0].endswith(f"sofia/gateway/trunk-t{tid}-carrier/1234567890")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_xml_curl_listener_serves_what_the_route_serves(tmp_path: Path) -> None:
    port = _free_port()
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        admin_token=TOKEN,
        freeswitch={"root": tmp_path / "fs", "xml_curl_secret": SECRET, "xml_curl_port": port},
    )
    # FreeSWITCH is pointed at the listener, not at the API's port.
    assert xml_curl_url(settings) == f"http://127.0.0.1:{port}{PREFIX}"
    with TestClient(build_app(settings, FakeEngine())) as client:
        tenant = post(client, "/api/v1/tenants", {"name": "A", "sip_domain": "a.example"})
        post(client, f"/api/v1/tenants/{tenant['id']}/extensions", {"number": "101"})
        form = captured_form(0, key_value="a.example", domain="a.example", user="101")
        body = encode(form)
        head = (
            f"POST {PREFIX}/{SECRET}/directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(head.encode() + body)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.partition(b"\r\n\r\n")[2].decode() == lookup(client, "directory", form)
        assert b'<user id="101"' in data
    # Stopped with the service.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
