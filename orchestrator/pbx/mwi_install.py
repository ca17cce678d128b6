"""Wiring of message waiting: a :class:`~orchestrator.pbx.mwi.MwiReconciler` over the
mailboxes' counts in the store (:func:`~orchestrator.store.voicemail.desired_lamps`).

Voicemail tells it of every change of a mailbox's counts; it follows the engine's
registrations and (re)connections by itself, so it starts before the engine does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.components import Component, Deps, Hooks
from orchestrator.pbx.mwi import Counts, MwiReconciler
from orchestrator.store.voicemail import desired_lamps


@dataclass(slots=True)
class Mwi:
    reconciler: MwiReconciler
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        self.component = Hooks("mwi", self.reconciler.start, self.reconciler.stop)


def install(deps: Deps) -> Mwi:
    sessions = deps.sessions

    def compute(tenant_id: int | None) -> dict[str, Counts]:
        with sessions() as session:
            return desired_lamps(session, tenant_id)

    async def desired(tenant_id: int | None) -> Mapping[str, Counts]:
        return await asyncio.to_thread(compute, tenant_id)

    return Mwi(MwiReconciler(deps.engine, desired))
