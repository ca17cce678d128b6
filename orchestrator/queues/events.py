"""Queue and agent events on the CTI stream (``/api/v1/ws``), per tenant.

An ACD listener turning :class:`~orchestrator.queues.acd.AcdEvent` records into CTI events:

- ``queued`` / ``dequeued``: on the call the CTI registry knows for the caller's leg
  (an IVR call: its ``access_number`` subscription sees them), or on a minimal call
  record when it knows none (a callback); ``details`` has the queue's fields
  (``queue``, ``queue_call_id``, ``caller``, ``position``, ``priority``, ``kind``, ``reason``,
  ``wait_s``, ``agent_id``);
- ``agent_state``: on an ``agent`` record naming the agent's extension, so both a
  tenant subscription and a subscription to that extension see it; ``details`` has
  ``agent_id``, ``extension``, ``state``, ``reason``, ``queues``, ``call_id``.

Offers, completions and callback results stay in the ACD (the wallboard has them).

A call with an agent taken back after a restart (:attr:`AcdService.adopted`) is listed
in the CTI registry again under the id it had (the caller's leg), with its two legs:
its IVR call ended with the previous run. ``hangup`` works on it; what only the IVR
call could do (hold, transfer through the flow) answers 409.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.core.call import LegState
from orchestrator.core.errors import NotFoundError
from orchestrator.cti import CtiService
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg, CallState
from orchestrator.queues.acd import AcdEvent, AcdService
from orchestrator.queues.acd.waiting import QueuedCall

log = logging.getLogger("orchestrator.queues")

CALL_FIELDS = ("queue", "caller", "position", "priority", "kind", "reason", "wait_s", "agent_id")


class CtiForwarder:
    """The listener (see the module doc)."""

    def __init__(self, cti: CtiService, acd: AcdService) -> None:
        self.cti = cti
        self.acd = acd
        # Queue call id -> the call snapshot at ``queued``: a caller who hung up has left
        # the CTI registry by the time its ``dequeued`` comes.
        self._calls: dict[str, dict[str, Any]] = {}

    def adopted(self, entry: QueuedCall) -> None:
        """List a call with an agent taken back after a restart (see the module doc)."""
        if self.cti.calls.call_of_leg(entry.leg_id) is not None:
            return
        leg = self.acd.engine.leg(entry.leg_id)
        extension = entry.agent.config.extension if entry.agent is not None else ""
        call = ActiveCall(
            id=entry.leg_id,
            tenant_id=entry.tenant_id,
            kind=CallKind.IVR,
            caller=entry.caller,
            called=leg.called_number if leg is not None else "",
            app="queue",
            extensions=[extension] if extension else [],
            state=CallState.ANSWERED,
            started_at=entry.enqueued_at,
            answered_at=entry.answered_at,
        )
        for leg_id, role, number in (
            (entry.leg_id, "caller", entry.caller),
            (entry.agent_leg, "dialed", extension),
        ):
            call.legs[leg_id] = CallLeg(
                leg_id, role, number, state=LegState.UP, answered_at=entry.answered_at
            )
        self.cti.calls.add(call)

    def __call__(self, event: AcdEvent) -> None:
        if event.type in ("queued", "dequeued"):
            self._call_event(event)
        elif event.type == "agent_state":
            self._agent_event(event)

    def _snapshot(self, event: AcdEvent) -> dict[str, Any]:
        active = self.cti.calls.call_of_leg(event.leg_id) if event.leg_id else None
        if active is not None:
            return active.snapshot()
        cached = self._calls.get(event.call_id)
        if cached is not None:
            return cached
        return {
            "id": event.leg_id or event.call_id,
            "tenant_id": event.tenant_id,
            "kind": "queue",
            "caller": event.caller,
            "access_number": None,
            "extension": None,
            "extensions": [],
        }

    def _call_event(self, event: AcdEvent) -> None:
        call = self._snapshot(event)
        if event.type == "queued":
            self._calls[event.call_id] = call
        else:
            self._calls.pop(event.call_id, None)
        details: dict[str, Any] = {"queue_call_id": event.call_id}
        for name in CALL_FIELDS:
            value = getattr(event, name)
            if value not in ("", None) or name in ("queue", "position", "wait_s"):
                details[name] = value
        self.cti.stream.publish(event.type, event.tenant_id, call, details)

    def _agent_event(self, event: AcdEvent) -> None:
        try:
            extension = self.acd.agents.get(event.tenant_id, event.agent_id).config.extension
        except NotFoundError:
            extension = ""  # removed from the ACD meanwhile
        call = {
            "id": None,
            "tenant_id": event.tenant_id,
            "kind": "agent",
            "access_number": None,
            "extension": extension or None,
            "extensions": [extension] if extension else [],
        }
        details = {
            "agent_id": event.agent_id,
            "extension": extension,
            "state": event.state,
            "reason": event.reason,
            "queues": list(event.queues),
            "call_id": event.call_id,
        }
        self.cti.stream.publish("agent_state", event.tenant_id, call, details)
