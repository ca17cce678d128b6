"""translate.py fed the real events of a call (captures b_call_control_*: json and plain)."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.call import LegState
from orchestrator.core.events import (
    ChannelBridged,
    ChannelEnded,
    ChannelStarted,
    Event,
    LegCreated,
    LegDtmf,
    LegHeld,
    LegHungUp,
    LegStateChanged,
    LegUnheld,
)
from orchestrator.core.outcomes import ChannelKind
from orchestrator.core.targets import Routing
from orchestrator.engines.freeswitch.esl.wire import EslEvent, FrameParser, parse_event
from orchestrator.engines.freeswitch.translate import (
    Bridged,
    Destroyed,
    Executed,
    Renamed,
    is_ours,
    observe,
    translate,
    variables,
)
from tests.unit.freeswitch.captures import stream


@dataclasses.dataclass(frozen=True)
class Run:
    """One recorded run of the scenario (json and plain are two runs: other uuids)."""

    events: list[EslEvent]
    a1: str  # loopback/7010-a, killed with USER_BUSY
    b1: str  # loopback/7010-b, answered, plays, gets 42#
    a2: str  # bridged with run.b1
    a3: str  # hung up with CALL_REJECTED
    playback: str  # Event-UUID of run.b1's first playback
    renamed_from: str  # run.a1's temporary uuid (CHANNEL_UUID)


RUNS = {
    "json": (
        "a4507f07-ede2-4c2a-8213-cd020be35e5d", "8f9d8b87-ac8b-4989-acae-8136fd57ef29",
        "656508f4-7c53-4e26-acfb-164634ebca8b", "b36858ab-e84e-44b9-a693-22fa6f796bc5",
        "959d3904-b90a-4ecc-8bb4-96eaacb7979c", "eb76f0ad-da0c-45e1-acaa-f61349971efc",
    ),
    "plain": (
        "167b3665-3673-4169-984e-6aa7a0347039", "8c3a487f-8570-4c08-b2d0-eca34e5f80e5",
        "ad3bee9c-0e13-4d01-94c0-4830581cae41", "dfb41257-c134-4fcd-bfde-ac4a9b52bfc7",
        "11e426c2-30b8-49ef-8e49-19ef962b5ea2", "",
    ),
}  # fmt: skip


def capture_events(name: str) -> list[EslEvent]:
    frames = FrameParser().feed(stream(name))
    return [parse_event(f) for f in frames if f.content_type.startswith("text/event-")]


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request: pytest.FixtureRequest) -> Run:
    events = capture_events(f"b_call_control_{request.param}.esl.txt")
    return Run(events, *RUNS[request.param])


def translated(events: list[EslEvent]) -> list[Event]:
    return [t for e in events for t in translate(e)]


def of(events: list[Event], kind: type, leg_id: str) -> list[Event]:
    return [e for e in events if isinstance(e, kind) and getattr(e, "leg_id", None) == leg_id]


def test_hangup_causes_by_name(run: Run) -> None:
    events = run.events
    out = translated(events)
    causes = {e.leg_id: (e.cause, e.cause_text) for e in out if isinstance(e, LegHungUp)}
    assert causes[run.a1] == (17, "USER_BUSY")
    assert causes[run.a3] == (21, "CALL_REJECTED")
    assert causes[run.a2] == (16, "NORMAL_CLEARING")
    # CHANNEL_HANGUP and CHANNEL_HANGUP_COMPLETE both say it (the adapter keeps the first).
    assert len(of(out, LegHungUp, run.a1)) == 2
    assert of(out, Destroyed, run.a1) == [
        Destroyed(leg_id=run.a1, timestamp=of(out, Destroyed, run.a1)[0].timestamp)
    ]


def test_dtmf_one_event_per_digit_with_its_duration(run: Run) -> None:
    events = run.events
    dtmf = of(translated(events), LegDtmf, run.b1)
    assert "".join(e.digit for e in dtmf) == "42#"  # type: ignore[attr-defined]
    assert {e.duration_ms for e in dtmf} == {250}  # type: ignore[attr-defined]  (2000 samples)


def test_answers_become_state_changes(run: Run) -> None:
    events = run.events
    states = [e.state for e in of(translated(events), LegStateChanged, run.b1)]  # type: ignore[attr-defined]
    assert states[0] is LegState.UP


def test_playback_is_followed_by_its_application_uuid(run: Run) -> None:
    events = run.events
    runs = [e for e in translated(events) if isinstance(e, Executed) and e.app_uuid == run.playback]
    assert [(r.leg_id, r.app, r.done) for r in runs] == [
        (run.b1, "playback", False),
        (run.b1, "playback", True),
    ]
    assert runs[0].data == "tone_stream://%(200,0,800)"
    assert runs[1].response == "FILE PLAYED"


def test_bridge_and_unbridge_name_the_pair(run: Run) -> None:
    events = run.events
    pairs = [(e.a, e.b, e.up) for e in translated(events) if isinstance(e, Bridged)]
    assert pairs == [(run.b1, run.a2, True), (run.b1, run.a2, False)]


def test_channel_uuid_renames_the_temporary_id(run: Run) -> None:
    events = run.events
    renames = [e for e in translated(events) if isinstance(e, Renamed)]
    assert renames[0].new == run.a1
    if run.renamed_from:
        assert renames[0].old == run.renamed_from
    assert len(renames) == 3


def test_parked_channels_without_routing_are_not_ours(run: Run) -> None:
    events = run.events
    assert not [e for e in translated(events) if isinstance(e, LegCreated)]


def parked(events: list[EslEvent], uuid: str) -> EslEvent:
    return next(e for e in events if e.name == "CHANNEL_PARK" and e.uuid == uuid)


def with_vars(event: EslEvent, **extra: str) -> EslEvent:
    headers = dict(event.headers) | {f"variable_{k}": v for k, v in extra.items()}
    return dataclasses.replace(event, headers=headers)


def test_a_parked_channel_with_routing_comes_under_control(run: Run) -> None:
    events = run.events
    park = with_vars(
        parked(events, run.b1), orch_route="ivr", orch_route_flow="main", orch_route_x="a b"
    )
    (created,) = translate(park)
    assert isinstance(created, LegCreated)
    assert created.leg_id == run.b1 and created.state is LegState.RINGING
    assert (created.called_number, created.caller_number) == ("7010", "0000000000")
    # A value that is no routing token is left out.
    assert created.routing == Routing("ivr", {"flow": "main"})


def test_an_inherited_routing_is_not_the_b_legs(run: Run) -> None:
    events = run.events
    """A loopback b-leg inherits the a-leg's variables: orch_leg tells whose they are."""
    b_leg = with_vars(parked(events, run.b1), orch_route="dial", orch_leg=run.a1)
    assert translate(b_leg) == []
    a_leg = with_vars(parked(events, run.a1), orch_leg=run.a1)  # originated without routing
    (created,) = translate(a_leg)
    assert isinstance(created, LegCreated) and created.routing is None
    assert created.state is LegState.UP
    assert is_ours(run.a1, variables(a_leg)) and not is_ours(run.b1, variables(b_leg))


