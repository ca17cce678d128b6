"""The ACD's configuration from the store: loaded at start, reloaded after each change.

:class:`StoreSync` reads a tenant's (or every tenant's) enabled queues, agents and
memberships (:func:`orchestrator.queues.store.queues.load_acd`, in a worker thread) and makes
the :class:`~orchestrator.queues.acd.AcdService` match them:

- queues are added or changed in place (waiting callers stay); a queue gone from the
  store (deleted, disabled, renamed) is removed, unless callers still wait in it (it
  goes at the next reload once they have left);
- agents likewise (an agent on a queue call stays until the next reload); their
  per-queue penalties come from the memberships; an agent is logged out of a queue it
  is no longer a member of;
- logins follow the store's ``logged_in`` (written first by every login/logout, see
  :mod:`.actions`), so a restart or a renamed queue keeps them; a pause is restored
  only at start (the store does not know auto-pauses, which must not be undone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlmodel import Session

from orchestrator.core.errors import ConflictError
from orchestrator.queues.acd import AcdService
from orchestrator.queues.store import queues as store

log = logging.getLogger("orchestrator.queues")


class StoreSync:
    """Keeps an :class:`AcdService` in line with the store (see the module doc)."""

    def __init__(self, acd: AcdService, sessions: Callable[[], Session]) -> None:
        self.acd = acd
        self.sessions = sessions
        self._lock = asyncio.Lock()

    def _read(self, tenant_id: int | None) -> store.AcdConfig:
        with self.sessions() as session:
            return store.load_acd(session, tenant_id)

    async def load(self, tenant_id: int | None = None, *, initial: bool = False) -> None:
        """Bring one tenant (or, at start, every tenant) in line with the store."""
        async with self._lock:  # two reloads at once must not interleave their reads
            config = await asyncio.to_thread(self._read, tenant_id)
            self.apply(config, tenant_id, initial=initial)

    def apply(self, config: store.AcdConfig, tenant_id: int | None, *, initial: bool) -> None:
        acd = self.acd
        wanted = {(q.tenant_id, q.name) for q in config.queues}
        for queue in config.queues:
            acd.put_queue(queue)
        tenants = {tenant_id} if tenant_id is not None else {t for t, _ in wanted}
        for tenant in tenants:
            for queue in acd.queues(tenant):
                if (tenant, queue.name) not in wanted:
                    try:
                        acd.remove_queue(tenant, queue.name)
                    except ConflictError:
                        log.info("queue %s of tenant %s goes once empty", queue.name, tenant)

        members: dict[str, list[store.Membership]] = {}
        for member in config.members:
            members.setdefault(member.agent_id, []).append(member)
        present = set()
        for agent_config, paused, reason in config.agents:
            key = (agent_config.tenant_id, agent_config.agent_id)
            present.add(key)
            agent = acd.put_agent(agent_config)
            mine = [m for m in members.get(agent.id, []) if (key[0], m.queue) in wanted]
            agent.penalties = {m.queue: m.penalty for m in mine if m.penalty is not None}
            allowed = {m.queue for m in mine}
            for name in [q for q in agent.queues if q not in allowed]:
                acd.logout(key[0], agent.id, name)
            for m in mine:
                if m.logged_in and m.queue not in agent.queues:
                    acd.login(key[0], agent.id, m.queue)
                elif not m.logged_in and m.queue in agent.queues:
                    acd.logout(key[0], agent.id, m.queue)
            if initial and paused:
                acd.pause(key[0], agent.id, reason)
        for tenant in tenants | {a.tenant_id for a, _, _ in config.agents}:
            for agent in acd.agents.all(tenant):
                if (tenant, agent.id) not in present:
                    try:
                        acd.agents.remove(tenant, agent.id)
                    except ConflictError:
                        log.info("agent %s of tenant %s goes after their call", agent.id, tenant)
