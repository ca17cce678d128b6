"""What features tell the CDR builder that the engine's events do not say.

- :func:`cti_lookup`: a channel that is a click-to-call (or originate) leg gets its role
  (``click-to-call-a``/``-b``), the service ``click_to_call``, the paying account, and
  leg B joins leg A's call (the engine started it as a call of its own);
- :func:`follow_ivr`: a leg an IVR flow dials joins the caller's call before the engine
  reports it, so an unanswered dial still belongs to the caller's CDR;
- :func:`follow_acd`: a queue call's id names the queued caller's call, so the agent leg
  the ACD rings for it (its routing: ``Routing("acd", {"call": <queue call id>})``) joins
  the caller's CDR as ``queue-agent`` (service ``queue``) when it answers; :func:`acd_lookup`
  does the same from the first sight of the channel, so an offer nobody answers (no answer, a lost
  ring-all race) is a leg of the caller's CDR too, not a CDR of its own.

Wired in :mod:`orchestrator.runtime`::

    builder.lookups.append(cti_lookup(cti))
    follow_ivr(builder, runner)
    follow_acd(builder, acd)  # also adds acd_lookup(acd)
"""

from __future__ import annotations

from typing import Any

from orchestrator.cdr.builder import ACD_ALIAS, CdrBuilder, Lookup
from orchestrator.cti import CtiService
from orchestrator.cti.registry import CallKind
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.runner import IvrRunner
from orchestrator.queues.acd import AcdEvent, AcdService

# CTI leg roles -> xDR roles ("target": the party an attended transfer consults).
_CTI_ROLES = {"a": "click-to-call-a", "b": "click-to-call-b", "target": "consult"}
# Calls whose legs the orchestrator placed itself (they have no dialed extension).
_ORIGINATED = (CallKind.CLICK_TO_CALL, CallKind.ORIGINATE)


def cti_lookup(cti: CtiService) -> Lookup:
    """A builder lookup answering for the legs of the CTI service's active calls."""

    def lookup(channel_id: str) -> dict[str, Any] | None:
        # Asked for every channel the engine starts: the registry's leg index, not a scan.
        call = cti.calls.call_of_leg(channel_id)
        leg = call.legs.get(channel_id) if call is not None else None
        if call is None or leg is None:
            return None
        facts: dict[str, Any] = {"tenant_id": call.tenant_id}
        if leg.number and call.kind in _ORIGINATED:
            facts["number"] = leg.number  # as sent (route applied): what is rated
        if call.account:
            facts["account"] = call.account
        if call.kind in _ORIGINATED:
            facts["role"] = _CTI_ROLES.get(leg.role, leg.role)
            facts["service"] = "click_to_call"
            if channel_id != call.id:
                facts["join"] = call.id
        return facts

    return lookup


def follow_ivr(builder: CdrBuilder, runner: IvrRunner) -> None:
    """Have legs that IVR flows dial join their caller's call."""

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "dial" and details.get("leg_id"):
            if details.get("retrieved"):
                # A parked call taken back: the parked caller's CDR ties the retriever's
                # leg (its own ``dial``, orchestrator.pbx.park), not the other way round.
                return
            by = str(details.get("forwarded_by") or "")
            picked = str(details.get("picked_up") or "")
            if picked:
                # A pickup's picker: role picked_up, the extension that rang in the detail.
                builder.note(str(details["leg_id"]), join=call.id, role="picked_up",
                             detail=picked)  # fmt: skip
                return
            # A forward is a forwarded leg, rated on the forwarding extension's account
            # (its number in the xDR's detail; rating.booking.payer).
            builder.note(str(details["leg_id"]), join=call.id,
                         role="forwarded" if by else "callee",
                         service="forwarded" if by else None, detail=by or None)  # fmt: skip
        elif action == "voicemail" and details.get("phase") == "start":
            tenant = int(call.tenant) if call.tenant.isdigit() else None
            builder.service_started(call.id, "voicemail", tenant_id=tenant,
                                    detail=str(details.get("extension") or ""),
                                    extension=str(details.get("extension") or ""))  # fmt: skip
        elif action == "voicemail" and details.get("phase") == "end":
            builder.service_ended(call.id, "voicemail", keep=bool(details.get("taken")))
        elif action == "park" and details.get("phase") == "start":
            # The time the caller waited parked: the slot in the detail, the parker as
            # the extension (orchestrator.pbx.park).
            tenant = int(call.tenant) if call.tenant.isdigit() else None
            builder.service_started(call.id, "park", tenant_id=tenant,
                                    detail=f"slot {details.get('slot', '')}",
                                    extension=str(details.get("parker") or ""))  # fmt: skip
        elif action == "park" and details.get("phase") == "end":
            builder.service_ended(call.id, "park")

    if observe not in runner.observers:
        runner.observers.append(observe)


def follow_acd(builder: CdrBuilder, acd: AcdService) -> None:
    """Have the agent legs the ACD rings join their queued caller's call."""

    def observe(event: AcdEvent) -> None:
        if event.type == "queued" and event.leg_id and event.call_id:
            builder.alias(ACD_ALIAS + event.call_id, event.leg_id)

    if observe not in acd.listeners:
        acd.listeners.append(observe)
    builder.lookups.append(acd_lookup(acd))


def acd_lookup(acd: AcdService) -> Lookup:
    """A builder lookup answering for the agent legs the ACD rings."""

    def lookup(channel_id: str) -> dict[str, Any] | None:
        call_id = acd.agent_leg_call(channel_id)
        if call_id is None:
            return None
        return {"join": ACD_ALIAS + call_id, "role": "queue-agent", "service": "queue"}

    return lookup
