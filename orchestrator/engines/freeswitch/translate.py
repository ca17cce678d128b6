"""ESL events to the engine-neutral events of :mod:`orchestrator.core.events`.

Pure functions, no I/O. :func:`translate` takes one :class:`EslEvent` and returns the
events it means: core events where one event says it all (DTMF, a hangup, a registration),
and the adapter's own facts (:class:`Executed`, :class:`Bridged`, :class:`Conference`...)
where what it means depends on what the adapter asked for (a playback is an ``execute``
whose ``Application-UUID`` is the playback id). :func:`observe` gives the core's
``Channel*`` observation events of any channel.

Order: ``Event-Sequence`` is global to FreeSWITCH and events of different channels may
arrive out of sequence order (the captures show jumps back of up to 26); within one
channel it increases. Nothing here compares sequences across channels: each fact is
about one channel (or one pair, for bridges), and the adapter's leg state machine drops
what comes late for a leg (an answer after its hangup).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    ChannelBridged,
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
    EndpointStateChanged,
    Event,
    LegCreated,
    LegDtmf,
    LegHeld,
    LegHungUp,
    LegStateChanged,
    LegUnheld,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.engines.freeswitch.causes import cause_code
from orchestrator.engines.freeswitch.dialstrings import (
    LEG_VAR,
    ROUTE_VAR,
    routing_from_variables,
)
from orchestrator.engines.freeswitch.esl.wire import EslEvent

log = logging.getLogger(__name__)

# What the adapter subscribes to (plain names before CUSTOM, see the ESL README §3).
EVENTS = (
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_PARK", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
    "CHANNEL_UUID", "DTMF", "RECORD_START", "RECORD_STOP", "CHANNEL_HOLD", "CHANNEL_UNHOLD",
    "CHANNEL_OUTGOING",
)  # fmt: skip
# CHANNEL_HOLD/UNHOLD from here are the far end's (a re-INVITE sendonly/sendrecv, see
# switch_core_media.c); `uuid_hold` fires CHANNEL_HOLD from switch_ivr_hold: ours, not told.
FAR_END_HOLD = "switch_channel_mark_hold"
CUSTOM = ("conference::maintenance", "sofia::register", "sofia::unregister", "sofia::expire")
# DTMF-Duration is in samples at 8 kHz.
SAMPLES_PER_MS = 8


# -- the adapter's own facts (never reach subscribers as such) ------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Executed(Event):
    """An application started (``done`` False) or finished on a channel."""

    leg_id: str
    app: str
    app_uuid: str
    data: str = ""
    response: str = ""
    done: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridged(Event):
    """``uuid_bridge`` (or a dialplan bridge) joined ``a`` and ``b`` (``up``), or they
    were parted."""

    a: str
    b: str
    up: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Destroyed(Event):
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Renamed(Event):
    """CHANNEL_UUID: a channel's temporary uuid became ``new`` (origination_uuid)."""

    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordFile(Event):
    """RECORD_START / RECORD_STOP of a channel's recording into ``path``."""

    leg_id: str
    path: str
    started: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Conference(Event):
    """A conference::maintenance event (``action``: add-member, del-member, play-file...)."""

    action: str
    name: str
    member_id: str = ""
    leg_id: str = ""
    file: str = ""
    path: str = ""
    cause: str = ""
    elapsed_ms: int = 0  # stop-recording: how long the recording ran


# -- headers -----------------------------------------------------------------------------
def _ts(e: EslEvent) -> dict[str, Any]:
    raw = e.get("Event-Date-Timestamp")
    return {"timestamp": int(raw) / 1e6} if raw.isdigit() else {}


def leg_state(e: EslEvent | dict[str, str]) -> LegState:
    """Our state from an event's ``Answer-State`` / ``Channel-Call-State``."""
    get = e.get
    answer = str(get("Answer-State", "")).lower()
    call = str(get("Channel-Call-State", "")).upper()
    if answer == "hangup" or call == "HANGUP":
        return LegState.HUNG_UP
    if answer == "answered" or call in ("ACTIVE", "HELD", "UNHELD"):
        return LegState.UP
    if answer in ("ringing", "early") or call in ("RINGING", "EARLY", "RING_WAIT"):
        return LegState.RINGING
    return LegState.DOWN


