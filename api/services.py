"""The services the API serves, as one typed object.

The composition root (:mod:`orchestrator.runtime`) builds every feature, puts them in a
:class:`Services` and hands it to :func:`api.main.build_api`; routes get it (or one of
its members) through a dependency::

    @router.get("/x")
    def x(services: ServicesDep) -> ...:
        return services.cti.calls ...

A feature that does not run in this app (the API-only app of the API tests, a tool) is
None: its routes answer 503, or carry on without it where that makes sense.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api.config_state import ConfigState
from orchestrator.core import Engine
from orchestrator.provisioning.base import Provisioner
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory

if TYPE_CHECKING:
    from orchestrator.cdr import CdrBuilder
    from orchestrator.conferences import ConferenceService
    from orchestrator.cti import CtiService
    from orchestrator.cti.supervise import SupervisionService
    from orchestrator.ivr import AppRegistry, IvrRunner
    from orchestrator.ivr.store_backed import StoreDirectory
    from orchestrator.pbx.inbound_install import NightModeService
    from orchestrator.pbx.park import ParkService
    from orchestrator.pbx.settings import CallSettingsService
    from orchestrator.pbx.voicemail.service import VoicemailService
    from orchestrator.queues.acd import AcdService, QueueStats
    from orchestrator.queues.acd.wallboard import Wallboard
    from orchestrator.queues.service import CallCenter
    from orchestrator.rating import RatingService
    from orchestrator.recordings import RecordingService
    from orchestrator.recordings.calls import CallRecorder
    from orchestrator.store.endpoints import EndpointResolver
    from orchestrator.webhooks import WebhookService


@dataclass(slots=True)
class Services:
    """Everything a route may use; see the module docstring."""

    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    config_state: ConfigState
    ivr_registry: AppRegistry | None = None
    ivr_runner: IvrRunner | None = None
    directory: StoreDirectory | None = None
    cti: CtiService | None = None
    endpoint_owners: EndpointResolver | None = None
    cdrs: CdrBuilder | None = None
    callcenter: CallCenter | None = None
    acd: AcdService | None = None
    acd_stats: QueueStats | None = None
    wallboard: Wallboard | None = None
    supervision: SupervisionService | None = None
    webhooks: WebhookService | None = None
    recordings: RecordingService | None = None
    call_recorder: CallRecorder | None = None
    rating: RatingService | None = None
    conferences: ConferenceService | None = None
    call_settings: CallSettingsService | None = None
    voicemail: VoicemailService | None = None
    night_mode: NightModeService | None = None
    park: ParkService | None = None

    @property
    def provisioner(self) -> Provisioner:
        return self.config_state.provisioner


def services_of(app: FastAPI) -> Services:
    """The app's services (tests and tools swap one with ``services_of(app).cti = ...``)."""
    services: Services = app.state.services
    return services
