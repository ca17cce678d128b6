"""The FreeSWITCH adapter's dispatcher: ESL events and link notices, in engine order.

:class:`Dispatcher` is the part of :class:`~.adapter.FreeSwitchEngine` that consumes its
one queue (see the adapter's module doc): observation first, then each translated event
applied to the legs table and emitted as subscribers see it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import Leg, LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import EngineUnavailableError, OrchestratorError
from orchestrator.core.events import (
    ChannelEnded,
    ChannelStarted,
    EndpointStateChanged,
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegDtmf,
    LegEvent,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
)
from orchestrator.engines.freeswitch.dials import Dials
from orchestrator.engines.freeswitch.esl.client import LinkDown, LinkUp
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.transfers import Moves, Transferers
from orchestrator.engines.freeswitch.translate import (
    Bridged,
    Conference,
    Destroyed,
    Executed,
    RecordFile,
    Renamed,
    observe,
    translate,
)

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.conferences import FreeSwitchConferences
    from orchestrator.engines.freeswitch.connections import Connections
    from orchestrator.engines.freeswitch.hold import Holds
    from orchestrator.engines.freeswitch.media import Media
    from orchestrator.engines.freeswitch.reconcile import Reconciler
    from orchestrator.engines.freeswitch.supervisor import Supervisions

log = logging.getLogger(__name__)

ENDED_KEPT = 10_000  # how many ended leg ids are remembered (to answer LegGoneError)
VERSION = re.compile(r"FreeSWITCH Version ([^\s~]+)")


@dataclass(frozen=True, slots=True)
class _Made:
    event: Event


@dataclass(frozen=True, slots=True, kw_only=True)
class Leave(Event):
    """A transferred leg whose unbridge was not seen in time: told all the same."""

    leg_id: str


class Dispatcher(Engine):
    """The queue's consumer (see the module doc); FreeSwitchEngine sets the attributes."""

    conferences: FreeSwitchConferences
    connections: Connections
    media: Media
    supervisions: Supervisions
    _reconciler: Reconciler
    _queue: asyncio.Queue[Any]
    _jobs: set[asyncio.Task[None]]
    _ended: OrderedDict[str, None]
    _hangup_causes: dict[str, int]
    announced: set[str]
    left: set[str]
    holds: Holds
    dials: Dials
    leaving: dict[str, str]  # transferred legs still in a connection -> their peer
    channels: set[str]
    transferers: Transferers
    moves: Moves
    observe_channels: bool
    sweep_on_start: bool
    version: str
    _up: bool
    _reported_up: bool
    _ever_up: bool
    _swept: bool
    _detail: str

    async def api(self, command: str) -> str:
        raise NotImplementedError

    # -- dispatcher -------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, EslEvent):
                    await self._handle(item)
                elif isinstance(item, _Made):
                    await self.apply(item.event)
                elif isinstance(item, LinkUp):
                    await self._link_up()
                elif isinstance(item, LinkDown):
                    self._up = False
                    self._detail = item.reason
                    if self._reported_up:
                        self._reported_up = False
                        await self.emit(EngineDisconnected(engine=self.name, reason=item.reason))
            except Exception:
                log.exception("freeswitch: failed to handle %r", item)

    async def _handle(self, e: EslEvent) -> None:
        known = self.transferers.context(e.uuid)
        self.transferers.see(e)
        if not known and self.connections.peer(e.uuid) is not None:
            # A dialed phone leg's user_context seen only after connect() set the
            # leg's variables (the directory's come on the channel once it answered).
            context = self.transferers.context(e.uuid)
            if context:
                self.spawn(self._transfer_context(e.uuid, context), f"context-{e.uuid}")
        if e.uuid in self.announced and e.uuid not in self.left and self.moves.moved(e):
            await self._moved(e.uuid)
        if self.observe_channels:
            for seen in observe(e):
                for out in self.dials.see(seen, self.channels):
                    if self._admit(out):
                        await self.emit(out)
        for event in translate(e):
            if isinstance(event, LegCreated) and event.routing is not None:
                # A leg a phone blind-transferred to a feature code: who did it.
                routing = self.transferers.routing(e, event.routing)
                if routing is not event.routing:
                    event = replace(event, routing=routing)
                if event.leg_id not in self.announced:
                    self.moves.handed_over(e)
            await self.apply(event)

    async def _transfer_context(self, leg_id: str, context: str) -> None:
        """Where a REFER moves ``leg_id``'s partner: its tenant's context (transfers.py)."""
        try:
            await self.api(f"uuid_setvar {leg_id} force_transfer_context {context}")
        except OrchestratorError as exc:  # gone meanwhile: nothing to move
            log.debug("freeswitch: transfer context of %s: %s", leg_id, exc)

    async def _moved(self, leg_id: str) -> None:
        """The engine transferred ``leg_id`` through its dialplan (a phone's blind
        transfer of a call the orchestrator connected, transfers.Moves): it has left our
        control, as after :meth:`Engine.transfer`. Its connection's sides are told (if its
        unbridge has not told them yet), then LegLeftApp; the dialplan that parks it again
        makes it a new leg of ours (its LegCreated follows)."""
        self.left.add(leg_id)
        peer = self.connections.peer(leg_id)
        if peer is not None and self.connections.is_announced(leg_id, peer):
            self.leaving[leg_id] = peer
            await self._leave(leg_id)
            return
        self.connections.unpair(leg_id)
        await self._leg_event(LegLeftApp(leg_id=leg_id, timestamp=time.time()))

    def _admit(self, seen: Event) -> bool:
        if isinstance(seen, ChannelEnded):
            if seen.channel_id not in self.channels:
                return False
            self.channels.discard(seen.channel_id)
        elif isinstance(seen, ChannelStarted):
            if seen.channel_id in self.channels:
                return False
            self.channels.add(seen.channel_id)
        return True

    async def _link_up(self) -> None:
        try:
            found = VERSION.search(await self.api("version"))
            self.version = found.group(1) if found else ""
            if self.sweep_on_start and not self._swept:
                await self._reconciler.sweep()
            else:
                await self._reconciler.reconcile()
        except EngineUnavailableError as exc:
            # The link dropped again meanwhile: LinkDown follows, the next LinkUp retries.
            log.warning("freeswitch: link lost while reconciling: %s", exc)
            return
        except OrchestratorError as exc:
            # The link is up even if this failed; the next reconnect reconciles again.
            log.warning("freeswitch: reconcile after connect failed: %s", exc)
        self._swept = True
        self._up, self._detail = True, ""
        if not self._reported_up:
            self._reported_up = True
            await self.emit(
                EngineConnected(engine=self.name, version=self.version, reconnect=self._ever_up)
            )
            self._ever_up = True

    def made(self, event: Event) -> None:
        """Queue an event the adapter made itself (kept in engine order)."""
        self._queue.put_nowait(_Made(event))

    def spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    # -- applying events -------------------------------------------------------
    async def apply(self, event: Event) -> None:
        """Update legs from ``event`` and emit what subscribers see of it."""
        if isinstance(event, Executed):
            self.holds.executed(event)
            for out in self.media.executed(event) + self.supervisions.executed(event):
                await self.emit(out)
            return
        if isinstance(event, RecordFile):
            for out in self.media.recorded(event):
                await self.emit(out)
            return
        if isinstance(event, Conference):
            await self.conferences.event(event)
            return
        if isinstance(event, Bridged):
            await self._bridged(event)
            return
        if isinstance(event, Renamed):
            if event.old in self.legs and event.new not in self.legs:
                self.legs[event.new] = self.legs.pop(event.old)
                self.legs[event.new].id = event.new
            return
        if isinstance(event, Destroyed):
            self._forget(event.leg_id)
            return
        if isinstance(event, Leave):
            await self._leave(event.leg_id)
            return
        if isinstance(event, EndpointStateChanged) or not isinstance(event, LegEvent):
            await self.emit(event)
            return
        await self._leg_event(event)

    async def _leg_event(self, event: LegEvent) -> None:
        leg_id = event.leg_id
        if isinstance(event, LegCreated):
            if leg_id in self.announced or leg_id in self._ended:
                return
            # A leg transferred away that the dialplan hands over again (its routing was
            # unset by the transfer: this one is the dialplan's) is a new leg of ours.
            self.left.discard(leg_id)
            leg = self.legs.get(leg_id)
            if leg is None:
                leg = self.legs[leg_id] = Leg(id=leg_id)
            leg.name = event.name or leg.name
            leg.caller_number, leg.caller_name = event.caller_number, event.caller_name
            leg.called_number = event.called_number
            leg.transition(LegState(event.state))
            self.announced.add(leg_id)
            await self.emit(event)
            return
        leg = self.legs.get(leg_id)
        if leg is None:
            return  # not one of ours (or already forgotten)
        if leg_id in self.left and not isinstance(event, LegLeftApp):
            return  # transferred: its own events are observation only now
        if isinstance(event, LegHungUp):
            requested = self._hangup_causes.pop(leg_id, None)
            if not leg.transition(LegState.HUNG_UP, at=event.timestamp):
                return
            await self.conferences.leg_gone(leg_id)  # told before the hangup
            self.supervisions.leg_gone(leg_id)
            cause = requested if requested is not None else event.cause
            leg.hangup_cause = cause
            if cause != event.cause:
                event = LegHungUp(leg_id=leg_id, cause=cause, timestamp=event.timestamp)
            await self.emit(event)
            return
        if isinstance(event, LegStateChanged) and not leg.transition(
            LegState(event.state), at=event.timestamp
        ):
            return
        if leg_id not in self.announced:
            return  # an originated leg ringing/answering: LegCreated will say "up"
        if isinstance(event, LegDtmf) and self.supervisions.supervising(leg_id):
            return  # the mode keys the adapter sent to eavesdrop
        await self.emit(event)
        if isinstance(event, LegDtmf):
            await self.conferences.dtmf(event)
        if isinstance(event, LegLeftApp):
            # Out of our control: its later events are observation only. It stays
            # readable (``leg()``) until its channel is destroyed, as on Asterisk, so CTI
            # does not list the dialplan's next dial of it (a blind transfer's) as a new
            # dialplan call under the old call's id.
            self.announced.discard(leg_id)

    async def _bridged(self, event: Bridged) -> None:
        a, b = event.a, event.b
        if event.up:
            pair = self.connections.bridged(a, b)
            if (
                pair is None
                and a in self.announced
                and b in self.announced
                and self.connections.peer(a) is None
                and self.connections.peer(b) is None
            ):
                pair = self.connections.adopt(a, b)  # kept legs bridged across a restart
            if pair is not None:
                x, y = pair
                await self.emit(LegConnected(leg_id=x, peer_id=y, timestamp=event.timestamp))
                await self.emit(LegConnected(leg_id=y, peer_id=x, timestamp=event.timestamp))
            return
        ended = self.connections.unbridged(a, b)
        if ended is not None:
            await self._disconnected(ended, event.timestamp)

    async def _disconnected(self, pair: tuple[str, str], timestamp: float) -> None:
        """Tell each side of an ended connection still ours (a transferred side too, then
        that it left: in that order, see Engine.transfer)."""
        for x, y in (pair, pair[::-1]):
            leg = self.legs.get(x)
            if leg is not None and x in self.announced and (leg.alive or x in self.leaving):
                await self.emit(LegDisconnected(leg_id=x, peer_id=y, timestamp=timestamp))
        for x in pair:
            if self.leaving.pop(x, None) is not None:
                await self._leg_event(LegLeftApp(leg_id=x, timestamp=timestamp))

    async def _leave(self, leg_id: str) -> None:
        peer = self.leaving.get(leg_id)
        if peer is None:
            return  # told at its unbridge
        pair = self.connections.unbridged(leg_id, peer) or (leg_id, peer)
        await self._disconnected(pair, time.time())

    def _forget(self, leg_id: str) -> None:
        self.legs.pop(leg_id, None)
        self.announced.discard(leg_id)
        self.left.discard(leg_id)
        self.moves.forget(leg_id)
        self.holds.forget(leg_id)
        self._hangup_causes.pop(leg_id, None)
        self.connections.forget(leg_id)
        self._ended[leg_id] = None
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)
