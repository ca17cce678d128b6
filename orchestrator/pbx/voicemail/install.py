"""Wiring of voicemail: the service, its S3 uploader, the builtin flows, the handlers.

The integrator's pbx install registers :attr:`Voicemail.handlers` in the feature-code
dispatcher's table and hands :attr:`Voicemail.depositor` to the extension flow; the MWI
reconciler replaces ``service.mwi``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.components import Component, Deps, Hooks
from orchestrator.ivr.install import Ivr
from orchestrator.pbx.voicemail.deposit import Depositor
from orchestrator.pbx.voicemail.flows import flows
from orchestrator.pbx.voicemail.mail import VoicemailMailer
from orchestrator.pbx.voicemail.menu import OwnerHandlers
from orchestrator.pbx.voicemail.notify import EventSink
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import RECORDING_PREFIX, VoicemailStorage
from orchestrator.recordings import S3Storage
from orchestrator.recordings.install import Recordings


@dataclass(slots=True)
class Voicemail:
    service: VoicemailService
    depositor: Depositor
    handlers: OwnerHandlers
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        storage = self.service.storage
        self.component = Hooks("voicemail", storage.start, storage.stop)


def install(deps: Deps, ivr: Ivr, recordings: Recordings, *, events: EventSink | None) -> Voicemail:
    """``events``: the tenants' event stream's ``publish`` (CtiStream)."""
    # The recordings' bucket (one S3 client: the same configuration).
    s3 = recordings.service.storage or S3Storage.from_settings(deps.settings)
    storage = VoicemailStorage(
        deps.engine, deps.sessions, s3, poll_s=deps.settings.recording_upload_poll_s
    )
    # Messages and greetings stay on the engine (phones play them from there): call
    # recordings must not upload-and-delete them.
    recordings.service.skip_prefixes.append(RECORDING_PREFIX)
    service = VoicemailService(
        deps.sessions,
        storage,
        events=events,
        mailer=VoicemailMailer.from_settings(deps.settings),
    )
    ivr.registry.builtins.update(flows(service))
    return Voicemail(service, Depositor(service), OwnerHandlers(service))
