"""Wiring of call park: the :class:`~orchestrator.pbx.park.ParkService` over the store,
its feature-code handlers (``park``, ``retrieve``) and its life cycle.

It starts before the engine: :meth:`ParkService.restore` keeps the legs the last run
parked, so the engine's start-up sweep spares them (see orchestrator/cti/kept.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from orchestrator.components import Component, Deps
from orchestrator.cti.service import CtiService
from orchestrator.ivr import IvrCall
from orchestrator.ivr.install import Ivr
from orchestrator.ivr.runner import CallObserver
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.park import ParkService
from orchestrator.pbx.park_timeout import ParkFallback
from orchestrator.pbx.ring_groups_install import ivr_runner
from orchestrator.pbx.voicemail.deposit import VoicemailDepositor
from orchestrator.store.models.call_settings import MailboxOwners, managed_owners

log = logging.getLogger("orchestrator.pbx")


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


def runner_observers(ivr: Ivr) -> CallObserver:
    """Tell the IVR runner's observers (the CDR builder...) what a parked call does, as
    they are told about the flows' calls."""

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        for observer in list(ivr.runner.observers):
            try:
                observer(call, action, details)
            except Exception:
                log.exception("IVR observer %r failed on a parked call", observer)

    return observe


def install(
    deps: Deps,
    ivr: Ivr,
    handlers: FeatureHandlers,
    *,
    cti: CtiService | None = None,
    voicemail: VoicemailDepositor | None = None,
    mailboxes: MailboxOwners = managed_owners,
) -> Park:
    """Call park, publishing its events on the CTI stream (and parking CTI's calls'
    parties through the API); ``voicemail`` takes the messages of a ``voicemail:<n>``
    fallback."""
    publish = cti.stream.publish if cti is not None else None
    fallback = ParkFallback(voicemail, StoreLines(deps.sessions, mailboxes), ivr_runner(ivr))
    service = ParkService(
        deps.engine, deps.sessions, ivr.directory, node=deps.node, publish=publish, cti=cti,
        observer=runner_observers(ivr), fallback=fallback,
    )  # fmt: skip
    handlers.register("park", service.park_code)
    handlers.register("retrieve", service.retrieve_code)
    return Park(service)
