"""Channel observation from ARI events recorded on Asterisk 22 (tests/data/ari/observed).

``dialplan_call.json`` is every event the adapter's app received (subscribed to all,
with its event filter) while phone 301 called 302 in the tenant dialplan, 302 answered
and 301 hung up; ``channels.json`` is ``GET /channels`` during that call.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from orchestrator.core.events import (
    ChannelBridged,
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
    Event,
    LegCreated,
    LegEvent,
)
from orchestrator.core.outcomes import DialOutcome
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.bridges import BridgeEvent
from orchestrator.engines.asterisk.observe import (
    ChannelTable,
    call_id_of,
    channel_endpoint,
    event_filter,
    observe,
)
from orchestrator.engines.asterisk.translate import _TRANSLATORS, LINKEDID_VAR, translate

DATA = Path(__file__).resolve().parents[1] / "data" / "ari"
A, B = "test2-1795344116.7", "test2-1795344116.8"


def call_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(
        (DATA / "observed" / "dialplan_call.json").read_text()
    )
    return events


def listed_channels() -> list[dict[str, Any]]:
    channels: list[dict[str, Any]] = json.loads((DATA / "observed" / "channels.json").read_text())
    return channels


def observed() -> list[ChannelEvent]:
    return [e for e in map(observe, call_events()) if e is not None]


def test_channel_endpoint_names() -> None:
    assert channel_endpoint("PJSIP/101@t1.example-00000003") == "101@t1.example"
    assert channel_endpoint("PJSIP/trunk-t1-carrier-0000000a") == "trunk-t1-carrier"
    assert channel_endpoint("Local/100@orchestrator-stasis-00000002;1") == ""
    assert channel_endpoint("") == ""


def test_a_dialplan_call_in_order() -> None:
    kinds = [(type(e).__name__, e.channel_id) for e in observed()]
    assert kinds == [
        ("ChannelStarted", A),
        ("ChannelStarted", B),
        ("ChannelDialed", A),
        ("ChannelStateChanged", B),  # ringing; Dial's RINGING progress is not reported
        ("ChannelStateChanged", B),  # up
        ("ChannelDialed", A),  # answer
        ("ChannelStateChanged", A),
        ("ChannelBridged", B),
        ("ChannelBridged", A),
        ("ChannelUnbridged", A),
        ("ChannelUnbridged", B),
        ("ChannelEnded", B),
        ("ChannelEnded", A),
    ]
    assert {e.call_id for e in observed()} == {A}


def test_started_names_endpoint_numbers_and_state() -> None:
    a, b = (e for e in observed() if isinstance(e, ChannelStarted))
    assert (a.endpoint, a.caller_number, a.called_number, a.state) == (
        "301@probe.example",
        "301",
        "302",
        "ringing",
    )
    assert a.name == "PJSIP/301@probe.example-00000000" and a.context == "t1"
    # The dialed channel starts at extension "s": no called number yet.
    assert (b.endpoint, b.called_number, b.state) == ("302@probe.example", "", "down")
    assert a.timestamp > 1.7e9


def test_dial_statuses_and_hangup_cause() -> None:
    dials = [e for e in observed() if isinstance(e, ChannelDialed)]
    assert [(d.peer_id, d.dial_string, d.status) for d in dials] == [
        (B, "302@probe.example", ""),
        (B, "", DialOutcome.ANSWERED),
    ]
    ups = [e.channel_id for e in observed() if isinstance(e, ChannelStateChanged)]
    assert ups == [B, B, A]
    ends = [e for e in observed() if isinstance(e, ChannelEnded)]
    assert [(e.cause, e.cause_text) for e in ends] == [(16, "Normal Clearing")] * 2
    bridged = [e for e in observed() if isinstance(e, ChannelBridged | ChannelUnbridged)]
    assert len({e.conversation_id for e in bridged}) == 1


def test_busy_dial_and_engine_dial_without_caller() -> None:
    dial = copy.deepcopy(next(e for e in call_events() if e["type"] == "Dial"))
    dial["dialstatus"] = "BUSY"
    busy = observe(dial)
    assert isinstance(busy, ChannelDialed) and busy.status == "busy" and busy.call_id == A
    del dial["caller"]
    originated = observe(dial)
    assert isinstance(originated, ChannelDialed)
    assert originated.channel_id == "" and originated.peer_id == B and originated.call_id == A


def test_call_id_without_linkedid_is_the_channel_itself() -> None:
    assert call_id_of({"id": "x1", "channelvars": {LINKEDID_VAR: "x0"}}) == "x0"
    assert call_id_of({"id": "x1"}) == "x1"


def test_malformed_and_unobserved_events_give_nothing() -> None:
    assert observe({"type": "ChannelVarset", "channel": {"id": "x"}}) is None
    assert observe({"type": "ChannelCreated"}) is None  # logged, not raised


def test_event_filter_keeps_chatty_types_out() -> None:
    allowed = {t["type"] for t in event_filter(False)["allowed"]}
    assert {"ChannelCreated", "Dial", "ChannelDestroyed", "StasisStart"} <= allowed
    assert not allowed & {"ChannelVarset", "ChannelDialplan", "EndpointStateChange"}
    assert "ContactStatusChange" in {t["type"] for t in event_filter(True)["allowed"]}


def test_event_filter_lets_every_translated_type_through() -> None:
    """A type translate() reads but the filter drops is never seen by the service (as
    conference members' ChannelTalkingStarted/Finished were)."""
    allowed = {t["type"] for t in event_filter(True)["allowed"]}
    assert set(_TRANSLATORS) <= allowed, set(_TRANSLATORS) - allowed


def test_stasis_leg_variables_do_not_carry_the_linkedid() -> None:
    start = next(e for e in call_events() if e["type"] == "ChannelCreated")
    start = {**start, "type": "StasisStart", "args": []}
    created = translate(start)
    assert isinstance(created, LegCreated) and LINKEDID_VAR not in created.variables


def test_table_reports_each_channel_once() -> None:
    table = ChannelTable()
    admitted = [e for e in observed() if table.admit(e)]
    assert admitted == observed() and len(table) == 0
    started = observed()[0]
    assert table.admit(started) and not table.admit(started)
    end = ChannelEnded(channel_id=A, call_id=A)
    assert table.admit(end) and not table.admit(end)
    assert not table.admit(ChannelEnded(channel_id="never-seen"))


def test_differences_after_a_reconnect() -> None:
    table = ChannelTable()
    table.admit(observed()[0])  # A, ringing
    table.admit(ChannelStarted(channel_id="gone-1", call_id="gone-1"))
    missed = table.differences(listed_channels())
    by_kind = {(type(e).__name__, e.channel_id): e for e in missed}
    assert set(by_kind) == {
        ("ChannelEnded", "gone-1"),
        ("ChannelStateChanged", A),
        ("ChannelStarted", B),
    }
    gone = by_kind[("ChannelEnded", "gone-1")]
    assert isinstance(gone, ChannelEnded) and gone.cause_text == "gone while disconnected"
    assert by_kind[("ChannelStarted", B)].call_id == A
    for event in missed:
        assert table.admit(event)
    assert table.differences(listed_channels()) == []


async def test_adapter_reports_observation_but_no_legs_for_a_dialplan_call() -> None:
    engine = AsteriskEngine(
        ari_url="http://ari.invalid/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p",
    )  # fmt: skip
    got: list[Event] = []
    done = asyncio.Event()

    def on(event: Event) -> None:
        got.append(event)
        if isinstance(event, ChannelEnded) and event.channel_id == A:
            done.set()

    engine.subscribe(on)
    for item in call_events():
        engine._queue.put_nowait(item)
    task = asyncio.create_task(engine._dispatch_loop())
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        task.cancel()
    assert [e for e in got if isinstance(e, ChannelEvent)] == observed()
    # The dialplan's bridge and channels are not ours: no leg or bridge events.
    assert not [e for e in got if isinstance(e, LegEvent | BridgeEvent)]
    assert got == observed() and not engine.bridges and not engine.legs
    assert len(engine.channels) == 0 and sum(engine.ari_event_counts.values()) == 18
