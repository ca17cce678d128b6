"""The ACD's live records: a queue's runtime, a waiting call, an offer in progress.

A :class:`QueuedCall` is a caller waiting in a queue (``kind`` ``live``) or a
callback keeping a caller's place after they hung up (``kind`` ``callback``). It is
owned by one coroutine (the ``enqueue`` of a live caller, or the ACD's callback task),
which alone sends commands for it; engine events only set flags on it and wake it.
An :class:`Offer` is one attempt to hand a call to one agent (or, for ring-all, to
several at once), owned by its own task.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.core.prompts import Prompt
from orchestrator.queues.acd.config import QueueConfig

if TYPE_CHECKING:
    from orchestrator.queues.acd.agents import Agent

# Answered waits kept per queue for the estimated-wait announcement.
RECENT_WAITS = 20


@dataclass(eq=False, slots=True)
class QueueRuntime:
    """A configured queue plus what the ACD remembers about it between calls."""

    config: QueueConfig
    rng: random.Random = field(default_factory=random.Random)
    rr_last: str | None = None
    rr_last_order: int | None = None
    recent_waits: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_WAITS))

    def estimated_wait(self) -> float | None:
        """The average wait of the last answered calls (None before the first one)."""
        if not self.recent_waits:
            return None
        return sum(self.recent_waits) / len(self.recent_waits)


@dataclass(eq=False, slots=True)
class QueuedCall:
    """One caller waiting (or kept for a callback) in one queue."""

    id: str
    tenant_id: int
    queue: str
    caller: str
    priority: int
    seq: int
    enqueued_at: float  # wall clock, for waits and events
    kind: str = "live"  # or "callback"
    leg_id: str = ""  # the caller's leg (live), or the called-back leg (callback)
    skills: dict[str, int] = field(default_factory=dict)
    # waiting -> connecting (an agent answered) | left (gave up, timeout...)
    state: str = "waiting"
    offer: Offer | None = None
    not_before: float = 0.0  # loop time before which no new offer is made (retry)
    tried: set[str] = field(default_factory=set)
    last_agent: str = ""
    exclusive_until: float = 0.0  # loop time
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by engine events:
    caller_up: bool = False
    caller_gone: bool = False
    callback_requested: bool = False
    callback_number: str = ""
    callback_at: float = 0.0  # wall clock: when the caller asked (a callback expires from it)
    playback_id: str = ""
    playback_done: bool = False
    agent: Agent | None = None
    agent_leg: str = ""
    agent_gone: bool = False
    connected: bool = False  # the caller and its agent were connected (Engine.connect)
    answered_at: float = 0.0  # wall clock
    talk_ended_at: float = 0.0

    @property
    def waiting(self) -> bool:
        return self.state == "waiting" and not self.caller_gone

    def wait_s(self, now: float) -> float:
        return max(0.0, now - self.enqueued_at)

    def order_key(self, weight: int) -> tuple[int, int, int]:
        """Who is served first: the queue's weight, then priority, then arrival."""
        return (-weight, -self.priority, self.seq)

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "call_id": self.id,
            "tenant_id": self.tenant_id,
            "queue": self.queue,
            "caller": self.caller,
            "kind": self.kind,
            "priority": self.priority,
            "state": self.state,
            "wait_s": round(self.wait_s(now), 3),
            "ringing": sorted(a.id for a in self.offer.legs.values()) if self.offer else [],
        }


@dataclass(eq=False, slots=True)
class Offer:
    """Ringing one agent (or several, for ring-all) for one call."""

    call: QueuedCall
    legs: dict[str, Agent]  # agent leg id -> agent
    winner: str = ""
    answered: set[str] = field(default_factory=set)
    gone: dict[str, int] = field(default_factory=dict)  # leg id -> Q.850 cause
    failed: set[str] = field(default_factory=set)  # could not even be dialed
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return bool(self.winner) or not self.call.waiting or len(self.gone) >= len(self.legs)


def position_prompt(position: int) -> list[str]:
    """The "you are next" or "there are N calls waiting ahead of you" prompts."""
    if position <= 1:
        return [Prompt.QUEUE_YOU_ARE_NEXT]
    return [Prompt.QUEUE_THERE_ARE, f"number:{position - 1}", Prompt.QUEUE_CALLS_WAITING]


def wait_prompt(seconds: float) -> list[str]:
    """The "the estimated hold time is (less than) N minute(s)" prompts."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return [Prompt.QUEUE_HOLD_TIME, Prompt.QUEUE_LESS_THAN, "number:1", Prompt.QUEUE_MINUTE]
    unit = Prompt.QUEUE_MINUTE if minutes == 1 else Prompt.QUEUE_MINUTES
    return [Prompt.QUEUE_HOLD_TIME, f"number:{minutes}", unit]
