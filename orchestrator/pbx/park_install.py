"""Wiring of call park: the :class:`~orchestrator.pbx.park.ParkService` over the store,
its feature-code handlers (``park``, ``retrieve``) and its life cycle.

It starts before the engine: :meth:`ParkService.restore` keeps the legs the last run
parked, so the engine's start-up sweep spares them (see orchestrator/cti/kept.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.components import Component, Deps
from orchestrator.cti.service import CtiService
from orchestrator.ivr.install import Ivr
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.pbx.park import ParkService


@dataclass(slots=True)
class Park:
    service: ParkService
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        self.component = _ParkComponent(self.service)


@dataclass(slots=True)
class _ParkComponent:
    service: ParkService
    name: str = "park"

    async def start(self) -> None:
        self.service.start()
        await self.service.restore()

    async def stop(self) -> None:
        await self.service.stop()


def install(
    deps: Deps, ivr: Ivr, handlers: FeatureHandlers, *, cti: CtiService | None = None
) -> Park:
    """Call park, publishing its events on the CTI stream (and parking CTI's calls'
    parties through the API)."""
    publish = cti.stream.publish if cti is not None else None
    service = ParkService(
        deps.engine, deps.sessions, ivr.directory, node=deps.node, publish=publish, cti=cti
    )
    handlers.register("park", service.park_code)
    handlers.register("retrieve", service.retrieve_code)
    return Park(service)
