"""Webhooks: CDRs, call and queue events, uploads; stored as deliveries before the first
attempt, retried with backoff, logged (docs/webhooks.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.cdr.install import Cdrs
from orchestrator.components import Component, Deps, Hooks
from orchestrator.cti.install import Cti
from orchestrator.queues.install import Queues
from orchestrator.webhooks.dispatcher import WebhookService


@dataclass(slots=True)
class Webhooks:
    service: WebhookService
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Its start resumes the deliveries pending at the last stop.
        self.component = Hooks("webhooks", self.service.start, self.service.stop)


def install(deps: Deps, cti: Cti, cdrs: Cdrs, queues: Queues) -> Webhooks:
    service = WebhookService.from_settings(deps.sessions, deps.settings, cti.service.stream)
    cdrs.builder.listeners.append(service.on_cdr)
    queues.center.acd.listeners.append(service.on_queue_event)
    return Webhooks(service)