def variables(e: EslEvent) -> dict[str, str]:
    """The channel variables an event carries (``variable_`` stripped)."""
    return {k[9:]: v for k, v in e.headers.items() if k.startswith("variable_")}


def is_ours(uuid: str, chan_vars: dict[str, str]) -> bool:
    """Whether a parked channel is under the orchestrator's control: it has a routing
    (set by originate or by the dialplan that handed it over) that is its own, not one a
    loopback b-leg inherited from its a-leg (see dialstrings.LEG_VAR), or it is a leg
    originate made."""
    own = chan_vars.get(LEG_VAR, "")
    if own:
        return own == uuid
    return bool(chan_vars.get(ROUTE_VAR))


def leg_created(e: EslEvent) -> LegCreated:
    """The LegCreated of a parked channel under control (its variables stay on the channel:
    ``Engine.get_variable`` reads them; the routing is read from them here)."""
    return LegCreated(
        leg_id=e.uuid,
        name=e.get("Channel-Name"),
        state=leg_state(e),
        caller_number=e.get("Caller-Caller-ID-Number"),
        caller_name=e.get("Caller-Caller-ID-Name"),
        called_number=e.get("Caller-Destination-Number"),
        routing=routing_from_variables(variables(e)),
        **_ts(e),
    )


def _park(e: EslEvent) -> list[Event]:
    # The two variables is_ours reads, not all of them (an event has 100 or more).
    own = {LEG_VAR: e.variable(LEG_VAR), ROUTE_VAR: e.variable(ROUTE_VAR)}
    return [leg_created(e)] if is_ours(e.uuid, own) else []


def _hangup(e: EslEvent) -> list[Event]:
    name = e.get("Hangup-Cause") or e.variable("hangup_cause")
    cause = cause_code(name, e.variable("hangup_cause_q850"))
    return [LegHungUp(leg_id=e.uuid, cause=cause, cause_text=name, **_ts(e))]


def _dtmf(e: EslEvent) -> list[Event]:
    duration = e.get("DTMF-Duration")
    ms = int(duration) // SAMPLES_PER_MS if duration.isdigit() else 0
    return [LegDtmf(leg_id=e.uuid, digit=e.get("DTMF-Digit"), duration_ms=ms, **_ts(e))]


def _execute(e: EslEvent) -> list[Event]:
    return [
        Executed(
            leg_id=e.uuid,
            app=e.get("Application"),
            app_uuid=e.get("Application-UUID"),
            data=e.get("Application-Data"),
            response=e.get("Application-Response"),
            done=e.name == "CHANNEL_EXECUTE_COMPLETE",
            **_ts(e),
        )
    ]


def _bridge(e: EslEvent) -> list[Event]:
    a = e.get("Bridge-A-Unique-ID") or e.uuid
    b = e.get("Bridge-B-Unique-ID") or e.get("Other-Leg-Unique-ID")
    if not b:
        return []
    return [Bridged(a=a, b=b, up=e.name == "CHANNEL_BRIDGE", **_ts(e))]


def _hold(e: EslEvent) -> list[Event]:
    if e.get("Event-Calling-Function") != FAR_END_HOLD:
        return []
    kind = LegHeld if e.name == "CHANNEL_HOLD" else LegUnheld
    return [kind(leg_id=e.uuid, **_ts(e))]


def _record(e: EslEvent) -> list[Event]:
    path = e.get("Record-File-Path") or e.variable("record_file_path")
    started = e.name == "RECORD_START"
    return [RecordFile(leg_id=e.uuid, path=path, started=started, **_ts(e))]


def _conference(e: EslEvent) -> list[Event]:
    return [
        Conference(
            action=e.get("Action"),
            name=e.get("Conference-Name"),
            member_id=e.get("Member-ID"),
            leg_id=e.uuid,
            file=e.get("File"),
            path=e.get("Path"),
            cause=e.get("Hangup-Cause"),
            elapsed_ms=int(ms) if (ms := e.get("Milliseconds-Elapsed")).isdigit() else 0,
            **_ts(e),
        )
    ]


