"""Wiring of ring groups: the ``pbx_ring_group`` flow over the store.

The composition root passes the voicemail depositor (the voicemail package's) for a
``voicemail:<n>`` fallback; an ``ivr:<name>`` fallback runs the tenant's IVR app on the
call through the IVR's own lookup and registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlmodel import Session

from orchestrator.components import Deps
from orchestrator.core.errors import ValidationError
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.install import Ivr
from orchestrator.pbx import ring_group_rules as rules
from orchestrator.pbx.extension_flow import VoicemailDepositor
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.ring_groups import FLOW, Group, Publish, RingGroupFlow, RunIvr
from orchestrator.pbx.ringing import RingingRegistry
from orchestrator.store import ring_groups as store
from orchestrator.store.models.call_settings import MailboxOwners, managed_owners

__all__ = ["StoreGroups", "install", "ivr_runner"]

log = logging.getLogger("orchestrator.pbx")


class StoreGroups:
    """:class:`~orchestrator.pbx.ring_groups.Groups` over the store (read per call, in a
    worker thread: the store is synchronous)."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    def _read(self, tenant_id: int, number: str) -> Group | None:
        with self.sessions() as session:
            row = store.group_by_number(session, tenant_id, number)
            if row is None or row.id is None:
                return None
            try:  # checked again: a row written around the API rings nothing unchecked
                members = tuple(rules.parse_members(row.members))
                strategy = rules.strategy(row.strategy)
            except ValidationError as exc:
                members, strategy = (), "sequential"
                log.warning("ring group %s: members not valid, none rung: %s", row.number, exc)
            return Group(
                id=row.id,
                tenant_id=tenant_id,
                name=row.name,
                number=row.number,
                strategy=strategy,
                members=members,
                timeout_s=max(rules.MIN_TIMEOUT_S, min(row.timeout_s, rules.MAX_TIMEOUT_S)),
                fallback=row.fallback,
                rr_next=row.rr_next,
            )

    async def group(self, tenant_id: int, number: str) -> Group | None:
        return await asyncio.to_thread(self._read, tenant_id, number)

    def _next_start(self, group_id: int, start: int) -> None:
        with self.sessions() as session:
            store.next_start(session, group_id, start=start)

    async def next_start(self, group_id: int, start: int) -> None:
        await asyncio.to_thread(self._next_start, group_id, start)


def ivr_runner(ivr: Ivr) -> RunIvr:
    """Run the call's tenant's IVR app ``name`` in the calling flow (its settings become
    the call's); False when the app does not exist or is disabled."""

    async def run(call: IvrCall, name: str) -> bool:
        spec = await ivr.runner.lookup(call.tenant, name)
        if spec is None or not spec.enabled:
            call.log.info("ring group fallback: no enabled IVR app %r", name)
            return False
        call.settings = dict(spec.settings)
        await ivr.registry.get(spec.app)(call)
        return True

    return run


def install(
    deps: Deps,
    ivr: Ivr,
    *,
    voicemail: VoicemailDepositor | None = None,
    publish: Publish | None = None,
    mailboxes: MailboxOwners = managed_owners,
    ringing: RingingRegistry | None = None,
) -> RingGroupFlow:
    """Register the ``pbx_ring_group`` flow (``publish``: the CTI stream's, for
    ``ring_group_unanswered``; ``ringing``: call pickup's registry, where the members'
    ringing is registered)."""
    flow = RingGroupFlow(
        StoreGroups(deps.sessions),
        lines=StoreLines(deps.sessions, mailboxes),
        voicemail=voicemail,
        run_ivr=ivr_runner(ivr),
        publish=publish,
        ringing=ringing,
    )
    ivr.registry.builtins[FLOW] = flow
    return flow
