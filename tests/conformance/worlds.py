"""Worlds: the whole service on one engine, for the feature-level conformance suite.

A world is the service the composition root builds (``orchestrator.runtime.build_app``)
on an engine, reached through its HTTP API, plus the engine's side of the scenarios:
calls that arrive at a number, with a far end that keys digits. The FakeEngine's world
runs the app in a TestClient and plays the engine's dialplan (a DID routed to an IVR
app enters the app with the same routing data the real dialplan gives it); the Asterisk
world is the test service of tests/engine (one per session) and makes calls arrive with
Local channels whose far half runs the drivers' far-end dialplan (drivers.py). The
FreeSWITCH world is the service on ORCH_ENGINE=freeswitch over the fake FreeSWITCH, whose
SIP side (phones registering with their directory passwords, the trunks' gateways,
carriers, calls from a carrier) is orchestrator/testing/freeswitch/sofia.py.

Scenario tests are plain functions over a world: they name no engine.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.core.events import (
    ChannelStarted,
    Event,
    LegCreated,
    LegLeftApp,
    LegStateChanged,
)
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber
from orchestrator.front_door import server_config
from orchestrator.provisioning.data import load_all
from orchestrator.runtime import build_app
from orchestrator.settings import FreeSwitchSettings, Settings
from orchestrator.store import db
from orchestrator.testing import sipp
from orchestrator.testing.freeswitch import FakeFreeSwitch, sofia
from tests.conformance.drivers import CONTEXT_FAR, FarEnd
from tests.engine.media_phone import MediaPhone
from tests.engine.phones import BLOCKS, RINGING_SCENARIO, port_of, register_retrying, uas_phone
from tests.engine.refer_phone import referring_call, transferring_phone

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

T = TypeVar("T")

ADMIN_TOKEN = "conformance-admin-token-0123456789"
# The SIPp phones of the Asterisk world (tests/engine/phones.py BLOCKS "conformance",
# "conformance_3"), taken in turn: a port comes back only some tests later, once the
# engine has given up on what it still sent to an earlier test's phone there (a ring-back,
# an INVITE retransmitted for 32 s): a new phone on that port would take it as its call.
PHONE_PORTS = [port_of(offset) for block in ("conformance", "conformance_3")
               for offset in BLOCKS[block]]  # fmt: skip
CARRIER_PORT = port_of(BLOCKS["conformance_2"][0])


@dataclass
class PhoneCall:
    """A call one phone made to another through the tenant's dialplan
    (:meth:`World.phone_call`)."""

    callee_hangs_up: Callable[[], Awaitable[None]]
    """The callee's phone hangs up (it sends the BYE); returns once it has."""


