"""Agents and their state, derived from what actually happens so it is never stale.

An agent's shown state is computed from independent facts, each kept up to date by
the event that changes it, instead of being set by hand:

- ``queues``: the queues the agent is logged into (login/logout per queue);
- ``activity``: what the ACD is doing with them: idle, ringing (a queue call is
  offered), on a queue call (their leg answered), wrap-up (after it hung up);
- ``reachable``: the phone's registration (``EndpointStateChanged``). An
  unregistered phone keeps its logins but shows ``unavailable`` and gets no calls;
  it comes back by itself when the phone registers again;
- ``paused`` with a reason (by the agent, a supervisor, or auto-pause after missed
  offers);
- ``busy_elsewhere``: on a call that is not a queue call (:meth:`AgentBook.set_busy`).

The shown state, by precedence::

    logged_out > ringing > on_call > wrap_up > unavailable > paused > busy > available

so a paused agent finishing a call goes on_call → wrap_up → paused, and only
``available`` agents are offered calls. Every change of (state, reason) goes out as
an ``agent_state`` event.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.queues.acd.config import AgentConfig, pause_reason
from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.strategies import AgentSnapshot

# Registration states that mean "reachable" / "not reachable" (the engines' endpoint and
# contact states); anything else (``unknown``) leaves reachability as it was.
REACHABLE = frozenset({"online", "reachable", "created", "registered", "not_in_use"})
UNREACHABLE = frozenset({"offline", "unreachable", "removed", "unregistered", "unavailable"})


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"
    BUSY = "busy"


class Activity(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


@dataclass(slots=True)
class Agent:
    """One agent's live state (see the module doc)."""

    config: AgentConfig
    idle_since: float
    queues: dict[str, int] = field(default_factory=dict)  # queue -> member order
    # Per-queue penalties (a queue membership's own); the config's penalty otherwise.
    penalties: dict[str, int] = field(default_factory=dict)
    activity: Activity = Activity.IDLE
    reachable: bool = True
    paused: bool = False
    pause_reason: str = ""
    busy_elsewhere: bool = False
    calls_today: int = 0
    calls_day: datetime.date | None = None
    missed_in_row: int = 0
    call_id: str = ""
    call_queue: str = ""
    wrapup_started: float = 0.0
    wrapup_timer: asyncio.TimerHandle | None = None
    wrapup_done: Callable[[float], None] | None = None
    # The last (state, reason, queues) sent out in an agent_state event.
    shown: tuple[AgentState, str, tuple[str, ...]] = (AgentState.LOGGED_OUT, "", ())

    @property
    def id(self) -> str:
        return self.config.agent_id

    @property
    def tenant_id(self) -> int:
        return self.config.tenant_id

    def state(self) -> tuple[AgentState, str]:
        """The shown state and its reason."""
        if not self.queues:
            return AgentState.LOGGED_OUT, ""
        if self.activity is Activity.RINGING:
            return AgentState.RINGING, ""
        if self.activity is Activity.ON_CALL:
            return AgentState.ON_CALL, ""
        if self.activity is Activity.WRAP_UP:
            return AgentState.WRAP_UP, ""
        if not self.reachable:
            return AgentState.UNAVAILABLE, "unregistered"
        if self.paused:
            return AgentState.PAUSED, self.pause_reason
        if self.busy_elsewhere:
            return AgentState.BUSY, "other_call"
        return AgentState.AVAILABLE, ""

    @property
    def available(self) -> bool:
        return self.state()[0] is AgentState.AVAILABLE

    def snapshot(self, queue: str, today: datetime.date) -> AgentSnapshot:
        return AgentSnapshot(
            agent_id=self.id,
            penalty=self.penalties.get(queue, self.config.penalty),
            skills=self.config.skills,
            idle_since=self.idle_since,
            calls_today=self.calls_today if self.calls_day == today else 0,
            order=self.queues.get(queue, 0),
        )

    def to_dict(self) -> dict[str, object]:
        state, reason = self.state()
        return {
            "tenant_id": self.tenant_id,
            "agent_id": self.id,
            "extension": self.config.extension,
            "state": str(state),
            "reason": reason,
            "queues": sorted(self.queues),
            "calls_today": self.calls_today,
            "idle_since": self.idle_since,
        }


