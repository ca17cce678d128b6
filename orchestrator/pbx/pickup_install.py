"""Wiring of call pickup: the ringing registry (which the ``pbx_extension`` flow, its
follow-me and the ``pbx_ring_group`` flow fill),
the ``*98`` / ``*97`` handlers over the store's pickup groups, and the ``call_picked_up``
event on the tenant's CTI stream (WebSocket clients; webhooks as ``call.call_picked_up``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.components import Deps
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.pbx.pickup import PickupHandlers
from orchestrator.pbx.ringing import Ringing, RingingRegistry
from orchestrator.store.pickup import pickable_numbers

#: The CTI event stream's ``publish`` (event name, tenant id, the "call", details).
Publish = Callable[[str, int, dict[str, Any], dict[str, Any]], Any]


@dataclass(slots=True)
class CallPickup:
    registry: RingingRegistry
    handlers: PickupHandlers


def picked_up_event(publish: Publish) -> Callable[[Ringing], None]:
    """A registry listener publishing ``call_picked_up``: the "call" is the caller's leg
    with both extensions (clients watching either get it; a follow-me's owner too), the
    details who took it, and the ring group (``ring_group``, ``ring_group_name``) or the
    follow-me's extension (``forwarded_by``) that rang the phone, when one did."""

    def listener(entry: Ringing) -> None:
        pickup = entry.pickup
        assert pickup is not None
        extensions = [entry.number, pickup.picker_number]
        if entry.forwarded_by:
            extensions.append(entry.forwarded_by)
        about = {"id": entry.call_id, "tenant_id": entry.tenant_id, "extensions": extensions}
        details = {
            "extension": entry.number,
            "caller": entry.caller,
            "picked_up_by": pickup.picker_number,
            "picker_leg_id": pickup.picker_leg,
            "kind": pickup.kind,
        }
        if entry.ring_group:
            details["ring_group"] = entry.ring_group
            details["ring_group_name"] = entry.ring_group_name
        if entry.forwarded_by:
            details["forwarded_by"] = entry.forwarded_by
        publish("call_picked_up", entry.tenant_id, about, details)

    return listener


def install(deps: Deps, handlers: FeatureHandlers, *, publish: Publish | None = None) -> CallPickup:
    """Register the pickup codes' handlers; the registry goes to the extension flow."""

    def _groups(tenant_id: int, number: str) -> Sequence[str]:
        with deps.sessions() as session:
            return pickable_numbers(session, tenant_id, number)

    async def groups(tenant_id: int, number: str) -> Sequence[str]:
        return await asyncio.to_thread(_groups, tenant_id, number)

    registry = RingingRegistry()
    if publish is not None:
        registry.listeners.append(picked_up_event(publish))
    pickup = PickupHandlers(registry, groups)
    handlers.update(pickup.handlers())
    return CallPickup(registry, pickup)
