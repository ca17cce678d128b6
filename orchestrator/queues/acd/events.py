"""What the ACD tells the world: queue and agent events, and the result of ``enqueue``.

One flat, JSON-friendly :class:`AcdEvent` carries every kind of event, so the
per-tenant WebSocket stream, the store (stats that survive a restart) and the
:class:`~orchestrator.queues.acd.stats.QueueStats` accumulator all take the same record.

``type`` and the fields each one fills (``tenant_id``, ``timestamp`` always):

=====================  ==================================================================
``queued``             queue, call_id, caller, position, priority, kind (live/callback);
                       a caller taken back after a restart: reason ``resumed`` and the
                       wait_s so far (the same call_id as before the restart)
``dequeued``           queue, call_id, reason (answered, abandoned, overflow, timeout,
                       callback; ``restart``: closed at start, its place not kept),
                       wait_s, sl_threshold_s; agent_id when answered
``offered``            queue, call_id, agent_id
``offer_ended``        queue, call_id, agent_id, reason (answered, no_answer, busy,
                       rejected, failed, cancelled, lost)
``completed``          queue, call_id, agent_id, talk_s, wrapup_s (after the wrap-up)
``callback_result``    queue, call_id, agent_id, reason (connected, agent_missed,
                       no_answer, timeout), wait_s
``agent_state``        agent_id, state, reason, queues (the queues the agent is in)
=====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

EVENT_TYPES = frozenset(
    {"queued", "dequeued", "offered", "offer_ended", "completed", "callback_result", "agent_state"}
)
DEQUEUE_REASONS = frozenset({"answered", "abandoned", "overflow", "timeout", "callback", "restart"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdEvent:
    """One queue or agent event (see the module doc for which fields each type fills)."""

    type: str
    tenant_id: int
    timestamp: float
    queue: str = ""
    call_id: str = ""
    agent_id: str = ""
    caller: str = ""
    reason: str = ""
    state: str = ""
    kind: str = ""
    position: int = 0
    priority: int = 0
    wait_s: float = 0.0
    talk_s: float = 0.0
    wrapup_s: float = 0.0
    sl_threshold_s: float = 0.0
    queues: tuple[str, ...] = ()
    # The engine leg of a call event (the caller's, or a callback's called-back leg):
    # lets CTI tie queue events to the call it knows.
    leg_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["queues"] = list(self.queues)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcdEvent:
        """Rebuild a stored event; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["queues"] = tuple(values.get("queues", ()))
        return cls(**values)


# Where events go: the WebSocket stream, the store, a QueueStats... A listener must not
# block; it is called synchronously, in the order the ACD makes its decisions.
QueueEvents = Callable[[AcdEvent], None]


@dataclass(frozen=True, slots=True)
class QueueResult:
    """How :meth:`AcdService.enqueue` ended for the caller.

    ``outcome``:

    - ``answered``: ``agent_id`` talked to the caller; ``wait_s`` in the queue, then
      ``talk_s`` (returned when either side hung up; the caller may still be there if
      the agent hung up first, and the flow can go on);
    - ``abandoned``: the caller hung up while waiting;
    - ``overflow`` (the queue was full, or empty with ``leave_when_empty``) and
      ``timeout`` (``max_wait_s`` passed): the caller is still there and the flow
      should send it to ``destination`` (the queue's ``overflow``);
    - ``callback``: the caller asked to be called back at ``callback_number`` and may
      be hung up; the ACD calls back when an agent is free.
    """

    outcome: str
    queue: str
    call_id: str
    wait_s: float = 0.0
    agent_id: str = ""
    talk_s: float = 0.0
    destination: str = ""
    callback_number: str = ""
    reason: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome == "answered"