def test_observation_of_every_channel(run: Run) -> None:
    events = run.events
    seen = [o for e in events for o in observe(e)]
    started = {e.channel_id: e for e in seen if isinstance(e, ChannelStarted)}
    assert started[run.b1].kind is ChannelKind.INTERNAL and started[run.b1].pair_id == run.a1
    assert started[run.a1].pair_id == run.a1
    assert started[run.b1].context == "esl" and started[run.b1].called_number == "7010"
    bridged = [e for e in seen if isinstance(e, ChannelBridged)]
    assert {e.channel_id for e in bridged} == {run.b1, run.a2}
    assert len({e.conversation_id for e in bridged}) == 1
    ended = {e.channel_id: e.cause for e in seen if isinstance(e, ChannelEnded)}
    assert ended[run.a1] == 17 and ended[run.a3] == 21


def test_json_and_plain_translate_alike() -> None:
    def summary(name: str) -> list[str]:
        # What each event became (the two runs had other uuids and sequences).
        return sorted(type(t).__name__ for t in translated(capture_events(name)))

    assert summary("b_call_control_json.esl.txt") == summary("b_call_control_plain.esl.txt")


def test_a_malformed_event_is_dropped() -> None:
    bad = EslEvent("DTMF", {"Unique-ID": "x", "DTMF-Digit": "1", "DTMF-Duration": "12x"})
    (dtmf,) = translate(bad)
    assert isinstance(dtmf, LegDtmf) and dtmf.duration_ms == 0
    assert translate(EslEvent("HEARTBEAT", {})) == []


def test_the_far_ends_hold_is_reported_ours_is_not() -> None:
    def hold(name: str, function: str) -> EslEvent:
        return EslEvent(name, {"Unique-ID": "x", "Event-Calling-Function": function})

    (held,) = translate(hold("CHANNEL_HOLD", "switch_channel_mark_hold"))
    (unheld,) = translate(hold("CHANNEL_UNHOLD", "switch_channel_mark_hold"))
    assert isinstance(held, LegHeld) and isinstance(unheld, LegUnheld)
    assert held.leg_id == unheld.leg_id == "x"
    assert translate(hold("CHANNEL_HOLD", "switch_ivr_hold")) == []  # uuid_hold: ours


def test_a_phones_channel_is_named_by_its_sip_user_not_its_contact() -> None:
    """Seen on FreeSWITCH 1.10.12: the channel of a call to ``user/102@acme.example`` is
    named after the phone's contact; its CDR leg must still be the tenant's 102."""

    def created(name: str, **variables: str) -> ChannelStarted:
        headers = {"Unique-ID": "u", "Channel-Name": name, "Call-Direction": "outbound"}
        headers |= {f"variable_{k}": v for k, v in variables.items()}
        (started,) = observe(EslEvent("CHANNEL_CREATE", headers))
        assert isinstance(started, ChannelStarted)
        return started

    callee = created(
        "sofia/orchestrator/102@127.0.0.1:46002", dialed_user="102", dialed_domain="acme.example"
    )
    assert (callee.endpoint, callee.kind) == ("102@acme.example", ChannelKind.PHONE)
    caller = created("sofia/orchestrator/101@10.0.0.9", orch_endpoint="101@acme.example")
    assert caller.endpoint == "101@acme.example"
    authed = created("sofia/orchestrator/101@10.0.0.9", user_name="101", domain_name="acme.example")
    assert authed.endpoint == "101@acme.example"
    assert created("sofia/orchestrator/103@b.example").endpoint == "103@b.example"
    # A trunk's channel keeps its gateway's name, whatever it inherited.
    trunk = created("sofia/gateway/trunk-t1-carrier/+4420", orch_endpoint="101@acme.example")
    assert (trunk.endpoint, trunk.kind) == ("trunk-t1-carrier", ChannelKind.TRUNK)