class AgentBook:
    """All agents of all tenants, their logins and state changes.

    ``emit`` receives every ``agent_state`` event; ``on_available`` is called when an
    agent becomes available (the ACD then looks for a waiting caller).
    """

    def __init__(
        self,
        emit: Callable[[AcdEvent], None],
        on_available: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self._emit = emit
        self._on_available = on_available
        self._clock = clock
        self._agents: dict[tuple[int, str], Agent] = {}
        self._order: dict[tuple[int, str], int] = {}
        # (tenant, queue) -> its logged-in agents: the dispatcher asks this on every pass.
        self._members: dict[tuple[int, str], dict[str, Agent]] = {}
        # endpoint -> the agents on it: every phone's registration events come here, and
        # one costs only its own agents (most phones are no agent's: nothing).
        self._by_endpoint: dict[str, dict[tuple[int, str], Agent]] = {}
        # The last registration event of each agents' endpoint, by number: a state read
        # from the engine is applied only if no event came while it was being read (the
        # event is newer). Only endpoints in ``_by_endpoint`` are kept, and numbers are
        # never reused, so an endpoint dropped and taken again cannot look unchanged.
        self._endpoint_events: dict[str, int] = {}
        self._events_seen = 0

    # -- configuration -------------------------------------------------------------
    def put(self, config: AgentConfig, *, reachable: bool = True) -> Agent:
        """Add an agent, or replace its configuration (its live state is kept).

        The only way to change an agent's endpoint: it keeps the endpoint index right.
        """
        key = (config.tenant_id, config.agent_id)
        agent = self._agents.get(key)
        if agent is None:
            agent = self._agents[key] = Agent(config, self._clock(), reachable=reachable)
        elif agent.config.endpoint != config.endpoint:
            self._unindex(agent)
        else:
            agent.config = config  # the same phone: its index entry and event mark stand
            return agent
        agent.config = config
        if config.endpoint:
            self._by_endpoint.setdefault(config.endpoint, {})[key] = agent
        return agent

    def remove(self, tenant_id: int, agent_id: str) -> None:
        agent = self.get(tenant_id, agent_id)
        if agent.activity is not Activity.IDLE:
            raise ConflictError("the agent is on a queue call", agent_id=agent_id)
        self.logout(tenant_id, agent_id)
        self._unindex(agent)
        del self._agents[(tenant_id, agent_id)]

    def _unindex(self, agent: Agent) -> None:
        """Take the agent off its endpoint; forget the endpoint once no agent uses it.

        An agent that takes the endpoint later starts from a state read, as a new one does.
        """
        endpoint = agent.config.endpoint
        on_it = self._by_endpoint.get(endpoint)
        if on_it is None:
            return
        on_it.pop((agent.tenant_id, agent.id), None)
        if not on_it:
            del self._by_endpoint[endpoint]
            self._endpoint_events.pop(endpoint, None)

    def on_endpoint(self, endpoint: str) -> list[Agent]:
        """The agents whose phone is ``endpoint``."""
        return list(self._by_endpoint.get(endpoint, {}).values())

    def has(self, tenant_id: int, agent_id: str) -> bool:
        return (tenant_id, agent_id) in self._agents

    def get(self, tenant_id: int, agent_id: str) -> Agent:
        agent = self._agents.get((tenant_id, agent_id))
        if agent is None:
            raise NotFoundError(f"no agent {agent_id}", tenant_id=tenant_id, agent_id=agent_id)
        return agent

    def all(self, tenant_id: int | None = None) -> list[Agent]:
        return [a for a in self._agents.values() if tenant_id in (None, a.tenant_id)]

    def members(self, tenant_id: int, queue: str) -> list[Agent]:
        """The agents logged into ``queue``, in login order."""
        agents = self._members.get((tenant_id, queue), {}).values()
        return sorted(agents, key=lambda a: a.queues[queue])

    # -- what agents and supervisors do ---------------------------------------------
    def login(self, tenant_id: int, agent_id: str, queue: str) -> Agent:
        agent = self.get(tenant_id, agent_id)
        if queue not in agent.queues:
            order = self._order.get((tenant_id, queue), 0) + 1
            self._order[(tenant_id, queue)] = order
            agent.queues[queue] = order
            self._members.setdefault((tenant_id, queue), {})[agent_id] = agent
            if agent.activity is Activity.IDLE:
                agent.idle_since = self._clock()
        self.changed(agent)
        return agent

    def logout(self, tenant_id: int, agent_id: str, queue: str | None = None) -> Agent:
        """Leave ``queue`` (or every queue). A call in progress goes on."""
        agent = self.get(tenant_id, agent_id)
        for name in list(agent.queues) if queue is None else [queue]:
            agent.queues.pop(name, None)
            self._members.get((tenant_id, name), {}).pop(agent_id, None)
        self.changed(agent)
        return agent

    def pause(self, tenant_id: int, agent_id: str, reason: str = "") -> Agent:
        agent = self.get(tenant_id, agent_id)
        agent.paused, agent.pause_reason = True, pause_reason(reason)
        self.changed(agent)
        return agent

    def unpause(self, tenant_id: int, agent_id: str) -> Agent:
        agent = self.get(tenant_id, agent_id)
        agent.paused, agent.pause_reason, agent.missed_in_row = False, "", 0
        self.changed(agent)
        return agent

    def ready(self, tenant_id: int, agent_id: str) -> Agent:
        """The agent ends their wrap-up early (a "ready" key or button)."""
        agent = self.get(tenant_id, agent_id)
        if agent.activity is Activity.WRAP_UP:
            self._end_wrapup(agent)
        return agent

    # -- facts from engine events ----------------------------------------------------
    def set_reachable(self, endpoint: str, state: str) -> None:
        """An endpoint's registration changed (``online``, ``unreachable``...)."""
        value = state.lower()
        if value in REACHABLE:
            reachable = True
        elif value in UNREACHABLE:
            reachable = False
        else:
            return
        if endpoint not in self._by_endpoint:
            return  # no agent's phone: nothing to change, nothing to keep
        self._events_seen += 1
        self._endpoint_events[endpoint] = self._events_seen
        self._set_reachable(endpoint, reachable)

    def _set_reachable(self, endpoint: str, reachable: bool) -> None:
        for agent in self.on_endpoint(endpoint):  # a copy: ``changed`` calls out
            agent.reachable = reachable
            self.changed(agent)

    def endpoint_marks(self, endpoints: Iterable[str]) -> dict[str, int]:
        """Where the registration events are now, per endpoint (see :meth:`seed_reachable`)."""
        return dict.fromkeys(endpoints, self._events_seen)

    def seed_reachable(self, states: Mapping[str, str], marks: Mapping[str, int]) -> None:
        """Apply registration states read from the engine (``Engine.endpoint_states``).

        ``marks`` is :meth:`endpoint_marks` from before the read: an endpoint whose
        event came in meanwhile keeps what that newer event said.
        """
        for endpoint, state in states.items():
            if self._endpoint_events.get(endpoint, 0) > marks.get(endpoint, 0):
                continue
            value = state.lower()
            if value in REACHABLE or value in UNREACHABLE:
                self._set_reachable(endpoint, value in REACHABLE)

    def set_busy(self, tenant_id: int, extension: str, busy: bool) -> None:
        """The agent's phone is (no longer) on a call that is not a queue call."""
        for agent in self.all(tenant_id):
            if agent.config.extension == extension:
                agent.busy_elsewhere = busy
                self.changed(agent)

    # -- what the ACD does with an agent ------------------------------------------------
    def ringing(self, agent: Agent, call_id: str, queue: str) -> None:
        agent.activity, agent.call_id, agent.call_queue = Activity.RINGING, call_id, queue
        self.changed(agent)

    def missed(self, agent: Agent, autopause_after: int) -> None:
        """An offer ended unanswered; auto-pause after too many in a row."""
        agent.missed_in_row += 1
        if autopause_after and agent.missed_in_row >= autopause_after and not agent.paused:
            agent.paused, agent.pause_reason = True, "missed_calls"
        self._idle(agent, keep_idle_since=True)

    def released(self, agent: Agent) -> None:
        """An offer ended without the agent being at fault (caller left, lost the race)."""
        self._idle(agent, keep_idle_since=True)

    def answered(self, agent: Agent) -> None:
        today = datetime.date.fromtimestamp(self._clock())
        if agent.calls_day != today:
            agent.calls_day, agent.calls_today = today, 0
        agent.calls_today += 1
        agent.missed_in_row = 0
        agent.activity = Activity.ON_CALL
        self.changed(agent)

    def resume_call(self, agent: Agent, call_id: str, queue: str) -> None:
        """The agent is on ``call_id`` again, taken back after a restart (its answer was
        counted by the run that connected it)."""
        agent.activity, agent.call_id, agent.call_queue = Activity.ON_CALL, call_id, queue
        self.changed(agent)

    def hung_up(self, agent: Agent, wrapup_s: float, done: Callable[[float], None]) -> None:
        """The agent's queue call ended: wrap-up for ``wrapup_s``, then ``done(wrapup)``."""
        if agent.activity is not Activity.ON_CALL:
            return
        agent.wrapup_done = done
        if wrapup_s <= 0:
            self._end_wrapup(agent)
            return
        agent.activity, agent.wrapup_started = Activity.WRAP_UP, self._clock()
        agent.wrapup_timer = asyncio.get_running_loop().call_later(
            wrapup_s, self._end_wrapup, agent
        )
        self.changed(agent)

    def _end_wrapup(self, agent: Agent) -> None:
        if agent.wrapup_timer is not None:
            agent.wrapup_timer.cancel()
            agent.wrapup_timer = None
        spent = self._clock() - agent.wrapup_started if agent.wrapup_started else 0.0
        done, agent.wrapup_done, agent.wrapup_started = agent.wrapup_done, None, 0.0
        self._idle(agent, keep_idle_since=False)
        if done is not None:
            done(spent)

    def _idle(self, agent: Agent, *, keep_idle_since: bool) -> None:
        agent.activity, agent.call_id, agent.call_queue = Activity.IDLE, "", ""
        if not keep_idle_since:
            agent.idle_since = self._clock()
        self.changed(agent)

    def changed(self, agent: Agent) -> None:
        """Emit ``agent_state`` if the shown state moved; wake the ACD if now available."""
        state, reason = agent.state()
        shown = (state, reason, tuple(sorted(agent.queues)))
        if shown == agent.shown:
            return
        agent.shown = shown
        self._emit(
            AcdEvent(
                type="agent_state",
                tenant_id=agent.tenant_id,
                timestamp=self._clock(),
                agent_id=agent.id,
                state=str(state),
                reason=reason,
                call_id=agent.call_id,
                queues=shown[2],
            )
        )
        if state is AgentState.AVAILABLE:
            self._on_available()
