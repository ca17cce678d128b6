"""Call queues on the real engine: the setup, the phones and the waits the queue tests share.

A module fixture makes a tenant with extensions (:mod:`tests.engine.phones`), agents on
some of them and queues whose access numbers run the builtin flow ``queue``::

    QUEUES = {"sales": QueueSpec("+17333559300", {"strategy": "random"}, ("901", "902"))}

    @pytest.fixture(scope="module")
    def qt(service: Service) -> QueueTenant:
        return create_queue_tenant(service, "Sales", "sales.example", PORT,
                                   agents=("901", "902"), queues=QUEUES)

The tests then register the agents' phones, log them in through REST, answer with SIPp
(``qt.phones.answerer(...)``, or :func:`refusing_phone`) and place calls
(``qt.dial(...)``). :class:`AcdLog` records the ACD's own events, offers included
(the CTI stream leaves them out); :class:`CtiEvents` is the tenant's CTI WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from api.services import services_of
from orchestrator.queues.acd import AcdEvent, AcdService
from orchestrator.testing import sipp
from tests.engine.conftest import TEST_API_PORT, Service
from tests.engine.phones import (
    TenantPhones,
    add_ivr_app,
    assert_applied,
    create_tenant,
    refusing_scenario,
)

# -- the tenant --------------------------------------------------------------


@dataclass(frozen=True)
class QueueSpec:
    """A queue: its access number, REST settings, members, and the flow's own settings."""

    access: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    flow: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class QueueTenant:
    """A tenant with phones (:class:`TenantPhones`), agents and queues, made through REST.

    ``agents`` maps an extension to its agent's REST id (the ACD's ``agent_id`` is that id
    as a string); ``queues`` a queue's name to its REST id.
    """

    phones: TenantPhones
    agents: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.phones.id

    @property
    def service(self) -> Service:
        return self.phones.service

    def agent_id(self, number: str) -> str:
        """The ACD's id of the agent on extension ``number`` (as events carry it)."""
        return str(self.agents[number])

    def number_of(self, agent_id: str) -> str:
        """The extension of the agent whose ACD id is ``agent_id``."""
        return next(n for n, i in self.agents.items() if str(i) == agent_id)

    async def register(self, *numbers: str) -> None:
        await self.phones.register(*numbers)

    async def dial(self, number: str, target: str, **kw: Any) -> sipp.CallResult:
        """``number`` calls ``target`` (an access number) with SIPp (see :func:`sipp.call`)."""
        return await self.phones.call(number, target, **kw)

    async def agent(
        self, http: httpx.AsyncClient, number: str, action: str = "", **body: Any
    ) -> dict[str, Any]:
        """POST an action (login, logout, pause...) for the agent, or GET it with no action."""
        url = f"/api/v1/agents/{self.agents[number]}"
        r = await (http.post(f"{url}/{action}", json=body or None) if action else http.get(url))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def until_state(
        self, http: httpx.AsyncClient, number: str, state: str, timeout: float = 10
    ) -> float:
        """Wait for the agent's shown state; return how long it took."""
        start = time.monotonic()
        while (shown := await self.agent(http, number))["state"] != state:
            assert time.monotonic() - start < timeout, (number, state, shown)
            await asyncio.sleep(0.05)
        return time.monotonic() - start

    async def status(self, http: httpx.AsyncClient, queue: str) -> dict[str, Any]:
        r = await http.get(f"/api/v1/queues/{self.queues[queue]}/status")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def wait_figures(
        self, http: httpx.AsyncClient, queue: str, counter: str, timeout: float = 10
    ) -> dict[str, Any]:
        """The queue's figures once ``counter`` is not 0."""
        deadline = time.monotonic() + timeout
        while True:
            figures = (await self.status(http, queue))["figures"]
            if figures.get(counter) or time.monotonic() > deadline:
                assert figures.get(counter), figures
                return dict(figures)
            await asyncio.sleep(0.1)


