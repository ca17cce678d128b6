"""Observation of dials (dials.py): ChannelDialed after the dialed channel's start, then its
outcome at its answer or before its end."""

from __future__ import annotations

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
)
from orchestrator.core.outcomes import DialOutcome
from orchestrator.engines.freeswitch.dials import Dials
from orchestrator.engines.freeswitch.translate import observe
from tests.unit.freeswitch.scripted import event
from tests.unit.freeswitch.test_translate_call_control import capture_events


def run(dials: Dials, *events: ChannelEvent) -> list[tuple[str, str, str]]:
    started: set[str] = set()
    out: list[tuple[str, str, str]] = []
    for e in events:
        for seen in dials.see(e, started):
            if isinstance(seen, ChannelStarted):
                started.add(seen.channel_id)
            out.append((type(seen).__name__, seen.channel_id, getattr(seen, "status", "")))
    return out


def test_a_bridge_dial_reported_after_the_callee_starts_then_answered() -> None:
    (dialed,) = observe(
        event("CHANNEL_OUTGOING", "callee", Other_Type="originator", Other_Leg_Unique_ID="caller")
    )
    assert isinstance(dialed, ChannelDialed) and dialed.channel_id == "caller"
    out = run(
        Dials(),
        ChannelStarted(channel_id="caller"),
        dialed,
        ChannelStarted(channel_id="callee"),
        ChannelStateChanged(channel_id="callee", state=LegState.UP),
    )
    assert out == [
        ("ChannelStarted", "caller", ""),
        ("ChannelStarted", "callee", ""),
        ("ChannelDialed", "caller", ""),
        ("ChannelStateChanged", "callee", ""),
        ("ChannelDialed", "caller", DialOutcome.ANSWERED),
    ]


def test_an_unanswered_dial_takes_its_outcome_from_the_cause() -> None:
    dials = Dials()
    dialed = ChannelDialed(channel_id="caller", peer_id="callee")
    out = run(
        dials,
        ChannelStarted(channel_id="callee"),
        dialed,
        ChannelEnded(channel_id="callee", cause=17, cause_text="USER_BUSY"),
    )
    assert out[-2:] == [
        ("ChannelDialed", "caller", DialOutcome.BUSY),
        ("ChannelEnded", "callee", ""),
    ]
    other = ChannelDialed(channel_id="caller", peer_id="x")
    out = run(dials, ChannelStarted(channel_id="x"), other, ChannelEnded(channel_id="x"))
    assert out[-2][2] == DialOutcome.CONGESTION  # no cause named


def test_an_originate_is_the_engines_own_dial() -> None:
    outgoing = [
        e for e in capture_events("b_call_control_json.esl.txt") if e.name == "CHANNEL_OUTGOING"
    ]
    seen = [o for e in outgoing for o in observe(e)]
    assert len(seen) == 3
    assert all(isinstance(o, ChannelDialed) and o.channel_id == "" for o in seen)
    assert seen[0].peer_id == "a4507f07-ede2-4c2a-8213-cd020be35e5d"  # type: ignore[attr-defined]
