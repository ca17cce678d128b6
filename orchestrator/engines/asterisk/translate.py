"""ARI event JSON to the engine-neutral events of :mod:`orchestrator.core.events`.

Pure functions, no I/O: :func:`translate` takes one parsed event (see
:func:`orchestrator.engines.asterisk.ari.parse_event`) and returns the core event,
or None for ARI events the orchestrator does not use (ChannelVarset, Dial...).
:func:`dial_failure` reads the one thing the adapter needs from a Dial event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    EndpointStateChanged,
    Event,
    LegCreated,
    LegDtmf,
    LegHeld,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    LegUnheld,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.core.outcomes import DialOutcome, HangupCause
from orchestrator.engines.asterisk.bridges import (
    BridgeCreated,
    BridgeDestroyed,
    LegEnteredBridge,
    LegLeftBridge,
)
from orchestrator.engines.asterisk.targets import routing_from_args

log = logging.getLogger(__name__)

AriEvent = dict[str, Any]

# Q.850 cause given to a LegHungUp when ARI does not say (a *soft* ChannelHangupRequest
# carries the soft-hangup flags in "cause", not a Q.850 value).
NORMAL_CLEARING: int = HangupCause.NORMAL_CLEARING

# The channel variable (a dialplan function, see ari.conf's channelvars) carrying the
# channel's linkedid in every ARI channel snapshot; observation reads it, legs do not.
LINKEDID_VAR = "CHANNEL(linkedid)"

# Asterisk's final DIALSTATUS values (ARI's Dial event ``dialstatus``) -> our outcomes.
# RINGING, PROGRESS and PROCEEDING are not final (see observe._dial). DONTCALL and
# TORTURE are the privacy manager sending the caller away: refused by the callee's side.
DIAL_STATUSES: dict[str, DialOutcome] = {
    "ANSWER": DialOutcome.ANSWERED,
    "BUSY": DialOutcome.BUSY,
    "NOANSWER": DialOutcome.NO_ANSWER,
    "CANCEL": DialOutcome.CANCELLED,
    "CONGESTION": DialOutcome.CONGESTION,
    "CHANUNAVAIL": DialOutcome.UNAVAILABLE,
    "DONTCALL": DialOutcome.REJECTED,
    "TORTURE": DialOutcome.REJECTED,
}

# Q.850 causes for the final dial statuses of a failed originate (as app_dial maps them).
DIAL_STATUS_CAUSES: dict[str, HangupCause] = {
    "BUSY": HangupCause.USER_BUSY,
    "NOANSWER": HangupCause.NO_ANSWER,
    "CHANUNAVAIL": HangupCause.SUBSCRIBER_ABSENT,
    "CONGESTION": HangupCause.NORMAL_CIRCUIT_CONGESTION,
}


# strptime costs ~30 us a call (locale checks, a regex) and every ARI event has a
# timestamp, often parsed twice (observation, then the leg event): the costliest step
# of an event once. ARI always writes this one shape, which fromisoformat reads in <1 us.
_ARI_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
_last_timestamp: tuple[str, float | None] = ("", None)


def parse_timestamp(value: object) -> float | None:
    """ARI's ``2026-11-22T09:04:27.520+0000`` as epoch seconds (None if absent or odd).

    Exactly what ``datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")`` gives: ARI's own
    shape takes a fast path, anything else (or anything the fast path refuses) goes to
    strptime. The last value is remembered: one event's timestamp is read twice.
    """
    global _last_timestamp
    if not isinstance(value, str):
        return None
    last, parsed = _last_timestamp
    if value == last:
        return parsed
    # Same shape as strptime's pattern, and nothing fromisoformat would read otherwise
    # (another separator, an offset minute of 60+, non-ASCII digits).
    if (
        len(value) == 28
        and value[4] == "-"
        and value[7] == "-"
        and value[10] in "Tt"
        and value[13] == ":"
        and value[16] == ":"
        and value[19] == "."
        and value[23] in "+-"
        and value[26] in "012345"
        and value.isascii()
    ):
        try:
            parsed = datetime.fromisoformat(value).timestamp()
        except ValueError:
            parsed = _strptime(value)  # it has the last word (it reads " 2" as a day)
    else:
        parsed = _strptime(value)
    _last_timestamp = (value, parsed)
    return parsed


def _strptime(value: str) -> float | None:
    try:
        return datetime.strptime(value, _ARI_TIME_FORMAT).timestamp()
    except ValueError:
        return None


# ARI's channel states (the Channel model's ``state``, Asterisk's ast_state2str) -> ours.
# A leg rings once the far end is alerted or the channel is dialing out; anything short
# of that (reserved, off hook, busy, an analog line's pre-ring, unknown) is still down.
CHANNEL_STATES: dict[str, LegState] = {
    "Down": LegState.DOWN,
    "Rsrved": LegState.DOWN,
    "OffHook": LegState.DOWN,
    "Dialing": LegState.RINGING,
    "Ring": LegState.RINGING,
    "Ringing": LegState.RINGING,
    "Up": LegState.UP,
    "Busy": LegState.DOWN,
    "Dialing Offhook": LegState.DOWN,
    "Pre-ring": LegState.DOWN,
    "Unknown": LegState.DOWN,
}


_CHANNEL_STATES_LOWER = {name.lower(): state for name, state in CHANNEL_STATES.items()}


def channel_state(value: object) -> LegState:
    """Our state for an ARI channel state name (:data:`CHANNEL_STATES`, in any case;
    any other name: down)."""
    state = CHANNEL_STATES.get(str(value))
    if state is None:
        state = _CHANNEL_STATES_LOWER.get(str(value).strip().lower(), LegState.DOWN)
    return state


def leg_state(channel: dict[str, Any]) -> LegState:
    """Our state for an ARI channel snapshot."""
    return channel_state(channel.get("state", "Down"))


def target_leg(media: dict[str, Any]) -> str:
    """The channel id in a playback's or recording's ``target_uri`` (``channel:ID``) or ``""``."""
    kind, _, ident = str(media.get("target_uri", "")).partition(":")
    return ident if kind == "channel" else ""


def _ts(event: AriEvent) -> dict[str, Any]:
    ts = parse_timestamp(event.get("timestamp"))
    return {} if ts is None else {"timestamp": ts}


def _stasis_start(e: AriEvent) -> Event:
    ch = e["channel"]
    caller = ch.get("caller") or {}
    dialplan = ch.get("dialplan") or {}
    return LegCreated(
        leg_id=ch["id"],
        name=ch.get("name", ""),
        state=leg_state(ch),
        caller_number=caller.get("number", ""),
        caller_name=caller.get("name", ""),
        called_number=dialplan.get("exten", ""),
        routing=routing_from_args([str(a) for a in e.get("args", ())]),
        variables={
            str(k): str(v) for k, v in (ch.get("channelvars") or {}).items() if k != LINKEDID_VAR
        },
        **_ts(e),
    )


def leg_created_from_snapshot(channel: dict[str, Any]) -> LegCreated:
    """A LegCreated for a channel found by ``GET /channels`` (adopted after a reconnect).

    The Stasis arguments (its routing) are recovered from the dialplan application data
    (``Stasis(app,arg1,arg2)`` shows as ``app_data: "app,arg1,arg2"``).
    """
    dialplan = channel.get("dialplan") or {}
    args: tuple[str, ...] = ()
    if str(dialplan.get("app_name", "")).lower() == "stasis":
        args = tuple(str(dialplan.get("app_data", "")).split(",")[1:])
    created = _stasis_start({"type": "StasisStart", "channel": channel, "args": args})
    assert isinstance(created, LegCreated)
    return created


def _hangup(e: AriEvent) -> Event:
    if e["type"] == "ChannelHangupRequest" and e.get("soft"):
        cause, text = NORMAL_CLEARING, "hangup requested"
    else:
        cause, text = int(e.get("cause") or NORMAL_CLEARING), str(e.get("cause_txt", ""))
    return LegHungUp(leg_id=e["channel"]["id"], cause=cause, cause_text=text, **_ts(e))


def _playback(e: AriEvent) -> Event:
    pb = e["playback"]
    if e["type"] == "PlaybackStarted":
        return PlaybackStarted(playback_id=pb["id"], leg_id=target_leg(pb), **_ts(e))
    state = str(pb.get("state", "done"))
    return PlaybackFinished(playback_id=pb["id"], leg_id=target_leg(pb), state=state, **_ts(e))


def _recording(e: AriEvent) -> Event:
    rec = e["recording"]
    common: dict[str, Any] = {"recording": str(rec["name"]), "leg_id": target_leg(rec), **_ts(e)}
    if e["type"] == "RecordingStarted":
        return RecordingStarted(**common)
    if e["type"] == "RecordingFailed":
        return RecordingFinished(state="failed", cause=str(rec.get("cause", "")), **common)
    # RecordingFinished also reports a recording cancelled (DELETE /recordings/live/...).
    state = "canceled" if rec.get("state") == "canceled" else "done"
    return RecordingFinished(state=state, duration=float(rec.get("duration") or 0), **common)


def dial_failure(e: AriEvent) -> tuple[str, int, str] | None:
    """``(leg id, Q.850 cause, dial status)`` when a Dial event says the dialed leg failed.

    An originated leg is ARI's Dial ``peer``; its final status tells busy from no answer
    even when the leg's own hangup carries no cause (a Local channel whose far half runs
    Busy() is destroyed with cause 0).
    """
    if e.get("type") != "Dial":
        return None
    status = str(e.get("dialstatus", ""))
    peer = e.get("peer")
    if status not in DIAL_STATUS_CAUSES or not isinstance(peer, dict) or "id" not in peer:
        return None
    return str(peer["id"]), DIAL_STATUS_CAUSES[status], status.lower()


def _endpoint(e: AriEvent) -> Event:
    ep = e["endpoint"]
    details: dict[str, Any] = {
        "technology": ep.get("technology", ""),
        "channel_ids": list(ep.get("channel_ids", [])),
    }
    if e["type"] == "ContactStatusChange":
        contact = e.get("contact_info") or {}
        details.update(contact=contact.get("uri", ""), aor=contact.get("aor", ""))
        if "roundtrip_usec" in contact:
            details["roundtrip_usec"] = contact["roundtrip_usec"]
        state = str(contact.get("contact_status", "unknown")).lower()
    else:
        state = str(ep.get("state", "unknown"))
    return EndpointStateChanged(endpoint=ep.get("resource", ""), state=state, details=details)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegTalking(Event):
    """ARI ``ChannelTalkingStarted`` / ``Finished`` (TALK_DETECT): the adapter's own, made
    into ``ConferenceMemberTalking`` for a conference member (conferences.py), never
    passed on as it is."""

    leg_id: str
    talking: bool


_TRANSLATORS: dict[str, Callable[[AriEvent], Event]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": lambda e: LegLeftApp(leg_id=e["channel"]["id"], **_ts(e)),
    "ChannelStateChange": lambda e: LegStateChanged(
        leg_id=e["channel"]["id"], state=leg_state(e["channel"]), **_ts(e)
    ),
    "ChannelDtmfReceived": lambda e: LegDtmf(
        leg_id=e["channel"]["id"],
        digit=str(e["digit"]),
        duration_ms=int(e.get("duration_ms", 0)),
        **_ts(e),
    ),
    "ChannelHangupRequest": _hangup,
    "ChannelDestroyed": _hangup,
    "PlaybackStarted": _playback,
    "PlaybackFinished": _playback,
    "ChannelHold": lambda e: LegHeld(leg_id=e["channel"]["id"], **_ts(e)),
    "ChannelUnhold": lambda e: LegUnheld(leg_id=e["channel"]["id"], **_ts(e)),
    "RecordingStarted": _recording,
    "RecordingFinished": _recording,
    "RecordingFailed": _recording,
    "BridgeCreated": lambda e: BridgeCreated(
        bridge_id=e["bridge"]["id"], kind=e["bridge"].get("bridge_type", "mixing"), **_ts(e)
    ),
    "BridgeDestroyed": lambda e: BridgeDestroyed(bridge_id=e["bridge"]["id"], **_ts(e)),
    "ChannelEnteredBridge": lambda e: LegEnteredBridge(
        bridge_id=e["bridge"]["id"], leg_id=e["channel"]["id"], **_ts(e)
    ),
    "ChannelLeftBridge": lambda e: LegLeftBridge(
        bridge_id=e["bridge"]["id"], leg_id=e["channel"]["id"], **_ts(e)
    ),
    "ChannelTalkingStarted": lambda e: LegTalking(
        leg_id=e["channel"]["id"], talking=True, **_ts(e)
    ),
    "ChannelTalkingFinished": lambda e: LegTalking(
        leg_id=e["channel"]["id"], talking=False, **_ts(e)
    ),
    "EndpointStateChange": _endpoint,
    "ContactStatusChange": _endpoint,
}


def translate(event: AriEvent) -> Event | None:
    """The core event for one ARI event, or None if the orchestrator does not use it.

    A malformed event of a known type is logged and dropped rather than raised: one
    bad frame must not stop the reader.
    """
    fn = _TRANSLATORS.get(str(event.get("type")))
    if fn is None:
        return None
    try:
        return fn(event)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ARI %s event not understood (%r): %s", event.get("type"), exc, event)
        return None
