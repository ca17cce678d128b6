"""CTI event stream: per-tenant sequence numbers, subscriptions, bounded replay."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cti.stream import CtiEvent, EventStream, Subscription


def call(tenant: int = 1, *, access: str | None = None, ext: tuple[str, ...] = ()) -> dict:
    return {"id": "c", "tenant_id": tenant, "access_number": access, "extensions": list(ext)}


class Sink:
    def __init__(self) -> None:
        self.events: list[CtiEvent] = []

    def __call__(self, _sub: Subscription, event: CtiEvent) -> None:
        self.events.append(event)


def test_seq_increases_by_one_per_tenant() -> None:
    stream = EventStream()
    seqs: dict[int, list[int]] = {1: [], 2: []}
    for tenant in (1, 2, 1, 1, 2):
        seqs[tenant].append(stream.publish("new", tenant, call(tenant)).seq)
    assert seqs == {1: [1, 2, 3], 2: [1, 2]}
    assert stream.last_seq(1) == 3 and stream.last_seq(3) == 0


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError):
        EventStream().publish("exploded", 1, call())


def test_subscription_filters_by_tenant_access_number_and_extension() -> None:
    stream = EventStream()
    whole, by_number, by_ext, other = Sink(), Sink(), Sink(), Sink()
    stream.subscribe(1, whole)
    stream.subscribe(1, by_number, access_number="+15550100")
    stream.subscribe(1, by_ext, extension="101")
    stream.subscribe(2, other)
    stream.publish("new", 1, call(access="+15550100"))
    stream.publish("new", 1, call(ext=("102", "101")))
    stream.publish("new", 1, call(access="+15550199"))
    assert [e.seq for e in whole.events] == [1, 2, 3]
    assert [e.seq for e in by_number.events] == [1]
    assert [e.seq for e in by_ext.events] == [2]
    assert other.events == []


def test_unsubscribed_sink_gets_nothing_more() -> None:
    stream = EventStream()
    sink = Sink()
    sub, _ = stream.subscribe(1, sink)
    stream.publish("new", 1, call())
    stream.unsubscribe(sub)
    stream.publish("ringing", 1, call())
    assert [e.event for e in sink.events] == ["new"]
    assert stream.subscription_count() == 0


def test_replay_after_seq_returns_kept_events_in_order() -> None:
    stream = EventStream()
    for name in ("new", "ringing", "answered", "dtmf", "hung_up"):
        stream.publish(name, 1, call())
    sub, replay = stream.subscribe(1, Sink(), after_seq=2)
    assert not replay.missed and replay.last_seq == 5
    assert [(e.seq, e.event) for e in replay.events] == [
        (3, "answered"),
        (4, "dtmf"),
        (5, "hung_up"),
    ]
    assert stream.replay(sub, 5).events == []


def test_replay_of_dropped_events_says_missed() -> None:
    stream = EventStream(replay_size=3)
    for _ in range(10):
        stream.publish("dtmf", 1, call())
    _, ok = stream.subscribe(1, Sink(), after_seq=7)
    assert [e.seq for e in ok.events] == [8, 9, 10] and not ok.missed
    _, dropped = stream.subscribe(1, Sink(), after_seq=6)
    assert dropped.missed and dropped.events == [] and dropped.last_seq == 10


def test_seq_from_another_run_of_the_service_says_missed() -> None:
    stream = EventStream()
    stream.publish("new", 1, call())
    _, replay = stream.subscribe(1, Sink(), after_seq=500)
    assert replay.missed and replay.last_seq == 1


def test_replay_is_filtered_like_live_events() -> None:
    stream = EventStream()
    stream.publish("new", 1, call(access="+1555"))
    stream.publish("new", 1, call(access="+1666"))
    _, replay = stream.subscribe(1, Sink(), access_number="+1666", after_seq=0)
    assert [e.seq for e in replay.events] == [2]


def test_event_dict_carries_seq_timestamp_and_call() -> None:
    stream = EventStream()
    event = stream.publish("dtmf", 4, call(4), {"digit": "5"}).to_dict()
    wanted: dict[str, Any] = {"event": "dtmf", "seq": 1, "tenant_id": 4, "details": {"digit": "5"}}
    assert {k: event[k] for k in wanted} == wanted
    assert event["call"]["tenant_id"] == 4 and event["timestamp"] > 0
