"""The API's port, with requests an engine kit answers before uvicorn parses them.

FreeSWITCH asks the service for every SIP user and dialed number (mod_xml_curl), each
time over a new TCP connection. Through uvicorn and FastAPI such a request costs about
0.3 ms of a core, ten times the answer itself: under 3,500 lookups/s, where FreeSWITCH
needs 5,000 for 100,000 users (bench/README.md, "FreeSWITCH directory lookups"). So the
API's port reads the first bytes of each connection: a request that starts as the kit's
:class:`~orchestrator.engines.kit.FrontDoor` says (``POST /engine/freeswitch/xml-curl/``)
is handed, connection and all, to the kit's own protocol; anything else to uvicorn's,
which then serves the connection as it always does (keep-alive, WebSockets, TLS)::

    app = build_app(settings)
    uvicorn.Server(server_config(app, host="127.0.0.1", port=8000)).run()

One port for both, nothing more to configure or open: the FreeSWITCH configuration that
``orchestrator engine configure`` writes names the API's address as before.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

if TYPE_CHECKING:  # a type only: this module names no engine
    from orchestrator.engines.kit import FrontDoor


class _Sniffer(asyncio.Protocol):
    """A new connection until its first bytes say whose it is; then out of the way
    (``transport.set_protocol``): the kit's or uvicorn's protocol gets it whole."""

    door: FrontDoor | None = None  # set on the subclass made for one app

    def __init__(self, **uvicorn_args: Any) -> None:
        # What uvicorn gives its HTTP protocols (config, server_state, app_state, _loop):
        # passed on untouched to its own protocol for a request that is not the kit's.
        self._uvicorn_args = uvicorn_args
        self._transport: asyncio.Transport | None = None
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data
        door = self.door
        prefix = door.prefix if door is not None else b""
        if len(buf) < len(prefix) and prefix.startswith(buf):
            self._buf = buf  # too short to tell yet
            return
        self._buf = b""
        if door is not None and buf.startswith(prefix):
            self._hand_over(door.protocol(), buf)
        else:
            self._hand_over(AutoHTTPProtocol(**self._uvicorn_args), buf)

    def eof_received(self) -> bool | None:
        if self._transport is not None and self._buf:
            # A short request and a half-close: uvicorn's answer (400) as before.
            protocol = AutoHTTPProtocol(**self._uvicorn_args)
            self._hand_over(protocol, self._buf)
            self._buf = b""
            return protocol.eof_received()
        return None

    def _hand_over(self, protocol: asyncio.Protocol, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not transport.is_closing():
            protocol.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def server_config(app: FastAPI, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (built by :func:`~orchestrator.runtime.
    build_app`): ``options`` as :class:`uvicorn.Config` takes them; the kit's front door,
    if it has one, answers its requests on the same port."""
    door: FrontDoor | None = getattr(app.state, "front_door", None)
    if door is None:
        return uvicorn.Config(app, **options)
    sniffer = type("FrontDoorFirst", (_Sniffer,), {"door": door})
    return uvicorn.Config(app, http=sniffer, **options)
