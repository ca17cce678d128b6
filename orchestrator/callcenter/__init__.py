"""The call center around the ACD: store, REST/WebSocket actions, CTI events, feature codes.

:mod:`orchestrator.acd` is the engine-neutral queue logic and imports nothing above the
engine interface; this package wires it into the service (see :class:`CallCenter` and
docs/queues.md): configuration from the store, statistics that survive a restart,
agents' actions from every channel, queue events on the CTI stream, the ``*9x``
feature codes and the IVR flow ``queue``.
"""

from orchestrator.callcenter.actions import AGENT_COMMANDS, AgentActions
from orchestrator.callcenter.flow import QUEUE_APP, queue_flow
from orchestrator.callcenter.service import CallCenter

__all__ = ["AGENT_COMMANDS", "QUEUE_APP", "AgentActions", "CallCenter", "queue_flow"]
