"""What agents do: log in and out of queues, pause and unpause, from any channel.

One :class:`AgentActions` serves the REST API (``POST /api/v1/agents/{id}/login``...),
the WebSocket commands (``agent_login``...) and the phones' feature codes (``*61``...).
Each action writes the store first (so a reload or a restart keeps it, see
:mod:`.sync`) and then tells the :class:`~orchestrator.queues.acd.AcdService`, whose
``agent_state`` events report the result.

An agent logs into the queues it is a member of: one (``queue``) or all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from orchestrator.bounds import StoreInt
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.cti.commands import parse
from orchestrator.queues.acd import AcdService
from orchestrator.queues.acd.config import pause_reason
from orchestrator.queues.store import agents as store
from orchestrator.queues.store.queues import member_queues, set_logged_in


class AgentCommand(BaseModel):
    """``agent_login``, ``agent_logout``, ``agent_pause``, ``agent_unpause`` on the WebSocket."""

    model_config = ConfigDict(extra="forbid")

    agent_id: StoreInt = Field(description="the agent's id (GET /api/v1/agents)")
    queue: str | None = Field(
        default=None, max_length=40, description="login/logout: one queue; null or 'all': all"
    )
    reason: str = Field(default="", max_length=40, description="agent_pause: why")


AGENT_COMMANDS = ("agent_login", "agent_logout", "agent_pause", "agent_unpause")


# How long a login waits for the engine to say whether the agent's phone is registered.
LOGIN_READ_WAIT_S = 2.0


class AgentActions:
    """Login, logout, pause and unpause, kept in the store and the ACD."""

    def __init__(self, acd: AcdService, sessions: Callable[[], Session]) -> None:
        self.acd = acd
        self.sessions = sessions

    # -- reads --------------------------------------------------------------------------
    def _read(self, agent_id: int, scope: int | None) -> tuple[store.AgentRow, list[str]]:
        with self.sessions() as session:
            row = store.read_agent(session=session, agent_id=agent_id, scope=scope)
            return row, member_queues(session, agent_id)

    async def agent(self, agent_id: int, scope: int | None) -> tuple[store.AgentRow, list[str]]:
        """The agent (if visible in ``scope``) and the queues it is a member of."""
        return await asyncio.to_thread(self._read, agent_id, scope)

    async def by_extension(self, tenant_id: int, extension: str) -> store.AgentRow | None:
        def read() -> store.AgentRow | None:
            with self.sessions() as session:
                return store.agent_by_extension(session, tenant_id, extension)

        return await asyncio.to_thread(read)

    def live(self, tenant_id: int, agent_id: int) -> dict[str, Any]:
        """The agent's state in the ACD (``state`` None when it does not know the agent)."""
        try:
            agent = self.acd.agents.get(tenant_id, str(agent_id))
        except NotFoundError:
            return {"state": None, "state_reason": "", "logged_in": []}
        state, reason = agent.state()
        return {"state": str(state), "state_reason": reason, "logged_in": sorted(agent.queues)}

    def _known(self, row: store.AgentRow) -> None:
        # The sync normally has it; an agent created a moment ago may not be there yet.
        self.acd.put_agent(row.config())

    # -- actions -------------------------------------------------------------------------
    async def login(
        self, agent_id: int, queue: str | None = None, *, scope: int | None = None
    ) -> dict[str, Any]:
        """Log into ``queue`` (a queue the agent is a member of) or, without, all of them."""
        row, member_of = await self.agent(agent_id, scope)
        queues = self._pick(row, member_of, queue)
        running = {q.name for q in self.acd.queues(row.agent.tenant_id)}
        if queue is not None and queue not in running:
            raise ConflictError(f"queue {queue} is disabled", queue=queue)
        queues = [q for q in queues if q in running]
        await self._store(set_logged_in, agent_id, queues, True)
        self._known(row)
        for name in queues:
            self.acd.login(row.agent.tenant_id, str(agent_id), name)
        # A login reads the phone's registration: answer with what the engine said.
        await self.acd.reachability.settled(LOGIN_READ_WAIT_S)
        return self._result(row)

    async def logout(
        self, agent_id: int, queue: str | None = None, *, scope: int | None = None
    ) -> dict[str, Any]:
        row, member_of = await self.agent(agent_id, scope)
        queues = self._pick(row, member_of, queue)
        await self._store(set_logged_in, agent_id, queues, False)
        self._known(row)
        for name in queues:
            self.acd.logout(row.agent.tenant_id, str(agent_id), name)
        return self._result(row)

    async def pause(
        self, agent_id: int, reason: str = "", *, scope: int | None = None
    ) -> dict[str, Any]:
        reason = pause_reason(reason)
        row, _ = await self.agent(agent_id, scope)
        await self._store(store.set_paused, agent_id, True, reason)
        self._known(row)
        self.acd.pause(row.agent.tenant_id, str(agent_id), reason)
        return self._result(row)

    async def unpause(self, agent_id: int, *, scope: int | None = None) -> dict[str, Any]:
        row, _ = await self.agent(agent_id, scope)
        await self._store(store.set_paused, agent_id, False, "")
        self._known(row)
        self.acd.unpause(row.agent.tenant_id, str(agent_id))
        return self._result(row)

    def paused(self, tenant_id: int, agent_id: int) -> bool:
        try:
            return self.acd.agents.get(tenant_id, str(agent_id)).paused
        except NotFoundError:
            return False

    async def command(self, name: str, params: Any, *, scope: int | None) -> dict[str, Any]:
        """One WebSocket agent command (:data:`AGENT_COMMANDS`) with its parameters."""
        args = parse(AgentCommand, params or {})
        queue = None if args.queue in (None, "all") else args.queue
        if name == "agent_login":
            return await self.login(args.agent_id, queue, scope=scope)
        if name == "agent_logout":
            return await self.logout(args.agent_id, queue, scope=scope)
        if name == "agent_pause":
            return await self.pause(args.agent_id, args.reason, scope=scope)
        if name == "agent_unpause":
            return await self.unpause(args.agent_id, scope=scope)
        raise NotFoundError(f"no command {name!r}", command=name, known=list(AGENT_COMMANDS))

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _pick(row: store.AgentRow, member_of: list[str], queue: str | None) -> list[str]:
        if queue is None:
            return member_of
        if queue not in member_of:
            raise ConflictError(
                f"agent {row.agent.id} is not a member of queue {queue}",
                agent_id=row.agent.id,
                queue=queue,
            )
        return [queue]

    async def _store(self, write: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            with self.sessions() as session:
                write(session, *args)

        await asyncio.to_thread(run)

    def _result(self, row: store.AgentRow) -> dict[str, Any]:
        return {
            "agent_id": row.agent.id,
            "tenant_id": row.agent.tenant_id,
            "extension": row.extension,
            **self.live(row.agent.tenant_id, row.agent.id or 0),
        }