def _registration(e: EslEvent) -> list[Event]:
    user = e.get("from-user") or e.get("username") or e.get("user")
    host = e.get("from-host") or e.get("realm") or e.get("host")
    if not (user and host):
        return []
    online = e.subclass == "sofia::register" and e.get("expires", "1") != "0"
    details: dict[str, Any] = {
        "contact": e.get("contact"),
        "why": e.subclass.partition("::")[2],
        "profile": e.get("profile-name"),
    }
    if e.get("expires").isdigit():
        details["expires"] = int(e.get("expires"))
    state = "online" if online else "offline"
    return [EndpointStateChanged(endpoint=f"{user}@{host}", state=state, details=details)]


_CUSTOM: dict[str, Callable[[EslEvent], list[Event]]] = {
    "conference::maintenance": _conference,
    "sofia::register": _registration,
    "sofia::unregister": _registration,
    "sofia::expire": _registration,
}
_TRANSLATORS: dict[str, Callable[[EslEvent], list[Event]]] = {
    "CHANNEL_PARK": _park,
    "CHANNEL_PROGRESS": lambda e: [
        LegStateChanged(leg_id=e.uuid, state=LegState.RINGING, **_ts(e))
    ],
    "CHANNEL_PROGRESS_MEDIA": lambda e: [
        LegStateChanged(leg_id=e.uuid, state=LegState.RINGING, **_ts(e))
    ],
    "CHANNEL_ANSWER": lambda e: [LegStateChanged(leg_id=e.uuid, state=LegState.UP, **_ts(e))],
    "CHANNEL_HANGUP": _hangup,
    "CHANNEL_HANGUP_COMPLETE": _hangup,
    "CHANNEL_DESTROY": lambda e: [Destroyed(leg_id=e.uuid, **_ts(e))],
    "CHANNEL_UUID": lambda e: [Renamed(old=e.get("Old-Unique-ID"), new=e.uuid, **_ts(e))],
    "DTMF": _dtmf,
    "CHANNEL_EXECUTE": _execute,
    "CHANNEL_EXECUTE_COMPLETE": _execute,
    "CHANNEL_BRIDGE": _bridge,
    "CHANNEL_UNBRIDGE": _bridge,
    "CHANNEL_HOLD": _hold,
    "CHANNEL_UNHOLD": _hold,
    "RECORD_START": _record,
    "RECORD_STOP": _record,
}


def translate(e: EslEvent) -> list[Event]:
    """The events one ESL event means (``[]`` for one the orchestrator does not use).

    A malformed event is logged and dropped rather than raised: one bad event must not
    stop the dispatcher."""
    fn = _CUSTOM.get(e.subclass) if e.name == "CUSTOM" else _TRANSLATORS.get(e.name)
    if fn is None:
        return []
    try:
        return fn(e)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ESL %s event not understood (%r)", e.name, exc)
        return []


# -- observation: every channel ----------------------------------------------------------
def channel_kind(name: str) -> ChannelKind:
    """``loopback/``: internal; ``sofia/gateway/``: a trunk; other ``sofia/``: a phone."""
    if name.startswith("loopback/"):
        return ChannelKind.INTERNAL
    if name.startswith("sofia/") and not name.startswith("sofia/gateway/"):
        return ChannelKind.PHONE
    return ChannelKind.TRUNK


def channel_endpoint(name: str) -> str:
    """``sofia/internal/1000@a.example`` -> ``1000@a.example``; a gateway's name for a
    trunk; ``""`` for other technologies."""
    parts = name.split("/")
    if parts[0] != "sofia" or len(parts) < 3:
        return ""
    if parts[1] == "gateway":
        return parts[2]
    rest = "/".join(parts[2:]).removeprefix("sip:")
    return rest.split(";")[0].split(":")[0]


