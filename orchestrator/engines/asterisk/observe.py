"""Observation of every Asterisk channel: ARI events to the core's ``Channel*`` events.

The adapter's ARI application is subscribed to all of Asterisk (``subscribeAll``) and
filtered down to :data:`OBSERVED_TYPES` plus what the Stasis side uses
(:func:`event_filter`), so phones calling each other in dialplan are seen too. Each
channel's call id is its linkedid, which ARI's channel JSON lacks: the engine's
``ari.conf`` puts it in every channel snapshot as the channel variable
:data:`LINKEDID_VAR` (a channel without it, on an engine configured otherwise, is its
own call).

:func:`observe` is pure and cheap (it runs for every event of every call: one dict
lookup and a few field reads); :class:`ChannelTable` keeps what the adapter needs to
report each channel once and to reconcile after a reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.core.events import (
    ChannelBridged,
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.engines.asterisk.translate import (
    DIAL_STATUSES,
    LINKEDID_VAR,
    NORMAL_CLEARING,
    leg_state,
    parse_timestamp,
)

log = logging.getLogger(__name__)

AriEvent = dict[str, Any]

# ARI event types observation needs (ChannelVarset, ChannelDialplan, ChannelConnectedLine,
# DeviceStateChanged... are most of the traffic of a call and stay out).
OBSERVED_TYPES = (
    "ChannelCreated",
    "ChannelStateChange",
    "Dial",
    "ChannelEnteredBridge",
    "ChannelLeftBridge",
    "ChannelDestroyed",
)
# What the Stasis side (legs, bridges, media) uses; see translate._TRANSLATORS.
STASIS_TYPES = (
    "StasisStart",
    "StasisEnd",
    "ChannelHangupRequest",
    "ChannelDtmfReceived",
    "ChannelHold",
    "ChannelUnhold",
    "PlaybackStarted",
    "PlaybackFinished",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    "BridgeCreated",
    "BridgeDestroyed",
    # Conference members' talk detection (TALK_DETECT): filtered out, no member would
    # ever be seen talking in a service that observes channels.
    "ChannelTalkingStarted",
    "ChannelTalkingFinished",
    # The adapter's probes of its own events link (AriClient.events_flow).
    "ChannelUserevent",
    # A leg's caller ID set after it reached the app (rare): a Local channel standing in
    # for a blind-transferred caller gets it when its other half joins the caller's bridge.
    "ChannelCallerId",
)
ENDPOINT_TYPES = ("EndpointStateChange", "ContactStatusChange")
# Dial statuses that end a dial attempt (RINGING, PROGRESS, PROCEEDING do not).
FINAL_DIAL_STATUSES = frozenset(DIAL_STATUSES)
# Channel technologies that are the engine's plumbing, never a party of the call.
INTERNAL_TECHNOLOGIES = frozenset(
    {
        "Local", "Snoop", "Announcer", "Recorder", "UnicastRTP", "AudioSocket", "Message",
        "CBAnn", "CBRec",
    }
)  # fmt: skip


def event_filter(endpoint_events: bool) -> dict[str, list[dict[str, str]]]:
    """The body of ``PUT /applications/{app}/eventFilter``: the types the adapter reads."""
    types = OBSERVED_TYPES + STASIS_TYPES + (ENDPOINT_TYPES if endpoint_events else ())
    return {"allowed": [{"type": t} for t in types]}


def channel_endpoint(name: str) -> str:
    """The SIP endpoint of a PJSIP channel name, ``""`` for other technologies.

    ``PJSIP/101@t1.example-00000003`` -> ``101@t1.example`` (a SIP user, named as
    :func:`~orchestrator.engines.asterisk.targets.dial_string` dials it);
    ``PJSIP/trunk-t1-x-0000000a``
    -> ``trunk-t1-x``. The part after the last ``-`` is Asterisk's channel counter.
    """
    if not name.startswith("PJSIP/"):
        return ""
    return name[6:].rpartition("-")[0]


def channel_kind(name: str) -> ChannelKind:
    """A channel's :class:`ChannelKind` from its name: a PJSIP channel of a SIP user
    (``<user>@<domain>``, see :func:`channel_endpoint`) is a phone, of another endpoint a
    trunk; the technologies in :data:`INTERNAL_TECHNOLOGIES` are internal; any other
    technology (DAHDI, IAX2...) is a line to the outside, a trunk."""
    technology = name.partition("/")[0]
    if technology in INTERNAL_TECHNOLOGIES:
        return ChannelKind.INTERNAL
    if technology == "PJSIP" and "@" in channel_endpoint(name):
        return ChannelKind.PHONE
    return ChannelKind.TRUNK


def pair_id_of(name: str) -> str:
    """What both halves of a Local channel share: ``Local/103@fwd-00000001`` for
    ``Local/103@fwd-00000001;1`` and ``;2``; ``""`` for any other channel."""
    if name.startswith("Local/") and ";" in name:
        return name.rpartition(";")[0]
    return ""


def call_id_of(channel: dict[str, Any]) -> str:
    """The channel's linkedid, or its own id when the engine does not report it."""
    linked = (channel.get("channelvars") or {}).get(LINKEDID_VAR)
    return str(linked) if linked else str(channel["id"])


def _ts(event: AriEvent) -> dict[str, float]:
    ts = parse_timestamp(event.get("timestamp"))
    return {} if ts is None else {"timestamp": ts}


