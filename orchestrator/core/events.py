"""Engine-neutral events.

Adapters translate their wire events (ARI JSON, AMI messages, ESL event
frames) into these dataclasses; nothing above the adapters sees wire formats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.core.call import LegState
from orchestrator.core.outcomes import ChannelKind, DialOutcome, HangupCause
from orchestrator.core.targets import Routing


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. ``timestamp`` is the engine's time when known."""

    timestamp: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConnected(Event):
    """The control link is up (first connect or after a reconnect)."""

    engine: str
    version: str = ""
    reconnect: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineDisconnected(Event):
    engine: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEvent(Event):
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegCreated(LegEvent):
    """A leg entered the orchestrator's control (ARI StasisStart, ESL CHANNEL_PARK...).

    ``routing`` says which service takes it: what ``Engine.originate(routing=...)`` gave
    for a leg the orchestrator made, or what the engine's dialplan says for one it hands
    over (an IVR access number: ``Routing("ivr", {"flow": ..., "tenant": ...})``); None
    when nothing says (a leg adopted after a reconnect whose routing was lost).
    """

    name: str = ""
    state: LegState = LegState.DOWN
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    routing: Routing | None = None
    variables: dict[str, str] = field(default_factory=dict)
    # Left in the engine by a previous run of the orchestrator and taken back because it
    # is in ``Engine.kept_legs``: its owner resumes it, nothing new starts on it.
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LegStateChanged(LegEvent):
    state: LegState


@dataclass(frozen=True, slots=True, kw_only=True)
class LegDtmf(LegEvent):
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHungUp(LegEvent):
    """The leg ended, with the Q.850 ``cause`` (see :class:`HangupCause`)."""

    cause: int = HangupCause.NORMAL_CLEARING
    cause_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegLeftApp(LegEvent):
    """The leg left the orchestrator's control but may still exist (StasisEnd)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(Event):
    playback_id: str
    leg_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(Event):
    playback_id: str
    leg_id: str = ""
    state: str = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHeld(LegEvent):
    """The far end put the leg on hold (SIP re-INVITE with sendonly/inactive)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegUnheld(LegEvent):
    """The far end took the leg off hold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(Event):
    recording: str
    leg_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFinished(Event):
    """A recording ended. ``state``: ``done`` (kept), ``canceled`` or ``failed``.

    ``duration`` is in seconds when the engine reports it (0 otherwise);
    ``cause`` says why a recording failed.
    """

    recording: str
    leg_id: str = ""
    state: str = "done"
    duration: float = 0.0
    cause: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegConnected(LegEvent):
    """The leg now talks with ``peer_id`` (``Engine.connect``); sent for each of the two.

    Also sent after a restart for a connection of kept legs that the engine still holds.
    """

    peer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegDisconnected(LegEvent):
    """The leg no longer talks with ``peer_id``: either side was disconnected, connected
    elsewhere or hung up (sent for each side still up); each is then connected to nothing."""

    peer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStateChanged(Event):
    """A SIP user's reachability changed (registered, unregistered, expired...).

    ``state``: ``online`` / ``offline`` for registrations (engines whose
    ``Engine.capabilities.registration_events`` is true send one for each), or the engine's own
    endpoint or contact state (``reachable``, ``unreachable``...).
    """

    endpoint: str
    state: str
    details: dict[str, Any] = field(default_factory=dict)


# -- observation: every channel on the engine, under the orchestrator's control or not --
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(Event):
    """Observation of any engine channel, including phones calling each other in dialplan.

    These come in addition to the leg events (a channel under the orchestrator's control
    also has a leg with the same id). ``call_id`` groups every channel of one call
    (Asterisk's linkedid; on FreeSWITCH the a-leg's uuid), so CDRs and CTI can tie the
    legs of a call together across dials, forwards and transfers.
    """

    channel_id: str
    call_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStarted(ChannelEvent):
    """A channel exists. ``endpoint`` is the SIP user or trunk it belongs to (``""`` for
    internal channels such as loopback ones); ``called_number`` is what it dialed/was
    dialed as. ``kind`` says whether it is a party of the call (a phone, a trunk) or the
    engine's plumbing (internal). The two halves of a loopback channel (the engine dialing
    itself: Asterisk's Local channel ``;1``/``;2``, FreeSWITCH's ``loopback/`` a- and
    b-leg) share one ``pair_id`` (``""`` for any other channel): what is dialed into one
    half comes out of the other. ``name`` is the engine's own channel name, for logs only.
    """

    name: str = ""
    endpoint: str = ""
    kind: ChannelKind = ChannelKind.PHONE
    pair_id: str = ""
    state: LegState = LegState.DOWN
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    context: str = ""
    # Found in the engine's list of channels after a gap (at start-up, or after the link
    # was down), not reported as it started: its dial and bridge events were missed.
    # ``state`` is its state now.
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChanged(ChannelEvent):
    """The channel's new :class:`~orchestrator.core.call.LegState` (``up``: answered)."""

    state: LegState


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialed(ChannelEvent):
    """The channel dialed ``peer_id`` (``status`` ``""``), or that attempt ended with the
    :class:`DialOutcome` ``status``. ``channel_id`` is ``""`` when the engine itself
    dialed (an originate: no calling channel).
    """

    peer_id: str
    dial_string: str = ""
    status: DialOutcome | Literal[""] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBridged(ChannelEvent):
    """The channel joined the conversation ``conversation_id``: the channels that share
    one talk with each other (a dialplan dial, a connection, a queue call).

    ``conversation_id`` is opaque, only compared: the adapter makes it from whatever
    carries the media (Asterisk: the bridge's id; FreeSWITCH: the two bridged uuids).
    """

    conversation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnbridged(ChannelEvent):
    """The channel left the conversation ``conversation_id`` (see :class:`ChannelBridged`)."""

    conversation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnded(ChannelEvent):
    """The channel is gone, with the Q.850 ``cause`` (see :class:`HangupCause`)."""

    cause: int = HangupCause.NORMAL_CLEARING
    cause_text: str = ""


# -- conferences (Engine.conferences, see orchestrator/core/conferences.py) ------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceEvent(Event):
    conference_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceMemberJoined(ConferenceEvent):
    """The leg is a member now, with these flags (also for a kept member taken back after a
    restart: ``resumed``)."""

    leg_id: str
    muted: bool = False
    deaf: bool = False
    moderator: bool = False
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceMemberUpdated(ConferenceEvent):
    """The member's flags now (after a mute, deafen, hold or coach); ``coaching``: the
    member it whispers to (``Conferences.coach``), or None."""

    leg_id: str
    muted: bool = False
    deaf: bool = False
    held: bool = False
    coaching: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceMemberTalking(ConferenceEvent):
    """The member started (``talking``) or stopped talking, as the engine's talk detection
    hears what it sends (an engine may say nothing of a muted member). Every "started" is
    followed by a "stopped", at the latest just before the member's
    ``ConferenceMemberLeft``."""

    leg_id: str
    talking: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceMemberLeft(ConferenceEvent):
    """The leg is a member no more. ``reason``: ``left`` (``Conferences.leave``, or it
    joined another conference or was connected elsewhere), ``hangup`` (it ended or left our
    control), ``ended`` (``Conferences.end``)."""

    leg_id: str
    reason: Literal["left", "hangup", "ended"] = "left"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceEnded(ConferenceEvent):
    """The conference is gone (``Conferences.end``; every member was told it left first)."""