def phone_endpoint(e: EslEvent) -> str:
    """The SIP user (``<user>@<domain>``) of a phone's channel, from its variables: the
    channel name holds the phone's contact (``sofia/<profile>/102@127.0.0.1:46002``) for a
    call to it, not its user. A call to ``user/102@a.example`` has ``dialed_user`` and
    ``dialed_domain`` from its creation; a phone's own call has the directory's
    ``orch_endpoint`` (or ``user_name``/``domain_name`` after digest authentication).
    ``""`` when none is there (then the name is all there is)."""
    user, domain = e.variable("dialed_user"), e.variable("dialed_domain")
    if user and domain:
        return f"{user}@{domain}"
    if endpoint := e.variable("orch_endpoint"):
        return endpoint
    user, domain = e.variable("user_name"), e.variable("domain_name")
    return f"{user}@{domain}" if user and domain else ""


def pair_id(e: EslEvent | dict[str, str], uuid: str, name: str) -> str:
    """What both halves of a loopback channel share: the a-leg's uuid."""
    if not name.startswith("loopback/"):
        return ""
    other = str(e.get("variable_other_loopback_leg_uuid", "") or "")
    return other if name.endswith("-b") and other else uuid


def _call_id(e: EslEvent) -> str:
    return e.get("Channel-Call-UUID") or e.variable("call_uuid") or e.uuid


def _started_state(e: EslEvent) -> LegState:
    """A new channel's state: FreeSWITCH says "ringing" of every new channel; only an
    inbound one rings (an outbound one is down until the far end answers or rings)."""
    state = leg_state(e)
    if state is LegState.RINGING and e.get("Call-Direction") == "outbound":
        return LegState.DOWN
    return state


def channel_started(e: EslEvent) -> ChannelStarted:
    name = e.get("Channel-Name")
    kind = channel_kind(name)
    return ChannelStarted(
        channel_id=e.uuid,
        call_id=_call_id(e),
        name=name,
        endpoint=(kind is ChannelKind.PHONE and phone_endpoint(e)) or channel_endpoint(name),
        kind=kind,
        pair_id=pair_id(e, e.uuid, name),
        state=_started_state(e),
        caller_number=e.get("Caller-Caller-ID-Number"),
        caller_name=e.get("Caller-Caller-ID-Name"),
        called_number=e.get("Caller-Destination-Number"),
        context=e.get("Caller-Context"),
        **_ts(e),
    )


def observe(e: EslEvent) -> list[ChannelEvent]:
    """The observation events of one ESL event (``[]`` for most)."""
    name = e.name
    if name == "CHANNEL_CREATE":
        return [channel_started(e)]
    if name == "CHANNEL_OUTGOING":
        # Dialed by a channel (a bridge) or by the engine itself (an originate: "").
        caller = e.get("Other-Leg-Unique-ID") if e.get("Other-Type") == "originator" else ""
        return [
            ChannelDialed(
                channel_id=caller, call_id=_call_id(e), peer_id=e.uuid,
                dial_string=e.get("Channel-Name"), **_ts(e),
            )
        ]  # fmt: skip
    if name in ("CHANNEL_PROGRESS", "CHANNEL_ANSWER"):
        state = LegState.UP if name == "CHANNEL_ANSWER" else LegState.RINGING
        return [ChannelStateChanged(channel_id=e.uuid, call_id=_call_id(e), state=state, **_ts(e))]
    if name in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"):
        a, b = e.get("Bridge-A-Unique-ID") or e.uuid, e.get("Bridge-B-Unique-ID")
        if not b:
            return []
        kind = ChannelBridged if name == "CHANNEL_BRIDGE" else ChannelUnbridged
        conversation = "+".join(sorted((a, b)))
        call = _call_id(e)
        return [
            kind(channel_id=c, call_id=call, conversation_id=conversation, **_ts(e)) for c in (a, b)
        ]
    if name == "CHANNEL_HANGUP_COMPLETE":
        cause = e.get("Hangup-Cause")
        return [
            ChannelEnded(
                channel_id=e.uuid, call_id=_call_id(e),
                cause=cause_code(cause, e.variable("hangup_cause_q850")), cause_text=cause,
                **_ts(e),
            )
        ]  # fmt: skip
    return []
