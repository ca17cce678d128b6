"""Call queues: the ACD with its store, statistics (rebuilt from today's stored events at
start), CTI events, the agents' feature-code handlers, and the IVR flow "queue"; flows
reach it with ``call.queue(...)``."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.cdr.install import Cdrs
from orchestrator.cdr.sources import follow_acd
from orchestrator.components import Component, Deps, Hooks
from orchestrator.cti.install import Cti
from orchestrator.ivr.install import Ivr
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.queues.acd import QueueStats
from orchestrator.queues.flow import QUEUE_APP, queue_flow
from orchestrator.queues.service import CallCenter


@dataclass(slots=True)
class Queues:
    center: CallCenter
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Started before the engine: statistics rebuilt, queues loaded.
        self.component = Hooks("callcenter", self.center.start, self.center.stop)


def install(deps: Deps, ivr: Ivr, cti: Cti, cdrs: Cdrs, codes: FeatureHandlers) -> Queues:
    center = CallCenter(
        deps.engine,
        ivr.directory,
        deps.sessions,
        cti=cti.service,
        stats=QueueStats(),
        node=deps.node,  # waiting callers are kept per engine node
    )
    ivr.registry.builtins[QUEUE_APP] = queue_flow
    ivr.runner.queues = center.acd
    codes.update(center.codes.handlers())  # agent_login, agent_logout, agent_pause
    follow_acd(cdrs.builder, center.acd)  # agent legs join their caller's CDR
    return Queues(center)
