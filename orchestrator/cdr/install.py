"""CDRs: built from the engine's channel events, written when each call ends; live
calls are kept in the store so a restart loses none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.cdr.builder import CdrBuilder, Listener
from orchestrator.cdr.persist import CdrStore
from orchestrator.cdr.sources import cti_lookup, follow_ivr
from orchestrator.components import Component, Deps, Hooks
from orchestrator.cti.install import Cti
from orchestrator.ivr.install import Ivr


@dataclass(slots=True)
class Cdrs:
    builder: CdrBuilder
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Started before the engine: it reloads the calls open at the last stop.
        self.component = Hooks("cdrs", self.builder.start, self.builder.stop)


def install(deps: Deps, ivr: Ivr, cti: Cti, *, first: Sequence[Listener] = ()) -> Cdrs:
    """``first``: listeners that see each CDR before any other (rating: webhooks then
    see the charge)."""
    builder = CdrBuilder(
        deps.engine, CdrStore(deps.sessions, cti.endpoint_owners.resolve), node=deps.node
    )
    builder.listeners[:0] = list(first)
    builder.lookups.append(cti_lookup(cti.service))
    follow_ivr(builder, ivr.runner)
    return Cdrs(builder)
