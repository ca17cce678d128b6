"""Call queues (ACD): queues, agents, distribution strategies and queue statistics.

Engine-neutral: everything goes through :class:`~orchestrator.core.Engine`. See
docs/queues.md. The pieces:

- :class:`QueueConfig`, :class:`AgentConfig`: validated configuration;
- :mod:`~orchestrator.queues.acd.strategies`: ring-all, longest-idle, round-robin,
  fewest-calls, random and skills-based ordering, as pure functions;
- :class:`AcdService`: ``enqueue`` a caller, log agents in and out, pause them; it
  distributes calls and reports :class:`AcdEvent` records to its listeners;
- :class:`QueueStats`: wallboard figures from those events (rebuildable from storage).
"""

from orchestrator.queues.acd.agents import AgentState
from orchestrator.queues.acd.config import AgentConfig, PriorityRule, QueueConfig, Strategy
from orchestrator.queues.acd.events import AcdEvent, QueueEvents, QueueResult
from orchestrator.queues.acd.service import AcdService
from orchestrator.queues.acd.stats import QueueFigures, QueueStats

__all__ = [
    "AcdEvent",
    "AcdService",
    "AgentConfig",
    "AgentState",
    "PriorityRule",
    "QueueConfig",
    "QueueEvents",
    "QueueFigures",
    "QueueResult",
    "QueueStats",
    "Strategy",
]