def create_queue_tenant(
    service: Service,
    name: str,
    domain: str,
    phones: dict[str, int],
    *,
    agents: Iterable[str] | Mapping[str, Mapping[str, Any]],
    queues: Mapping[str, QueueSpec],
    dial_from: dict[str, int] | None = None,
    no_phone: Iterable[str] = (),
    pricing_batch: str = "queues",
) -> QueueTenant:
    """A new tenant with an extension per phone, agents on ``agents`` and ``queues``.

    ``agents`` is a list of extensions, or extension -> the agent's extra REST fields
    (``skills``, ``penalty``...). ``no_phone``: extensions without a phone (an agent
    whose phone never registers). Each queue's access number runs the flow ``queue``.
    """
    tenant = QueueTenant(create_tenant(service, name, domain, phones, dial_from=dial_from))
    extra = agents if isinstance(agents, Mapping) else {n: {} for n in agents}
    with service.client() as http:
        for number in no_phone:
            r = http.post(f"/api/v1/tenants/{tenant.id}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
        for number, fields in extra.items():
            body = {"tenant_id": tenant.id, "extension": number, **fields}
            r = http.post("/api/v1/agents", json=body)
            assert r.status_code == 201, r.text
            tenant.agents[number] = int(r.json()["id"])
        for queue, spec in queues.items():
            r = http.post(
                "/api/v1/queues", json={"tenant_id": tenant.id, "name": queue, **spec.settings}
            )
            assert r.status_code == 201, r.text
            tenant.queues[queue] = int(r.json()["id"])
            add_ivr_app(
                http,
                tenant.id,
                spec.access,
                pricing_batch=pricing_batch,
                name=queue,
                app="queue",
                settings={"queue": queue, **spec.flow},
                max_duration_s=120,
            )
            for number in spec.members:
                r = http.post(
                    f"/api/v1/queues/{tenant.queues[queue]}/members",
                    json={"agent_id": tenant.agents[number]},
                )
                assert r.status_code == 201, r.text
        assert_applied(http, tenant.id)
    return tenant


@contextlib.asynccontextmanager
async def logged_in(
    http: httpx.AsyncClient, qt: QueueTenant, queue: str, *numbers: str
) -> AsyncIterator[None]:
    """Log the agents into ``queue`` in this order; on the way out, end the tenant's calls
    and log them out, so that the next test finds them idle."""
    for number in numbers:
        await qt.agent(http, number, "login", queue=queue)
    try:
        yield
    finally:
        await end_calls(http, qt.id)
        for number in numbers:
            await qt.agent(http, number, "logout")


# -- calls -------------------------------------------------------------------


async def hangup(http: httpx.AsyncClient, call_id: str) -> None:
    """Hang up a call through REST (an IVR call: its caller), as a supervisor would."""
    r = await http.post(f"/api/v1/calls/{call_id}/hangup")
    assert r.status_code == 200, r.text


async def end_calls(http: httpx.AsyncClient, tenant_id: int) -> None:
    """Hang up every call of the tenant still up (a failed test's leftovers)."""
    r = await http.get("/api/v1/calls", params={"tenant_id": tenant_id})
    assert r.status_code == 200, r.text
    for call in r.json()["items"]:
        await http.post(f"/api/v1/calls/{call['id']}/hangup")


@contextlib.asynccontextmanager
async def refusing_phone(
    local_port: int, code: str = "486 Busy Here", timeout: float = 120
) -> AsyncIterator[None]:
    """A SIPp UAS on ``local_port`` refusing every INVITE with ``code``, listening on yield.

    An agent's phone that refuses costs the ACD one quick offer (a miss) per call, so a
    test can watch many distribution decisions without paying for many calls.
    """
    with tempfile.TemporaryDirectory(prefix="sipp-refuse-") as tmp:
        workdir = Path(tmp)
        scenario = workdir / "refuse.xml"
        scenario.write_text(refusing_scenario(code))
        cmd = sipp.build_command(
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            media_port=sipp.media_port(),
            timeout=timeout,
            calls=None,
            trace_messages=False,
            extra=["-aa"],
            sipp=shutil.which("sipp") or "/usr/bin/sipp",
        )
        proc = await sipp.spawn(cmd, workdir)
        try:
            try:
                await sipp.wait_listening(proc, local_port, 5)
            except sipp.SippError as exc:
                raise AssertionError(f"the refusing phone did not start: {exc}") from None
            yield
        finally:
            await sipp.kill(proc, grace=5)


# -- what happens --------------------------------------------------------------


class AcdLog:
    """The ACD's events as they come (``with AcdLog(acd) as log:``), offers included.

    The ACD calls its listeners in the service's thread, in the order it decides;
    appending to a list is safe across threads.
    """

    def __init__(self, acd: AcdService) -> None:
        self.acd = acd
        self.events: list[AcdEvent] = []
        self._listener = self.events.append

    def __enter__(self) -> AcdLog:
        self.acd.listeners.append(self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        self.acd.listeners.remove(self._listener)

    def of(self, type_: str, **fields: Any) -> list[AcdEvent]:
        """The events of ``type_`` whose fields have the given values, in order."""
        return [
            e
            for e in list(self.events)
            if e.type == type_ and all(getattr(e, k) == v for k, v in fields.items())
        ]

    async def until(
        self, type_: str, count: int = 1, timeout: float = 15, **fields: Any
    ) -> list[AcdEvent]:
        """Wait for ``count`` events of ``type_`` (with ``fields``); return all of them."""
        deadline = time.monotonic() + timeout
        while len(found := self.of(type_, **fields)) < count:
            assert time.monotonic() < deadline, (type_, count, fields, self.summary())
            await asyncio.sleep(0.02)
        return found

    def summary(self) -> list[tuple[str, str, str, str]]:
        return [(e.type, e.queue, e.agent_id, e.reason or e.state) for e in list(self.events)]


def acd_of(service: Service) -> AcdService:
    """The service's ACD (its listeners are how a test sees offers)."""
    assert service.app is not None
    return services_of(service.app).acd  # type: ignore[no-any-return]


class CtiEvents:
    """The tenant's CTI WebSocket stream, kept as it arrives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def pump(self) -> None:
        async for raw in self.ws:
            self.seen.append(json.loads(raw))

    def summary(self) -> list[tuple[Any, ...]]:
        return [(m.get("event"), m.get("call", {}).get("id"), m.get("details")) for m in self.seen]

    def of(self, name: str, **details: Any) -> list[dict[str, Any]]:
        return [
            m
            for m in self.seen
            if m.get("event") == name and all(m["details"].get(k) == v for k, v in details.items())
        ]

    async def until(
        self, name: str, count: int = 1, timeout: float = 20, **details: Any
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.of(name, **details)) < count:
            assert time.monotonic() < deadline, (name, details, self.summary())
            await asyncio.sleep(0.05)
        return self.of(name, **details)


@contextlib.asynccontextmanager
async def cti_events(service: Service, tenant_id: int) -> AsyncIterator[CtiEvents]:
    """The tenant's events on ``/api/v1/ws``, subscribed when this yields."""
    url = f"ws://127.0.0.1:{TEST_API_PORT}/api/v1/ws"
    async with connect(url, additional_headers=service.headers) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "tenant_id": tenant_id}))
        assert json.loads(await ws.recv())["ok"]
        stream = CtiEvents(ws)
        task = asyncio.create_task(stream.pump())
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
