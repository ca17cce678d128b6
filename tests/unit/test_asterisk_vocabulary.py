"""Asterisk's words mapped onto the core's: channel states, DIALSTATUS, causes, channel
kinds, Local pairs and stock prompts (translate.py, observe.py, prompts.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core import EngineCapabilities, FakeEngine
from orchestrator.core.call import LegState
from orchestrator.core.events import ChannelDialed, ChannelEnded, ChannelStarted, LegHungUp
from orchestrator.core.outcomes import DIAL_OUTCOME_CAUSES, ChannelKind, DialOutcome, HangupCause
from orchestrator.core.prompts import Prompt
from orchestrator.engines.asterisk.observe import channel_kind, observe, pair_id_of
from orchestrator.engines.asterisk.prompts import PROMPT_SOUNDS, engine_media
from orchestrator.engines.asterisk.translate import (
    CHANNEL_STATES,
    DIAL_STATUSES,
    channel_state,
    dial_failure,
    translate,
)
from orchestrator.queues.acd.waiting import position_prompt, wait_prompt

SWAGGER = Path(__file__).resolve().parents[1] / "data" / "ari" / "channels.json"


def _ari_channel_states() -> list[str]:
    model = json.loads(SWAGGER.read_text())["models"]["Channel"]["properties"]["state"]
    return list(model["allowableValues"]["values"])


def test_every_ari_channel_state_is_mapped() -> None:
    assert set(_ari_channel_states()) == set(CHANNEL_STATES)


@pytest.mark.parametrize(
    ("ari", "ours"),
    [
        ("Down", LegState.DOWN),
        ("Rsrved", LegState.DOWN),
        ("OffHook", LegState.DOWN),
        ("Dialing", LegState.RINGING),
        ("Ring", LegState.RINGING),
        ("Ringing", LegState.RINGING),
        ("Up", LegState.UP),
        ("Busy", LegState.DOWN),
        ("Dialing Offhook", LegState.DOWN),
        ("Pre-ring", LegState.DOWN),
        ("Unknown", LegState.DOWN),
        ("up", LegState.UP),  # any case
        (" RINGING ", LegState.RINGING),
        ("something new", LegState.DOWN),
        (None, LegState.DOWN),
    ],
)
def test_channel_states(ari: Any, ours: LegState) -> None:
    assert channel_state(ari) is ours
    event = translate({"type": "ChannelStateChange", "channel": {"id": "c1", "state": ari}})
    assert event is not None and getattr(event, "state", None) is ours


def _dial(status: str) -> dict[str, Any]:
    return {
        "type": "Dial",
        "dialstatus": status,
        "dialstring": "102@a.example",
        "caller": {"id": "c1", "name": "PJSIP/101@a.example-00000001"},
        "peer": {"id": "c2", "name": "PJSIP/102@a.example-00000002"},
    }


@pytest.mark.parametrize(
    ("dialstatus", "outcome"),
    [
        ("ANSWER", DialOutcome.ANSWERED),
        ("BUSY", DialOutcome.BUSY),
        ("NOANSWER", DialOutcome.NO_ANSWER),
        ("CANCEL", DialOutcome.CANCELLED),
        ("CONGESTION", DialOutcome.CONGESTION),
        ("CHANUNAVAIL", DialOutcome.UNAVAILABLE),
        ("DONTCALL", DialOutcome.REJECTED),
        ("TORTURE", DialOutcome.REJECTED),
    ],
)
def test_final_dial_statuses(dialstatus: str, outcome: DialOutcome) -> None:
    assert DIAL_STATUSES[dialstatus] is outcome
    event = observe(_dial(dialstatus))
    assert isinstance(event, ChannelDialed)
    assert event.status is outcome and (event.channel_id, event.peer_id) == ("c1", "c2")


def test_every_dial_outcome_comes_from_some_dialstatus() -> None:
    assert set(DIAL_STATUSES.values()) == set(DialOutcome)


@pytest.mark.parametrize("progress", ["RINGING", "PROGRESS", "PROCEEDING"])
def test_dial_progress_is_not_an_outcome(progress: str) -> None:
    assert observe(_dial(progress)) is None


def test_dial_start_has_no_outcome() -> None:
    event = observe(_dial(""))
    assert isinstance(event, ChannelDialed) and event.status == ""


@pytest.mark.parametrize(
    ("dialstatus", "cause"),
    [
        ("BUSY", HangupCause.USER_BUSY),
        ("NOANSWER", HangupCause.NO_ANSWER),
        ("CHANUNAVAIL", HangupCause.SUBSCRIBER_ABSENT),
        ("CONGESTION", HangupCause.NORMAL_CIRCUIT_CONGESTION),
        ("ANSWER", None),
        ("CANCEL", None),
        ("DONTCALL", None),
    ],
)
def test_failed_originate_causes(dialstatus: str, cause: HangupCause | None) -> None:
    failed = dial_failure(_dial(dialstatus))
    if cause is None:
        assert failed is None
    else:
        assert failed == ("c2", cause, dialstatus.lower())


def test_hangup_causes_are_q850_numbers() -> None:
    assert [int(c) for c in HangupCause] == [0, 1, 3, 16, 17, 18, 19, 20, 21, 27, 31, 34, 38,
                                            41, 42, 44, 88, 127]  # fmt: skip
    for cause in (16, 17, 19, 21, 44, 127, 102):  # any engine cause goes through as it is
        event = translate({"type": "ChannelDestroyed", "cause": cause, "channel": {"id": "c"}})
        assert isinstance(event, LegHungUp) and event.cause == cause
    gone = observe({"type": "ChannelDestroyed", "cause": 0, "channel": {"id": "c"}})
    assert isinstance(gone, ChannelEnded) and gone.cause == HangupCause.NORMAL_CLEARING
    assert DIAL_OUTCOME_CAUSES[DialOutcome.BUSY] == 17


@pytest.mark.parametrize(
    ("name", "kind", "endpoint", "pair"),
    [
        ("PJSIP/101@a.example-0000001a", ChannelKind.PHONE, "101@a.example", ""),
        ("PJSIP/trunk-t1-carrier-0000001b", ChannelKind.TRUNK, "trunk-t1-carrier", ""),
        ("Local/103@fwd-00000001;1", ChannelKind.INTERNAL, "", "Local/103@fwd-00000001"),
        ("Local/103@fwd-00000001;2", ChannelKind.INTERNAL, "", "Local/103@fwd-00000001"),
        ("Snoop/orch-1-00000002", ChannelKind.INTERNAL, "", ""),
        ("Announcer/ARI_MOH-00000003;1", ChannelKind.INTERNAL, "", ""),
        ("Recorder/ARI_MOH-00000004;1", ChannelKind.INTERNAL, "", ""),
        ("UnicastRTP/127.0.0.1:4000-0000005", ChannelKind.INTERNAL, "", ""),
        ("DAHDI/1-1", ChannelKind.TRUNK, "", ""),
    ],
)
def test_channel_kinds_and_local_pairs(
    name: str, kind: ChannelKind, endpoint: str, pair: str
) -> None:
    assert (channel_kind(name), pair_id_of(name)) == (kind, pair)
    started = observe({"type": "ChannelCreated", "channel": {"id": "x", "name": name}})
    assert isinstance(started, ChannelStarted)
    assert (started.kind, started.endpoint, started.pair_id) == (kind, endpoint, pair)


def test_every_prompt_has_an_asterisk_sound() -> None:
    assert set(PROMPT_SOUNDS) == set(Prompt)
    assert engine_media(["sound:custom/x", "number:3", "tone:ring"]) == [
        "sound:custom/x",
        "number:3",
        "tone:ring",
    ]


def test_queue_announcements_sound_as_before_on_asterisk() -> None:
    assert engine_media(position_prompt(1)) == ["sound:queue-youarenext"]
    assert engine_media(position_prompt(3)) == [
        "sound:queue-thereare", "number:2", "sound:queue-callswaiting",
    ]  # fmt: skip
    assert engine_media(wait_prompt(20)) == [
        "sound:queue-holdtime", "sound:queue-less-than", "number:1", "sound:queue-minute",
    ]  # fmt: skip
    assert engine_media(wait_prompt(60)) == ["sound:queue-holdtime", "number:1",
                                             "sound:queue-minute"]  # fmt: skip
    assert engine_media(wait_prompt(300)) == ["sound:queue-holdtime", "number:5",
                                              "sound:queue-minutes"]  # fmt: skip
    assert engine_media([Prompt.SORRY, Prompt.TRY_AGAIN_LATER]) == [
        "sound:im-sorry", "sound:please-try-call-later",
    ]  # fmt: skip
    assert engine_media([Prompt.QUEUE_THANK_YOU, Prompt.AGENT_LOGGED_IN, Prompt.AGENT_LOGGED_OUT,
                         Prompt.AGENT_PAUSED, Prompt.AGENT_REFUSED]) == [
        "sound:queue-thankyou", "sound:agent-loginok", "sound:agent-loggedoff",
        "sound:dictate/paused", "sound:agent-incorrect",
    ]  # fmt: skip


def test_capabilities() -> None:
    fake = FakeEngine()
    assert fake.capabilities == EngineCapabilities(journal=True)
    assert not fake.registration_events
    fake.registration_events = True
    assert fake.capabilities.registration_events and fake.capabilities.journal
    assert FakeEngine(registration_events=True).capabilities.registration_events


def test_engine_keeps_and_releases_legs() -> None:
    fake = FakeEngine()
    fake.keep(["a", "b"])
    assert fake.is_kept("a") and fake.kept_legs == {"a", "b"}
    fake.release(iter(["a", "zz"]))
    assert not fake.is_kept("a") and fake.is_kept("b")
    assert fake.leg("nope") is None


async def test_fake_dialplan_call_outcomes() -> None:
    fake = FakeEngine()
    seen: list[Any] = []
    fake.subscribe(seen.append)
    await fake.start()
    await fake.dialplan_call("101@a.example", "102@a.example", status=DialOutcome.NO_ANSWER)
    final = [e for e in seen if isinstance(e, ChannelDialed) and e.status]
    assert [e.status for e in final] == [DialOutcome.NO_ANSWER]
    ends = [e.cause for e in seen if isinstance(e, ChannelEnded)]
    assert ends[0] == HangupCause.NO_ANSWER
    started = [e for e in seen if isinstance(e, ChannelStarted)]
    assert {e.kind for e in started} == {ChannelKind.PHONE}
    await fake.stop()
