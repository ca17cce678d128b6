"""mod_xml_curl's lookups answered without uvicorn: on the API's port, and on a port
of their own if asked (``ORCH_FREESWITCH__XML_CURL_PORT``).

FreeSWITCH opens a new TCP connection for every lookup (a REGISTER's digest, an INVITE,
a dialed number) and waits for the answer before it goes on with the SIP request. Served
by uvicorn and FastAPI, a lookup costs about 0.3 ms of the service's CPU (HTTP parsing,
the ASGI layers, the routing), ten times the lookup itself: under 3,500 lookups/s over
TCP (bench/README.md, "FreeSWITCH directory lookups"). This protocol answers the same
paths, with the same documents, as the routes of :func:`~.xml_curl.xml_curl_router`
(:func:`~.xml_curl.xml_curl_answer`), in the service's event loop and from the same
in-memory index, with nothing but what such a request needs: ``POST
<PREFIX>/<secret>[/<section>]`` with a ``Content-Length`` body, one request per
connection, ``Connection: close``. By default it takes those requests on the API's
port, ahead of uvicorn (:class:`XmlCurlListener` is the kit's
:class:`~orchestrator.engines.kit.FrontDoor`, :mod:`orchestrator.front_door`); with a
port of their own it also listens there.

Answers: 200 with the document (``text/xml``); 404 for a wrong secret or another path
(as the routes); 405 for another method; 400 for a request that is not HTTP/1.x or
whose length cannot be read; 411 without ``Content-Length`` (chunked: libcurl sends the
length of its form); 413 above :data:`MAX_BODY`; 431 for a header block above
:data:`MAX_HEAD`; 500 when the answer failed (a bug: logged). ``Expect: 100-continue``
gets its ``100 Continue``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from urllib.parse import unquote

from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import (
    MEDIA_TYPE,
    NOT_FOUND,
    PREFIX,
    directory_answer,
    lookup_form,
    secret_ok,
    xml_curl_answer,
)
from orchestrator.provisioning.base import DialplanAuthorizer

log = logging.getLogger(__name__)

MAX_HEAD = 16 << 10
MAX_BODY = 1 << 20
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_PATH = PREFIX + "/"
#: What a lookup's request starts with (the front door's mark on the API's port).
REQUEST_START = b"POST " + _PATH.encode()


def response(status: int, text: str = "") -> bytes:
    """One whole HTTP/1.1 response that closes the connection."""
    payload = text.encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        + (f"Content-Type: {MEDIA_TYPE}; charset=utf-8\r\n" if status == 200 else "")
        + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


class _Lookup(asyncio.Protocol):
    """One connection: one request read, one answer written, closed."""

    def __init__(self, listener: XmlCurlListener) -> None:
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._target = ""
        self._length = -1  # the body's length, once the header block is read
        self._done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buf += data
        if self._length < 0:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    self._reply(response(431))
                return
            if end > MAX_HEAD:
                self._reply(response(431))
                return
            status = self._head(bytes(self._buf[:end]))
            if status:
                self._reply(response(status))
                return
            del self._buf[: end + 4]
        if len(self._buf) >= self._length:
            self._answer(bytes(self._buf[: self._length]))

    def _head(self, block: bytes) -> int:
        """Read the request line and headers; a status to refuse with, or 0."""
        lines = block.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400
        method, self._target = parts[0], parts[1]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                return 400
            headers.setdefault(name.lower(), value.strip())
        if method != "POST":
            return 405
        if "transfer-encoding" in headers or "content-length" not in headers:
            return 411
        raw = headers["content-length"]
        if not raw.isdigit():
            return 400
        self._length = int(raw)
        if self._length > MAX_BODY:
            return 413
        if headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return 0

    def _answer(self, body: bytes) -> None:
        self._done = True
        path = self._target.partition("?")[0]
        if not path.startswith(_PATH):
            self._reply(response(404))
            return
        secret, _slash, section = unquote(path[len(_PATH) :]).partition("/")
        listener = self._listener
        if (
            "/" in section
            or not secret_ok(secret, listener.get_secret())
            or not (section or not _slash)
        ):
            self._reply(response(404))
            return
        provisioner = listener.get_provisioner()
        if section == "directory":  # the common case, answered without a task
            wanted, form = lookup_form(section, body)
            found = None
            if provisioner is not None and wanted == "directory":
                try:
                    found = directory_answer(provisioner, form)
                except Exception:
                    log.exception("xml_curl directory lookup failed")
                    self._reply(response(500))
                    return
            self._reply(response(200, found or NOT_FOUND))
            return
        task = asyncio.get_running_loop().create_task(
            xml_curl_answer(provisioner, section or None, body, listener.get_authorizer())
        )
        listener.tasks.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[str]) -> None:
        self._listener.tasks.discard(task)
        if task.cancelled():
            self._reply(b"")
        elif task.exception() is not None:
            log.error("xml_curl lookup failed", exc_info=task.exception())
            self._reply(response(500))
        else:
            self._reply(response(200, task.result()))

    def _reply(self, data: bytes) -> None:
        self._done = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if data:
                transport.write(data)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._transport = None


class XmlCurlListener:
    """Serves mod_xml_curl's lookups: on the API's port as the kit's front door
    (:meth:`protocol`), and on ``host:port`` of its own while started (a kit component,
    only when ``port`` is set)."""

    name = "xml-curl-listener"
    prefix = REQUEST_START

    def __init__(
        self,
        host: str,
        port: int,
        get_provisioner: Callable[[], FreeSwitchProvisioner | None],
        get_secret: Callable[[], str],
        get_authorizer: Callable[[], DialplanAuthorizer | None] = lambda: None,
    ) -> None:
        self.host = host
        self.port = port
        self.get_provisioner = get_provisioner
        self.get_secret = get_secret
        self.get_authorizer = get_authorizer
        self.tasks: set[asyncio.Task[str]] = set()
        self._server: asyncio.Server | None = None

    def protocol(self) -> asyncio.Protocol:
        """One lookup's connection (the front door's protocol)."""
        return _Lookup(self)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``host:port`` (or on ``sock``, already bound: the benchmark's)."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(self.protocol, sock=sock)
        else:
            self._server = await loop.create_server(
                self.protocol, self.host, self.port, backlog=1024
            )
        if self.port == 0 or sock is not None:  # the port the system chose
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("xml_curl lookups served on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for task in list(self.tasks):
                task.cancel()
            await server.wait_closed()
