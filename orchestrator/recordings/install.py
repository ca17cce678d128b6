"""Recordings: tracked per tenant, uploaded to S3 and only then deleted from the engine,
linked to their CDR (docs/recordings.md); on-demand recording of any answered call."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.cdr.install import Cdrs
from orchestrator.components import Component, Deps, Hooks
from orchestrator.cti.install import Cti
from orchestrator.ivr.install import Ivr
from orchestrator.recordings.calls import CallRecorder
from orchestrator.recordings.s3 import S3Storage
from orchestrator.recordings.service import RecordingService
from orchestrator.recordings.sources import cti_tenant, ivr_tenant
from orchestrator.webhooks.install import Webhooks


@dataclass(slots=True)
class Recordings:
    service: RecordingService
    #: POST /api/v1/calls/{id}/record.
    recorder: CallRecorder
    #: The uploads (resumed at start) and the on-demand recorder, in that order.
    components: list[Component] = field(init=False)

    def __post_init__(self) -> None:
        self.components = [
            Hooks("recordings", self.service.start, self.service.stop),
            Hooks("call-recorder", self.recorder.start, self.recorder.stop_following),
        ]


def install(deps: Deps, ivr: Ivr, cti: Cti, cdrs: Cdrs, hooks: Webhooks) -> Recordings:
    service = RecordingService(
        deps.engine,
        deps.sessions,
        node=deps.node,
        storage=S3Storage.from_settings(deps.settings),
        poll_s=deps.settings.recording_upload_poll_s,
    )
    service.lookups += [ivr_tenant(ivr.runner), cti_tenant(cti.service)]
    cdrs.builder.listeners.append(service.on_cdr)
    service.listeners.append(hooks.service.on_recording)
    recorder = CallRecorder(deps.engine, cti.service.calls, deps.sessions)
    return Recordings(service, recorder)
