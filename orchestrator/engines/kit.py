"""What an engine kit gives the composition root.

One kit per engine (``orchestrator.engines.<name>.kit``), chosen by ``ORCH_ENGINE``
through :func:`orchestrator.engines.load_kit`. A kit is the one place that knows how an
engine is built, configured and called back::

    kit = load_kit(KitDeps(settings, load_tenant, load_all))
    kit.engine        # the Engine the features drive
    kit.provisioner   # keeps the engine's per-tenant configuration equal to the store
    kit.config        # the engine's configuration side (reload, console), or None
    kit.routers       # HTTP routes the engine calls back (Asterisk: realtime CURL hooks)
    kit.settings      # its settings group (Settings.asterisk, ...)
    kit.servers       # listeners of its own the service starts and stops (xml_curl's)
    kit.front_door    # requests it answers on the API's port before uvicorn (xml_curl's)

Features and the API never see a kit: they get the Engine and the provisioner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter
from pydantic import BaseModel

from orchestrator.core import Engine
from orchestrator.provisioning.base import DialplanAuthorizer, EngineConfig, EngineProvisioner
from orchestrator.provisioning.tenant import TenantConfig
from orchestrator.settings import Settings


@dataclass(frozen=True, slots=True)
class KitDeps:
    """What a kit needs from the service: its settings and the store's tenants."""

    settings: Settings
    load_tenant: Callable[[int], TenantConfig | None]
    load_all: Callable[[], list[TenantConfig]]
    #: An engine built by the caller (tests, benchmarks) instead of the kit's own.
    engine: Engine | None = None
    #: The prepaid authorization, for an engine whose dialplan the service answers
    #: in-process (FreeSWITCH's xml_curl); read when a call asks (rating is built later).
    authorizer: Callable[[], DialplanAuthorizer | None] = lambda: None


class KitServer(Protocol):
    """A listener a kit runs in the service's event loop (started before the features,
    stopped after them)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class FrontDoor(Protocol):
    """Requests a kit answers itself on the API's port, before the HTTP server parses
    them (:mod:`orchestrator.front_door`): an engine's call-backs that come too often for
    uvicorn and FastAPI (FreeSWITCH's xml_curl lookups, a new connection each)."""

    #: The first bytes of such a request (method and path prefix, ``b"POST /x/"``).
    prefix: bytes

    def protocol(self) -> asyncio.Protocol:
        """A protocol for one such connection (given the transport, then the bytes read)."""
        ...


@dataclass(slots=True)
class EngineKit:
    """One engine, ready to wire: see the module docstring."""

    name: str
    #: The engine node a call id is unique on (CDRs, kept calls, waiting callers).
    node: str
    engine: Engine
    provisioner: EngineProvisioner
    config: EngineConfig | None = None
    routers: list[APIRouter] = field(default_factory=list)
    settings: BaseModel | None = None
    servers: list[KitServer] = field(default_factory=list)
    front_door: FrontDoor | None = None


class LocalInstance(Protocol):
    """An engine process this machine runs for the service (``orchestrator run``)."""

    name: str

    def install(self) -> None: ...

    def start(self) -> bool:
        """Start it; False if it was already running (then it is not ours to stop)."""
        ...

    def stop(self) -> None: ...

    def channels(self) -> int:
        """How many calls' channels are up (the service waits for 0 before stopping it)."""
        ...