def channel_started(channel: dict[str, Any], **extra: Any) -> ChannelStarted:
    """The ChannelStarted for a channel snapshot (an event's, or one from ``GET /channels``)."""
    caller = channel.get("caller") or {}
    dialplan = channel.get("dialplan") or {}
    exten = str(dialplan.get("exten", ""))
    name = str(channel.get("name", ""))
    return ChannelStarted(
        channel_id=str(channel["id"]),
        call_id=call_id_of(channel),
        name=name,
        endpoint=channel_endpoint(name),
        kind=channel_kind(name),
        pair_id=pair_id_of(name),
        state=leg_state(channel),
        caller_number=str(caller.get("number", "")),
        caller_name=str(caller.get("name", "")),
        # A dialed channel starts at "s" before Dial sets its exten: not a number.
        called_number="" if exten == "s" else exten,
        context=str(dialplan.get("context", "")),
        **extra,
    )


def _state(e: AriEvent) -> ChannelEvent:
    ch = e["channel"]
    return ChannelStateChanged(
        channel_id=ch["id"],
        call_id=call_id_of(ch),
        state=leg_state(ch),
        **_ts(e),
    )


def _dial(e: AriEvent) -> ChannelEvent | None:
    status = str(e.get("dialstatus", ""))
    if status and status not in FINAL_DIAL_STATUSES:
        return None  # progress (RINGING...): the peer's ChannelStateChanged says as much
    peer = e["peer"]
    caller = e.get("caller")
    # No caller: the engine itself dialed (an ARI originate); the peer is the channel.
    source = caller if isinstance(caller, dict) else peer
    return ChannelDialed(
        channel_id=str(caller["id"]) if isinstance(caller, dict) else "",
        call_id=call_id_of(source),
        peer_id=str(peer["id"]),
        dial_string=str(e.get("dialstring", "")),
        status=DIAL_STATUSES[status] if status else "",
        **_ts(e),
    )


def _bridge(e: AriEvent) -> ChannelEvent:
    ch = e["channel"]
    kind = ChannelBridged if e["type"] == "ChannelEnteredBridge" else ChannelUnbridged
    # The bridge's id is the conversation's: channels in one bridge talk with each other.
    conversation = e["bridge"]["id"]
    return kind(channel_id=ch["id"], call_id=call_id_of(ch), conversation_id=conversation, **_ts(e))


def _destroyed(e: AriEvent) -> ChannelEvent:
    ch = e["channel"]
    return ChannelEnded(
        channel_id=ch["id"],
        call_id=call_id_of(ch),
        cause=int(e.get("cause") or NORMAL_CLEARING),
        cause_text=str(e.get("cause_txt", "")),
        **_ts(e),
    )


_OBSERVERS: dict[str, Callable[[AriEvent], ChannelEvent | None]] = {
    "ChannelCreated": lambda e: channel_started(e["channel"], **_ts(e)),
    "ChannelStateChange": _state,
    "Dial": _dial,
    "ChannelEnteredBridge": _bridge,
    "ChannelLeftBridge": _bridge,
    "ChannelDestroyed": _destroyed,
}


def observe(event: AriEvent) -> ChannelEvent | None:
    """The observation event for one ARI event, or None (not a channel event we report)."""
    fn = _OBSERVERS.get(event["type"])
    if fn is None:
        return None
    try:
        return fn(event)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ARI %s event not observed (%r): %s", event.get("type"), exc, event)
        return None


class ChannelTable:
    """The channels the adapter has reported (ChannelStarted) and not yet ended.

    :meth:`admit` drops what would contradict earlier reports: a second ChannelStarted
    for a channel (its ChannelCreated trailing a reconcile that adopted it) and a
    ChannelEnded for a channel never reported or already ended.
    """

    def __init__(self) -> None:
        self.states: dict[str, str] = {}  # channel id -> last reported state
        self.calls: dict[str, str] = {}  # channel id -> call id

    def __len__(self) -> int:
        return len(self.states)

    def admit(self, event: ChannelEvent) -> bool:
        cid = event.channel_id
        if isinstance(event, ChannelStarted):
            if cid in self.states:
                return False
            self.states[cid], self.calls[cid] = event.state, event.call_id
        elif isinstance(event, ChannelEnded):
            if self.states.pop(cid, None) is None:
                return False
            self.calls.pop(cid, None)
        elif isinstance(event, ChannelStateChanged) and cid in self.states:
            self.states[cid] = event.state
        return True

    def differences(self, snapshots: Iterable[dict[str, Any]]) -> list[ChannelEvent]:
        """What was missed while disconnected, given ``GET /channels``: channels that
        appeared (ChannelStarted), changed state, or are gone (ChannelEnded)."""
        seen: dict[str, dict[str, Any]] = {str(c["id"]): c for c in snapshots}
        out: list[ChannelEvent] = []
        found: list[tuple[str, str]] = []  # (creation time, id) of channels new to us
        for cid in [c for c in self.states if c not in seen]:
            out.append(
                ChannelEnded(
                    channel_id=cid, call_id=self.calls.get(cid, ""),
                    cause_text="gone while disconnected",
                )
            )  # fmt: skip
        for cid, snapshot in seen.items():
            if cid not in self.states:
                found.append((str(snapshot.get("creationtime", "")), cid))
                continue
            state = leg_state(snapshot)
            if state != self.states[cid]:
                out.append(
                    ChannelStateChanged(channel_id=cid, call_id=call_id_of(snapshot), state=state)
                )
        # Oldest first: a call's first channel (the caller) before the ones it dialed.
        # (ARI's creation times share one format and zone: they sort as strings.)
        out += [channel_started(seen[cid], resumed=True) for _, cid in sorted(found)]
        return out
