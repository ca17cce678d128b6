"""Wiring of the conference feature (see orchestrator/runtime.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.cdr.install import Cdrs
from orchestrator.components import Component, Deps, Hooks
from orchestrator.conferences.ledger import ConferenceLedger
from orchestrator.conferences.service import ConferenceService
from orchestrator.conferences.tracking import Authorizer, Billing
from orchestrator.cti.install import Cti


@dataclass(slots=True)
class Conferencing:
    service: ConferenceService
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Started before the engine: the members' legs must be kept before its sweep.
        self.component = Hooks("conferences", self.service.start, self.service.stop)


def install(
    deps: Deps,
    cti: Cti,
    cdrs: Cdrs,
    *,
    billing: Billing | None = None,
    authorizer: Authorizer | None = None,
) -> Conferencing:
    """``billing`` / ``authorizer``: the money side (orchestrator.conferences.billing)."""
    service = ConferenceService(
        deps.engine,
        cti.service,
        ConferenceLedger(deps.sessions, node=deps.node),
        node=deps.node,
        cdrs=cdrs.builder,
        billing=billing,
        authorizer=authorizer,
    )
    return Conferencing(service)
