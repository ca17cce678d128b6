"""The :class:`Engine` interface that every media-engine adapter implements.

Features (IVR flows, queues, CTI, recordings...) and the API receive an ``Engine``
from the composition root (:mod:`orchestrator.runtime`) and never import an
adapter. The Asterisk adapter implements it over ARI + AMI, the FreeSWITCH
adapter over ESL, and :class:`orchestrator.core.fake.FakeEngine` in memory.

The seam speaks of legs and intents, in telephony words: answer, play, record,
connect two legs, hold one, transfer it to a typed target
(:mod:`orchestrator.core.targets`), supervise it, originate a call. Every id in it
is a leg's, a playback's or a recording's; whatever an engine needs to do the job
(Asterisk's bridges, snoop channels, Local channels and dialplan contexts,
FreeSWITCH's uuid_bridge, eavesdrop and loopback channels) is its adapter's own.
Each method's "How engines do it" note says how Asterisk and FreeSWITCH do it.

Identifiers are chosen by the caller where the engine allows it (leg and
playback ids), so a waiter can be registered before the request is sent: an
engine may report a new channel before it answers the request that made it.

The abstract methods, by group:

- life cycle: :meth:`~Engine.start`, :meth:`~Engine.stop`, :meth:`~Engine.status`;
- a leg: :meth:`~Engine.originate`, :meth:`~Engine.answer`, :meth:`~Engine.ring`,
  :meth:`~Engine.hangup`, :meth:`~Engine.transfer`, :meth:`~Engine.take`;
- media: :meth:`~Engine.play`, :meth:`~Engine.stop_playback`, :meth:`~Engine.send_dtmf`,
  :meth:`~Engine.hold`, :meth:`~Engine.unhold`;
- who talks with whom: :meth:`~Engine.connect`, :meth:`~Engine.disconnect`,
  :meth:`~Engine.supervise`;
- channel data: :meth:`~Engine.set_variable`, :meth:`~Engine.get_variable`,
  :meth:`~Engine.set_caller_id`;
- recordings: :meth:`~Engine.record`, :meth:`~Engine.record_call`,
  :meth:`~Engine.stop_recording`, :meth:`~Engine.recording_file`,
  :meth:`~Engine.delete_recording`.

With defaults an adapter may replace: :meth:`~Engine.endpoint_states`,
:meth:`~Engine.set_message_waiting`,
:meth:`~Engine.journal`, :meth:`~Engine.prune_journal`; and, concrete: the legs table
(:meth:`~Engine.leg`, :meth:`~Engine.keep`, :meth:`~Engine.release`,
:meth:`~Engine.is_kept`), events (:meth:`~Engine.subscribe`, :meth:`~Engine.emit`),
:meth:`~Engine.new_id`, :meth:`~Engine.wait_connected` and :attr:`~Engine.capabilities`.

Conferences are one attribute, :attr:`~Engine.conferences` (a
:class:`~orchestrator.core.conferences.Conferences` with its own methods), so the seam's
own method count stays small.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import enum
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.core.call import Leg
from orchestrator.core.conferences import Conferences
from orchestrator.core.errors import EngineError, ValidationError
from orchestrator.core.events import Event
from orchestrator.core.journal import LegRecord
from orchestrator.core.targets import SIP_ENDPOINT, Routing, Target, check

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None] | None]
# A channel id as engines make them (Asterisk's "1733.42" or ours "orch-3f2a...",
# FreeSWITCH's uuids): what take() accepts before any of it reaches an engine command.
CHANNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class SupervisionMode(enum.StrEnum):
    """How a supervisor takes part in the call they supervise (:meth:`Engine.supervise`).

    The supervisor always hears both sides of the supervised leg's conversation; the
    mode says who hears the supervisor:

    ================  =======================================================
    ``listen``        nobody (silent monitoring)
    ``whisper``       the supervised leg only (coaching an agent)
    ``whisper_peer``  only whoever the supervised leg talks to
    ``barge``         both parties (a three-way conversation)
    ================  =======================================================
    """

    LISTEN = "listen"
    WHISPER = "whisper"
    WHISPER_PEER = "whisper_peer"
    BARGE = "barge"


# The routing of a leg that Engine.take made of a channel the engine switched alone.
TAKEN = "taken"


# Message counts a phone's message-waiting indication can show (RFC 3842 has no limit;
# phones show two or three digits).
MAX_MESSAGE_COUNT = 99_999


def check_message_waiting(endpoint: str, new: int, old: int) -> str:
    """The arguments of :meth:`Engine.set_message_waiting`, checked as every engine does
    first: a SIP endpoint ``<user>@<domain>`` (nothing an engine would read as syntax) and
    two counts from 0 to :data:`MAX_MESSAGE_COUNT`. Returns the endpoint; raises
    :class:`~orchestrator.core.errors.ValidationError`."""
    check(SIP_ENDPOINT, endpoint, "SIP endpoint")
    for name, value in (("new", new), ("old", old)):
        if type(value) is not int or not 0 <= value <= MAX_MESSAGE_COUNT:
            raise ValidationError(
                f"{name} message count must be an integer from 0 to {MAX_MESSAGE_COUNT}",
                field=name, value=repr(value),
            )  # fmt: skip
    return endpoint


def check_take(channel_ids: Sequence[str]) -> list[str]:
    """The ids :meth:`Engine.take` was given, checked as every engine does first: one or
    two (the parties of one call), each once, each a plain id (nothing an engine would
    read as syntax). Raises :class:`~orchestrator.core.errors.ValidationError`."""
    if isinstance(channel_ids, str):
        channel_ids = [channel_ids]  # a lone id, not its characters
    ids = list(channel_ids)
    if not 1 <= len(ids) <= 2:
        raise ValidationError("take one or two channels (the parties of one call)", count=len(ids))
    if len(set(ids)) != len(ids):
        raise ValidationError("the same channel twice", channel_ids=ids)
    for channel_id in ids:
        if not isinstance(channel_id, str) or CHANNEL_ID.fullmatch(channel_id) is None:
            raise ValidationError(f"invalid channel id {channel_id!r}", field="channel_ids")
    return ids


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    """What an engine can do, where engines differ: features read this, never an engine's
    name or an adapter's own flags.

    - ``registration_events``: ``EndpointStateChanged`` reports every registration change
      of the SIP users (a phone registering, unregistering, or its registration expiring)
      while the engine is connected. Either way features read
      :meth:`Engine.endpoint_states` at each (re)connect (events are lost while down);
      without events they must also poll it. Asterisk: only builds that raise the
      registrar's test events (the adapter finds out when AMI connects, see
      orchestrator/engines/asterisk/contacts.py); FreeSWITCH: ``sofia::register`` /
      ``sofia::unregister`` / ``sofia::expire`` events, always.
    - ``supervision_modes``: the :class:`SupervisionMode` values :meth:`Engine.supervise`
      takes. Asterisk: a snoop channel's ``spy``/``whisper`` directions; FreeSWITCH:
      ``eavesdrop`` and its DTMF-switched modes. All four on both.
    - ``talk_detection``: the adapter reports when a leg starts and stops talking.
      Asterisk could (the ``TALK_DETECT`` function, ARI ChannelTalkingStarted/Finished)
      and FreeSWITCH could (``mod_vad``), but no adapter translates those events yet:
      false everywhere for now.
    - ``call_recording``: :meth:`Engine.record_call` works on any answered channel
      (also one the orchestrator only observes). Asterisk: a snoop channel recorded;
      FreeSWITCH: ``uuid_record``.
    - ``journal``: :meth:`Engine.journal` answers from the engine's own records.
      Asterisk: the instance's CEL file when the adapter is given its folder;
      FreeSWITCH: none yet.
    """

    registration_events: bool = False
    supervision_modes: frozenset[SupervisionMode] = frozenset(SupervisionMode)
    talk_detection: bool = False
    call_recording: bool = True
    journal: bool = False


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """What ``GET /health`` shows about the engine."""

    engine: str
    connected: bool
    version: str = ""
    links: Mapping[str, bool] = field(default_factory=dict)
    detail: str = ""


class Engine(abc.ABC):
    """A media engine under the orchestrator's control."""

    name: str = "engine"
    # Every id the orchestrator and its adapter choose (legs, playbacks, the adapter's
    # own objects) starts with it (see new_id): what the engine holds with this prefix
    # is ours, so a start-up sweep can tell our leftovers (after a crash) from anything
    # else.
    id_prefix: str = "orch-"
    # What this engine can do (see EngineCapabilities); an adapter may replace it when it
    # connects (Asterisk learns then whether it raises registration events).
    capabilities: EngineCapabilities = EngineCapabilities()
    # -- conferences: many legs talking together (create, join with flags, leave,
    # mute/deafen/hold a member, play to all, record, end); each adapter sets its own
    # (see orchestrator/core/conferences.py for the methods and how engines do them).
    conferences: Conferences

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []
        self.legs: dict[str, Leg] = {}
        # Legs that outlive this run of the orchestrator (callers waiting in a queue): a
        # stop leaves them up. Filled before start() by a new run, they are taken back:
        # an engine that clears what a previous run left (the Asterisk adapter's start-up
        # sweep) spares them and reports each one still there as LegCreated(resumed=True).
        self.kept_legs: set[str] = set()

    # -- legs: what the engine knows of them, and which outlive this run ----------------
    def leg(self, leg_id: str) -> Leg | None:
        """The leg ``leg_id`` as the engine last reported it, or None if it never was one
        (ended legs stay readable until the engine forgets them: check ``Leg.alive``).

        How engines do it: every adapter keeps a table of the legs under the orchestrator's
        control, filled from ``LegCreated`` / ``LegStateChanged`` / ``LegHungUp``
        (Asterisk: StasisStart...ChannelDestroyed; FreeSWITCH: CHANNEL_PARK...
        CHANNEL_HANGUP_COMPLETE)."""
        return self.legs.get(leg_id)

    def keep(self, leg_ids: Iterable[str]) -> None:
        """Keep ``leg_ids`` up across a stop of the orchestrator (callers waiting in a
        queue, a call with an agent): a stop leaves them up and the next run, told to
        keep them again before :meth:`start`, takes them back (``LegCreated(resumed=True)``
        for each one still there) instead of clearing them as leftovers.

        How engines do it: Asterisk's start-up sweep spares the kept channels and reports
        each one found in Stasis; FreeSWITCH leaves the parked uuids alone and reads them
        back with ``show channels``."""
        self.kept_legs.update(leg_ids)

    def release(self, leg_ids: Iterable[str]) -> None:
        """Stop keeping ``leg_ids`` (see :meth:`keep`); unknown ids are ignored."""
        self.kept_legs.difference_update(leg_ids)

    def is_kept(self, leg_id: str) -> bool:
        """Whether ``leg_id`` is kept across a stop (see :meth:`keep`)."""
        return leg_id in self.kept_legs

    @property
    def registration_events(self) -> bool:
        """Shorthand for ``capabilities.registration_events`` (see :class:`EngineCapabilities`)."""
        return self.capabilities.registration_events

    @registration_events.setter
    def registration_events(self, value: bool) -> None:
        self.capabilities = dataclasses.replace(self.capabilities, registration_events=value)

    def new_id(self) -> str:
        """A fresh id for a leg or playback the orchestrator creates (and for the
        adapter's own objects).

        Features call it instead of making their own, so all the engine objects of the
        orchestrator carry :attr:`id_prefix` (``orch-3f2a...``)."""
        return f"{self.id_prefix}{uuid.uuid4().hex}"

    # -- life cycle -------------------------------------------------------
    @abc.abstractmethod
    async def start(self) -> None:
        """Connect, and keep reconnecting in the background if the link drops.

        ``EngineConnected`` / ``EngineDisconnected`` report the link. After each
        reconnect the adapter reports what it missed (legs that ended or came meanwhile);
        at the first connect it clears what a previous run left, sparing :attr:`kept_legs`.

        How engines do it: Asterisk: the ARI events WebSocket of the Stasis application
        plus an AMI login, each reconnecting with a backoff; after a reconnect the adapter
        compares ``GET /channels`` and ``GET /bridges`` with what it knows. FreeSWITCH:
        an inbound ESL connection (``auth``, ``event plain ...``), reconnecting likewise,
        ``show channels`` after a reconnect.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and stop reconnecting (legs stay up on the engine).

        How engines do it: Asterisk closes the ARI WebSocket and the AMI session;
        FreeSWITCH closes the ESL connection.
        """

    @abc.abstractmethod
    def status(self) -> EngineStatus:
        """The engine's links and version now, for ``GET /health`` (no request sent).

        How engines do it: Asterisk: whether the ARI WebSocket and AMI are up, the
        version from ARI ``GET /asterisk/info``; FreeSWITCH: the ESL link, the version
        from ``api version``.
        """

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until every control link is up, or raise ``TimeoutError``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.status().connected:
            if loop.time() > deadline:
                raise TimeoutError(f"{self.name} not connected after {timeout} s")
            await asyncio.sleep(0.05)

    # -- events -----------------------------------------------------------
    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` for every event; returns a function that unsubscribes."""
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe

    async def emit(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; one failing handler does not stop others."""
        for handler in list(self._handlers):
            try:
                result = handler(event)
                if result is not None:
                    await result
            except Exception:
                log.exception("event handler %r failed on %r", handler, event)

    # -- call control -----------------------------------------------------
    @abc.abstractmethod
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
        """Call ``target`` (a :mod:`~orchestrator.core.targets` value) on a new leg.

        The new leg comes under the orchestrator's control when it answers:
        ``LegCreated`` then carries ``routing``, so the service that made it (or any
        subscriber) knows whose it is, without keeping the leg id aside. ``variables``
        are set on the new channel; ``timeout`` is how long it may ring (seconds).
        ``leg_id`` (see :meth:`new_id`) lets the caller watch for the leg's events
        before the request is sent. ``headers`` are SIP headers the INVITE carries (a
        SIP target only; an allow-list of names, strict values: see
        :func:`~orchestrator.core.sip_headers.check_sip_headers`, which every adapter
        calls first), e.g. :data:`~orchestrator.core.sip_headers.AUTO_ANSWER` for a page.

        Errors: :class:`~orchestrator.core.errors.ValidationError` for a target,
        routing or header the engine cannot carry (nothing is sent),
        :class:`~orchestrator.core.errors.EngineError` when the engine refuses.

        How engines do it: Asterisk ARI ``POST /channels`` to the target's dial string
        (``PJSIP/<endpoint>``, ``PJSIP/<number>@<trunk>``, ``Local/<number>@t<tenant>/n``)
        into the Stasis app, ``routing`` as the Stasis arguments (``service,key=value,...``)
        that StasisStart gives back, each header as the channel variable
        ``PJSIP_HEADER(add,<name>)``; FreeSWITCH ``originate {orch_route=...,vars}<dial
        string> &park()`` (or ``socket``), the routing read back from the channel's
        variables on CHANNEL_PARK, each header as ``sip_h_<name>`` in the block.
        """

    @abc.abstractmethod
    async def answer(self, leg_id: str) -> None:
        """Answer an inbound leg (``LegStateChanged`` to ``up`` follows).

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when the leg is gone.

        How engines do it: Asterisk ARI ``POST /channels/{id}/answer``; FreeSWITCH
        ``uuid_answer <uuid>``.
        """

    @abc.abstractmethod
    async def hangup(self, leg_id: str, cause: int = 16) -> None:
        """Hang the leg up with the Q.850 ``cause`` (a
        :class:`~orchestrator.core.outcomes.HangupCause`; 16 normal clearing), which
        ``LegHungUp`` then reports.

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when the leg is gone.

        How engines do it: Asterisk ARI ``DELETE /channels/{id}`` with ARI's ``reason``
        name for the cause, or ``reason_code``; FreeSWITCH ``uuid_kill <uuid> <cause
        name>``.
        """

    @abc.abstractmethod
    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        """Start playing ``media`` (``prompt:NAME``, a stock
        :class:`~orchestrator.core.prompts.Prompt`; ``sound:NAME``, ``tone:NAME``,
        ``digits:123``...).

        Returns the playback id; :class:`PlaybackFinished` reports the end.

        How engines do it: Asterisk ARI ``POST /channels/{id}/play/{playback_id}`` with
        the media as ARI URIs (``sound:``, ``tone:``, ``digits:``; prompts mapped to
        Asterisk's stock sounds by the adapter), PlaybackStarted/Finished; FreeSWITCH
        ``uuid_broadcast`` (or ``execute playback``) of the files, tone_stream:// and
        ``say``, the playback followed through PLAYBACK_START/STOP events.
        """

    @abc.abstractmethod
    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (already finished is not an error); :class:`PlaybackFinished`
        reports it with state ``stopped``.

        How engines do it: Asterisk ARI ``DELETE /playbacks/{id}``; FreeSWITCH
        ``uuid_break`` of the leg playing it.
        """

    @abc.abstractmethod
    async def connect(self, a_leg_id: str, b_leg_id: str) -> None:
        """Let two answered legs talk to each other.

        Each leg first leaves what it was connected to (its former peer stays up,
        connected to nothing, and gets :class:`~orchestrator.core.events.LegDisconnected`);
        connecting two legs already connected to each other changes nothing. Both get
        :class:`~orchestrator.core.events.LegConnected` naming the other. When either
        hangs up the connection ends (the other stays up). A connection of legs in
        :attr:`kept_legs` outlives the orchestrator: the next run's engine reports it
        again with ``LegConnected`` once it has taken the legs back.

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when a leg is gone (or
        going), :class:`~orchestrator.core.errors.ValidationError` for a leg with itself.

        Example::

            await engine.connect(caller_leg, agent_leg)  # they talk
            await engine.connect(caller_leg, other_leg)  # agent_leg is alone now

        How engines do it: Asterisk: a mixing bridge per connection that the adapter
        names, creates, destroys once fewer than two legs are in it, and adopts after a
        restart (moving a leg = into a new bridge); FreeSWITCH ``uuid_bridge`` of the
        two uuids (with ``park_after_bridge`` so a leg whose peer leaves stays parked).
        """

    @abc.abstractmethod
    async def disconnect(self, leg_id: str) -> None:
        """The leg leaves its connection; its peer stays up, connected to nothing.

        Both get :class:`~orchestrator.core.events.LegDisconnected`. A leg connected to
        nothing is not an error (nothing happens).

        How engines do it: Asterisk: the adapter destroys the connection's bridge (both
        legs stay in the Stasis application); FreeSWITCH ``uuid_transfer`` of the leg to
        ``park`` (its peer, with ``park_after_bridge``, is parked too).
        """

    @abc.abstractmethod
    async def set_variable(self, leg_id: str, name: str, value: str) -> None:
        """Set a channel variable on the leg (read by the engine's own dialplan, CDRs...).

        How engines do it: Asterisk ARI ``POST /channels/{id}/variable``; FreeSWITCH
        ``uuid_setvar <uuid> <name> <value>``.
        """

    @abc.abstractmethod
    async def transfer(self, leg_id: str, target: Target) -> None:
        """Blind transfer: the leg leaves the orchestrator's control for ``target``.

        The engine switches the rest of the call itself (``LegLeftApp`` reports that the
        leg left; observation events keep following it). An :class:`Extension` is
        handled as if a phone of its tenant dialled the number (redirects, feature
        codes, DIDs, outbound routes); a :class:`SipUser` or :class:`TrunkNumber` is
        dialled as it is.

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when the leg is gone,
        :class:`~orchestrator.core.errors.ValidationError` for a target the engine
        cannot reach (nothing is sent).

        How engines do it: Asterisk ARI ``POST /channels/{id}/continue`` to the tenant's
        context (``t<tenant>``, ``<number>``, priority 1), or to the adapter's
        ``orchestrator-dial`` context with the dial string in ``ORCH_DIAL`` for a SIP
        user or a trunk number; FreeSWITCH ``uuid_transfer <uuid> <number> XML
        <context>`` to an extension in a dialplan context the adapter owns (the
        tenant's, or one that bridges to the dial string set in a channel variable).
        """

    @abc.abstractmethod
    async def take(self, channel_ids: Sequence[str]) -> list[str]:
        """Put live answered channels the orchestrator does not control under its control,
        all at once: the parties of a call the engine switches on its own (a
        phone-to-phone or DID-to-phone dialplan call, seen by observation), so a feature
        can then :meth:`connect`, :meth:`hangup` or ``conferences.join`` them like any leg.

        Each becomes a leg (``LegCreated``, state ``up``, ``routing`` =
        ``Routing("taken")``) and the channels taken together stay connected to each
        other (``LegConnected``; two channels at most, the two parties of one call).
        Returns the leg ids in order: the channel ids (observation, the journal and the
        CDR builder go on with the same channels, so the call's CDR stays one call). It
        returns once every leg is reported and the connection is made.

        Errors (nothing is taken): :class:`~orchestrator.core.errors.ValidationError`
        for no channel, more than two, the same channel twice, or a channel already a
        leg; :class:`~orchestrator.core.errors.LegGoneError` for a channel gone;
        :class:`~orchestrator.core.errors.ConflictError` for a channel not answered yet.

        Example::

            a, b = await engine.take([caller_channel, callee_channel])
            await engine.conferences.create(room)
            await engine.conferences.join(room, a)

        How engines do it: Asterisk AMI ``Redirect`` of the first channel with the second
        as ``ExtraChannel`` (both leave the ``Dial()`` bridge at once, keeping their
        ids) into the adapter's ``orchestrator-take`` context (base dialplan), which
        enters the Stasis app with the argument ``taken``; the adapter then bridges them
        again (a connection of its own). FreeSWITCH ``uuid_transfer <a> -both
        park inline`` (both sides of the bridge parked at once, same uuids), then
        ``uuid_bridge`` of the two again.
        """

    @abc.abstractmethod
    async def ring(self, leg_id: str) -> None:
        """Indicate ringing to an unanswered leg (the caller hears ringback).

        How engines do it: Asterisk ARI ``POST /channels/{id}/ring``; FreeSWITCH
        ``execute ring_ready`` on the leg (a 180 Ringing).
        """

    @abc.abstractmethod
    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        """Send DTMF digits (``0-9*#A-D``) to the leg, out of band (RFC 4733).

        How engines do it: Asterisk ARI ``POST /channels/{id}/dtmf``; FreeSWITCH
        ``uuid_send_dtmf <uuid> <digits>``.
        """

    @abc.abstractmethod
    async def hold(self, leg_id: str, music: str = "") -> None:
        """Put the leg on hold: it hears music on hold until :meth:`unhold`.

        ``music`` names the music-on-hold class the leg hears, for a leg waiting on its
        own (a queue caller, the party an attended transfer set aside after
        :meth:`disconnect`); ``""`` holds it as a party of a conversation is held (the
        hold a phone's button would do: the music the leg's own endpoint is set up for,
        and it stays connected, its media not passed on).

        How engines do it: Asterisk ARI ``POST /channels/{id}/hold`` (the channel's hold
        indication) for ``""``, ``POST /channels/{id}/moh?mohClass=`` for a class;
        FreeSWITCH ``uuid_hold`` for ``""``, ``uuid_broadcast`` of the class's
        ``local_stream://`` otherwise.
        """

    @abc.abstractmethod
    async def unhold(self, leg_id: str) -> None:
        """Take the leg off hold (the music stops); a leg not on hold is not an error.

        How engines do it: Asterisk undoes what :meth:`hold` did (``DELETE .../hold`` or
        ``DELETE .../moh``); FreeSWITCH ``uuid_hold off`` / ``uuid_break``.
        """

    @abc.abstractmethod
    async def get_variable(self, leg_id: str, name: str) -> str:
        """A channel variable's value (``""`` when unset).

        How engines do it: Asterisk ARI ``GET /channels/{id}/variable``; FreeSWITCH
        ``uuid_getvar <uuid> <name>``.
        """

    @abc.abstractmethod
    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        """Set the caller ID the leg presents to whatever it is connected to next.

        Errors: :class:`~orchestrator.core.errors.ValidationError` for a number or name
        the engine cannot carry (nothing is sent).

        How engines do it: Asterisk sets ``CALLERID(num)`` / ``CALLERID(name)`` on the
        channel (ARI ``POST /channels/{id}/variable``); FreeSWITCH ``uuid_setvar`` of
        ``effective_caller_id_number`` / ``effective_caller_id_name``.
        """

    @abc.abstractmethod
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
        """Start recording what the leg says into the stored recording ``name``.

        ``max_duration`` / ``max_silence`` of 0 mean no limit; ``terminate_on`` is a
        DTMF digit that ends the recording (``""`` for none). Returns ``name``;
        :class:`~orchestrator.core.events.RecordingFinished` reports the end.

        How engines do it: Asterisk ARI ``POST /channels/{id}/record`` (``maxDurationSeconds``,
        ``maxSilenceSeconds``, ``beep``, ``terminateOn``), RecordingStarted/Finished;
        FreeSWITCH ``execute record`` with its limit and silence arguments and
        ``playback_terminators``, RECORD_START/STOP events.
        """

    @abc.abstractmethod
    async def record_call(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        """Record the conversation the channel ``leg_id`` is in, both directions mixed.

        Unlike :meth:`record` (what one leg says, for prompts and voicemail) this works on
        any answered channel of the engine: one the orchestrator controls, connected or
        not, or one it only observes (a phone-to-phone dialplan call). ``beep`` lets both
        parties hear that it starts. Recording events report ``leg_id`` (never an object
        of the adapter's own); :meth:`stop_recording` ends it, and so does the end of the
        channel. Returns ``name``.

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when the channel is gone,
        :class:`~orchestrator.core.errors.CallError` when the engine refuses (the channel
        cannot be recorded now, the name is taken).

        How engines do it: Asterisk snoops on the channel (``spy=both``, so the snoop
        carries what the channel hears and says) and records the snoop channel: it works
        for channels in or out of Stasis and in any bridge; FreeSWITCH
        ``uuid_record``, which records both directions of a channel.
        """

    @abc.abstractmethod
    async def stop_recording(self, name: str) -> None:
        """End a live recording and keep it (already ended is not an error).

        How engines do it: Asterisk ARI ``POST /recordings/live/{name}/stop``;
        FreeSWITCH ``uuid_record <uuid> stop <path>`` (a conversation) or ``uuid_break``
        of the leg's ``record``.
        """

    @abc.abstractmethod
    async def recording_file(self, name: str) -> bytes:
        """The stored recording's audio file (for upload or download).

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for no such recording.

        How engines do it: Asterisk ARI ``GET /recordings/stored/{name}/file``;
        FreeSWITCH: the file in the recordings folder the adapter records into (shared
        with the orchestrator, or fetched over HTTP).
        """

    @abc.abstractmethod
    async def delete_recording(self, name: str) -> None:
        """Delete a stored recording.

        Errors: :class:`~orchestrator.core.errors.NotFoundError` for no such recording.

        How engines do it: Asterisk ARI ``DELETE /recordings/stored/{name}``;
        FreeSWITCH: the adapter removes the file from its recordings folder.
        """

    # -- supervision ----------------------------------------------------------
    @abc.abstractmethod
    async def supervise(
        self, target_leg_id: str, supervisor_leg_id: str, mode: SupervisionMode
    ) -> None:
        """The supervisor's leg hears the conversation of ``target_leg_id``; ``mode`` says
        who hears the supervisor (see :class:`SupervisionMode`).

        ``target_leg_id`` may be any live channel of the engine, also one the orchestrator
        does not control (a phone-to-phone dialplan call seen by observation).
        ``supervisor_leg_id`` is an answered leg under the orchestrator's control (the
        supervisor's phone, called for this); while it supervises it is connected to
        nothing else. It returns once the supervisor hears the target. Calling it again
        for the same supervisor's leg switches the mode (or the target) without dropping
        that leg. The supervision ends when the supervisor's leg hangs up (hang it up to
        stop) or when the target's channel ends; then the supervisor's leg stays up,
        hearing nothing, and its owner decides (observation reports the target's end).
        Whatever the engine needs for it (extra channels, bridges) is the adapter's own:
        no leg or bridge event of it reaches subscribers.

        Errors: :class:`~orchestrator.core.errors.LegGoneError` when the target's channel
        or the supervisor's leg is gone, :class:`~orchestrator.core.errors.ValidationError`
        for an unknown mode.

        How engines do it: Asterisk: the adapter snoops on the target (ARI ``POST
        /channels/{id}/snoop``, ``spy=both``, ``whisper`` ``none``/``out``/``in``/``both``
        for listen/whisper/whisper_peer/barge: "out" is the audio sent *to* the snooped
        channel) and bridges the snoop channel with the supervisor's leg in a mixing
        bridge of its own; a mode switch puts a new snoop in the bridge in place of the
        old one; the supervisor's hangup takes snoop and bridge with it. FreeSWITCH:
        ``eavesdrop`` of the target's uuid run on the supervisor's own leg
        (``uuid_transfer <supervisor> eavesdrop:<target> inline``, or ``execute``),
        with the whisper mode chosen by the DTMF keys eavesdrop understands (0 listen
        only, 2 speak to the eavesdropped leg, 1 to its peer, 3 to both), sent with
        ``uuid_recv_dtmf`` to switch; eavesdrop ends with either channel.
        """

    # -- SIP endpoints ----------------------------------------------------------
    async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
        """The reachability of SIP endpoints (``<user>@<domain>``) now, as the engine sees it.

        Each endpoint asked for maps to ``"online"`` (a phone is registered and not known
        to be unreachable), ``"offline"`` (no usable registration) or ``"unknown"`` (the
        engine cannot tell). Features use it to seed states that ``EndpointStateChanged``
        events then keep current (see :class:`EngineCapabilities`), and after a reconnect
        to correct what events were missed. The default knows nothing (every endpoint
        ``"unknown"``).

        How engines do it: Asterisk AMI ``PJSIPShowContacts`` (with realtime AORs ARI's
        endpoint ``state`` stays ``offline`` while the phone is registered, see the
        adapter); FreeSWITCH ``sofia_contact`` / ``show registrations``.
        """
        return {endpoint: "unknown" for endpoint in endpoints}

    async def set_message_waiting(self, endpoint: str, new: int, old: int) -> None:
        """Show the SIP endpoint's phones ``new`` unheard and ``old`` heard voicemail
        messages: the message-waiting light is on while ``new`` > 0.

        The phones registered now get an unsolicited NOTIFY ``message-summary``
        (RFC 3842: ``Messages-Waiting: yes|no``, ``Voice-Message: <new>/<old>``); a phone
        not registered gets nothing. Engines do not keep the state for phones that
        register later, nor across their own restart: the orchestrator's MWI reconciler
        (orchestrator/pbx/mwi.py) sends it again then. Errors:
        :class:`~orchestrator.core.errors.ValidationError` for a bad endpoint or count
        (nothing is sent, see :func:`check_message_waiting`); an endpoint the engine does
        not know is not one (it has no phone registered: nothing is sent); the default
        engine cannot do it (:class:`~orchestrator.core.errors.EngineError`).

        Example::

            await engine.set_message_waiting("101@a.example", new=2, old=1)

        How engines do it: Asterisk: AMI ``PJSIPNotify`` to the endpoint (a NOTIFY to
        each of its contacts) with the ``message-summary`` body; FreeSWITCH
        ``sendevent MESSAGE_WAITING`` (``MWI-Messages-Waiting``,
        ``MWI-Message-Account``, ``MWI-Voice-Message``), which mod_sofia turns into a
        NOTIFY to the account's registered contacts.
        """
        check_message_waiting(endpoint, new, old)
        raise EngineError(f"{self.name} cannot show message waiting", endpoint=endpoint)

    # -- the engine's own journal ------------------------------------------------
    async def journal(self, leg_ids: Collection[str]) -> dict[str, LegRecord]:
        """What the engine itself recorded about ``leg_ids`` (answer, end, cause).

        Read after a gap (the orchestrator was down or lost its link): a leg that ended
        meanwhile gets its true times from here, not from when the orchestrator last saw
        it. Legs the engine recorded nothing about are missing from the answer. The
        default keeps no journal (an empty answer); see :mod:`orchestrator.core.journal`.
        """
        return {}

    async def prune_journal(self, before: float) -> None:
        """Forget journal records older than ``before`` (Unix seconds), so the journal
        does not grow forever; records at or after it stay readable."""
        return None

    # The engine's configuration side (reload, cache expiry, console commands) is not
    # part of the seam: each engine kit hands it to its own provisioner
    # (orchestrator.provisioning.base.EngineConfig).
