"""ARI wire parser and translator, on events recorded from Asterisk 22 (tests/data/ari/events)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.events import (
    EndpointStateChanged,
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
from orchestrator.core.targets import Routing
from orchestrator.engines.asterisk.ari import AriProtocolError, parse_event
from orchestrator.engines.asterisk.bridges import (
    BridgeCreated,
    BridgeDestroyed,
    LegEnteredBridge,
    LegLeftBridge,
)
from orchestrator.engines.asterisk.targets import routing_from_args, stasis_args
from orchestrator.engines.asterisk.translate import (
    dial_failure,
    leg_created_from_snapshot,
    parse_timestamp,
    translate,
)

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ari" / "events"


def recorded(name: str) -> dict[str, Any]:
    return parse_event((EVENTS / f"{name}.json").read_bytes())


def test_parser_accepts_every_recorded_frame() -> None:
    files = sorted(EVENTS.glob("*.json"))
    assert len(files) >= 15
    for path in files:
        assert parse_event(path.read_text())["type"]


@pytest.mark.parametrize("frame", ["", "not json", "[1, 2]", '{"no": "type"}', b"\xff\xfe"])
def test_parser_refuses_non_events(frame: str | bytes) -> None:
    with pytest.raises(AriProtocolError):
        parse_event(frame)


def test_timestamp() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.500+0000") == 1.5
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


def _strptime_reference(value: str) -> float | None:
    # What parse_timestamp was before its fast path, and must still give.
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-22T10:41:56.815+0000",
        "2026-11-22T10:41:56.815-0530",
        "2026-11-22t10:41:56.815+0100",
        "2026-11-22T10:41:56.815123+0000",  # microseconds: not ARI's shape, still read
        "2026-11-22T10:41:56.8+00:00",
        "2026-11-22T10:41:56.815Z",
        "2026-11- 2T10:41:56.815+0000",  # strptime reads " 2" as a day; fromisoformat not
        "2026-11-22 10:41:56.815+0000",  # fromisoformat would take any separator
        "2026-11-22T10:41:56.815+0060",  # ... and an offset minute of 60
        "2026-11-22T10:41:56.8\u06615+0000",  # ... but no non-ASCII digit, strptime reads it
        "2026-11-22T10:41:60.815+0000",
        "2026-02-30T10:41:56.815+0000",
        "2026-11-22T10:41:56+0000",
        "2026-11-22T10:41:56.815",
        "",
    ],
)
def test_timestamp_is_what_strptime_gives(value: str) -> None:
    assert parse_timestamp(value) == _strptime_reference(value)
    assert parse_timestamp(value) == _strptime_reference(value)  # the remembered value


def test_timestamp_fast_path_never_differs_from_strptime() -> None:
    rng = random.Random(7)
    base = "2026-11-22T10:41:56.815+0000"
    for _ in range(20_000):
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice("0123456789 +-_.:TtZ")
        value = "".join(chars)
        assert parse_timestamp(value) == _strptime_reference(value), value


def test_stasis_start() -> None:
    event = translate(recorded("stasis_start"))
    assert isinstance(event, LegCreated)
    assert event.leg_id == "orch-c1" and event.state == "up"
    assert event.name == "Local/100@orchestrator-stasis-00000002;1"
    assert (event.caller_number, event.caller_name) == ("101", "Bob")
    # The dialplan place shows in observation (ChannelStarted.context), not here: a leg
    # says whose it is by its routing (the Stasis arguments "a,b").
    assert event.called_number == "100" and event.routing == Routing("a", {"arg1": "b"})
    assert event.timestamp == parse_timestamp("2026-11-22T09:04:27.822+0000")


def test_stasis_start_from_dialplan_has_args_and_rings() -> None:
    event = translate(recorded("stasis_start_local2"))
    assert isinstance(event, LegCreated)
    assert event.leg_id == "orch-c1;2" and event.state == "ringing"
    # [orchestrator-stasis] passes the dialled digits alone.
    assert event.routing == Routing("dialed", {"number": "100"})


@pytest.mark.parametrize(
    ("args", "routing"),
    [
        # What the tenant dialplans pass (dialplan_templates/asterisk/tenant), by position.
        (["ivr", "support", "3"], Routing("ivr", {"flow": "support", "tenant": "3"})),
        (
            ["ivr", "pbx.code", "3", "101@a.example", "*61"],
            Routing(
                "ivr",
                {"flow": "pbx.code", "tenant": "3", "endpoint": "101@a.example", "dialed": "*61"},
            ),
        ),
        # What originate(routing=...) sends: by name.
        (["cti", "call=orch-1f"], Routing("cti", {"call": "orch-1f"})),
        (["acd", "call=q-9", "tenant=3"], Routing("acd", {"call": "q-9", "tenant": "3"})),
        (["fromdialplan"], Routing("fromdialplan")),
        ([], None),
        # A value no routing can carry is left out; no service, no routing.
        (["ivr", "sup port", "3"], Routing("ivr", {"tenant": "3"})),
        (["Not a service"], None),
    ],
)
def test_stasis_args_become_routing(args: list[str], routing: Routing | None) -> None:
    event = translate({**recorded("stasis_start"), "args": args})
    assert isinstance(event, LegCreated) and event.routing == routing


def test_routing_round_trips_through_stasis_args() -> None:
    routing = Routing("dial", {"call": "orch-3a", "tenant": "12"})
    assert stasis_args(routing) == ["dial", "call=orch-3a", "tenant=12"]
    assert routing_from_args(stasis_args(routing)) == routing
    assert stasis_args(None) == []


def test_snapshot_recovers_stasis_args() -> None:
    channel = recorded("channel_entered_bridge")["channel"]  # app_data "orchestrator,a,b"
    event = leg_created_from_snapshot(channel)
    assert event.leg_id == "orch-c1" and event.state == "up"
    assert event.routing == Routing("a", {"arg1": "b"})


def test_leg_events() -> None:
    state = translate(recorded("channel_state_change"))
    assert state is not None
    assert state == LegStateChanged(leg_id="orch-c1;2", state="up", timestamp=state.timestamp)
    dtmf = translate(recorded("channel_dtmf_received"))
    assert isinstance(dtmf, LegDtmf) and (dtmf.leg_id, dtmf.digit, dtmf.duration_ms) == (
        "orch-d1",
        "1",
        100,
    )
    assert isinstance(translate(recorded("stasis_end")), LegLeftApp)


def test_hangups() -> None:
    destroyed = translate(recorded("channel_destroyed"))
    assert isinstance(destroyed, LegHungUp)
    assert (destroyed.cause, destroyed.cause_text) == (17, "User busy")
    # A soft hangup request carries soft-hangup flags (32), not a Q.850 cause.
    request = translate(recorded("channel_hangup_request"))
    assert isinstance(request, LegHungUp) and request.cause == 16
    hard = dict(recorded("channel_hangup_request"), soft=False, cause=21)
    assert translate(hard).cause == 21  # type: ignore[union-attr]


def test_playbacks() -> None:
    started, finished = (
        translate(recorded("playback_started")),
        translate(recorded("playback_finished")),
    )
    assert isinstance(started, PlaybackStarted) and started.leg_id == "orch-c1"
    assert isinstance(finished, PlaybackFinished)
    assert (finished.playback_id, finished.leg_id, finished.state) == ("orch-p1", "orch-c1", "done")
    bridge_target = recorded("playback_finished")
    bridge_target["playback"]["target_uri"] = "bridge:b1"
    assert translate(bridge_target).leg_id == ""  # type: ignore[union-attr]


def test_bridges() -> None:
    entered = translate(recorded("channel_entered_bridge"))
    assert entered is not None
    assert entered == LegEnteredBridge(
        bridge_id="orch-b1", leg_id="orch-c1", timestamp=entered.timestamp
    )
    assert isinstance(translate(recorded("channel_left_bridge")), LegLeftBridge)
    assert isinstance(translate(recorded("bridge_destroyed")), BridgeDestroyed)
    created = translate(recorded("synthetic_bridge_created"))
    assert isinstance(created, BridgeCreated) and created.kind == "mixing"


def test_endpoints() -> None:
    ep = translate(recorded("synthetic_endpoint_state_change"))
    assert isinstance(ep, EndpointStateChanged)
    assert (ep.endpoint, ep.state, ep.details["technology"]) == ("t1-101", "online", "PJSIP")
    contact = translate(recorded("synthetic_contact_status_change"))
    assert isinstance(contact, EndpointStateChanged) and contact.state == "reachable"
    assert contact.details["contact"] == "sip:101@127.0.0.1:5070"


def test_unused_and_malformed_events_give_none() -> None:
    assert translate(recorded("channel_varset")) is None
    assert translate(recorded("dial")) is None
    assert translate({"type": "ChannelDtmfReceived", "channel": {}}) is None
    assert json.dumps(recorded("dial"))  # still a valid event for the parser


def ari_event(kind: str, **fields: Any) -> dict[str, Any]:
    """An event as Asterisk 22 frames it (the envelope of every recorded frame)."""
    return {
        "type": kind,
        "timestamp": "2026-11-22T09:36:24.452+0000",
        **fields,
        "asterisk_id": "02:fc:00:00:00:01",
        "application": "orchestrator",
    }


def live_recording(state: str, **extra: Any) -> dict[str, Any]:
    # As Asterisk 22 sent them for POST /channels/orch-c1/record (tests/engine/test_adapter_media).
    return {
        "name": "t1/greeting",
        "format": "wav",
        "state": state,
        "target_uri": "channel:orch-c1",
        **extra,
    }


def test_hold_and_unhold() -> None:
    channel = recorded("stasis_start")["channel"]
    held = translate(ari_event("ChannelHold", channel=channel, musicclass="default"))
    assert held == LegHeld(
        leg_id="orch-c1", timestamp=parse_timestamp("2026-11-22T09:36:24.452+0000")
    )
    unheld = translate(ari_event("ChannelUnhold", channel=channel))
    assert isinstance(unheld, LegUnheld) and unheld.leg_id == "orch-c1"


def test_recording_started_and_finished() -> None:
    started = translate(ari_event("RecordingStarted", recording=live_recording("recording")))
    assert isinstance(started, RecordingStarted)
    assert (started.recording, started.leg_id) == ("t1/greeting", "orch-c1")
    assert started.timestamp == parse_timestamp("2026-11-22T09:36:24.452+0000")
    finished = translate(
        ari_event("RecordingFinished", recording=live_recording("done", duration=2))
    )
    assert isinstance(finished, RecordingFinished)
    assert (finished.recording, finished.leg_id, finished.state) == (
        "t1/greeting",
        "orch-c1",
        "done",
    )
    assert finished.duration == 2.0 and finished.cause == ""


def test_recording_finished_without_duration_or_on_a_bridge() -> None:
    rec = live_recording("done", target_uri="bridge:orch-b1")
    finished = translate(ari_event("RecordingFinished", recording=rec))
    assert isinstance(finished, RecordingFinished)
    assert (finished.leg_id, finished.duration, finished.state) == ("", 0.0, "done")
    canceled = translate(ari_event("RecordingFinished", recording=live_recording("canceled")))
    assert isinstance(canceled, RecordingFinished) and canceled.state == "canceled"


def test_recording_failed() -> None:
    rec = live_recording("failed", cause="Channel hung up")
    failed = translate(ari_event("RecordingFailed", recording=rec))
    assert isinstance(failed, RecordingFinished)
    assert (failed.state, failed.cause, failed.leg_id) == ("failed", "Channel hung up", "orch-c1")


def test_malformed_recording_event_gives_none() -> None:
    assert translate(ari_event("RecordingFinished", recording={"state": "done"})) is None


def dial(status: str) -> dict[str, Any]:
    # The recorded Dial of an ARI originate (peer orch-c1, no caller), at a later status.
    return dict(recorded("dial"), dialstatus=status)


@pytest.mark.parametrize(
    ("status", "cause"), [("BUSY", 17), ("NOANSWER", 19), ("CONGESTION", 34), ("CHANUNAVAIL", 20)]
)
def test_dial_failure_gives_the_peer_and_a_cause(status: str, cause: int) -> None:
    assert dial_failure(dial(status)) == ("orch-c1", cause, status.lower())


@pytest.mark.parametrize("status", ["", "RINGING", "PROGRESS", "ANSWER", "CANCEL"])
def test_dial_progress_is_no_failure(status: str) -> None:
    assert dial_failure(dial(status)) is None


def test_dial_failure_ignores_other_events() -> None:
    assert dial_failure(recorded("channel_destroyed")) is None
    assert dial_failure(ari_event("Dial", dialstatus="BUSY")) is None  # no peer
    assert translate(dial("BUSY")) is None  # only the adapter uses Dial
