"""The Asterisk adapter: :class:`Engine` over ARI (call control, events) and AMI (configuration).

Everything that changes ``self.legs`` / ``self.bridges`` or reaches subscribers goes
through one queue consumed by one dispatcher task, in engine order: events read from
the ARI WebSocket, link up/down notices from both links, and the events the adapter
makes itself (BridgeCreated, reconciliation). The WebSocket reader only parses and
enqueues, so a slow subscriber delays later events but never the reader. A subscriber
must not wait inline for a later event of the same engine (spawn a task for that).

After each ARI (re)connect the dispatcher compares what it knows with ``GET /channels``
and ``GET /bridges`` before it reports the link up; at the very first connect, with
``sweep_on_start``, it hangs up what a previous run left in the Stasis app instead.

With ``observe_channels`` (the default) the app is subscribed to every channel of the
engine and also reports the core's ``Channel*`` observation events for all of them
(see :mod:`orchestrator.engines.asterisk.observe`), before the leg event of the same
ARI event. Leg events stay limited to the legs of this app. Bridges are the adapter's own
(see :mod:`orchestrator.engines.asterisk.bridges`): their events keep ``self.bridges``
and, for connections, become ``LegConnected`` / ``LegDisconnected``; they never reach
subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.core.call import Leg, LegState
from orchestrator.core.engine import Engine, EngineCapabilities, EngineStatus, SupervisionMode
from orchestrator.core.errors import (
    CallError,
    EngineError,
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.events import (
    ChannelEnded,
    ChannelEvent,
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegEvent,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
)
from orchestrator.core.journal import LegRecord
from orchestrator.core.targets import Routing, Target
from orchestrator.engines.asterisk import journal as cel_journal
from orchestrator.engines.asterisk.ami import AmiClient
from orchestrator.engines.asterisk.ari import AriClient, LinkDown, LinkUp
from orchestrator.engines.asterisk.bridges import (
    Bridge,
    BridgeCreated,
    BridgeDestroyed,
    BridgeEvent,
    LegEnteredBridge,
    LegLeftBridge,
)
from orchestrator.engines.asterisk.conferences import AsteriskConferences
from orchestrator.engines.asterisk.connections import Connections
from orchestrator.engines.asterisk.contacts import endpoint_states as contact_states
from orchestrator.engines.asterisk.mwi import MessageWaiting
from orchestrator.engines.asterisk.observe import ChannelTable, event_filter, observe
from orchestrator.engines.asterisk.prompts import engine_media
from orchestrator.engines.asterisk.reconcile import Reconciler
from orchestrator.engines.asterisk.recorder import CallRecorders
from orchestrator.engines.asterisk.registrations import Registrations
from orchestrator.engines.asterisk.supervisor import Supervisions
from orchestrator.engines.asterisk.take import take as take_channels
from orchestrator.engines.asterisk.targets import (
    dial_string,
    header_variables,
    stasis_args,
    transfer_place,
)
from orchestrator.engines.asterisk.translate import (
    NORMAL_CLEARING,
    LegTalking,
    dial_failure,
    translate,
)

log = logging.getLogger(__name__)

# ARI's hangup reason names for the Q.850 causes it knows; others go as reason_code.
HANGUP_REASONS = {
    16: "normal",
    17: "busy",
    19: "no_answer",
    21: "rejected",
    1: "unallocated",
    31: "normal_unspecified",
    28: "number_incomplete",
    58: "codec_mismatch",
    127: "interworking",
    38: "failure",
    26: "answered_elsewhere",
    34: "congestion",
}
SIP_OBJECT_TYPES = ("endpoint", "auth", "aor")
RELOAD_COMMANDS = {"dialplan": "dialplan reload", "sip": "module reload res_pjsip.so"}

# Everything below reaches ARI query strings, dial strings or the spool directory, so
# it is checked here (with fullmatch: a trailing newline never slips through).
RECORDING_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]{1,80})?")
RECORDING_FORMAT = re.compile(r"[a-z0-9]{1,16}")
DTMF_DIGITS = re.compile(r"[0-9*#A-D]{1,32}")
MOH_CLASS = re.compile(r"[A-Za-z0-9_-]{1,80}")
# A plain variable, or a dialplan function with simple arguments (CALLERID(num),
# PJSIP_HEADER(read,X-Id)): no ${...} or brackets, nothing an engine would expand.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}(\([A-Za-z0-9_.,@+ -]{0,80}\))?")
CALLER_NUMBER = re.compile(r"[A-Za-z0-9+*#_.-]{0,40}")
CALLER_NAME_MAX = 80
TERMINATE_ON = {"": "none", "#": "#", "*": "*", "any": "any"}
# How long a leg of a connection we destroyed may take to be seen leaving it before it
# is told LegDisconnected all the same (it takes milliseconds; see connections.py).
LEAVE_WAIT_S = 2.0


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if pattern.fullmatch(value) is None:
        raise ValidationError(f"invalid {what} {value!r}", field=what, value=value)
    return value


@dataclass(frozen=True, slots=True)
class _AmiLink:
    up: bool
    reason: str


@dataclass(frozen=True, slots=True)
class _Made:
    """An event the adapter made itself, queued to keep engine order."""

    event: Event


class AsteriskEngine(Engine):
    """Asterisk 20+ under the orchestrator's control over ARI and AMI.

    Example::

        engine = AsteriskEngine(
            ari_url="http://127.0.0.1:8088/ari", ari_user="orch", ari_password="...",
            ami_host="127.0.0.1", ami_port=5038, ami_user="orch", ami_password="...",
        )
        await engine.start()
        await engine.wait_connected()
        leg = await engine.originate(SipUser("101@a.example"), caller_id='"IVR" <200>')
    """

    name = "asterisk"
    conferences: AsteriskConferences

    def __init__(
        self,
        *,
        ari_url: str,
        ari_user: str,
        ari_password: str,
        ami_user: str,
        ami_password: str,
        ami_host: str = "127.0.0.1",
        ami_port: int = 5038,
        app: str = "orchestrator",
        id_prefix: str = "orch-",
        sweep_on_start: bool = True,
        endpoint_events: bool = False,
        observe_channels: bool = True,
        request_timeout: float = 10.0,
        action_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        journal_dir: Path | None = None,
    ) -> None:
        super().__init__()
        # Registration events: learnt when AMI connects (see Registrations.link_up).
        self.capabilities = EngineCapabilities(
            supervision_modes=frozenset(SupervisionMode),
            call_recording=True,
            journal=journal_dir is not None,
        )
        # Where the instance's CEL journal is (journal.py); None: no journal kept.
        self.journal_dir = journal_dir
        self.app = app
        self.id_prefix = id_prefix
        self.sweep_on_start = sweep_on_start
        self.endpoint_events = endpoint_events
        self.observe_channels = observe_channels
        self.version = ""
        self.ari = AriClient(
            ari_url, ari_user, ari_password, app, request_timeout=request_timeout, backoff=backoff
        )
        self.ami = AmiClient(
            ami_host, ami_port, ami_user, ami_password, action_timeout=action_timeout,
            backoff=backoff,
        )  # fmt: skip
        self.ami.on_link_change = lambda up, reason: self._queue.put_nowait(_AmiLink(up, reason))
        # SIP users' registrations, followed through the registrar's AMI test events
        # when the engine raises them (see registrations.py).
        self.registrations = Registrations(self.ami, self._made) if endpoint_events else None
        # Message waiting: PJSIPNotify, sent again when a phone refreshes (see mwi.py).
        self.message_waiting = MessageWaiting(self.ami)
        if self.registrations is not None:
            self.registrations.on_refresh = self.message_waiting.refreshed
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._ari_up = self._ami_up = False
        self._reported_up = self._ever_up = self._swept = False
        self._detail = "not started"
        self._announced: set[str] = set()  # legs whose LegCreated went out
        # Legs that left the app (StasisEnd: a transfer): not ours until they enter it
        # again (the dialplan hands one back, Engine.take), which is a new LegCreated.
        self.left_app: set[str] = set()
        self._hangup_causes: dict[str, int] = {}
        self._originating: set[str] = set()  # legs whose POST /channels is in flight
        # The adapter's own bridges (connections, see bridges.py); supervision bridges are
        # kept out (supervisor.py).
        self.bridges: dict[str, Bridge] = {}
        self.making_bridges: set[str] = set()  # bridges whose POST /bridges is in flight
        # Engine.connect: one mixing bridge of ours per connection of two legs. The pairs
        # change at once (a connect must know what each leg leaves); LegConnected and
        # LegDisconnected follow the bridge's events, in engine order.
        self.connections = Connections()
        self._hold_music: dict[str, str] = {}  # what hold() last did to a leg (its music)
        # Legs in a bridge we are destroying (a connection, a conference), until seen out
        # of it: a playback sent meanwhile would be queued on the dissolving bridge and
        # dropped without a PlaybackFinished (see connections.py), so play() waits.
        self._leaving: dict[str, tuple[str, asyncio.Event]] = {}
        # Q.850 cause of an originate that failed, from ARI's Dial event: a busy Local
        # channel is destroyed with cause 0, so its hangup alone would say "normal".
        self._dial_causes: dict[str, tuple[int, str]] = {}
        self._reconciler = Reconciler(self)
        self._recorders = CallRecorders(self)  # snoop channels recording conversations
        self._supervisions = Supervisions(self)  # snoop channels and bridges of supervisors
        self.conferences = AsteriskConferences(self)  # a mixing bridge per conference
        # Every channel reported by ChannelStarted and not ended yet (observe_channels).
        self.channels = ChannelTable()
        # ARI events received, by type: what each call costs the adapter (diagnostics).
        self.ari_event_counts: Counter[str] = Counter()

    # -- life cycle -------------------------------------------------------
    async def start(self) -> None:
        """Start both links in the background; :meth:`wait_connected` waits for them."""
        if self._tasks:
            return
        self._detail = "connecting"
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="asterisk-dispatch"),
            asyncio.create_task(
                self.ari.run_events(self._queue.put_nowait, subscribe_all=self.observe_channels),
                name="ari-events",
            ),
        ]
        if self.registrations is not None:
            expiry = self.registrations.run_expiry()
            self._tasks.append(asyncio.create_task(expiry, name="asterisk-expiry"))
        await self.ami.start()

    async def stop(self) -> None:
        await self.ami.stop()
        await self.connections.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.ari.close()
        self._ari_up = self._ami_up = False
        if self._reported_up:
            self._reported_up = False
            await self.emit(EngineDisconnected(engine=self.name, reason="stopped"))
        self._detail = "stopped"

    def status(self) -> EngineStatus:
        return EngineStatus(
            engine=self.name,
            connected=self._ari_up and self._ami_up,
            version=self.version,
            links={"ari": self._ari_up, "ami": self._ami_up},
            detail=self._detail,
        )

    # -- the engine's own journal (CEL lines, see journal.py) ---------------------
    async def journal(self, leg_ids: Collection[str]) -> dict[str, LegRecord]:
        if self.journal_dir is None or not leg_ids:
            return {}
        try:
            return await asyncio.to_thread(cel_journal.read, self.journal_dir, list(leg_ids))
        except OSError as exc:  # unreadable (permissions, a vanished mount): no journal
            log.warning("asterisk: cannot read the journal in %s: %s", self.journal_dir, exc)
            return {}

    async def prune_journal(self, before: float) -> None:
        if self.journal_dir is not None:
            await asyncio.to_thread(cel_journal.prune, self.journal_dir, before)

    # -- dispatcher -------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if type(item) is dict:
                    # An ARI event: nearly every item, so tested first.
                    await self._handle_ari(item)
                elif isinstance(item, LinkUp):
                    await self._ari_link_up(item.reconnect)
                elif isinstance(item, LinkDown):
                    self._ari_up = False
                    await self._report_link(f"ARI: {item.reason}")
                elif isinstance(item, _AmiLink):
                    self._ami_up = item.up
                    if self.registrations is not None and item.up:
                        self.capabilities = replace(
                            self.capabilities,
                            registration_events=await self.registrations.link_up(),
                        )
                    elif self.registrations is not None:
                        self.registrations.link_down()
                    await self._report_link(f"AMI: {item.reason}")
                elif isinstance(item, _Made):
                    await self.apply(item.event)
                else:
                    await self._handle_ari(item)
            except Exception:
                log.exception("asterisk: failed to handle %r", item)

    async def _handle_ari(self, item: dict[str, Any]) -> None:
        """One ARI event: observation, dial causes, then the leg/bridge event (engine order)."""
        ari_type = item["type"]
        self.ari_event_counts[ari_type] += 1
        if self.observe_channels:
            seen = self._observed(item)
            if seen is not None:
                await self.emit(seen)
        if ari_type == "Dial":
            failed = dial_failure(item)
            if failed is not None and failed[0] in self.legs:
                self._dial_causes[failed[0]] = failed[1:]
        elif ari_type == "ChannelCallerId":
            self._caller_changed(item.get("channel") or {})
        event = translate(item)
        if event is not None:
            await self.apply(event, ari_type)

    def _caller_changed(self, channel: dict[str, Any]) -> None:
        """A leg's caller ID changed in the engine (ChannelCallerId): its Leg follows. A
        phone's blind transfer out of one of our bridges hands the app a Local channel
        whose caller ID (the transferred caller's) comes only once its other half joined
        that bridge, just after its StasisStart (call park of a managed extension)."""
        leg = self.legs.get(str(channel.get("id", "")))
        caller = channel.get("caller") or {}
        if leg is not None and leg.alive:
            leg.caller_number = str(caller.get("number", ""))
            leg.caller_name = str(caller.get("name", ""))

    def _observed(self, item: dict[str, Any]) -> ChannelEvent | None:
        """The observation event to emit for ``item``, if any (a plain call: most events
        have none, and a coroutine per event costs more than the check)."""
        seen = observe(item)
        if seen is None or not self.channels.admit(seen):
            return None
        if isinstance(seen, ChannelEnded) and seen.channel_id not in self.legs:
            # A hangup we requested of a channel that is not a leg (CTI on dialplan calls).
            self._hangup_causes.pop(seen.channel_id, None)
        return seen

    async def _ari_link_up(self, reconnect: bool) -> None:
        try:
            info = await self.ari.info()
            self.version = str(info.get("system", {}).get("version", ""))
            for attempt in range(20):
                try:
                    # Both need the application registered, which Asterisk may not have
                    # done yet right after the events socket opened (404 until then).
                    if self.observe_channels:
                        # Subscribed to everything: keep out what nobody reads (most of it).
                        await self.ari.set_event_filter(event_filter(self.endpoint_events))
                    elif self.endpoint_events:
                        await self.ari.subscribe("endpoint:PJSIP")
                    if self.sweep_on_start and not self._swept:
                        await self._reconciler.sweep()
                    else:
                        await self._reconciler.reconcile()
                    break
                except NotFoundError:
                    # The events socket is open but Asterisk has not registered the
                    # application yet (seen right after an engine start): try again.
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.1)
        except NotFoundError as exc:
            # Still no application: Asterisk's teardown of an earlier events socket of the
            # same app (a fast restart) can destroy the app this socket just created, and
            # then no call reaches us. Connect again: the new socket registers it anew.
            log.warning("asterisk: application %r not registered (%s); reconnecting", self.app, exc)
            await self.ari.drop_events_link()
            return
        except OrchestratorError as exc:
            # The link is up even if this failed; the next reconnect reconciles again.
            log.warning("asterisk: reconcile after connect failed: %s", exc)
        self._swept = True
        try:
            flowing = await self.ari.events_flow()
        except OrchestratorError as exc:
            log.warning("asterisk: cannot probe the events link: %s", exc)
            flowing = True  # the REST side failing is the next request's error to report
        if not flowing:
            # Registered, then deactivated by the teardown of an earlier socket of the
            # same application (a fast restart): nothing would reach us. Register anew.
            log.warning("asterisk: no events reach application %r; reconnecting", self.app)
            await self.ari.drop_events_link()
            return
        self._ari_up = True
        await self._report_link("")

    async def _report_link(self, reason: str) -> None:
        up = self._ari_up and self._ami_up
        if up and not self._reported_up:
            self._reported_up, self._detail = True, ""
            await self.emit(
                EngineConnected(engine=self.name, version=self.version, reconnect=self._ever_up)
            )
            self._ever_up = True
        elif not up:
            self._detail = reason or self._detail
            if self._reported_up:
                self._reported_up = False
                await self.emit(EngineDisconnected(engine=self.name, reason=reason))

    async def apply(self, event: Event, ari_type: str = "") -> None:
        """Update legs/bridges from ``event`` and emit it unless it is stale or not ours."""
        seen = self._recorders.event(event)
        if seen is None:
            return  # a recorder's snoop channel: the adapter's own
        event = seen
        self._seen_leaving(event, ari_type)
        if not self._supervisions.event(event):
            return  # a supervisor's snoop channel or bridge: the adapter's own
        if self.conferences.concerns(event):
            await self.conferences.event(event)  # a member gone: told before its hangup
            if isinstance(event, BridgeEvent | LegTalking):
                return  # a conference's bridge, talk detection: the adapter's own
        if isinstance(event, LegCreated):
            leg = self.legs.get(event.leg_id)
            if leg is None:
                leg = self.legs[event.leg_id] = Leg(id=event.leg_id)
            leg.name = event.name or leg.name
            leg.caller_number, leg.caller_name = event.caller_number, event.caller_name
            leg.called_number = event.called_number
            leg.transition(LegState(event.state))
            if event.leg_id in self._announced and event.leg_id not in self.left_app:
                return
            self._announced.add(event.leg_id)
            self.left_app.discard(event.leg_id)
        elif isinstance(event, LegEnteredBridge | LegLeftBridge):
            leg = self.legs.get(event.leg_id)
            if leg is None and event.bridge_id not in self.bridges:
                return  # a dialplan bridge of channels that are not ours (observation)
            if isinstance(event, LegEnteredBridge):
                bridge = self.bridges.setdefault(event.bridge_id, Bridge(id=event.bridge_id))
                bridge.leg_ids.add(event.leg_id)
            elif event.bridge_id in self.bridges:
                # (A left-bridge can trail our own BridgeDestroyed: do not re-create it.)
                self.bridges[event.bridge_id].leg_ids.discard(event.leg_id)
        elif isinstance(event, LegEvent):
            leg = self.legs.get(event.leg_id)
            if leg is None:
                return  # not one of ours (or already forgotten)
            if isinstance(event, LegHungUp):
                # Taken before _forget(): a failed originate's first word can be its
                # ChannelDestroyed, with no ChannelHangupRequest before it.
                requested = self._hangup_causes.pop(leg.id, None)
                dial = self._dial_causes.pop(leg.id, None)
                if ari_type == "ChannelDestroyed":
                    self._forget(leg.id)
                if not leg.transition(LegState.HUNG_UP, at=event.timestamp):
                    return
                cause, text = event.cause, event.cause_text
                if requested is not None:
                    cause, text = requested, ""
                elif dial is not None and cause == NORMAL_CLEARING:
                    cause, text = dial  # a dial that failed is never a normal clearing
                leg.hangup_cause = cause
                if cause != event.cause:
                    event = LegHungUp(
                        leg_id=leg.id, cause=cause, cause_text=text, timestamp=event.timestamp
                    )
            elif isinstance(event, LegStateChanged):
                if not leg.transition(LegState(event.state), at=event.timestamp):
                    return
                if leg.id not in self._announced:
                    return  # an originated leg ringing/answering: LegCreated will say "up"
            elif leg.id not in self._announced:
                return  # not under our control yet
            elif isinstance(event, LegLeftApp):
                self.left_app.add(leg.id)
        elif isinstance(event, BridgeCreated):
            if ari_type and (
                event.bridge_id in self.bridges or not event.bridge_id.startswith(self.id_prefix)
            ):
                return  # we announced it when we made it, or it is not ours
            self.bridges.setdefault(event.bridge_id, Bridge(id=event.bridge_id, kind=event.kind))
        elif isinstance(event, BridgeDestroyed):
            destroyed = self.bridges.pop(event.bridge_id, None)
            if destroyed is None:
                return
            # Our DELETE answered (ari_type ""): the legs still in it leave a moment later;
            # Asterisk's own BridgeDestroyed comes once every channel is out.
            inside = destroyed.leg_ids if not ari_type else set()
            await self._connection_changed(event, inside)
            return
        if isinstance(event, BridgeEvent):
            # The adapter's own: subscribers learn LegConnected / LegDisconnected from it.
            if isinstance(event, LegEnteredBridge | LegLeftBridge):
                now = self.bridges.get(event.bridge_id)
                await self._connection_changed(event, now.leg_ids if now else set())
            return
        await self.emit(event)

    async def _connection_changed(
        self, event: LegEnteredBridge | LegLeftBridge | BridgeDestroyed, inside: set[str]
    ) -> None:
        """Tell the legs of a connection's bridge that they talk, or no longer do (each
        once it is out of the bridge: see connections.py); a connection's bridge with
        fewer than two legs left goes (its leg stays up). ``inside``: our legs in it now."""
        bridge_id = event.bridge_id
        pair = self.connections.pair(bridge_id)
        if pair is not None and isinstance(event, LegEnteredBridge):
            if set(pair) <= inside and self.connections.announce(bridge_id):
                for leg_id, peer in (pair, pair[::-1]):
                    await self.emit(LegConnected(leg_id=leg_id, peer_id=peer))
            return
        if pair is not None and self.connections.ended(bridge_id):
            self.connections.to_tell(bridge_id, pair)
        out = {event.leg_id} if isinstance(event, LegLeftBridge) else set(pair or ()) - inside
        for leg_id, peer in self.connections.out_of(bridge_id, out):
            leg = self.legs.get(leg_id)
            if leg is not None and leg.alive:
                await self.emit(LegDisconnected(leg_id=leg_id, peer_id=peer))
        if pair is None:
            return  # a leg leaving a connection's bridge already gone
        if isinstance(event, BridgeDestroyed):
            self.connections.forget(bridge_id)
            if self.connections.still_in(bridge_id):
                self.connections.spawn(self._told_late(bridge_id))
        elif len(inside) < 2 and self.connections.unpair(bridge_id):
            # A leg left on its own (hung up, transferred): its peer is alone now.
            self.connections.spawn(self._drop_connection(bridge_id))

    async def _drop_connection(self, bridge_id: str) -> None:
        with contextlib.suppress(OrchestratorError):
            await self._destroy_bridge(bridge_id)

    async def _told_late(self, bridge_id: str) -> None:
        """A side of a destroyed connection never seen leaving (its event lost with the
        link): told after a moment all the same, through the dispatcher."""
        await asyncio.sleep(LEAVE_WAIT_S)
        for leg_id in self.connections.still_in(bridge_id):
            if leg_id in self.legs:
                self._made(LegLeftBridge(bridge_id=bridge_id, leg_id=leg_id))
            else:  # gone meanwhile: nobody to tell
                self.connections.out_of(bridge_id, [leg_id])

    def _forget(self, leg_id: str) -> None:
        self.legs.pop(leg_id, None)
        self._hold_music.pop(leg_id, None)
        self._announced.discard(leg_id)
        self.left_app.discard(leg_id)
        self._hangup_causes.pop(leg_id, None)
        self._dial_causes.pop(leg_id, None)

    def _made(self, event: Event) -> None:
        self._queue.put_nowait(_Made(event))

    def leaving(self, bridge_id: str, leg_ids: Iterable[str]) -> None:
        """``leg_ids`` are about to be out of ``bridge_id``, which we destroy."""
        for leg_id in leg_ids:
            self._leaving[leg_id] = (bridge_id, asyncio.Event())

    def _seen_leaving(self, event: Event, ari_type: str) -> None:
        if not self._leaving:
            return
        if isinstance(event, LegLeftBridge | LegHungUp):
            out = [event.leg_id] if event.leg_id in self._leaving else []
        elif isinstance(event, BridgeDestroyed) and ari_type:
            out = [leg for leg, (bridge, _) in self._leaving.items() if bridge == event.bridge_id]
        else:
            return
        for leg_id in out:
            if isinstance(event, LegLeftBridge) and self._leaving[leg_id][0] != event.bridge_id:
                continue
            self._leaving.pop(leg_id)[1].set()

    async def _out_of_bridge(self, leg_id: str) -> None:
        """Wait (a moment at most) until ``leg_id`` is out of a bridge we destroyed."""
        leaving = self._leaving.get(leg_id)
        if leaving is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leaving[1].wait(), LEAVE_WAIT_S)
        if self._leaving.get(leg_id) is leaving:
            del self._leaving[leg_id]

    # -- call control -----------------------------------------------------
    async def originate(
        self,
        target: Target,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 30,
        variables: Mapping[str, str] | None = None,
        routing: Routing | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Leg:
        endpoint, app_args = dial_string(target), stasis_args(routing)  # checked first
        channel_variables = header_variables(target, variables, headers)
        leg = Leg(id=leg_id or self.new_id(), name=endpoint, variables=dict(variables or {}))
        # Registered before the request: StasisStart can come before the HTTP reply.
        self.legs[leg.id] = leg
        self._originating.add(leg.id)
        try:
            snapshot = await self.ari.originate(
                endpoint,
                channel_id=leg.id,
                app_args=app_args,
                caller_id=caller_id,
                timeout=timeout,
                variables=channel_variables,
            )
        except BaseException:
            if self.legs.get(leg.id) is leg and leg.id not in self._announced:
                del self.legs[leg.id]
            raise
        finally:
            self._originating.discard(leg.id)
        leg.name = snapshot.get("name", endpoint)
        leg.caller_number = (snapshot.get("caller") or {}).get("number", "")
        return leg

    async def answer(self, leg_id: str) -> None:
        await self.ari.answer(leg_id)

    async def hangup(self, leg_id: str, cause: int = 16) -> None:
        self._hangup_causes[leg_id] = cause
        reason = HANGUP_REASONS.get(cause)
        try:
            if reason is not None:
                await self.ari.hangup(leg_id, reason=reason)
            else:
                await self.ari.hangup(leg_id, reason_code=cause)
        except LegGoneError:
            self._hangup_causes.pop(leg_id, None)
            raise

    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        items = engine_media([media] if isinstance(media, str) else media)
        if not items:
            raise ValidationError("nothing to play", leg_id=leg_id)
        pid = playback_id or self.new_id()
        await self._out_of_bridge(leg_id)
        await self.ari.play(leg_id, items, pid)
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        # Already finished is as good as stopped: PlaybackFinished has been (or will be) sent.
        with contextlib.suppress(NotFoundError):
            await self.ari.stop_playback(playback_id)

    async def connect(self, a_leg_id: str, b_leg_id: str) -> None:
        if a_leg_id == b_leg_id:
            raise ValidationError("a leg cannot be connected to itself", leg_id=a_leg_id)
        if self.connections.peer(a_leg_id) == b_leg_id:
            return
        for leg_id in (a_leg_id, b_leg_id):  # a conference member leaves it first
            await self.conferences.leave(leg_id)
        await self._leave(a_leg_id)
        await self._leave(b_leg_id)
        bridge_id = self.new_id()
        self.connections.pair_up(bridge_id, a_leg_id, b_leg_id)
        try:
            await self._create_bridge(bridge_id)
            await self._add_to_bridge(bridge_id, a_leg_id)
            await self._add_to_bridge(bridge_id, b_leg_id)
        except BaseException:
            # Neither talks to anyone: the bridge goes (a leg in it stays up).
            self.connections.unpair(bridge_id)
            with contextlib.suppress(OrchestratorError):
                await self._destroy_bridge(bridge_id)
            raise

    async def disconnect(self, leg_id: str) -> None:
        await self._leave(leg_id)

    async def _leave(self, leg_id: str) -> None:
        """``leg_id`` and its peer talk no more: their bridge goes (both stay up)."""
        bridge_id = self.connections.bridge_of(leg_id)
        if bridge_id is None:
            return
        self.connections.unpair(bridge_id)
        with contextlib.suppress(NotFoundError):
            await self._destroy_bridge(bridge_id)

    # -- the adapter's own bridges (not the seam: connect/disconnect/supervise use them) --
    async def _create_bridge(self, bridge_id: str | None = None, kind: str = "mixing") -> Bridge:
        bridge = Bridge(id=bridge_id or self.new_id(), kind=kind)
        self.making_bridges.add(bridge.id)  # a reconcile meanwhile must not destroy it
        try:
            await self.ari.create_bridge(bridge.id, kind)
            self.bridges.setdefault(bridge.id, bridge)
        finally:
            self.making_bridges.discard(bridge.id)
        # ARI does not send BridgeCreated to the app that made the bridge.
        self._made(BridgeCreated(bridge_id=bridge.id, kind=kind))
        return self.bridges[bridge.id]

    async def _add_to_bridge(self, bridge_id: str, leg_id: str) -> None:
        try:
            await self.ari.add_channel(bridge_id, leg_id)
        except (ValidationError, CallError) as exc:
            # ARI answers 400 "Channel not found" for a channel already gone and 422 "not
            # in Stasis application" for one hanging up: both are a leg gone for its owner
            # (a queue caller who hangs up as the agent answers), not a fault.
            if exc.details.get("status") in (400, 422):
                raise LegGoneError(str(exc), leg_id=leg_id, **exc.details) from exc
            raise

    async def _destroy_bridge(self, bridge_id: str) -> None:
        bridge = self.bridges.get(bridge_id)
        self.leaving(bridge_id, bridge.leg_ids if bridge else ())
        await self.ari.destroy_bridge(bridge_id)
        # ARI sends no BridgeDestroyed when the app lost interest in the bridge first
        # (its last channel left); apply() drops the duplicate when it does.
        self._made(BridgeDestroyed(bridge_id=bridge_id))

    # -- call control (continued) ---------------------------------------------------
    async def set_variable(self, leg_id: str, name: str, value: str) -> None:
        await self.ari.set_variable(leg_id, name, value)
        if leg_id in self.legs:
            self.legs[leg_id].variables[name] = value

    async def transfer(self, leg_id: str, target: Target) -> None:
        place = transfer_place(target)  # see targets.py: checked before anything is sent
        await self.conferences.handing_over(leg_id)
        for name, value in place.variables.items():
            await self.set_variable(leg_id, name, value)
        await self.ari.continue_in_dialplan(leg_id, place.context, place.extension, place.priority)

    async def take(self, channel_ids: Sequence[str]) -> list[str]:
        return await take_channels(self, channel_ids)  # see take.py

    async def ring(self, leg_id: str) -> None:
        await self.ari.ring(leg_id)

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        await self.ari.send_dtmf(leg_id, _check(DTMF_DIGITS, digits, "DTMF digits"))

    async def hold(self, leg_id: str, music: str = "") -> None:
        if music:
            await self.ari.start_moh(leg_id, _check(MOH_CLASS, music, "music-on-hold class"))
        else:
            await self.ari.hold(leg_id)
        self._hold_music[leg_id] = music

    async def unhold(self, leg_id: str) -> None:
        # Undo what hold() last did (kept: taking a leg off hold twice does it twice);
        # a leg held by an earlier run was held as a party (the only hold kept across).
        if self._hold_music.get(leg_id, ""):
            await self.ari.stop_moh(leg_id)
        else:
            await self.ari.unhold(leg_id)

    async def get_variable(self, leg_id: str, name: str) -> str:
        return await self.ari.get_variable(leg_id, _check(VARIABLE_NAME, name, "variable name"))

    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        _check(CALLER_NUMBER, number, "caller ID number")
        if len(name) > CALLER_NAME_MAX or not name.isprintable():
            raise ValidationError(f"invalid caller ID name {name!r}", field="caller ID name")
        await self.ari.set_variable(leg_id, "CALLERID(num)", number)
        await self.ari.set_variable(leg_id, "CALLERID(name)", name)
        if leg_id in self.legs:
            self.legs[leg_id].caller_number, self.legs[leg_id].caller_name = number, name

    async def record(
        self,
        leg_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: float = 0,
        max_silence: float = 0,
        beep: bool = False,
        terminate_on: str = "#",
    ) -> str:
        _check(RECORDING_NAME, name, "recording name")
        _check(RECORDING_FORMAT, fmt, "recording format")
        if terminate_on not in TERMINATE_ON:
            raise ValidationError(
                f"cannot end a recording on {terminate_on!r}", allowed=list(TERMINATE_ON)
            )
        if not (0 <= max_duration < math.inf and 0 <= max_silence < math.inf):
            raise ValidationError("recording limits must be finite and >= 0", leg_id=leg_id)
        await self.ari.record(
            leg_id,
            name,
            fmt=fmt,
            # ARI counts whole seconds; rounding up never cuts a recording short.
            max_duration=math.ceil(max_duration),
            max_silence=math.ceil(max_silence),
            beep=beep,
            terminate_on=TERMINATE_ON[terminate_on],
            # A flow re-recording under the same name (a retried prompt) replaces it.
            if_exists="overwrite",
        )
        return name

    async def record_call(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        _check(RECORDING_NAME, name, "recording name")
        _check(RECORDING_FORMAT, fmt, "recording format")
        if not 0 <= max_duration < math.inf:
            raise ValidationError("a recording limit must be finite and >= 0", leg_id=leg_id)
        # See recorder.py: a snoop channel on the leg, recorded.
        await self._recorders.record(
            leg_id, name, fmt=fmt, max_duration=math.ceil(max_duration), beep=beep
        )
        return name

    async def stop_recording(self, name: str) -> None:
        # Already ended: RecordingFinished has been (or will be) sent. ARI says so with 404
        # (gone) or, in the moment a finished recording is still listed, 409 "Recording
        # not in session" (seen right after RecordingFinished).
        try:
            await self.ari.stop_recording(_check(RECORDING_NAME, name, "recording name"))
        except NotFoundError:
            pass
        except CallError as exc:
            if exc.details.get("status") != 409:
                raise

    async def recording_file(self, name: str) -> bytes:
        return await self.ari.recording_file(_check(RECORDING_NAME, name, "recording name"))

    async def delete_recording(self, name: str) -> None:
        await self.ari.delete_recording(_check(RECORDING_NAME, name, "recording name"))

    # -- supervision ----------------------------------------------------------
    async def supervise(
        self, target_leg_id: str, supervisor_leg_id: str, mode: SupervisionMode
    ) -> None:
        # See supervisor.py: a snoop on the target bridged with the supervisor's leg.
        await self._supervisions.supervise(target_leg_id, supervisor_leg_id, mode)

    # -- SIP endpoints ----------------------------------------------------------
    async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
        # AMI, not ARI: ARI's endpoint state is wrong for realtime users (see contacts.py).
        if not endpoints:
            return {}
        book = self.registrations.book if self.registrations is not None else None
        mark = book.mark() if book is not None else 0
        # as_list left to panoramisk: forced, the lone error Asterisk answers when there
        # are no contacts at all never completes the action (a 10 s timeout each time).
        listing = await self.ami.action({"Action": "PJSIPShowContacts"}, timeout=10)
        messages = listing if isinstance(listing, list) else [listing]
        now = time.time()
        if book is not None:
            book.load(messages, mark, now)  # what events missed while the link was down
        return contact_states(messages, endpoints, now)

    async def set_message_waiting(self, endpoint: str, new: int, old: int) -> None:
        await self.message_waiting.set(endpoint, new, old)  # see mwi.py: AMI PJSIPNotify

    # -- configuration: not on the Engine seam; the Asterisk kit hands these to its
    # provisioner (orchestrator.provisioning.base.EngineConfig) --
    async def reload(self, what: str) -> None:
        try:
            command = RELOAD_COMMANDS[what]
        except KeyError:
            raise ValidationError(
                f"cannot reload {what!r}", allowed=list(RELOAD_COMMANDS)
            ) from None
        await self.ami.command(command)

    async def invalidate_sip_objects(self, object_type: str, ids: Sequence[str]) -> None:
        if object_type not in SIP_OBJECT_TYPES:
            raise ValidationError(f"unknown SIP object type {object_type!r}")
        for object_id in ids:
            resp = await self.ami.action(
                {
                    "Action": "SorceryMemoryCacheExpireObject",
                    "Cache": f"res_pjsip/{object_type}",
                    "Object": object_id,
                }
            )
            message = str(resp.get("Message", ""))
            # "could not be expired": it was not cached, which is what we wanted.
            if resp.get("Response") == "Error" and "could not be expired" not in message:
                raise EngineError(f"cache expiry of {object_type} {object_id}: {message}")

    async def command(self, text: str) -> str:
        return await self.ami.command(text)