class Cti:
    """A CTI WebSocket client (``/api/v1/ws``) as the system admin: :meth:`World.cti`."""

    def __init__(self, send: Callable[[str], Awaitable[None]],
                 recv: Callable[[], Awaitable[str]]) -> None:  # fmt: skip
        self._send, self._recv = send, recv
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = 15) -> dict[str, Any]:
        """The next message from the service."""
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self._recv(), timeout))
        self.seen.append(message)
        return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message``; its reply (messages before it are kept in :attr:`seen`)."""
        await self._send(json.dumps(message))
        while True:
            got = await self.next()
            if got["type"] == "reply" and got["id"] == message["id"]:
                return got

    async def events_until(self, last: str, timeout: float = 15) -> list[dict[str, Any]]:
        """Every event seen so far and up to the first ``last`` event, in order."""
        deadline = time.monotonic() + timeout
        while not any(m.get("event") == last for m in self.seen):
            await self.next(max(deadline - time.monotonic(), 0.01))
        events = [m for m in self.seen if m["type"] == "event"]
        return events[: [m.get("event") for m in events].index(last) + 1]


@dataclass
class Tenant:
    id: int
    domain: str
    phones: dict[str, tuple[str, str]] = field(default_factory=dict)  # number: user, password


class World(abc.ABC):
    """The service on one engine (see the module docstring)."""

    kind: str
    app: FastAPI
    http: httpx.Client | TestClient  # as the system admin
    # The world's phones send and hear audio (media=True in answering, hearing).
    audio: bool = False

    @abc.abstractmethod
    def call_in(self, number: str, *, caller: str = "+15550001", far: FarEnd | None = None) -> None:
        """A call to ``number`` arrives from outside (a trunk's DID), from ``caller``."""

    def tenant_ready(self, tenant_id: int) -> None:
        """The tenant's configuration is in the engine (calls to its numbers work)."""
        r = self.http.get(f"/api/v1/tenants/{tenant_id}/config")
        assert r.json()["last_apply"]["ok"], r.text

    def add_flow(self, key: str, flow: Callable[..., Any]) -> None:
        """A test-only IVR flow the service knows as ``key`` (an IVR app's ``app``)."""
        registry = services_of(self.app).ivr_registry
        assert registry is not None
        registry.builtins[key] = flow

    async def poll(self, path: str, ready: Callable[[Any], bool], timeout: float = 15) -> Any:
        """GET ``path`` until ``ready(json)``; returns that json."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(path)
            assert r.status_code == 200, r.text
            data = r.json()
            if ready(data):
                return data
            assert time.monotonic() < deadline, f"{path}: not ready: {data}"
            await asyncio.sleep(0.05)

    def tenant(self, *extensions: str) -> Tenant:
        """A new tenant with these extensions (phones not registered yet)."""
        tag = uuid.uuid4().hex[:8]
        domain = f"{tag}.conf.example"
        r = self.http.post("/api/v1/tenants", json={"name": f"Conf {tag}", "sip_domain": domain})
        assert r.status_code == 201, r.text
        tenant = Tenant(r.json()["id"], domain)
        for number in extensions:
            r = self.http.post(f"/api/v1/tenants/{tenant.id}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            tenant.phones[number] = (r.json()["sip_username"], r.json()["sip_password"])
        self.tenant_ready(tenant.id)
        return tenant

    @abc.abstractmethod
    def answering(
        self, tenant: Tenant, number: str, *, media: bool = False, keys: str = ""
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The phone of the extension ``number`` is registered and answers the calls it
        gets. ``media``: one call, and (in a world with :attr:`audio`) the phone says a
        tone of its own and keeps what it hears (:meth:`hearing`). ``keys``: pressed
        (RFC 2833 on a real engine) right after each answer."""

    @abc.abstractmethod
    def phone_call(
        self,
        tenant: Tenant,
        caller: str,
        callee: str,
        *,
        callee_talks: float,
        dialed: str | None = None,
    ) -> contextlib.AbstractAsyncContextManager[PhoneCall]:
        """The phone of extension ``caller`` dials ``callee`` (whose phone is registered
        and answers) through the tenant's dialplan: a call the service only observes.
        ``dialed``: what the caller's phone dials instead of ``callee``'s number (a
        speed dial's code, which the service sends on to ``callee``).
        The caller stays on the line until the engine hangs it up, which it must have
        done when the block ends. The callee hangs up when the test says
        (:attr:`PhoneCall.callee_hangs_up`); in a world whose phones hang up by a
        timer (the Asterisk world's SIPp) ``callee_talks`` seconds after its last
        (re-)INVITE, and ``callee_hangs_up`` waits for that. In a world with
        :attr:`audio` the caller's phone repeats everything it hears."""

    @abc.abstractmethod
    def ringing(self, tenant: Tenant, number: str) -> contextlib.AbstractAsyncContextManager[None]:
        """The phone of the extension ``number`` is registered, rings when called and
        never answers (until the call is cancelled)."""

    @abc.abstractmethod
    async def phone_dials(
        self, tenant: Tenant, number: str, dialed: str, *, hangs_up_after: float | None = None
    ) -> None:
        """The phone of extension ``number`` dials ``dialed`` (a feature code) through the
        tenant's dialplan; returns once the service has answered and hung up the call.
        With ``hangs_up_after`` the service must keep the answered call up (a retrieved
        parked call): the phone hangs up itself that many seconds after dialing."""

    @abc.abstractmethod
    def transferred_call(
        self, tenant: Tenant, caller: str, callee: str, code: str, *, by_caller: bool = False
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The phone of ``caller`` dials ``callee``, whose phone answers and blind-transfers
        the call (SIP REFER) to ``code``: the engine hands the caller to the tenant's
        feature-code flow naming ``callee``'s phone as the transferer (call park). The
        caller's phone stays on the line until the engine hangs it up or the block ends.
        ``by_caller``: the caller's phone sends the REFER instead, once the callee
        answered: the callee's leg is handed over, the caller's phone the transferer."""

    @abc.abstractmethod
    def invite_headers(self, tenant: Tenant, number: str) -> list[dict[str, str]]:
        """The custom SIP headers (``Call-Info``, ``Alert-Info``...) of each INVITE the
        phone of ``number`` got, in order; called inside its :meth:`answering` block."""

    async def hearing(self, tenant: Tenant, number: str, seconds: float = 1.2) -> dict[str, float]:
        """How loud the ``media`` phone of ``number`` hears each media phone's tone (by
        extension, its own included: heard only if someone repeats it) over the next
        ``seconds``; worlds with :attr:`audio`. The callee of :meth:`phone_call` is a
        media phone too."""
        raise NotImplementedError(f"{self.kind}: no audio")

    @abc.abstractmethod
    def cti(self, tenant_id: int) -> contextlib.AbstractAsyncContextManager[Cti]:
        """A CTI WebSocket client subscribed to the tenant's stream."""

    @staticmethod
    async def _subscribed(client: Cti, tenant_id: int) -> Cti:
        assert (await client.next())["type"] == "welcome"
        reply = await client.request({"type": "subscribe", "id": "sub", "tenant_id": tenant_id})
        assert reply["ok"], reply
        client.seen.clear()
        return client

    def carrier(self, tenant: Tenant) -> int:
        """A SIP trunk ``carrier`` of the tenant to a carrier that answers every call
        (:meth:`carrier_answering`), with the outbound route ``9`` (the 9 stripped);
        returns the trunk's id."""
        r = self.http.post(
            "/api/v1/trunks",
            json={"tenant_id": tenant.id, "name": "carrier", "host": "127.0.0.1",
                  "port": CARRIER_PORT},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        trunk_id = int(r.json()["id"])
        r = self.http.post(
            "/api/v1/outbound-routes",
            json={"tenant_id": tenant.id, "name": "out", "prefix": "9", "strip": 1,
                  "trunk_id": trunk_id},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        self.tenant_ready(tenant.id)
        return trunk_id

    @abc.abstractmethod
    def carrier_answering(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The carrier of :meth:`carrier` answers the calls sent to it."""

    @abc.abstractmethod
    def hang_up_everything(self) -> None:
        """Every call on the engine ends (the parties hang up)."""


def sip_headers_of(trace: str, method: str) -> list[dict[str, str]]:
    """The headers of each ``method`` request in a SIPp message trace (``-trace_msg``):
    the lines after its request line, up to the blank line before the body."""
    out: list[dict[str, str]] = []
    lines = trace.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if not line.startswith(f"{method} sip:"):
            continue
        headers: dict[str, str] = {}
        for header in lines[i + 1 :]:
            if not header.strip():
                break
            name, _, value = header.partition(":")
            headers[name.strip()] = value.strip()
        out.append(headers)
    return out


def unique_number() -> str:
    """A DID number no other scenario (or run on the same engine) uses."""
    return "+1733" + str(uuid.uuid4().int)[:7]


class FakeWorld(World):
    """The service over a FakeEngine in a TestClient (its event loop is the portal's)."""

    kind = "fake"

    def __init__(self, tmp: Path) -> None:
        self.fake = FakeEngine()
        url = f"sqlite:///{tmp / 'conformance.db'}"
        settings = Settings(engine="fake", database_url=url, state_dir=tmp, admin_token=ADMIN_TOKEN)
        self.app = build_app(settings, engine=self.fake)
        self._sessions = db.session_factory(db.make_engine(url))
        self._client = TestClient(self.app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def __enter__(self) -> FakeWorld:
        self.http = self._client.__enter__()
        # The engine's dialplan for blind transfers (see _transferred).
        self._phones: dict[tuple[str, str], str] = {}  # (tenant id, number) -> endpoint
        self.fake.subscribe(self._transferred)
        return self

    def _transferred(self, event: Event) -> None:
        """A leg transferred to a tenant's extension: the tenant's dialplan dials its phone
        (which answers, if it is :meth:`answering`)."""
        if not isinstance(event, LegLeftApp):
            return
        target = next(
            c[2] for c in reversed(self.fake.commands)
            if c[0] == "transfer" and c[1] == event.leg_id
        )  # fmt: skip
        if not isinstance(target, Extension):
            return
        endpoint = self._phones.get((target.tenant, target.number))
        if endpoint is not None:
            asyncio.get_running_loop().create_task(
                self.fake.dialplan_dial(event.leg_id, endpoint, called=target.number)
            )

    def hang_up_everything(self) -> None:
        async def end() -> None:
            for leg_id, leg in list(self.fake.legs.items()):
                if leg.alive:
                    await self.fake.remote_hangup(leg_id)
            for channel_id in list(self.fake.channels):
                await self.fake.hangup_channel(channel_id)

        assert self._client.portal is not None
        self._client.portal.call(end)

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)

    def tenant_ready(self, tenant_id: int) -> None:
        # The FakeEngine has no dialplan to check the applied configuration against
        # (its console answers nothing); _route() reads the same data the dialplan is
        # made from.
        return None

    def _route(self, number: str) -> Routing:
        """What the engine's dialplan does with a call to ``number`` (see the tenant
        template's orchestrator-dids context): an IVR DID enters the app with the
        routing ``ivr`` (flow, tenant); a ring group's, flow ``pbx.rg`` with its number; an
        ``inbound`` DID the ``pbx.in`` flow (with the DID as ``dialed``)."""
        with self._sessions() as session:
            for tenant in load_all(session):
                for did in tenant.dids:
                    if did.number == number and did.kind == "ivr" and tenant.enabled:
                        return Routing("ivr", {"flow": did.target, "tenant": str(tenant.id)})
                    if did.number == number and did.kind == "ring_group" and tenant.enabled:
                        # The DID goes to the group's number in the tenant's context,
                        # which hands it to the pbx_ring_group flow (pbx.rg).
                        data = {"flow": "pbx.rg", "tenant": str(tenant.id), "dialed": did.target}
                        return Routing("ivr", data)
                    if did.number == number and did.kind == "inbound" and tenant.enabled:
                        # Office hours or a blacklist: the pbx_inbound flow, told the DID.
                        return Routing(
                            "ivr", {"flow": "pbx.in", "tenant": str(tenant.id), "dialed": number}
                        )
        raise AssertionError(f"no route for {number}")

    def call_in(self, number: str, *, caller: str = "+15550001", far: FarEnd | None = None) -> None:
        routing = self._route(number)
        far = far or FarEnd()

        async def arrive() -> None:
            leg = await self.fake.incoming_call(caller=caller, called=number, routing=routing)
            if far.kind in ("dtmf", "hangup"):
                asyncio.get_running_loop().create_task(self._far_end(leg.id, far))

        assert self._client.portal is not None
        self._client.portal.call(arrive)

    def _picking_up(
        self, reached: Callable[[Target | None], bool], keys: str = ""
    ) -> Callable[[], None]:
        """Answer every leg originated to a target that ``reached`` accepts (and press
        ``keys`` then)."""

        def on(event: Event) -> None:
            # The phone rings and its user picks up (in the engine's loop).
            if isinstance(event, LegCreated) and reached(self._target_of(event.leg_id)):
                asyncio.get_running_loop().call_later(0.05, self._pick_up, event.leg_id, keys)

        return self.fake.subscribe(on)

    def _target_of(self, leg_id: str) -> Target | None:
        """The target the leg ``leg_id`` was originated to (None: not originated)."""
        return next(
            (c[1] for c in self.fake.commands if c[0] == "originate" and c[2] == leg_id), None
        )

    @contextlib.asynccontextmanager
    async def carrier_answering(self) -> AsyncIterator[None]:
        stop = self._picking_up(lambda target: isinstance(target, TrunkNumber))
        try:
            yield
        finally:
            stop()

    @contextlib.asynccontextmanager
    async def answering(
        self, tenant: Tenant, number: str, *, media: bool = False, keys: str = ""
    ) -> AsyncIterator[None]:
        user, _ = tenant.phones[number]
        endpoint = f"{user}@{tenant.domain}"
        stop = self._picking_up(lambda target: target == SipUser(endpoint), keys)
        self._phones[(str(tenant.id), number)] = endpoint
        portal = self._client.portal
        assert portal is not None
        portal.call(self.fake.set_registration, endpoint, "online")
        try:
            yield
        finally:
            stop()
            portal.call(self.fake.set_registration, endpoint, "offline")

    @contextlib.asynccontextmanager
    async def ringing(self, tenant: Tenant, number: str) -> AsyncIterator[None]:
        endpoint = f"{tenant.phones[number][0]}@{tenant.domain}"
        portal = self._client.portal
        assert portal is not None
        portal.call(self.fake.set_registration, endpoint, "online")
        try:
            yield
        finally:
            portal.call(self.fake.set_registration, endpoint, "offline")

    @contextlib.asynccontextmanager
    async def phone_call(
        self,
        tenant: Tenant,
        caller: str,
        callee: str,
        *,
        callee_talks: float,
        dialed: str | None = None,
    ) -> AsyncIterator[PhoneCall]:
        a, b = (f"{tenant.phones[n][0]}@{tenant.domain}" for n in (caller, callee))
        portal = self._client.portal
        assert portal is not None
        for endpoint in (a, b):
            portal.call(self.fake.set_registration, endpoint, "online")
        if dialed is None:
            # The engine's dialplan dials the callee's phone, which answers.
            caller_channel, callee_channel = portal.call(
                lambda: self.fake.dialplan_call(a, b, caller=caller, called=callee, hangup=False)
            )
        else:
            caller_channel, callee_channel = portal.call(
                lambda: self._code_call(tenant, a, caller, dialed, callee, b)
            )

        async def hang_up() -> None:
            # Taken (a leg of the service's) or not, the phone's BYE ends its channel.
            leg = self.fake.legs.get(callee_channel)
            if leg is not None and leg.alive:
                await self.fake.remote_hangup(callee_channel)
            else:
                await self.fake.hangup_channel(callee_channel)

        async def callee_hangs_up() -> None:
            portal.call(hang_up)

        try:
            yield PhoneCall(callee_hangs_up)
            leg = self.fake.legs.get(caller_channel)
            assert caller_channel not in self.fake.channels or (leg and not leg.alive), caller
        finally:
            for endpoint in (a, b):
                portal.call(self.fake.set_registration, endpoint, "offline")

    @contextlib.asynccontextmanager
    async def transferred_call(
        self, tenant: Tenant, caller: str, callee: str, code: str, *, by_caller: bool = False
    ) -> AsyncIterator[None]:
        a, b = (f"{tenant.phones[n][0]}@{tenant.domain}" for n in (caller, callee))
        portal = self._client.portal
        assert portal is not None
        for endpoint in (a, b):
            portal.call(self.fake.set_registration, endpoint, "online")
        # The FakeEngine has no REFER: the callee's phone leaves the dialplan's call and
        # the engine's dialplan hands the caller over as the tenant dialplans do after a
        # blind transfer (pbx.code, the transferer's endpoint next to the caller's own).
        # (by_caller: the caller's phone leaves, the callee's leg is handed over.)
        moved, referring = (b, a) if by_caller else (a, b)
        data = {"flow": "pbx.code", "tenant": str(tenant.id), "endpoint": moved,
                "dialed": code, "transferer": referring}  # fmt: skip

        async def refer() -> str:
            caller_channel, callee_channel = await self.fake.dialplan_call(
                a, b, caller=caller, called=callee, hangup=False
            )
            await self.fake.hangup_channel(caller_channel if by_caller else callee_channel)
            leg = await self.fake.incoming_call(
                caller=caller, called=code, routing=Routing("ivr", data)
            )
            return leg.id

        leg_id = portal.call(refer)

        async def end() -> None:
            if self.fake.legs[leg_id].alive:
                await self.fake.remote_hangup(leg_id)

        try:
            yield
        finally:
            portal.call(end)
            for endpoint in (a, b):
                portal.call(self.fake.set_registration, endpoint, "offline")

    async def _code_call(
        self, tenant: Tenant, endpoint: str, number: str, dialed: str, callee: str, b: str
    ) -> tuple[str, str]:
        """The phone at ``endpoint`` dials the code ``dialed`` (the flow pbx.code, as in
        :meth:`phone_dials`); the flow's transfer to ``callee`` makes the dialplan dial
        its phone ``b`` (:meth:`_transferred`), which answers: (caller, callee) channels."""
        self._phones[(str(tenant.id), callee)] = b
        reached: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on(event: Event) -> None:
            if isinstance(event, ChannelStarted) and event.endpoint == b and not reached.done():
                reached.set_result(event.channel_id)

        stop = self.fake.subscribe(on)
        data = {"flow": "pbx.code", "tenant": str(tenant.id), "endpoint": endpoint,
                "dialed": dialed}  # fmt: skip
        try:
            leg = await self.fake.incoming_call(
                caller=number, called=dialed, routing=Routing("ivr", data)
            )
            callee_channel = await asyncio.wait_for(reached, 15)
        finally:
            stop()
            self._phones.pop((str(tenant.id), callee), None)
        return leg.id, callee_channel

    def invite_headers(self, tenant: Tenant, number: str) -> list[dict[str, str]]:
        target = SipUser(f"{tenant.phones[number][0]}@{tenant.domain}")
        return [
            self.fake.sip_headers.get(c[2], {})
            for c in self.fake.commands
            if c[0] == "originate" and c[1] == target
        ]

    async def phone_dials(
        self, tenant: Tenant, number: str, dialed: str, *, hangs_up_after: float | None = None
    ) -> None:
        user, _ = tenant.phones[number]
        # What the tenant dialplan gives a number starting with * or #: the IVR flow
        # pbx.code, with the calling phone's endpoint and the digits dialed.
        data = {"flow": "pbx.code", "tenant": str(tenant.id),
                "endpoint": f"{user}@{tenant.domain}", "dialed": dialed}  # fmt: skip
        portal = self._client.portal
        assert portal is not None
        leg = portal.call(
            lambda: self.fake.incoming_call(
                caller=number, called=dialed, routing=Routing("ivr", data)
            )
        )
        if hangs_up_after is not None:
            await asyncio.sleep(hangs_up_after)
            assert self.fake.legs[leg.id].alive, f"{dialed}: the service hung up"
            portal.call(self.fake.remote_hangup, leg.id)
            return
        deadline = time.monotonic() + 15
        while self.fake.legs[leg.id].alive:
            assert time.monotonic() < deadline, f"{dialed}: the call is still up"
            await asyncio.sleep(0.02)
        assert ("answer", leg.id) in [c[:2] for c in self.fake.commands], dialed

    @contextlib.asynccontextmanager
    async def cti(self, tenant_id: int) -> AsyncIterator[Cti]:
        with self._client.websocket_connect("/api/v1/ws") as session:
            # The session's calls block: in a thread, so the test's loop goes on.
            async def send(text: str) -> None:
                await asyncio.to_thread(session.send_text, text)

            async def recv() -> str:
                return str(await asyncio.to_thread(session.receive_text))

            yield await self._subscribed(Cti(send, recv), tenant_id)

    def _pick_up(self, leg_id: str, keys: str = "") -> None:
        async def pick_up() -> None:
            await self.fake.remote_answer(leg_id)
            if keys:
                await self.fake.dtmf(leg_id, keys)

        if self.fake.legs[leg_id].alive:
            asyncio.get_running_loop().create_task(pick_up())

    async def _far_end(self, leg_id: str, far: FarEnd) -> None:
        answered = asyncio.Event()

        def on(event: Any) -> None:
            if isinstance(event, LegStateChanged) and event.leg_id == leg_id:
                answered.set()

        stop = self.fake.subscribe(on)
        try:
            if self.fake.legs[leg_id].state != "up":
                await asyncio.wait_for(answered.wait(), 30)
        finally:
            stop()
        await asyncio.sleep(far.after)
        if self.fake.legs[leg_id].alive and far.kind == "dtmf":
            await self.fake.dtmf(leg_id, far.digits)
        elif far.kind == "hangup":
            await self.fake.remote_hangup(leg_id)


class AsteriskWorld(World):
    """The test service of tests/engine on the real Asterisk (shared per session)."""

    kind = "asterisk"
    # The index in PHONE_PORTS of the next phone's port, across the session's worlds (a
    # world per test): a port comes back only after the other 32, so an engine still
    # retransmitting to an earlier test's phone (a final response for 32 s) reaches none.
    _turn = 0

    def __init__(self, service: Any) -> None:
        self.service = service
        self.app = service.app
        instance = service.instance
        creds = instance.credentials()
        self._ari = httpx.Client(
            base_url=f"http://{instance.bind_address}:{instance.ports.http}/ari",
            auth=(str(creds["ari_user"]), str(creds["ari_password"])),
            timeout=10,
        )
        self._far: list[str] = []
        self._media: dict[tuple[int, str], MediaPhone] = {}
        self._answerers: dict[tuple[int, str], sipp.Answerer] = {}

    def __enter__(self) -> AsteriskWorld:
        self.http = self.service.client().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for far_id in self._far:
            self._ari.delete(f"/channels/{far_id}")  # gone already is fine
        self._ari.close()
        self.http.__exit__(*exc)

    audio = True

    def _port(self) -> int:
        """The next phone port in turn that nothing holds (an earlier phone's SIPp that
        has not exited yet is skipped); the next in turn if all are held (its SIPp then
        fails naming the holder)."""
        cls = AsteriskWorld
        turn = cls._turn
        for i in range(len(PHONE_PORTS)):
            if sipp.udp_free(PHONE_PORTS[(cls._turn + i) % len(PHONE_PORTS)]):
                turn = cls._turn + i
                break
        cls._turn = turn + 1
        return PHONE_PORTS[turn % len(PHONE_PORTS)]

    async def _register(self, tenant: Tenant, number: str) -> int:
        """The phone of ``number`` registers from a port of the world's; that port."""
        user, password = tenant.phones[number]
        port = self._port()
        # Retried: a loaded machine's slow first lookup of a cold tenant can make SIPp
        # retransmit the REGISTER and end its run on the second 401 (see register_retrying).
        result = await register_retrying(
            server=f"127.0.0.1:{self.service.instance.ports.sip}",
            username=user,
            password=password,
            domain=tenant.domain,
            local_port=port,
        )
        assert result.status == 200, result.log
        return port

    @contextlib.asynccontextmanager
    async def answering(
        self, tenant: Tenant, number: str, *, media: bool = False, keys: str = ""
    ) -> AsyncIterator[None]:
        port = await self._register(tenant, number)
        if not media:
            async with sipp.Answerer(local_port=port, timeout=60, dtmf=keys or None) as phone:
                self._answerers[(tenant.id, number)] = phone
                try:
                    yield
                finally:
                    del self._answerers[(tenant.id, number)]
            return
        # Each media phone says a tone of its own (distinct: hearing tells them apart).
        tone = 400 + 150 * len(self._media)
        async with MediaPhone(local_port=port, tone_hz=tone) as phone:
            self._media[(tenant.id, number)] = phone
            try:
                yield
            finally:
                del self._media[(tenant.id, number)]

    @contextlib.asynccontextmanager
    async def ringing(self, tenant: Tenant, number: str) -> AsyncIterator[None]:
        port = await self._register(tenant, number)
        async with uas_phone(RINGING_SCENARIO, port):
            yield

    async def hearing(self, tenant: Tenant, number: str, seconds: float = 1.2) -> dict[str, float]:
        phone = self._media[(tenant.id, number)]
        since = time.monotonic()
        await asyncio.sleep(seconds)
        until = time.monotonic()
        return {
            other: phone.level(speaker.tone_hz, since=since, until=until)
            for (tid, other), speaker in self._media.items()
            if tid == tenant.id
        }

    @contextlib.asynccontextmanager
    async def phone_call(
        self,
        tenant: Tenant,
        caller: str,
        callee: str,
        *,
        callee_talks: float,
        dialed: str | None = None,
    ) -> AsyncIterator[PhoneCall]:
        port = await self._register(tenant, callee)
        user, password = tenant.phones[caller]
        tone = 1000 + 150 * len(self._media)
        async with MediaPhone(local_port=port, tone_hz=tone, hangup_after_s=callee_talks) as phone:
            self._media[(tenant.id, callee)] = phone
            # The caller repeats what it hears, and holds on far longer than any test.
            placed = asyncio.create_task(
                sipp.call(
                    server=f"127.0.0.1:{self.service.instance.ports.sip}",
                    username=user,
                    password=password,
                    domain=tenant.domain,
                    local_port=self._port(),
                    target=dialed or callee,
                    hold_ms=120_000,
                    timeout=150,
                    rtp_echo=True,
                )
            )

            async def callee_hangs_up() -> None:
                await phone.wait_for("completed", timeout=callee_talks + 20)

            try:
                yield PhoneCall(callee_hangs_up)
                result = await asyncio.wait_for(asyncio.shield(placed), 15)
                assert result.answered and result.far_end_hangup, result.log
            finally:
                del self._media[(tenant.id, callee)]
                if not placed.done():
                    placed.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await placed

    def invite_headers(self, tenant: Tenant, number: str) -> list[dict[str, str]]:
        key = (tenant.id, number)
        phone = self._answerers.get(key) or self._media[key]
        text = (phone.workdir / "messages.log").read_text(errors="replace")
        return sip_headers_of(text, "INVITE")

    async def phone_dials(
        self, tenant: Tenant, number: str, dialed: str, *, hangs_up_after: float | None = None
    ) -> None:
        user, password = tenant.phones[number]
        result = await sipp.call(
            server=f"127.0.0.1:{self.service.instance.ports.sip}",
            username=user,
            password=password,
            domain=tenant.domain,
            local_port=self._port(),
            target=dialed,
            hold_ms=10_000 if hangs_up_after is None else round(hangs_up_after * 1000),
            timeout=30,
        )
        if hangs_up_after is not None:
            assert result.answered and not result.far_end_hangup, result.log
            return
        assert result.answered and result.far_end_hangup, result.log

    @contextlib.asynccontextmanager
    async def transferred_call(
        self, tenant: Tenant, caller: str, callee: str, code: str, *, by_caller: bool = False
    ) -> AsyncIterator[None]:
        port = await self._register(tenant, callee)
        user, password = tenant.phones[caller]
        server = f"127.0.0.1:{self.service.instance.ports.sip}"
        if by_caller:
            # The callee's phone answers and stays; the caller's REFERs, then hangs up.
            referring = referring_call(
                server=server, username=user, password=password, domain=tenant.domain,
                local_port=self._port(), target=callee, refer_to=code,
            )  # fmt: skip
            async with sipp.Answerer(local_port=port, calls=1, timeout=150), _placed(referring):
                yield
            return
        placing = sipp.call(
            server=server,
            username=user,
            password=password,
            domain=tenant.domain,
            local_port=self._port(),
            target=callee,
            hold_ms=120_000,
            timeout=150,
        )
        async with transferring_phone(port, code, tenant.domain), _placed(placing):
            yield

    @contextlib.asynccontextmanager
    async def cti(self, tenant_id: int) -> AsyncIterator[Cti]:
        from websockets.asyncio.client import connect

        url = self.service.url.replace("http://", "ws://") + "/api/v1/ws"
        async with connect(url, additional_headers=self.service.headers, max_queue=None) as ws:

            async def recv() -> str:
                return str(await ws.recv())

            yield await self._subscribed(Cti(ws.send, recv), tenant_id)

    @contextlib.asynccontextmanager
    async def carrier_answering(self) -> AsyncIterator[None]:
        async with sipp.Answerer(local_port=CARRIER_PORT, timeout=60):
            yield

    def hang_up_everything(self) -> None:
        self.service.instance.cli("channel request hangup all")

    def call_in(self, number: str, *, caller: str = "+15550001", far: FarEnd | None = None) -> None:
        far = far or FarEnd()
        exten = {
            "wait": "wait",
            "audio": "audio",
            "dtmf": f"dtmf-{far.after}-{far.digits}",
            "talk": f"talk-{far.after}",
            "hangup": f"bye-{far.after}",
        }[far.kind]
        far_id = f"conformance-far-{uuid.uuid4().hex[:12]}"
        # The other half (the caller the service sees) gets an id of its own, without
        # Asterisk's ";2": an id a trunk's channel could have, so a flow may dial on
        # (IvrCall.dial names the caller's id in the dialed leg's routing).
        self._far.extend([far_id, f"{far_id}-in"])
        # The ;2 half dials the number in the context inbound trunks deliver to.
        r = self._ari.post(
            "/channels",
            params={
                "endpoint": f"Local/{number}@orchestrator-dids",
                "context": CONTEXT_FAR,
                "extension": exten,
                "priority": 1,
                "callerId": f'"Caller" <{caller}>',
                "timeout": 30,
                "channelId": far_id,
                # The ;2 half becomes the IVR's caller: an id of its own, as a trunk's
                # channel has (the default "<id>;2" is no routing value, so a flow's
                # dial() could not name it as the dialed legs' call).
                "otherChannelId": f"{far_id}-in",
            },
        )
        assert r.status_code == 200, r.text


class FreeSwitchWorld(World):
    """The service on ORCH_ENGINE=freeswitch over the fake FreeSWITCH.

    Three event loops: the test's, the service's (uvicorn in a thread, on a free port,
    over real HTTP as FreeSWITCH's mod_xml_curl reaches it) and the peer's (its own
    thread: the test's HTTP calls block the test's loop while the service talks to the
    peer). The kit sees a local instance (credentials.json under a temporary root, so
    the trunks' gateway files are written where the peer's ``sofia profile rescan``
    reads them); phones register with their directory passwords, carriers answer at
    their trunk's address, and calls arrive from a carrier into ``orchestrator-dids``.
    """

    kind = "freeswitch"

    def __init__(self, tmp: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._peer_thread = threading.Thread(
            target=self._loop.run_forever, name="fake-freeswitch", daemon=True
        )
        self._peer_thread.start()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.api_port = _free_port()
        secret = secrets.token_urlsafe(24)
        password = secrets.token_urlsafe(18)
        url = f"http://127.0.0.1:{self.api_port}/engine/freeswitch/xml-curl/{secret}"
        # The service answers xml_curl in this process: on a loaded CI machine a lookup
        # can take longer than a real FreeSWITCH's 2 s (a refused INVITE, not what we test).
        self.peer = FakeFreeSwitch(password=password, xml_curl_url=url, xml_curl_timeout=10.0)
        self._peer_call(self.peer.start())
        root = tmp / "freeswitch"
        instance = root / "default"
        (instance / "conf" / "gateways").mkdir(parents=True)
        creds = {"esl_password": password, "xml_curl_secret": secret, "esl_port": self.peer.port}
        (instance / "credentials.json").write_text(json.dumps(creds))
        self.sip = sofia.install(self.peer, conf_dir=instance / "conf", profile="orchestrator")
        self.settings = Settings(
            engine="freeswitch",
            database_url=f"sqlite:///{tmp / 'conformance.db'}",
            state_dir=tmp,
            admin_token=ADMIN_TOKEN,
            api_port=self.api_port,
            freeswitch=FreeSwitchSettings(root=root),
        )
        self.url = f"http://127.0.0.1:{self.api_port}"
        self._phones: set[tuple[str, str]] = set()

    def _peer_call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` in the peer's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _on_peer(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run in the peer's loop (from the test's loop)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def __enter__(self) -> FreeSwitchWorld:
        self.app = build_app(self.settings)
        # As `make run` serves it: xml_curl's lookups answered by the kit's front door.
        self._server = uvicorn.Server(
            server_config(self.app, host="127.0.0.1", port=self.api_port, log_level="warning")
        )
        self._thread = threading.Thread(
            target=self._server.run, name="orchestrator-freeswitch", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.__exit__(None, None, None)
                raise RuntimeError("the orchestrator did not become healthy within 30 s")
            time.sleep(0.1)
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "http"):
            self.http.close()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._peer_call(self.peer.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._peer_thread.join(timeout=10)
        self._loop.close()

    @contextlib.asynccontextmanager
    async def answering(
        self, tenant: Tenant, number: str, *, media: bool = False, keys: str = ""
    ) -> AsyncIterator[None]:
        user, password = tenant.phones[number]
        how = sofia.Behaviour(answer_after=0.2, keys=keys, keys_after=0.1) if keys else None
        # Retried as a phone does: on a loaded machine the directory's answer to a cold
        # tenant can miss mod_xml_curl's 2 s timeout (a wrong password fails every time).
        for attempt in range(3):
            registered = await self._on_peer(
                self.sip.register(user, tenant.domain, password, behaviour=how)
            )
            if registered or attempt == 2:
                break
            await asyncio.sleep(0.5)
        assert registered, f"{user}@{tenant.domain}: REGISTER refused"
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self.sip.unregister, user, tenant.domain)

    @contextlib.asynccontextmanager
    async def ringing(self, tenant: Tenant, number: str) -> AsyncIterator[None]:
        user, password = tenant.phones[number]
        registered = await self._on_peer(
            self.sip.register(user, tenant.domain, password, behaviour=sofia.no_answer())
        )
        assert registered, f"{user}@{tenant.domain}: REGISTER refused"
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self.sip.unregister, user, tenant.domain)

    @contextlib.asynccontextmanager
    async def phone_call(
        self,
        tenant: Tenant,
        caller: str,
        callee: str,
        *,
        callee_talks: float,
        dialed: str | None = None,
    ) -> AsyncIterator[PhoneCall]:
        user, password = tenant.phones[caller]
        callee_user = tenant.phones[callee][0]
        async with self.answering(tenant, callee):
            placed = await self._on_peer(
                self.peer.call_from_phone(f"{user}@{tenant.domain}", dialed or callee, password)
            )
            assert placed is not None, f"{user}@{tenant.domain}: INVITE refused"

            async def hang_up() -> None:
                # The callee's phone: the channel the dialplan's bridge dialed to it.
                [channel] = [
                    ch.uuid for ch in self.peer.channels.values()
                    if ch.name.endswith(f"/{callee_user}@{tenant.domain}")
                ]  # fmt: skip
                await self.peer.hangup(channel)

            async def callee_hangs_up() -> None:
                await self._on_peer(hang_up())

            yield PhoneCall(callee_hangs_up)
            assert not self.peer.exists(placed), f"{caller}'s call is still up"

    @contextlib.asynccontextmanager
    async def transferred_call(
        self, tenant: Tenant, caller: str, callee: str, code: str, *, by_caller: bool = False
    ) -> AsyncIterator[None]:
        user, password = tenant.phones[caller]
        callee_user = tenant.phones[callee][0]
        async with self.answering(tenant, callee):
            placed = await self._on_peer(
                self.peer.call_from_phone(f"{user}@{tenant.domain}", callee, password)
            )
            assert placed is not None, f"{user}@{tenant.domain}: INVITE refused"

            async def refer() -> bool:
                # The callee's phone, once it talks with the caller, sends its REFER.
                deadline = time.monotonic() + 15
                while True:
                    # Talking: the engine's bridge is up (bridge_to set, as mod_sofia
                    # reads it), not only being made (seen on a loaded machine: a REFER
                    # in that window found no partner, or one with no last_bridge_to).
                    talking = [
                        ch.uuid for ch in self.peer.channels.values()
                        if ch.name.endswith(f"/{callee_user}@{tenant.domain}")
                        and ch.up and ch.variables.get("bridge_to") == placed
                    ]  # fmt: skip
                    # The caller's phone REFERs from its own channel instead, as a person
                    # does: after the call is set up, once the orchestrator has told the
                    # engine where the dialed leg goes on (its tenant's context, set when
                    # it learns the leg's user_context: transfers.py), not milliseconds
                    # after the answer (seen on a loaded machine: the leg went to
                    # "default", where no *68 is).
                    if talking and (
                        not by_caller
                        or self.peer.channels[talking[0]].variables.get("force_transfer_context")
                    ):
                        return await self.sip.refer(placed if by_caller else talking[0], code)
                    assert time.monotonic() < deadline, f"{callee} never talked with {caller}"
                    await asyncio.sleep(0.02)

            assert await self._on_peer(refer()), f"{callee}'s REFER to {code} failed"
            try:
                yield
            finally:
                if self.peer.exists(placed):
                    await self._on_peer(self.peer.hangup(placed))

    def invite_headers(self, tenant: Tenant, number: str) -> list[dict[str, str]]:
        user, _ = tenant.phones[number]
        return list(self.sip.invites.get(f"{user}@{tenant.domain}", []))

    async def phone_dials(
        self, tenant: Tenant, number: str, dialed: str, *, hangs_up_after: float | None = None
    ) -> None:
        user, password = tenant.phones[number]
        placed = await self._on_peer(
            self.peer.call_from_phone(f"{user}@{tenant.domain}", dialed, password)
        )
        assert placed is not None, f"{user}@{tenant.domain}: INVITE refused"
        channel = self.peer.channels[placed]
        if hangs_up_after is not None:
            await asyncio.sleep(hangs_up_after)
            assert self.peer.exists(placed), f"{dialed}: the service hung up"
            assert channel.answered_event.is_set(), dialed
            await self._on_peer(self.peer.hangup(placed))
            return
        deadline = time.monotonic() + 15
        while self.peer.exists(placed):
            assert time.monotonic() < deadline, f"{dialed}: the call is still up"
            await asyncio.sleep(0.02)
        assert channel.answered_event.is_set(), dialed

    @contextlib.asynccontextmanager
    async def cti(self, tenant_id: int) -> AsyncIterator[Cti]:
        from websockets.asyncio.client import connect

        url = self.url.replace("http://", "ws://") + "/api/v1/ws"
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with connect(url, additional_headers=headers, max_queue=None) as ws:

            async def recv() -> str:
                return str(await ws.recv())

            yield await self._subscribed(Cti(ws.send, recv), tenant_id)

    @contextlib.asynccontextmanager
    async def carrier_answering(self) -> AsyncIterator[None]:
        carrier = self.sip.carrier(f"127.0.0.1:{CARRIER_PORT}")
        carrier.answer_after = 0.2
        try:
            yield
        finally:
            carrier.answer_after = None

    def hang_up_everything(self) -> None:
        async def end() -> None:
            for uuid_ in list(self.peer.channels):
                if self.peer.exists(uuid_):
                    await self.peer.hangup(uuid_)

        self._peer_call(end())

    def call_in(self, number: str, *, caller: str = "+15550001", far: FarEnd | None = None) -> None:
        far = far or FarEnd()

        async def arrive() -> None:
            leg = await self.sip.call_in(number, caller=caller)
            if far.kind in ("dtmf", "hangup"):
                task = asyncio.get_running_loop().create_task(self._far_end(leg, far))
                self.peer.jobs.add(task)

        self._peer_call(arrive())

    async def _far_end(self, uuid_: str, far: FarEnd) -> None:
        """The caller's script, once its call is answered (in the peer's loop)."""
        channel = self.peer.channels.get(uuid_)
        if channel is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(channel.answered_event.wait(), 30)
        await asyncio.sleep(far.after)
        if not self.peer.exists(uuid_):
            return
        if far.kind == "dtmf":
            await self.peer.send_dtmf_in(uuid_, far.digits)
        else:
            await self.peer.hangup(uuid_)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _placed(call: Coroutine[Any, Any, Any]) -> AsyncIterator[None]:
    """``call`` (a phone's SIPp run) runs while the block does; cancelled if it outlasts it."""
    placed = asyncio.create_task(call)
    try:
        yield
    finally:
        if not placed.done():
            placed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await placed
