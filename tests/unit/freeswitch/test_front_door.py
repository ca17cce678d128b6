"""The API's port as ``make run`` serves it (:func:`orchestrator.front_door.server_config`):
FreeSWITCH's xml_curl lookups answered by the kit's front door before uvicorn parses
them, everything else (routes, keep-alive, WebSockets) by uvicorn and FastAPI as before;
bad requests refused with a 4xx, never a 5xx."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets.sync.client
from fastapi import FastAPI, WebSocket

from orchestrator.core import FakeEngine
from orchestrator.engines.freeswitch.kit import build
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import PREFIX
from orchestrator.engines.freeswitch.provisioning.xml_curl_listener import XmlCurlListener
from orchestrator.engines.kit import KitDeps
from orchestrator.front_door import server_config
from orchestrator.runtime import build_app
from orchestrator.settings import FreeSwitchSettings, Settings
from tests.unit.freeswitch.kit_fixtures import (
    SECRET,
    Store,
    captured_form,
    encode,
    provisioner,
    tenant,
)

FORM = "application/x-www-form-urlencoded"


def _serve(app: FastAPI) -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def port() -> Iterator[int]:
    """uvicorn on a free port: an app with no xml_curl route at all, so only the front
    door can answer a lookup; /health and a WebSocket echo are FastAPI's."""
    prov: FreeSwitchProvisioner = provisioner(Store(tenant(42, "a.example", ("1000", "1001"))))
    asyncio.run(prov.apply_all(reload=False))
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    app.state.front_door = XmlCurlListener("127.0.0.1", 0, lambda: prov, lambda: SECRET)
    yield from _serve(app)


def exchange(port: int, *pieces: bytes, half_close: bool = False) -> bytes:
    """Send ``pieces`` (a pause between them), read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.02)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def lookup_request(path: str, body: bytes, head: str = "") -> bytes:
    head = head or f"Content-Length: {len(body)}\r\nContent-Type: {FORM}\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body


def register(user: str = "1000") -> bytes:
    return encode(captured_form(0, key_value="a.example", domain="a.example", user=user))


def test_a_lookup_is_answered_by_the_front_door(port: int) -> None:
    data = exchange(port, lookup_request(f"{PREFIX}/{SECRET}/directory", register()))
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'<user id="1000"' in data
    unknown = exchange(port, lookup_request(f"{PREFIX}/{SECRET}/directory", register("9")))
    assert unknown.startswith(b"HTTP/1.1 200 OK\r\n") and b'status="not found"' in unknown


def test_a_lookup_whose_first_bytes_come_apart(port: int) -> None:
    request = lookup_request(f"{PREFIX}/{SECRET}/directory", register("1001"))
    data = exchange(port, request[:2], request[2:9], request[9:40], request[40:])
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b'<user id="1001"' in data


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (lookup_request(f"{PREFIX}/wrong-secret-0123456789/directory", register()), 404),
        (lookup_request(f"{PREFIX}/{SECRET}/directory/x", register()), 404),
        (lookup_request(f"{PREFIX}/{SECRET}/directory", b"", head="Host: x\r\n"), 411),
        (lookup_request(f"{PREFIX}/{SECRET}", b"", head="Content-Length: -1\r\n"), 400),
        (f"POST {PREFIX}/{SECRET} HTTP/3\r\n\r\n".encode(), 400),
    ],
)
def test_bad_lookups_are_refused_with_a_4xx(port: int, request_bytes: bytes, status: int) -> None:
    data = exchange(port, request_bytes)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:80]
    assert b"<user" not in data


def test_everything_else_is_uvicorns(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        # Two requests on one connection: keep-alive is uvicorn's, as before.
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/health").json() == {"status": "ok"}
        # Not the lookups' start (GET, another path): FastAPI's 404/405, not the door's.
        assert client.get(f"{PREFIX}/{SECRET}/directory").status_code == 404
        assert client.post("/engine/freeswitch/xml-curl").status_code == 404
    with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"


def test_a_short_request_and_a_half_close_get_uvicorns_answer(port: int) -> None:
    data = exchange(port, b"POS", half_close=True)
    assert not data.startswith(b"HTTP/1.1 5")


def test_the_freeswitch_service_answers_lookups_on_the_api_port(tmp_path: Path) -> None:
    """``make run``'s wiring: build_app hands the kit's front door to server_config."""
    settings = Settings(
        engine="freeswitch",
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        admin_token="fskit-admin-token-0123456789abcdef",
        freeswitch={"root": tmp_path / "fs", "xml_curl_secret": SECRET},
    )
    app = build_app(settings, FakeEngine())
    assert isinstance(app.state.front_door, XmlCurlListener)
    headers = {"Authorization": "Bearer fskit-admin-token-0123456789abcdef"}
    for served in _serve(app):
        with httpx.Client(base_url=f"http://127.0.0.1:{served}", headers=headers) as client:
            made = client.post("/api/v1/tenants", json={"name": "A", "sip_domain": "a.example"})
            assert made.status_code == 201, made.text
            tid = made.json()["id"]
            ext = client.post(f"/api/v1/tenants/{tid}/extensions", json={"number": "1000"})
            assert ext.status_code == 201, ext.text
        data = exchange(served, lookup_request(f"{PREFIX}/{SECRET}/directory", register()))
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b'<user id="1000"' in data
        # The door's answer, not the route's: its response closes the connection.
        assert b"Connection: close\r\n" in data


@pytest.mark.parametrize("own_port", [0, 18099])
def test_the_kit_answers_on_the_api_port_and_on_its_own_only_if_asked(
    tmp_path: Path, own_port: int
) -> None:
    group = FreeSwitchSettings(root=tmp_path, xml_curl_secret=SECRET, xml_curl_port=own_port)
    settings = Settings(engine="freeswitch", freeswitch=group)
    kit = build(KitDeps(settings, lambda tid: None, list, engine=FakeEngine()))
    assert isinstance(kit.front_door, XmlCurlListener)
    assert kit.front_door.prefix == f"POST {PREFIX}/".encode()
    # The same lookups object on its own port when one is set, else no listener at all.
    assert kit.servers == ([kit.front_door] if own_port else [])
