"""The :class:`Engine` interface that every media-engine adapter implements.

Features (IVR flows, queues, provisioning...) and the API receive an ``Engine``
from the composition root (:mod:`orchestrator.runtime`) and never import an
adapter. The Asterisk adapter implements it over ARI + AMI, the FreeSWITCH
adapter over ESL, and :class:`orchestrator.core.fake.FakeEngine` in memory.

Identifiers are chosen by the caller where the engine allows it (leg, bridge
and playback ids), so a waiter can be registered before the request is sent:
an engine may report a new channel before it answers the request that made it.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.core.call import Bridge, Leg
from orchestrator.core.events import Event
from orchestrator.core.journal import LegRecord

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None] | None]

# Who hears a snooping leg (see Engine.snoop): nobody, the snooped leg only, only the
# party the snooped leg talks to, or both of them.
WhisperTo = Literal["none", "leg", "peer", "both"]
WHISPER_TO: tuple[WhisperTo, ...] = ("none", "leg", "peer", "both")


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
    # Every leg, bridge and playback id the orchestrator chooses starts with it (see
    # new_id): what the engine holds with this prefix is ours, so a start-up sweep can
    # tell our leftovers (an empty bridge after a crash) from anything else.
    id_prefix: str = "orch-"
    # Whether ``EndpointStateChanged`` reports every registration change of the SIP users
    # (a phone registering, unregistering, or its registration expiring) while the engine
    # is connected. Either way features read :meth:`endpoint_states` at each (re)connect
    # (events are lost while down); without events they must also poll it. An adapter
    # may set it when it connects (Asterisk: only builds that raise the registrar's test
    # events, see orchestrator/engines/asterisk/contacts.py).
    registration_events: bool = False

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []
        self.legs: dict[str, Leg] = {}
        self.bridges: dict[str, Bridge] = {}
        # Legs that outlive this run of the orchestrator (callers waiting in a queue): a
        # stop leaves them up. Filled before start() by a new run, they are taken back:
        # an engine that clears what a previous run left (the Asterisk adapter's start-up
        # sweep) spares them and reports each one still there as LegCreated(resumed=True).
        self.kept_legs: set[str] = set()

    def new_id(self) -> str:
        """A fresh id for a leg, bridge or playback the orchestrator creates.

        Features call it instead of making their own, so all the engine objects of the
        orchestrator carry :attr:`id_prefix` (``orch-3f2a...``)."""
        return f"{self.id_prefix}{uuid.uuid4().hex}"

    # -- life cycle -------------------------------------------------------
    @abc.abstractmethod
    async def start(self) -> None:
        """Connect, and keep reconnecting in the background if the link drops."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""

    @abc.abstractmethod
    def status(self) -> EngineStatus: ...

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
        endpoint: str,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 30,
        variables: Mapping[str, str] | None = None,
        app_args: Sequence[str] = (),
    ) -> Leg:
        """Call ``endpoint`` (engine dial string, e.g. ``PJSIP/101@a.example``).

        The new leg comes under the orchestrator's control when it answers.
        """

    @abc.abstractmethod
    async def answer(self, leg_id: str) -> None: ...

    @abc.abstractmethod
    async def hangup(self, leg_id: str, cause: int = 16) -> None: ...

    @abc.abstractmethod
    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        """Start playing ``media`` (``sound:NAME``, ``tone:NAME``, ``digits:123``...).

        Returns the playback id; :class:`PlaybackFinished` reports the end.
        """

    @abc.abstractmethod
    async def stop_playback(self, playback_id: str) -> None: ...

    @abc.abstractmethod
    async def create_bridge(self, bridge_id: str | None = None, kind: str = "mixing") -> Bridge: ...

    @abc.abstractmethod
    async def add_to_bridge(self, bridge_id: str, leg_id: str) -> None: ...

    @abc.abstractmethod
    async def remove_from_bridge(self, bridge_id: str, leg_id: str) -> None: ...

    @abc.abstractmethod
    async def destroy_bridge(self, bridge_id: str) -> None: ...

    @abc.abstractmethod
    async def set_variable(self, leg_id: str, name: str, value: str) -> None: ...

    @abc.abstractmethod
    async def continue_in_dialplan(
        self, leg_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        """Hand the leg back to the engine's own dialplan at the given place."""

    @abc.abstractmethod
    async def ring(self, leg_id: str) -> None:
        """Indicate ringing to an unanswered leg (the caller hears ringback)."""

    @abc.abstractmethod
    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        """Send DTMF digits (``0-9*#A-D``) to the leg, out of band (RFC 4733)."""

    @abc.abstractmethod
    async def hold(self, leg_id: str) -> None:
        """Put the leg on hold (it hears music on hold; its media is not passed on)."""

    @abc.abstractmethod
    async def unhold(self, leg_id: str) -> None: ...

    @abc.abstractmethod
    async def start_moh(self, leg_id: str, moh_class: str = "default") -> None:
        """Play music on hold to the leg until :meth:`stop_moh` (or it enters a bridge)."""

    @abc.abstractmethod
    async def stop_moh(self, leg_id: str) -> None: ...

    @abc.abstractmethod
    async def get_variable(self, leg_id: str, name: str) -> str:
        """A channel variable's value (``""`` when unset)."""

    @abc.abstractmethod
    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        """Set the caller ID the leg presents to whatever it is connected to next."""

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
        """

    @abc.abstractmethod
    async def record_call(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        """Record the conversation the channel ``leg_id`` is in, both directions mixed.

        Unlike :meth:`record` (what one leg says, for prompts and voicemail) this works on
        any answered channel of the engine: one the orchestrator controls, in a bridge or
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
        """End a live recording and keep it (already ended is not an error)."""

    @abc.abstractmethod
    async def recording_file(self, name: str) -> bytes:
        """The stored recording's audio file (for upload or download)."""

    @abc.abstractmethod
    async def delete_recording(self, name: str) -> None: ...

    # -- supervision ----------------------------------------------------------
    @abc.abstractmethod
    async def snoop(
        self,
        leg_id: str,
        *,
        listen: bool = True,
        whisper: WhisperTo = "none",
        snoop_id: str | None = None,
        app_args: Sequence[str] = (),
    ) -> Leg:
        """A new leg that eavesdrops on the channel ``leg_id`` (supervisors, coaching).

        ``leg_id`` may be any live channel of the engine, also one the orchestrator does
        not control (a phone-to-phone dialplan call seen by observation). With ``listen``
        the new leg carries what that channel hears and says, mixed; ``whisper`` says who
        hears what is played or said into the new leg: ``"none"``, ``"leg"`` (only the
        snooped channel: coaching), ``"peer"`` (only whoever it talks to) or ``"both"``
        (barge). The leg is up at once and reported with ``LegCreated`` (``app_args`` as
        its ``args``); bridge it with the supervisor's leg. It ends (``LegHungUp``) when
        the snooped channel ends; hanging it up stops the snooping and nothing else.

        How engines do it: Asterisk ARI ``POST /channels/{id}/snoop`` with ``spy=both``
        (or ``none``) and ``whisper`` ``none``/``out``/``in``/``both`` ("out" is the
        audio sent *to* the snooped channel, so ``"leg"`` maps to ``out`` and ``"peer"``
        to ``in``); FreeSWITCH ``eavesdrop`` of the channel's uuid, whose whisper modes
        (DTMF 2: speak to the eavesdropped leg, 1: to its peer, 3: to both, 0: listen
        only) are the same four choices.
        """

    # -- SIP endpoints ----------------------------------------------------------
    async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
        """The reachability of SIP endpoints (``<user>@<domain>``) now, as the engine sees it.

        Each endpoint asked for maps to ``"online"`` (a phone is registered and not known
        to be unreachable), ``"offline"`` (no usable registration) or ``"unknown"`` (the
        engine cannot tell). Features use it to seed states that ``EndpointStateChanged``
        events then keep current (see :attr:`registration_events`), and after a reconnect
        to correct what events were missed. The default knows nothing (every endpoint
        ``"unknown"``).

        How engines do it: Asterisk AMI ``PJSIPShowContacts`` (with realtime AORs ARI's
        endpoint ``state`` stays ``offline`` while the phone is registered, see the
        adapter); FreeSWITCH ``sofia_contact`` / ``show registrations``.
        """
        return {endpoint: "unknown" for endpoint in endpoints}

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

    # -- dial strings -------------------------------------------------------
    @abc.abstractmethod
    def user_dial_string(self, endpoint: str) -> str:
        """How :meth:`originate` reaches the SIP user ``endpoint`` (``<user>@<domain>``)."""

    @abc.abstractmethod
    def trunk_dial_string(self, trunk: str, number: str) -> str:
        """How :meth:`originate` reaches ``number`` through the SIP trunk ``trunk``."""

    # The engine's configuration side (reload, cache expiry, console commands) is not
    # part of the seam: each engine kit hands it to its own provisioner
    # (orchestrator.provisioning.base.EngineConfig).
