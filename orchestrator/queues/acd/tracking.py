"""What the ACD is handling: its calls, their legs and playbacks, and the last agents.

:class:`CallTracking` is the bookkeeping half of :class:`~.service.AcdService` (a base
class, so every method stays on the service): the call owners (:mod:`.session`), the
offers (:mod:`.offers`) and a restart (:mod:`.places`) note here which caller and agent
legs and playbacks belong to which queued call, and the engine events are routed by
it. With a :class:`~.places.PlaceKeeper`, a tracked caller's place and leg are kept
for the next run until the call waits no more.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from orchestrator.core.engine import Engine
from orchestrator.queues.acd.agents import Agent
from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.places import Place, PlaceKeeper
from orchestrator.queues.acd.waiting import QueuedCall

# Callers' numbers whose last agent is remembered (oldest forgotten first).
LAST_AGENT_MEMORY = 100_000


class CallTracking:
    """The ACD's bookkeeping; :class:`~.service.AcdService` sets the fields up."""

    engine: Engine
    clock: Callable[[], float]
    places: PlaceKeeper | None
    connected: set[str]
    _calls: dict[str, QueuedCall]
    _caller_legs: dict[str, QueuedCall]
    _agent_legs: dict[str, tuple[QueuedCall, Agent]]
    _playbacks: dict[str, QueuedCall]
    _last_agent: OrderedDict[tuple[int, str], str]

    def emit(self, event: AcdEvent) -> None:
        raise NotImplementedError  # the service's: tells its listeners

    def kick(self) -> None:
        raise NotImplementedError  # the service's: a dispatch pass soon

    def owns_leg(self, leg_id: str) -> bool:
        """Whether ``leg_id`` is a caller or agent leg the ACD is handling."""
        return leg_id in self._caller_legs or leg_id in self._agent_legs

    # -- bookkeeping used by the call owners (session.py) ---------------------------------
    def track(self, entry: QueuedCall, *, keep: bool = True) -> None:
        """A call starts waiting; ``keep``: tell the place keeper (not when restored)."""
        self._calls[entry.id] = entry
        if entry.leg_id:
            self._caller_legs[entry.leg_id] = entry
        if self.places is not None:
            if keep:
                self.places.keep(Place.of(entry))
            if entry.kind == "live" and entry.leg_id:
                self.engine.keep([entry.leg_id])
        self.kick()

    def track_leg(self, entry: QueuedCall, leg_id: str) -> None:
        entry.leg_id = leg_id
        self._caller_legs[leg_id] = entry

    def untrack(self, entry: QueuedCall) -> None:
        self.leave(entry)
        self.release(entry)

    def leave(self, entry: QueuedCall) -> None:
        """Forget ``entry`` here; its place (if kept) stays for the next run."""
        self._calls.pop(entry.id, None)
        if self._caller_legs.get(entry.leg_id) is entry:
            del self._caller_legs[entry.leg_id]
        if entry.playback_id:
            self._playbacks.pop(entry.playback_id, None)
        if entry.offer is not None:
            entry.offer.wake.set()

    def release(self, entry: QueuedCall) -> None:
        """The call waits no more: its place and its leg are not kept for a restart."""
        if self.places is not None:
            self.places.release(entry.id)
            if entry.kind == "live":
                self.engine.release([entry.leg_id])
                self.connected.discard(entry.leg_id)
            if entry.agent_leg:
                self.engine.release([entry.agent_leg])

    def keep_connected(self, entry: QueuedCall) -> None:
        """A live caller is connected with its agent: kept (with the agent's leg) until
        the call ends, so a restart meanwhile adopts it (see .places)."""
        if self.places is None or entry.kind != "live" or not entry.agent_leg:
            return
        self.places.keep(Place.of(entry))
        self.engine.keep([entry.leg_id, entry.agent_leg])
        self.connected.add(entry.leg_id)

    def track_playback(self, entry: QueuedCall, playback_id: str) -> None:
        entry.playback_id, entry.playback_done = playback_id, False
        self._playbacks[playback_id] = entry

    def forget_playback(self, entry: QueuedCall) -> None:
        self._playbacks.pop(entry.playback_id, None)
        entry.playback_id, entry.playback_done = "", False

    def track_agent_leg(self, entry: QueuedCall, agent: Agent, leg_id: str) -> None:
        self._agent_legs[leg_id] = (entry, agent)

    def forget_agent_leg(self, leg_id: str) -> None:
        self._agent_legs.pop(leg_id, None)

    def agent_leg_call(self, leg_id: str) -> str | None:
        """The queue call an agent leg is ringing (or talking) for, if it is one of ours."""
        tracked = self._agent_legs.get(leg_id)
        return tracked[0].id if tracked is not None else None

    def event(self, type_: str, entry: QueuedCall, **fields: object) -> None:
        """Emit a call event of ``entry`` stamped now."""
        self.emit(
            AcdEvent(
                type=type_,
                tenant_id=entry.tenant_id,
                timestamp=self.clock(),
                queue=entry.queue,
                call_id=entry.id,
                caller=entry.caller,
                leg_id=entry.leg_id,
                **fields,  # type: ignore[arg-type]
            )
        )

    def last_agent_of(self, tenant_id: int, number: str) -> str:
        return self._last_agent.get((tenant_id, number), "") if number else ""

    def note_last_agent(self, tenant_id: int, number: str, agent_id: str, *, keep: bool) -> None:
        """Remember who answered ``number`` last; ``keep``: in the place keeper too."""
        self._last_agent[(tenant_id, number)] = agent_id
        self._last_agent.move_to_end((tenant_id, number))
        while len(self._last_agent) > LAST_AGENT_MEMORY:
            self._last_agent.popitem(last=False)
        if keep and self.places is not None:
            self.places.remember_agent(tenant_id, number, agent_id, self.clock())
