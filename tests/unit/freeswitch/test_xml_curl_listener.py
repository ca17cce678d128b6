"""The xml_curl listener answers as the API's routes do, over real TCP, one request a
connection, with FreeSWITCH's captured requests (tests/data/freeswitch-esl/e1_*)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import NOT_FOUND, PREFIX, xml_curl_router
from orchestrator.engines.freeswitch.provisioning.xml_curl_listener import (
    MAX_BODY,
    XmlCurlListener,
)
from tests.unit.freeswitch.kit_fixtures import (
    SECRET,
    Store,
    captured_form,
    encode,
    provisioner,
    raw_requests,
    tenant,
)

REGISTER, MESSAGE_COUNT, INVITE_AUTH, SIP_DIALPLAN, LOOPBACK_DIALPLAN = range(5)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def prov() -> FreeSwitchProvisioner:
    store = Store(tenant(42, "127.0.0.1", ("1000", "1001")), tenant(7, "b.example", ("1000",)))
    made = provisioner(store)
    await made.apply_all()
    return made


@pytest.fixture
async def listener(prov: FreeSwitchProvisioner) -> AsyncIterator[XmlCurlListener]:
    made = XmlCurlListener("127.0.0.1", 0, lambda: prov, lambda: SECRET)
    await made.start()
    assert made.port
    yield made
    await made.stop()


async def raw(listener: XmlCurlListener, data: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # until the listener closes
    writer.close()
    await writer.wait_closed()
    head, _sep, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _c, v in (line.partition(":") for line in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    assert headers["connection"] == "close"
    return int(lines[0].split(" ")[1]), headers, body


def request(path: str, body: bytes, method: str = "POST", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8090\r\nUser-Agent: freeswitch-xml/1.0\r\n"
        f"Accept: */*\r\nContent-Length: {len(body)}\r\nContent-Type: {FORM}\r\n{extra}\r\n"
    ).encode() + body


async def routed(
    prov: FreeSwitchProvisioner, path: str, body: bytes, method: str = "POST"
) -> tuple[int, bytes]:
    app = FastAPI()
    app.include_router(xml_curl_router(lambda: prov, lambda: SECRET))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.request(method, path, content=body, headers={"Content-Type": FORM})
    return response.status_code, response.content


CASES = [
    ("directory", REGISTER, {}),
    ("directory", INVITE_AUTH, {}),
    ("directory", MESSAGE_COUNT, {}),
    ("directory", REGISTER, {"user": "1999"}),  # unknown user
    ("directory", REGISTER, {"key_value": "b.example", "domain": "b.example"}),
    ("directory", REGISTER, {"domain": "b.example"}),  # domain and key_value differ
    ("dialplan", SIP_DIALPLAN, {"Hunt-Context": "t42", "Hunt-Destination-Number": "1001"}),
    ("dialplan", SIP_DIALPLAN, {}),  # the captured "default" context: not found
    ("directory", SIP_DIALPLAN, {}),  # a dialplan form on the directory path
    ("", REGISTER, {}),  # the one-binding route
    ("", SIP_DIALPLAN, {"Hunt-Context": "t42", "Hunt-Destination-Number": "1001"}),
    ("configuration", REGISTER, {}),
]


@pytest.mark.parametrize(("section", "index", "changes"), CASES)
async def test_answers_are_the_routes(
    listener: XmlCurlListener,
    prov: FreeSwitchProvisioner,
    section: str,
    index: int,
    changes: dict[str, str],
) -> None:
    body = encode(captured_form(index, **changes))
    path = f"{PREFIX}/{SECRET}" + (f"/{section}" if section else "")
    status, headers, answer = await raw(listener, request(path, body))
    assert (status, answer) == await routed(prov, path, body)
    assert status == 200 and headers["content-type"] == "text/xml; charset=utf-8"


async def test_the_captured_raw_bodies_get_the_routes_answers(
    listener: XmlCurlListener, prov: FreeSwitchProvisioner
) -> None:
    found = 0
    for body in raw_requests():
        path = f"{PREFIX}/{SECRET}"
        status, _headers, answer = await raw(listener, request(path, body))
        assert (status, answer) == await routed(prov, path, body)
        found += answer != NOT_FOUND.encode()
    assert found >= 3  # the captured domain 127.0.0.1 and user 1000 are tenant 42's


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        (f"{PREFIX}/wrong-secret/directory", "POST", 404),
        (f"{PREFIX}/wrong-secret", "POST", 404),
        (f"{PREFIX}/{SECRET}/directory/more", "POST", 404),
        ("/api/v1/tenants", "POST", 404),
        (f"{PREFIX}/{SECRET}/directory", "GET", 405),
        (f"{PREFIX}/{SECRET}", "PUT", 405),
    ],
)
async def test_refusals_are_the_routes(
    listener: XmlCurlListener,
    prov: FreeSwitchProvisioner,
    path: str,
    method: str,
    expected: int,
) -> None:
    body = encode(captured_form(REGISTER))
    status, _headers, answer = await raw(listener, request(path, body, method))
    assert status == expected
    assert (await routed(prov, path, body, method))[0] == expected
    assert b"<user" not in answer


async def test_no_secret_configured_refuses_everything(prov: FreeSwitchProvisioner) -> None:
    listener = XmlCurlListener("127.0.0.1", 0, lambda: prov, lambda: "")
    await listener.start()
    try:
        body = encode(captured_form(REGISTER))
        status, _h, _a = await raw(listener, request(f"{PREFIX}//directory", body))
        assert status == 404
        status, _h, _a = await raw(listener, request(f"{PREFIX}/x/directory", body))
        assert status == 404
    finally:
        await listener.stop()


async def test_a_body_in_pieces_and_expect_continue(
    listener: XmlCurlListener, prov: FreeSwitchProvisioner
) -> None:
    body = encode(captured_form(REGISTER))
    path = f"{PREFIX}/{SECRET}/directory"
    data = request(path, body, extra="Expect: 100-continue\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    head_end = data.index(b"\r\n\r\n") + 4
    writer.write(data[: head_end - 3])
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(data[head_end - 3 : head_end])
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    for i in range(head_end, len(data), 100):
        writer.write(data[i : i + 100])
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.partition(b"\r\n\r\n")[2] == (await routed(prov, path, body))[1]
    assert b'<user id="1000"' in answer


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"POST / HTTP/2\r\nContent-Length: 0\r\n\r\n", 400),
        (b"garbage\r\n\r\n", 400),
        (f"POST {PREFIX}/{SECRET} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 411),
        (
            f"POST {PREFIX}/{SECRET} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode(),
            411,
        ),
        (f"POST {PREFIX}/{SECRET} HTTP/1.1\r\nContent-Length: x1\r\n\r\n".encode(), 400),
        (
            f"POST {PREFIX}/{SECRET} HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(),
            413,
        ),
        (b"POST / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ],
)
async def test_bad_requests_are_refused(
    listener: XmlCurlListener, data: bytes, expected: int
) -> None:
    status, _headers, _answer = await raw(listener, data)
    assert status == expected


async def test_a_failing_lookup_is_a_500_and_the_listener_goes_on(
    prov: FreeSwitchProvisioner,
) -> None:
    calls = []

    def broken() -> FreeSwitchProvisioner:
        calls.append(1)
        if len(calls) == 1:
            return object()  # type: ignore[return-value]  # no .domains: the lookup raises
        return prov

    listener = XmlCurlListener("127.0.0.1", 0, broken, lambda: SECRET)
    await listener.start()
    try:
        body = encode(captured_form(REGISTER))
        path = f"{PREFIX}/{SECRET}/directory"
        status, _h, _a = await raw(listener, request(path, body))
        assert status == 500
        status, _h, answer = await raw(listener, request(path, body))
        assert status == 200 and b'<user id="1000"' in answer
    finally:
        await listener.stop()
