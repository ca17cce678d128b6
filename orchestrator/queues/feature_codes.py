"""Agent feature codes: handlers of ``agent_login``, ``agent_logout``, ``agent_pause``.

A phone dials the tenant's code of one of these actions (by default ``*61``, ``*62``,
``*63``; each tenant may change them: docs/pbx.md) and the feature-code flow
(:mod:`orchestrator.pbx.dispatch`) calls the handler registered here with the calling
phone's extension, found from the SIP endpoint the engine reported (not from anything the
phone says about itself). The handler finds the agent on that extension, acts and plays a
confirmation; the flow hangs up:

=================  ========================================================
action             confirmation
=================  ========================================================
``agent_login``    log into every queue the agent is a member of:
                   ``agent-logged-in`` ("agent logged in")
``agent_logout``   log out of every queue: ``agent-logged-out``
``agent_pause``    pause, or unpause if paused: ``agent-paused`` /
                   ``agent-logged-in``
=================  ========================================================

The confirmations are stock prompts (:class:`~orchestrator.core.prompts.Prompt`; on
Asterisk ``agent-loginok``, ``agent-loggedoff``, ``dictate/paused``). A phone that is no
agent (or has no queue to log into) hears ``agent-refused`` (``agent-incorrect``).
"""

from __future__ import annotations

import logging

from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.pbx.dispatch import CodeContext, Handler
from orchestrator.queues.actions import AgentActions

log = logging.getLogger("orchestrator.queues")

AGENT_ACTIONS = ("agent_login", "agent_logout", "agent_pause")
LOGGED_IN, LOGGED_OUT = Prompt.AGENT_LOGGED_IN, Prompt.AGENT_LOGGED_OUT
PAUSED, UNPAUSED, REFUSED = Prompt.AGENT_PAUSED, Prompt.AGENT_LOGGED_IN, Prompt.AGENT_REFUSED


class AgentCodes:
    """The agents' feature-code handlers over :class:`AgentActions` (see the module doc)."""

    def __init__(self, actions: AgentActions) -> None:
        self.actions = actions
        self.handled = 0

    def handlers(self) -> dict[str, Handler]:
        """What the queues register on the feature-code dispatcher."""
        return dict.fromkeys(AGENT_ACTIONS, self.handle)

    async def handle(self, call: IvrCall, ctx: CodeContext) -> None:
        try:
            prompt = await self.act(ctx.action, ctx.tenant_id, ctx.number)
        except Exception:
            log.exception("feature code %s from extension %s failed", ctx.action, ctx.number)
            prompt = REFUSED
        self.handled += 1
        await call.play(prompt)

    async def act(self, action: str, tenant_id: int, extension: str) -> str:
        """Do ``action`` for the agent on ``extension``; the prompt to play."""
        row = await self.actions.by_extension(tenant_id, extension)
        if row is None or row.agent.id is None:
            return REFUSED
        agent_id = row.agent.id
        if action == "agent_login":
            result = await self.actions.login(agent_id)
            return LOGGED_IN if result["logged_in"] else REFUSED
        if action == "agent_logout":
            await self.actions.logout(agent_id)
            return LOGGED_OUT
        if action == "agent_pause":
            if self.actions.paused(tenant_id, agent_id):
                await self.actions.unpause(agent_id)
                return UNPAUSED
            await self.actions.pause(agent_id)
            return PAUSED
        return REFUSED
