"""Calls the engine switches on its own (phones calling each other in dialplan) in CTI.

The engine reports every channel as observation events (``ChannelStarted``...
``ChannelEnded``, see :mod:`orchestrator.core.events`). :class:`DialplanCalls` turns a
dial between two observed channels that the orchestrator does not control into a
registry call of kind ``dialplan``: listed in ``GET /calls`` (per tenant and per
extension) and announced to CTI clients as ``new``, ``ringing``, ``answered`` and
``hung_up``. Its id is the engine's call id (the caller's channel on Asterisk).

After a restart of the orchestrator (or a gap in the engine link) the calls in progress
come back with the same ids: the engine reports their channels again as
``ChannelStarted(resumed=True)`` (their dials were missed), and each resumed channel of a
call (same call id) that is not the call's first channel is taken as dialed by it.

Not folded in (they belong to the other kinds, or to nobody): dials whose channels are
legs of the orchestrator, internal channels (a loopback half: the engine's half of an
originate or a flow's dial, Asterisk's Local channels), and calls none of whose
endpoints a tenant owns. The tenant and the extensions come from an
:data:`EndpointLookup` the composition root provides (the store's endpoint resolver);
this package does not read the store itself.

Example::

    calls = DialplanCalls(registry, lookup)
    engine.subscribe(calls.on_event)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    Event,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg, CallRegistry, CallState

log = logging.getLogger("orchestrator.cti")

# Endpoint id -> (tenant id, extension number or None for a trunk), None if no tenant's.
EndpointLookup = Callable[[str], Awaitable[tuple[int, str | None] | None]]


class DialplanCalls:
    """Dialplan-only calls in a :class:`CallRegistry`, from observation events."""

    def __init__(self, registry: CallRegistry, lookup: EndpointLookup) -> None:
        self.registry = registry
        self.lookup = lookup
        # Channels alive (as reported by ChannelStarted) and their last state.
        self._channels: dict[str, ChannelStarted] = {}
        self._states: dict[str, LegState] = {}
        # Channel id -> its dialplan call, while both last.
        self._calls: dict[str, ActiveCall] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def on_event(self, event: Event) -> None:
        """The engine's event handler; all but observation events are ignored at once."""
        if not isinstance(event, ChannelEvent):
            return
        if isinstance(event, ChannelStarted):
            self._channels[event.channel_id] = event
            self._states[event.channel_id] = LegState(event.state)
            if event.resumed:
                await self._resumed(event)
        elif isinstance(event, ChannelDialed):
            if not event.status:
                await self._dialed(event)
        elif isinstance(event, ChannelStateChanged):
            if event.channel_id in self._states:
                # The dialed phone may ring before the engine reports the dial itself.
                self._states[event.channel_id] = LegState(event.state)
            call = self._calls.get(event.channel_id)
            if call is not None:
                self._state(call, call.legs[event.channel_id], LegState(event.state), event)
        elif isinstance(event, ChannelEnded):
            self._channels.pop(event.channel_id, None)
            self._states.pop(event.channel_id, None)
            call = self._calls.pop(event.channel_id, None)
            if call is not None:
                self._ended(call, call.legs[event.channel_id], event.cause)

    # -- a dial starts a call (or adds a leg to one) -------------------------------------
    def _controlled(self, *channels: ChannelStarted) -> bool:
        engine = self.registry.engine
        return any(
            engine.leg(c.channel_id) is not None
            or engine.leg(c.call_id) is not None
            # A leg kept across a restart (a taken call): the next run adopts its call.
            or engine.is_kept(c.channel_id)
            or c.kind == ChannelKind.INTERNAL
            or self.registry.call_of_leg(c.channel_id) is not None
            for c in channels
        )

    async def _dialed(self, event: ChannelDialed) -> None:
        caller = self._channels.get(event.channel_id)
        peer = self._channels.get(event.peer_id)
        if caller is None or peer is None or self._controlled(caller, peer):
            return
        # (The engine's dispatcher waits for this handler: nothing changes meanwhile.)
        call = self._calls.get(caller.channel_id)
        new = call is None
        peer_owner = await self.lookup(peer.endpoint) if peer.endpoint else None
        if call is None:
            caller_owner = await self.lookup(caller.endpoint) if caller.endpoint else None
            owner = caller_owner or peer_owner
            if owner is None:
                return  # no tenant's phone or trunk on either side: nobody to show it to
            call = self._new_call(event, caller, owner[0], caller_owner)
        if peer_owner is not None and peer_owner[0] != call.tenant_id:
            peer_owner = None  # another tenant's phone: not listed under this tenant
        number = peer_owner[1] if peer_owner and peer_owner[1] else ""
        leg = self.registry.add_leg(call, peer.channel_id, "dialed", number or event.dial_string)
        leg.state = LegState.DOWN
        if number:
            self.registry.add_extension(call, number)
        self._calls[peer.channel_id] = call
        if new:
            self.registry.add(call)  # "new", with both legs
        state = self._states.get(peer.channel_id, LegState.DOWN)
        if state is not LegState.DOWN:
            self._state(call, leg, state, event)
        # A later dial of the same caller (the next phone of a hunt) only adds its leg.

    async def _resumed(self, event: ChannelStarted) -> None:
        """A channel found after a gap: the dial that tied it to its call, made again.

        The engine lists a call's first channel (whose id is the call id) before those it
        dialed, but either order is taken."""
        if event.channel_id != event.call_id:
            dials = [(event.call_id, event)]
        else:
            dials = [
                (event.channel_id, c)
                for c in list(self._channels.values())
                if c.resumed and c.call_id == event.channel_id and c.channel_id != c.call_id
            ]
        for caller_id, peer in dials:
            if caller_id not in self._channels or peer.channel_id in self._calls:
                continue
            dial = ChannelDialed(
                channel_id=caller_id,
                call_id=event.call_id,
                peer_id=peer.channel_id,
                dial_string=peer.called_number or peer.endpoint,
                timestamp=event.timestamp,
            )
            await self._dialed(dial)

    def _new_call(
        self,
        event: ChannelDialed,
        caller: ChannelStarted,
        tenant_id: int,
        caller_owner: tuple[int, str | None] | None,
    ) -> ActiveCall:
        call = ActiveCall(
            id=event.call_id or caller.channel_id,
            tenant_id=tenant_id,
            kind=CallKind.DIALPLAN,
            caller=caller.caller_number,
            called=caller.called_number,
            started_at=caller.timestamp or time.time(),
        )
        if caller_owner is not None and caller_owner[0] == tenant_id and caller_owner[1]:
            call.extensions.append(caller_owner[1])
        leg = CallLeg(caller.channel_id, "caller", caller.caller_number)
        leg.state = LegState(caller.state)
        call.legs[leg.id] = leg
        self._calls[caller.channel_id] = call
        return call

    # -- its channels change ---------------------------------------------------------------
    def _state(self, call: ActiveCall, leg: CallLeg, state: LegState, event: Event) -> None:
        if state is LegState.UP and leg.state is LegState.DOWN and leg.role != "caller":
            self._state(call, leg, LegState.RINGING, event)  # every call rings first
        if leg.role == "caller":
            # The caller's channel goes up when the call connects: "answered" comes from
            # the dialed leg, once.
            if state is LegState.UP and not leg.gone:
                leg.state, leg.answered_at = state, event.timestamp
            return
        if state is LegState.RINGING and leg.state is LegState.DOWN:
            leg.state = state
            if call.state is CallState.NEW:
                self.registry.ringing(call, leg_id=leg.id, role=leg.role)
        elif state is LegState.UP:
            self.registry.leg_answered(call, leg, event.timestamp)

    def _ended(self, call: ActiveCall, leg: CallLeg, cause: int) -> None:
        self.registry.leg_gone(call, leg, cause)
        if not call.ended and all(other.gone for other in call.legs.values()):
            self.registry.end(call, CallState.HUNG_UP, cause=cause)
        if call.ended:
            for channel_id in call.legs:
                if self._calls.get(channel_id) is call:
                    del self._calls[channel_id]
