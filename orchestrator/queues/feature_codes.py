"""Agent feature codes: a phone dials ``*91`` (log in), ``*92`` (log out), ``*93`` (pause).

The tenant dialplan (dialplan_templates/asterisk/tenant/extensions.conf.j2) sends
these codes to the orchestrator's application with the arguments
``feature, <action>, <tenant id>, <the calling channel's SIP endpoint>``; the endpoint
comes from the engine (Asterisk's ``CHANNEL(endpoint)``), not from anything the phone
says about itself. :class:`FeatureCodes` finds the extension behind the endpoint
(:class:`~orchestrator.store.endpoints.EndpointResolver`), the agent on that extension,
acts, answers, plays a confirmation and hangs up:

==========  ================  ========================================================
code        action            confirmation
==========  ================  ========================================================
``*91``     ``agent_login``   log into every queue the agent is a member of:
                              ``agent-logged-in`` ("agent logged in")
``*92``     ``agent_logout``  log out of every queue: ``agent-logged-out``
``*93``     ``agent_pause``   pause, or unpause if paused: ``agent-paused`` /
                              ``agent-logged-in``
==========  ================  ========================================================

The confirmations are stock prompts (:class:`~orchestrator.core.prompts.Prompt`; on
Asterisk ``agent-loginok``, ``agent-loggedoff``, ``dictate/paused``). A phone that is no
agent (or has no queue to log into) hears ``agent-refused`` (``agent-incorrect``).
Extensions are digits only, so codes starting with ``*`` never clash with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import Event, LegCreated, LegHungUp, PlaybackFinished
from orchestrator.core.prompts import Prompt
from orchestrator.queues.actions import AgentActions
from orchestrator.store.endpoints import EndpointOwner

log = logging.getLogger("orchestrator.queues")

FEATURE_CODES = {"*91": "agent_login", "*92": "agent_logout", "*93": "agent_pause"}
LOGGED_IN, LOGGED_OUT = Prompt.AGENT_LOGGED_IN, Prompt.AGENT_LOGGED_OUT
PAUSED, UNPAUSED, REFUSED = Prompt.AGENT_PAUSED, Prompt.AGENT_LOGGED_IN, Prompt.AGENT_REFUSED
# Longest a confirmation may play before the call is hung up anyway.
PLAY_LIMIT_S = 10.0
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}@[A-Za-z0-9.-]{1,253}")

Resolve = Callable[[str], EndpointOwner | None]


class FeatureCodes:
    """Handles the feature-code calls the engine hands over (see the module doc)."""

    def __init__(self, engine: Engine, actions: AgentActions, resolve: Resolve) -> None:
        self.engine = engine
        self.actions = actions
        self.resolve = resolve
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[str, asyncio.Future[None]] = {}  # playback or leg id -> done
        self._unsubscribe: Callable[[], None] | None = None
        self.handled = 0

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_event(self, event: Event) -> None:
        routing = event.routing if isinstance(event, LegCreated) else None
        if isinstance(event, LegCreated) and routing is not None and routing.service == "feature":
            task = asyncio.create_task(self._run(event), name=f"feature-{event.leg_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, PlaybackFinished | LegHungUp):
            key = event.playback_id if isinstance(event, PlaybackFinished) else event.leg_id
            done = self._waiting.get(key)
            if done is not None and not done.done():
                done.set_result(None)

    async def _run(self, event: LegCreated) -> None:
        leg_id = event.leg_id
        try:
            routing = event.routing
            assert routing is not None
            prompt = await self.act(
                routing.get("action"), routing.get("tenant"), routing.get("endpoint")
            )
        except Exception:
            log.exception("feature code on %s failed", leg_id)
            prompt = REFUSED
        self.handled += 1
        try:
            await self.engine.answer(leg_id)
            await self._play(leg_id, prompt)
        except OrchestratorError as exc:
            log.info("feature code call %s: %s", leg_id, exc)
        finally:
            with contextlib.suppress(OrchestratorError):
                await self.engine.hangup(leg_id)

    async def act(self, action: str = "", tenant: str = "", endpoint: str = "") -> str:
        """Do ``action`` for the agent on ``endpoint``'s extension; the prompt to play."""
        if not tenant.isdigit() or not _ENDPOINT.fullmatch(endpoint):
            log.warning("feature code %s: bad arguments %r %r", action, tenant, endpoint)
            return REFUSED
        owner = await asyncio.to_thread(self.resolve, endpoint)
        if owner is None or owner.kind != "extension" or owner.tenant_id != int(tenant):
            return REFUSED
        row = await self.actions.by_extension(owner.tenant_id, owner.name)
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
            if self.actions.paused(owner.tenant_id, agent_id):
                await self.actions.unpause(agent_id)
                return UNPAUSED
            await self.actions.pause(agent_id)
            return PAUSED
        return REFUSED

    async def _play(self, leg_id: str, prompt: str) -> None:
        playback_id = self.engine.new_id()
        loop = asyncio.get_running_loop()
        played, gone = loop.create_future(), loop.create_future()
        self._waiting[playback_id], self._waiting[leg_id] = played, gone
        try:
            await self.engine.play(leg_id, [prompt], playback_id=playback_id)
            await asyncio.wait(
                {played, gone}, timeout=PLAY_LIMIT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._waiting.pop(playback_id, None)
            self._waiting.pop(leg_id, None)
            for future in (played, gone):
                future.cancel()
