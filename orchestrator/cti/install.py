"""CTI: the call registry, events and commands behind /api/v1/ws and /calls, and the
supervisors' listen / whisper / barge (/api/v1/supervision)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlmodel import col, select

from orchestrator.components import Component, Deps, Hooks
from orchestrator.cti.authorizer import CallAuthorizer
from orchestrator.cti.observed import EndpointLookup
from orchestrator.cti.registry import REMOTE_APP
from orchestrator.cti.service import CtiService
from orchestrator.cti.supervise import ExtensionEndpoint, SupervisionService
from orchestrator.ivr.install import Ivr
from orchestrator.store import db
from orchestrator.store.endpoints import EndpointResolver
from orchestrator.store.kept_calls import KeptCallStore
from orchestrator.store.models import Extension, Tenant


def endpoint_lookup(owners: EndpointResolver) -> EndpointLookup:
    """CTI's view of the store's endpoint owners: (tenant, extension or None for a trunk)."""

    async def lookup(endpoint: str) -> tuple[int, str | None] | None:
        owner = await asyncio.to_thread(owners.resolve, endpoint)
        if owner is None:
            return None
        return owner.tenant_id, owner.name if owner.kind == "extension" else None

    return lookup


def extension_endpoint(sessions: db.SessionFactory) -> ExtensionEndpoint:
    """Supervision's view of the store: a tenant's extension -> its SIP endpoint id."""

    def read(tenant_id: int, number: str) -> str | None:
        with sessions() as session:
            row = session.exec(
                select(Extension.sip_username, Tenant.sip_domain)
                .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
                .where(Extension.tenant_id == tenant_id, Extension.number == number)
            ).first()
        return f"{row[0]}@{row[1]}" if row else None

    async def lookup(tenant_id: int, number: str) -> str | None:
        return await asyncio.to_thread(read, tenant_id, number)

    return lookup


@dataclass(slots=True)
class Cti:
    service: CtiService
    kept_calls: KeptCallStore
    endpoint_owners: EndpointResolver
    ivr: Ivr
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        self.component = Hooks("cti", self._start, self._stop)

    async def _start(self) -> None:
        self.service.start(self.ivr.runner)
        # Before the engine: its sweep spares the calls the last run kept.
        self.service.restore(await self.kept_calls.load())
        self.kept_calls.start()

    async def _stop(self) -> None:
        await self.service.stop()
        await self.kept_calls.stop()


def install(deps: Deps, ivr: Ivr, *, authorizer: CallAuthorizer | None = None) -> Cti:
    service = CtiService(deps.engine, ivr.directory)
    # IVR apps with the flow key "remote" are driven by a CTI client.
    ivr.registry.builtins[REMOTE_APP] = service.remote_flow
    # Connected click-to-call calls are kept in the store: the next run adopts them.
    kept_calls = KeptCallStore(deps.sessions, node=deps.node)
    service.keeper = kept_calls
    # Phones calling each other in dialplan are CTI calls too: the engine's observed
    # channels name SIP endpoints, the store says whose they are.
    owners = EndpointResolver(deps.sessions)
    service.calls.endpoints = endpoint_lookup(owners)
    if authorizer is not None:
        service.authorizer = authorizer
    return Cti(service, kept_calls, owners, ivr)


@dataclass(slots=True)
class Supervision:
    service: SupervisionService
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Started before the engine: it must see every channel.
        self.component = Hooks("supervision", self.service.start, self.service.stop)


def install_supervision(deps: Deps, cti: Cti) -> Supervision:
    service = SupervisionService(
        deps.engine, cti.service.stream, extension_endpoint(deps.sessions), calls=cti.service.calls
    )
    return Supervision(service)
