"""An in-memory :class:`Engine` for unit tests of flows, features and the API.

It records every command in :attr:`FakeEngine.commands` and lets a test play
the engine's part: ``await fake.incoming_call(...)``, ``await fake.dtmf(leg, "1")``,
``await fake.remote_hangup(leg)``. Playbacks finish at once unless
``auto_finish_playback`` is False.

Example::

    fake = FakeEngine()
    await fake.start()
    leg = await fake.incoming_call(caller="101", called="200")
    await fake.answer(leg.id)
    assert fake.commands[-1] == ("answer", leg.id)

:meth:`FakeEngine.restarted` is the same engine as a new run of the orchestrator finds it
after a crash: its ``start()`` reports what is still up as the Asterisk adapter's
start-up sweep does (see :attr:`Engine.kept_legs`).

Like a real engine it also reports every channel as observation events
(``ChannelStarted``... ``ChannelEnded``, before the leg event of the same change), and
:meth:`FakeEngine.dialplan_call` plays a call the engine switches on its own (two phones
in dialplan) that only observation sees. It journals every channel's answer and end
(:meth:`~orchestrator.core.engine.Engine.journal`) whoever listens;
:meth:`FakeEngine.journal_leg` plays what it recorded while the orchestrator was away.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import time
import wave
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from orchestrator.core.call import Leg, LegState
from orchestrator.core.engine import (
    TAKEN,
    Engine,
    EngineCapabilities,
    EngineStatus,
    SupervisionMode,
    check_message_waiting,
    check_take,
)
from orchestrator.core.errors import (
    CallError,
    ConflictError,
    EngineUnavailableError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import (
    ChannelBridged,
    ChannelDialed,
    ChannelEnded,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
    EndpointStateChanged,
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegDtmf,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.core.fake_conferences import FakeConferences
from orchestrator.core.journal import LegRecord
from orchestrator.core.outcomes import (
    DIAL_OUTCOME_CAUSES,
    ChannelKind,
    DialOutcome,
    HangupCause,
)
from orchestrator.core.sip_headers import check_sip_headers
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber


def dialed_channel(target: Target) -> tuple[str, str]:
    """The name the fake gives a channel it dials to ``target`` (``SIP/101@a.example``,
    ``SIP/+4420...@carrier``, ``Local/102@t3``), and the SIP user or trunk observation
    says it belongs to (``""`` for a Local one; a trunk call is the trunk's, as on a
    real engine)."""
    if isinstance(target, SipUser):
        return f"SIP/{target.endpoint}", target.endpoint
    if isinstance(target, TrunkNumber):
        return f"SIP/{target.number}@{target.trunk}", target.trunk
    if isinstance(target, Extension):
        return f"Local/{target.number}@t{target.tenant}", ""
    raise ValidationError(f"the fake engine cannot reach {target!r}", target=repr(target))


class FakeEngine(Engine):
    name = "fake"
    conferences: FakeConferences

    def __init__(
        self,
        *,
        version: str = "fake-1.0",
        auto_finish_playback: bool = True,
        registration_events: bool = False,
    ) -> None:
        super().__init__()
        self.capabilities = EngineCapabilities(
            registration_events=registration_events,
            supervision_modes=frozenset(SupervisionMode),
            call_recording=True,
            journal=True,
        )
        self.version = version
        self.auto_finish_playback = auto_finish_playback
        self.connected = False
        self.commands: list[tuple[Any, ...]] = []
        # leg id -> the SIP headers its INVITE carried (originate(headers=...)).
        self.sip_headers: dict[str, dict[str, str]] = {}
        self.console: dict[str, str] = {}
        # Stored recordings by name; a test may put audio here or read what a flow recorded.
        self.recordings: dict[str, bytes] = {}
        self._live_recordings: dict[str, str] = {}  # name -> leg id
        self._terminate_on: dict[str, str] = {}  # live recording name -> its ending digit
        self._playing: dict[str, str] = {}  # playback id -> leg id, until it finishes
        self.call_recordings: set[str] = set()  # the live ones made by record_call()
        # A live conference recording -> when it started: it ends as silence that long.
        self.conference_recordings: dict[str, float] = {}
        self._ids = itertools.count(1)
        # Channels alive (legs and dialplan-only ones), id -> call id (observation).
        self.channels: dict[str, str] = {}
        self._dialplan_talks: dict[str, str] = {}  # dialplan-only channel -> its conversation
        # Supervisions (Engine.supervise): supervisor's leg id -> (target channel, mode).
        # One ends when the supervisor's leg or the target's channel ends.
        self.supervisions: dict[str, tuple[str, SupervisionMode]] = {}
        # Engine.connect: leg -> the leg it talks with (both ways), and the id of each
        # connection that observation reports as the channels' conversation.
        self.connections: dict[str, str] = {}
        self._connection_ids: dict[str, str] = {}
        # Legs handed over by transfer(): alive, no longer under our control.
        self.transferred: set[str] = set()
        # Legs on hold (Engine.hold): leg -> music class ("" for a party's hold).
        self.held: dict[str, str] = {}
        # Registration of SIP endpoints as endpoint_states() reports it; a test sets
        # "online"/"offline". Endpoints not in it are "unknown" (changes nothing).
        self.endpoint_reachability: dict[str, str] = {}
        self.endpoint_queries: list[tuple[str, ...]] = []
        # Message waiting (Engine.set_message_waiting): the last (new, old) per endpoint;
        # every push is also in commands ("set_message_waiting", endpoint, new, old).
        self.mwi: dict[str, tuple[int, int]] = {}
        # The engine's own journal (Engine.journal): every channel's answer and end, kept
        # whoever listens. A test plays what happened while the orchestrator was down
        # with journal_leg(), which reports nothing.
        self.journal_records: dict[str, LegRecord] = {}
        # Each live channel as last reported (what restarted() carries over).
        self._reported: dict[str, ChannelStarted] = {}
        # What a previous run left (see restarted()), reported at the first start().
        self._left: tuple[list[ChannelStarted], dict[str, Leg], dict[str, str]] | None = None
        # While the control link is down (drop_link()): legs that ended meanwhile, with
        # their cause, reported when it is back (reconnect()), as a real adapter reconciles.
        self._missed_hangups: dict[str, int] | None = None
        # Engine.conferences, in memory (see fake_conferences.py).
        self.conferences = FakeConferences(self)

    async def emit(self, event: Event) -> None:
        if isinstance(event, ChannelStarted | ChannelStateChanged) and event.state == "up":
            self.journal_leg(event.channel_id, answered_at=event.timestamp)
        elif isinstance(event, ChannelEnded):
            self.journal_leg(event.channel_id, ended_at=event.timestamp, cause=event.cause)
        await super().emit(event)

    def journal_leg(
        self,
        leg_id: str,
        *,
        answered_at: float | None = None,
        ended_at: float | None = None,
        cause: int | None = None,
    ) -> None:
        """Record in the journal that ``leg_id`` was answered and/or ended (no event)."""
        record = LegRecord(leg_id, answered_at, ended_at, cause)
        known = self.journal_records.get(leg_id)
        self.journal_records[leg_id] = known.merge(record) if known is not None else record

    async def journal(self, leg_ids: Collection[str]) -> dict[str, LegRecord]:
        return {i: self.journal_records[i] for i in leg_ids if i in self.journal_records}

    async def prune_journal(self, before: float) -> None:
        for leg_id, record in list(self.journal_records.items()):
            if record.ended_at is not None and record.ended_at < before:
                del self.journal_records[leg_id]

    def restarted(self) -> FakeEngine:
        """This engine as a new run of the orchestrator finds it after a crash.

        The new object knows nothing yet; tell it what to :meth:`keep`, then ``start()``
        reports the live channels as ``ChannelStarted(resumed=True)`` (oldest first),
        takes the kept legs back (``LegCreated(resumed=True)``, then ``LegConnected`` for
        each of two kept legs still connected), and clears the rest: other legs are hung
        up (``commands`` gets ``("swept_leg", id)``). Example::

            again = fake.restarted()
            again.keep([caller_leg])
            registry = CallRegistry(again, ...)  # the new run's features
            await again.start()
        """
        new = FakeEngine(
            version=self.version,
            auto_finish_playback=self.auto_finish_playback,
            registration_events=self.capabilities.registration_events,
        )
        new._ids, new.recordings = self._ids, self.recordings
        # The engine's journal outlives the orchestrator (that is what it is for).
        new.journal_records = self.journal_records
        new.endpoint_reachability = dict(self.endpoint_reachability)
        new._dialplan_talks = dict(self._dialplan_talks)
        legs = {i: leg for i, leg in self.legs.items() if leg.alive}
        connections = {a: b for a, b in self.connections.items() if a in legs and b in legs}
        new._left = (list(self._reported.values()), legs, connections)
        new._connection_ids = {a: self._connection_ids[a] for a in connections}
        new.conferences.left_behind = {c: list(r) for c, r in self.conferences.rooms.items()}
        new.conferences.coached_before = {
            leg: m.coaching
            for room in self.conferences.rooms.values()
            for leg, m in room.items()
            if m.coaching is not None
        }
        return new

    async def _take_over(self) -> None:
        assert self._left is not None
        channels, legs, connections = self._left
        self._left = None
        swept = {i for i in legs if i not in self.kept_legs}
        for leg_id in sorted(swept):
            self.commands.append(("swept_leg", leg_id))
        for started in channels:
            if started.channel_id not in swept:
                self.channels[started.channel_id] = started.call_id
                self._reported[started.channel_id] = started
                await self.emit(dataclasses.replace(started, resumed=True))
        for leg_id in sorted(legs.keys() - swept):
            leg = self.legs[leg_id] = legs[leg_id]
            await self.emit(
                LegCreated(
                    leg_id=leg.id, name=leg.name, state=leg.state,
                    caller_number=leg.caller_number, called_number=leg.called_number,
                    resumed=True,
                )
            )  # fmt: skip
        # A connection of two kept legs is still there; one with a swept side is not.
        for leg_id, peer in sorted(connections.items()):
            if leg_id in swept or peer in swept:
                self._connection_ids.pop(leg_id, None)
                continue
            self.connections[leg_id] = peer
            await self.emit(LegConnected(leg_id=leg_id, peer_id=peer))

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # -- life cycle -------------------------------------------------------
    async def start(self) -> None:
        self.connected = True
        if self._left is not None:
            await self._take_over()
        await self.emit(EngineConnected(engine=self.name, version=self.version))

    async def stop(self) -> None:
        self.connected = False
        await self.emit(EngineDisconnected(engine=self.name, reason="stopped"))

    async def drop_link(self, reason: str = "link dropped") -> None:
        """The control link drops (the engine runs on): ``EngineDisconnected``, commands
        fail with :class:`EngineUnavailableError`, and until :meth:`reconnect` the legs
        that end (:meth:`remote_hangup`) are not reported."""
        self.connected = False
        self._missed_hangups = {}
        await self.emit(EngineDisconnected(engine=self.name, reason=reason))

    async def reconnect(self) -> None:
        """The link is back after :meth:`drop_link`: the legs that ended meanwhile are
        reported hung up first (reconciliation), then ``EngineConnected(reconnect=True)``."""
        missed, self._missed_hangups = self._missed_hangups or {}, None
        self.connected = True
        for leg_id, cause in missed.items():
            await self._end(self.legs[leg_id], cause)
        await self.emit(EngineConnected(engine=self.name, version=self.version, reconnect=True))

    def status(self) -> EngineStatus:
        return EngineStatus(
            engine=self.name,
            connected=self.connected,
            version=self.version,
            links={"fake": self.connected},
        )

    def _require_link(self) -> None:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")

    def _leg(self, leg_id: str) -> Leg:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        leg = self.legs.get(leg_id)
        if leg is None or not leg.alive:
            raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id)
        if leg_id in self.transferred:  # as Asterisk's 409 "not in Stasis application"
            raise CallError(f"leg {leg_id} left our control (transferred)", leg_id=leg_id)
        return leg

    # -- the engine's side, driven by tests ---------------------------------
    async def incoming_call(
        self,
        *,
        caller: str = "",
        called: str = "",
        tenant: str = "",
        routing: Routing | None = None,
    ) -> Leg:
        """A call the engine's dialplan hands over, with its ``routing`` (an IVR access
        number: ``Routing("ivr", {"flow": "support", "tenant": "1"})``)."""
        leg = Leg(
            id=self._next_id("leg"), caller_number=caller, called_number=called, tenant=tenant
        )
        leg.transition(LegState.RINGING)
        self.legs[leg.id] = leg
        await self._started(leg.id, leg.id, state=leg.state, caller=caller, called=called)
        await self.emit(
            LegCreated(
                leg_id=leg.id,
                state=leg.state,
                caller_number=caller,
                called_number=called,
                routing=routing,
            )
        )
        return leg

    async def set_registration(self, endpoint: str, state: str) -> None:
        """A phone registers (``"online"``) or goes (``"offline"``): what
        :meth:`endpoint_states` answers from now on, and the ``EndpointStateChanged``
        if this engine has ``registration_events``."""
        self.endpoint_reachability[endpoint] = state
        if self.capabilities.registration_events and self.connected:
            await self.emit(EndpointStateChanged(endpoint=endpoint, state=state))

    async def dtmf(self, leg_id: str, digits: str) -> None:
        for digit in digits:
            await self.emit(LegDtmf(leg_id=leg_id, digit=digit))
            # As on a real engine, a recording's terminating digit ends it (kept).
            for name, leg in list(self._live_recordings.items()):
                if leg == leg_id and self._terminate_on.get(name) in (digit, "any"):
                    await self.finish_recording(name)

    async def remote_hangup(self, leg_id: str, cause: int = 16) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or not leg.alive:
            return
        if self._missed_hangups is not None:  # the link is down: reported at reconnect()
            self._missed_hangups.setdefault(leg_id, cause)
            return
        await self._end(leg, cause)

    async def remote_answer(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        if leg.transition(LegState.UP):
            await self._channel_state(leg.id, leg.state)
            await self.emit(LegStateChanged(leg_id=leg.id, state=leg.state))

    async def finish_playback(self, playback_id: str, leg_id: str = "") -> None:
        leg_id = self._playing.pop(playback_id, "") or leg_id
        await self.emit(PlaybackFinished(playback_id=playback_id, leg_id=leg_id))

    async def _end(self, leg: Leg, cause: int) -> None:
        leg.transition(LegState.HUNG_UP)
        leg.hangup_cause = cause
        self.supervisions.pop(leg.id, None)
        self.held.pop(leg.id, None)
        await self.conferences.left(leg.id, "hangup")
        await self._unpair(leg.id, gone=True)
        await self._channel_end(leg.id, cause)
        await self.emit(LegHungUp(leg_id=leg.id, cause=cause))

    # -- observation: every channel, legs or not ------------------------------
    async def _started(
        self, channel_id: str, call_id: str, *, endpoint: str = "",
        state: LegState = LegState.DOWN, caller: str = "", called: str = "", name: str = "",
        kind: ChannelKind = ChannelKind.PHONE,
    ) -> None:  # fmt: skip
        self.channels[channel_id] = call_id
        started = ChannelStarted(
            channel_id=channel_id, call_id=call_id, name=name, endpoint=endpoint, kind=kind,
            state=state, caller_number=caller, called_number=called,
        )  # fmt: skip
        self._reported[channel_id] = started
        await self.emit(started)

    async def _channel_state(self, channel_id: str, state: LegState) -> None:
        if channel_id in self.channels:
            self._reported[channel_id] = dataclasses.replace(
                self._reported[channel_id], state=state
            )
            await self.emit(
                ChannelStateChanged(
                    channel_id=channel_id, call_id=self.channels[channel_id], state=state
                )
            )

    async def _channel_joined(self, channel_id: str, conversation: str, *, entered: bool) -> None:
        if channel_id in self.channels:
            kind = ChannelBridged if entered else ChannelUnbridged
            call_id = self.channels[channel_id]
            await self.emit(
                kind(channel_id=channel_id, call_id=call_id, conversation_id=conversation)
            )

    async def _channel_end(self, channel_id: str, cause: int) -> None:
        call_id = self.channels.pop(channel_id, None)
        self._reported.pop(channel_id, None)
        if call_id is not None:
            await self.emit(ChannelEnded(channel_id=channel_id, call_id=call_id, cause=cause))
        # A conversation's recording ends (and is kept) with its channel, as on a real engine.
        for name in [n for n in self.call_recordings if self._live_recordings[n] == channel_id]:
            await self.finish_recording(name)
        # A supervision ends with the channel it supervises; the supervisor's leg stays.
        for supervisor, (target, _) in list(self.supervisions.items()):
            if target == channel_id:
                del self.supervisions[supervisor]

    async def dialplan_call(
        self,
        caller_endpoint: str,
        callee_endpoint: str,
        *,
        caller: str = "",
        called: str = "",
        status: DialOutcome | None = DialOutcome.ANSWERED,
        hangup: bool = True,
    ) -> tuple[str, str]:
        """Play a call the engine switches alone: ``caller_endpoint`` dials ``callee_endpoint``.

        Started (both), dialed, ringing, then per ``status``: ``answered`` (both up and
        talking: ``ChannelBridged``), or ``busy``/``no_answer``/... (the callee's channel
        ends with the matching cause, :data:`~orchestrator.core.outcomes.DIAL_OUTCOME_CAUSES`);
        ``None``: the callee goes on ringing (``hangup`` is ignored). With ``hangup`` the
        caller then hangs up (cause 16) and the call ends; otherwise end it with
        :meth:`hangup_channel`. Returns the (caller, callee) channel ids; the call id is
        the caller's channel id, as Asterisk's linkedid.
        """
        a, b = self._next_id("chan"), self._next_id("chan")
        await self._started(a, a, endpoint=caller_endpoint, state=LegState.RINGING, caller=caller,
                            called=called, name=f"SIP/{caller_endpoint}")  # fmt: skip
        await self._started(b, a, endpoint=callee_endpoint, caller=called,
                            name=f"SIP/{callee_endpoint}")  # fmt: skip
        dial_string = f"SIP/{callee_endpoint}"
        await self.emit(ChannelDialed(channel_id=a, call_id=a, peer_id=b, dial_string=dial_string))
        await self._channel_state(b, LegState.RINGING)
        if status is None:
            return a, b
        status = DialOutcome(status)
        if status is DialOutcome.ANSWERED:
            await self._channel_state(b, LegState.UP)
        await self.emit(ChannelDialed(channel_id=a, call_id=a, peer_id=b, status=status))
        if status is DialOutcome.ANSWERED:
            await self._channel_state(a, LegState.UP)
            talk = self._next_id("dialplan-call")
            await self._channel_joined(b, talk, entered=True)
            await self._channel_joined(a, talk, entered=True)
            self._dialplan_talks[a] = self._dialplan_talks[b] = talk
        else:
            await self._channel_end(
                b, int(DIAL_OUTCOME_CAUSES.get(status, HangupCause.NORMAL_CLEARING))
            )
        if hangup:
            await self.hangup_channel(a)
        return a, b

    async def dialplan_dial(
        self, channel_id: str, callee_endpoint: str, *, called: str = ""
    ) -> str:
        """Play the engine's dialplan on the live channel ``channel_id`` (e.g. a leg after
        :meth:`transfer`) dialling ``callee_endpoint``, which answers: started, dialed,
        up, bridged with it. Returns the callee's channel id; end both with
        :meth:`hangup_channel` (of the callee)."""
        call_id = self.channels[channel_id]
        b = self._next_id("chan")
        await self._started(b, call_id, endpoint=callee_endpoint, caller=called,
                            name=f"SIP/{callee_endpoint}")  # fmt: skip
        dial_string = f"SIP/{callee_endpoint}"
        await self.emit(
            ChannelDialed(
                channel_id=channel_id, call_id=call_id, peer_id=b, dial_string=dial_string
            )
        )
        await self._channel_state(b, LegState.RINGING)
        await self._channel_state(b, LegState.UP)
        await self.emit(
            ChannelDialed(
                channel_id=channel_id, call_id=call_id, peer_id=b, status=DialOutcome.ANSWERED
            )
        )
        talk = self._next_id("dialplan-call")
        await self._channel_joined(b, talk, entered=True)
        await self._channel_joined(channel_id, talk, entered=True)
        self._dialplan_talks[channel_id] = self._dialplan_talks[b] = talk
        return b

    async def hangup_channel(self, channel_id: str, cause: int = 16) -> None:
        """End a dialplan-only channel; the channel it talks with ends too (as after a Dial)."""
        if channel_id not in self.channels:
            return
        talk = self._dialplan_talks.pop(channel_id, None)
        peers = [c for c, t in self._dialplan_talks.items() if talk and t == talk]
        if talk:
            await self._channel_joined(channel_id, talk, entered=False)
        await self._channel_end(channel_id, cause)
        for peer in peers:
            del self._dialplan_talks[peer]
            await self._channel_joined(peer, talk or "", entered=False)
            await self._channel_end(peer, cause)

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
        sent = check_sip_headers(target, headers)  # as every adapter, before anything
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        endpoint, sip = dialed_channel(target)
        # Ours, with id_prefix (see Engine.new_id), as a real adapter's.
        leg = Leg(id=leg_id or self.new_id(), name=endpoint, caller_number=caller_id)
        leg.variables.update(variables or {})
        self.legs[leg.id] = leg
        self.commands.append(("originate", target, leg.id))
        if sent:
            self.sip_headers[leg.id] = sent
        await self._started(leg.id, leg.id, endpoint=sip, name=endpoint)
        await self.emit(LegCreated(leg_id=leg.id, name=endpoint, routing=routing))
        return leg

    async def answer(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        self.commands.append(("answer", leg_id))
        if leg.transition(LegState.UP):
            await self._channel_state(leg_id, leg.state)
            await self.emit(LegStateChanged(leg_id=leg_id, state=leg.state))

    async def hangup(self, leg_id: str, cause: int = 16) -> None:
        if leg_id not in self.legs and leg_id in self.channels and self.connected:
            # A channel the engine switches alone (dialplan_call): it can be hung up too.
            self.commands.append(("hangup", leg_id, cause))
            await self.hangup_channel(leg_id, cause)
            return
        leg = self._leg(leg_id)
        self.commands.append(("hangup", leg_id, cause))
        await self._end(leg, cause)

    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        self._leg(leg_id)
        pid = playback_id or self.new_id()  # ours, with id_prefix, as a real adapter's
        items = [media] if isinstance(media, str) else list(media)
        self.commands.append(("play", leg_id, tuple(items), pid))
        await self.emit(PlaybackStarted(playback_id=pid, leg_id=leg_id))
        if self.auto_finish_playback:
            await self.emit(PlaybackFinished(playback_id=pid, leg_id=leg_id))
        else:
            self._playing[pid] = leg_id
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        self.commands.append(("stop_playback", playback_id))
        # Reported for the leg it played on, as a real engine does.
        leg_id = self._playing.pop(playback_id, "")
        await self.emit(PlaybackFinished(playback_id=playback_id, leg_id=leg_id, state="stopped"))

    async def connect(self, a_leg_id: str, b_leg_id: str) -> None:
        if a_leg_id == b_leg_id:
            raise ValidationError("a leg cannot be connected to itself", leg_id=a_leg_id)
        self._leg(a_leg_id)
        self._leg(b_leg_id)
        self.commands.append(("connect", a_leg_id, b_leg_id))
        if self.connections.get(a_leg_id) == b_leg_id:
            return
        for leg_id in (a_leg_id, b_leg_id):  # a conference member leaves it first
            await self.conferences.left(leg_id, "left")
        await self._unpair(a_leg_id)
        await self._unpair(b_leg_id)
        connection = self._next_id("connection")
        for leg_id, peer in ((a_leg_id, b_leg_id), (b_leg_id, a_leg_id)):
            self.connections[leg_id] = peer
            self._connection_ids[leg_id] = connection
            await self._channel_joined(leg_id, connection, entered=True)
        for leg_id, peer in ((a_leg_id, b_leg_id), (b_leg_id, a_leg_id)):
            await self.emit(LegConnected(leg_id=leg_id, peer_id=peer))

    async def disconnect(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("disconnect", leg_id))
        await self._unpair(leg_id)

    def peer(self, leg_id: str) -> str | None:
        """The leg ``leg_id`` talks with now (``None``: connected to nothing)."""
        return self.connections.get(leg_id)

    async def _unpair(self, leg_id: str, *, gone: bool = False) -> None:
        """``leg_id`` leaves its connection (``gone``: it hung up); both sides are told."""
        peer = self.connections.pop(leg_id, None)
        if peer is None:
            return
        del self.connections[peer]
        connection = self._connection_ids.pop(leg_id, "")
        self._connection_ids.pop(peer, None)
        # Observation sees both channels leave their conversation.
        for side in (leg_id, peer):
            await self._channel_joined(side, connection, entered=False)
        told = ((peer, leg_id),) if gone else ((leg_id, peer), (peer, leg_id))
        for side, other in told:
            await self.emit(LegDisconnected(leg_id=side, peer_id=other))

    async def set_variable(self, leg_id: str, name: str, value: str) -> None:
        self._leg(leg_id).variables[name] = value
        self.commands.append(("set_variable", leg_id, name, value))

    async def transfer(self, leg_id: str, target: Target) -> None:
        """Recorded as ``("transfer", leg_id, target)``. As on a real engine the leg leaves
        our control (``LegLeftApp``): a connection it was in ends (both sides are told),
        commands on it raise CallError; its channel lives on (a test plays what the engine
        does next, e.g. :meth:`remote_hangup`)."""
        self._leg(leg_id)
        dialed_channel(target)  # a target the fake cannot reach is refused, as on an engine
        self.commands.append(("transfer", leg_id, target))
        await self.conferences.left(leg_id, "hangup")
        await self._unpair(leg_id)
        self.transferred.add(leg_id)
        await self.emit(LegLeftApp(leg_id=leg_id))

    async def take(self, channel_ids: Sequence[str]) -> list[str]:
        """Recorded as ``("take", (ids...))``. As on a real engine the channels leave the
        engine's own bridge (observation: unbridged), become legs (``LegCreated``, up,
        ``Routing("taken")``) with the same ids, and two are connected again."""
        self._require_link()
        ids = check_take(channel_ids)
        for channel_id in ids:
            leg = self.legs.get(channel_id)
            if leg is not None and leg.alive and channel_id not in self.transferred:
                raise ValidationError(f"{channel_id} is already a leg", leg_id=channel_id)
            if channel_id not in self.channels:
                raise LegGoneError(f"channel {channel_id} is gone", leg_id=channel_id)
            if self._reported[channel_id].state != LegState.UP:
                raise ConflictError(f"channel {channel_id} is not answered", leg_id=channel_id)
        self.commands.append(("take", tuple(ids)))
        for channel_id in ids:
            talk = self._dialplan_talks.pop(channel_id, None)
            if talk is not None:
                await self._channel_joined(channel_id, talk, entered=False)
        for channel_id in ids:
            started = self._reported[channel_id]
            self.transferred.discard(channel_id)
            self.legs[channel_id] = leg = Leg(
                id=channel_id, name=started.name, caller_number=started.caller_number,
                called_number=started.called_number, state=LegState.UP,
            )  # fmt: skip
            await self.emit(
                LegCreated(
                    leg_id=leg.id, name=leg.name, state=leg.state,
                    caller_number=leg.caller_number, called_number=leg.called_number,
                    routing=Routing(TAKEN),
                )
            )  # fmt: skip
        if len(ids) == 2:
            await self.connect(*ids)
        return ids

    async def ring(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("ring", leg_id))

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        self._leg(leg_id)
        self.commands.append(("send_dtmf", leg_id, digits))

    async def hold(self, leg_id: str, music: str = "") -> None:
        self._leg(leg_id)
        self.held[leg_id] = music
        self.commands.append(("hold", leg_id, music))

    async def unhold(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.held.pop(leg_id, None)
        self.commands.append(("unhold", leg_id))

    async def get_variable(self, leg_id: str, name: str) -> str:
        return self._leg(leg_id).variables.get(name, "")

    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        leg = self._leg(leg_id)
        leg.caller_number, leg.caller_name = number, name
        self.commands.append(("set_caller_id", leg_id, number, name))

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
        self._leg(leg_id)
        self.commands.append(("record", leg_id, name, fmt, max_duration, max_silence, beep))
        self._live_recordings[name] = leg_id
        self._terminate_on[name] = terminate_on
        await self.emit(RecordingStarted(recording=name, leg_id=leg_id))
        return name

    async def record_call(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        if leg_id not in self.channels:  # any live channel, a leg or a dialplan one
            raise LegGoneError(f"channel {leg_id} is gone", leg_id=leg_id)
        if name in self._live_recordings:
            raise CallError(f"recording {name} is already being made", recording=name)
        self.commands.append(("record_call", leg_id, name, fmt, max_duration, beep))
        self._live_recordings[name] = leg_id
        self.call_recordings.add(name)
        await self.emit(RecordingStarted(recording=name, leg_id=leg_id))
        return name

    async def finish_recording(
        self, name: str, *, audio: bytes | None = None, duration: float | None = None,
        state: str = "done",
    ) -> None:  # fmt: skip
        """The engine's side: a live recording ends (silence, max length, DTMF...).

        Unless told ``audio``: a conference's holds silence as long as it ran (an 8 kHz
        16-bit mono WAV, as the engines write), any other ``b"RIFF"`` (1 s)."""
        started = self.conference_recordings.pop(name, None)
        if started is not None:
            elapsed = max(0.0, time.time() - started)
            audio = silent_wav(elapsed) if audio is None else audio
            duration = elapsed if duration is None else duration
        audio = b"RIFF" if audio is None else audio
        duration = 1.0 if duration is None else duration
        leg_id = self._live_recordings.pop(name, "")
        self._terminate_on.pop(name, None)
        self.call_recordings.discard(name)
        if state == "done":
            self.recordings[name] = audio
        await self.emit(
            RecordingFinished(recording=name, leg_id=leg_id, state=state, duration=duration)
        )

    async def stop_recording(self, name: str) -> None:
        self.commands.append(("stop_recording", name))
        if name in self._live_recordings:
            await self.finish_recording(name)

    async def recording_file(self, name: str) -> bytes:
        try:
            return self.recordings[name]
        except KeyError:
            raise NotFoundError(f"recording {name} not found", recording=name) from None

    async def delete_recording(self, name: str) -> None:
        if self.recordings.pop(name, None) is None:
            raise NotFoundError(f"recording {name} not found", recording=name)

    # -- supervision ----------------------------------------------------------
    async def supervise(
        self, target_leg_id: str, supervisor_leg_id: str, mode: SupervisionMode
    ) -> None:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        try:
            mode = SupervisionMode(mode)
        except ValueError:
            raise ValidationError(
                f"unknown supervision mode {mode!r}", allowed=[str(m) for m in SupervisionMode]
            ) from None
        if target_leg_id not in self.channels:
            raise LegGoneError(f"channel {target_leg_id} is gone", leg_id=target_leg_id)
        self._leg(supervisor_leg_id)
        if target_leg_id == supervisor_leg_id:
            raise ValidationError("a leg cannot supervise itself", leg_id=target_leg_id)
        self.supervisions[supervisor_leg_id] = (target_leg_id, mode)
        self.commands.append(("supervise", target_leg_id, supervisor_leg_id, mode))

    async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        self.endpoint_queries.append(tuple(endpoints))  # not in commands: polled
        return {e: self.endpoint_reachability.get(e, "unknown") for e in endpoints}

    async def set_message_waiting(self, endpoint: str, new: int, old: int) -> None:
        check_message_waiting(endpoint, new, old)
        self._require_link()
        self.mwi[endpoint] = (new, old)
        self.commands.append(("set_message_waiting", endpoint, new, old))

    # -- configuration: not on the Engine seam; the provisioning tests use these as
    # the engine's configuration side (orchestrator.provisioning.base.EngineConfig) --
    async def reload(self, what: str) -> None:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        self.commands.append(("reload", what))

    async def invalidate_sip_objects(self, object_type: str, ids: Sequence[str]) -> None:
        self.commands.append(("invalidate", object_type, tuple(ids)))

    async def command(self, text: str) -> str:
        self.commands.append(("command", text))
        return self.console.get(text, "")


def silent_wav(seconds: float) -> bytes:
    """``seconds`` of silence as an 8 kHz 16-bit mono WAV."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * round(8000 * seconds))
    return out.getvalue()
