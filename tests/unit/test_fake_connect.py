"""Engine.connect / disconnect / hold on the FakeEngine: the semantics every engine keeps.

(The same on the real Asterisk: tests/engine/test_adapter.py, test_connect_*.)
"""

from __future__ import annotations

import pytest

from orchestrator.core.errors import LegGoneError, ValidationError
from orchestrator.core.events import (
    ChannelBridged,
    ChannelUnbridged,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
)
from orchestrator.core.fake import FakeEngine


def told(events: list[Event]) -> list[tuple[str, str, str]]:
    """The connection events, as (kind, leg, peer)."""
    return [
        (type(e).__name__, e.leg_id, e.peer_id)
        for e in events
        if isinstance(e, LegConnected | LegDisconnected)
    ]


@pytest.fixture
async def fake() -> FakeEngine:
    engine = FakeEngine()
    await engine.start()
    return engine


async def legs(fake: FakeEngine, count: int) -> list[str]:
    return [(await fake.incoming_call(caller=f"10{i}")).id for i in range(count)]


async def test_connect_two_legs(fake: FakeEngine) -> None:
    a, b = await legs(fake, 2)
    seen: list[Event] = []
    fake.subscribe(seen.append)
    await fake.connect(a, b)
    assert told(seen) == [("LegConnected", a, b), ("LegConnected", b, a)]
    assert fake.peer(a) == b and fake.peer(b) == a
    # Observation sees both channels in one bridge of the engine's, as on Asterisk.
    bridged = [e for e in seen if isinstance(e, ChannelBridged)]
    assert {e.channel_id for e in bridged} == {a, b} and len(
        {e.conversation_id for e in bridged}
    ) == 1
    seen.clear()
    await fake.connect(b, a)  # already talking: nothing changes
    assert told(seen) == []
    with pytest.raises(ValidationError):
        await fake.connect(a, a)


async def test_connecting_a_leg_connected_elsewhere_moves_it(fake: FakeEngine) -> None:
    a, b, c = await legs(fake, 3)
    await fake.connect(a, b)
    seen: list[Event] = []
    fake.subscribe(seen.append)
    await fake.connect(a, c)
    assert told(seen) == [
        ("LegDisconnected", a, b),
        ("LegDisconnected", b, a),
        ("LegConnected", a, c),
        ("LegConnected", c, a),
    ]
    assert fake.peer(a) == c and fake.peer(b) is None and fake.legs[b].alive


async def test_disconnect_leaves_the_peer_up(fake: FakeEngine) -> None:
    a, b = await legs(fake, 2)
    await fake.connect(a, b)
    seen: list[Event] = []
    fake.subscribe(seen.append)
    await fake.disconnect(a)
    assert told(seen) == [("LegDisconnected", a, b), ("LegDisconnected", b, a)]
    assert {e.channel_id for e in seen if isinstance(e, ChannelUnbridged)} == {a, b}
    assert fake.connections == {} and fake.legs[a].alive and fake.legs[b].alive
    seen.clear()
    await fake.disconnect(a)  # connected to nothing: nothing happens
    assert told(seen) == []


async def test_a_hangup_ends_the_connection(fake: FakeEngine) -> None:
    a, b = await legs(fake, 2)
    await fake.connect(a, b)
    seen: list[Event] = []
    fake.subscribe(seen.append)
    await fake.remote_hangup(a)
    assert told(seen) == [("LegDisconnected", b, a)]  # only the side still up is told
    assert fake.connections == {} and fake.legs[b].alive
    with pytest.raises(LegGoneError) as gone:
        await fake.connect(b, a)
    assert gone.value.details["leg_id"] == a


async def test_a_connection_of_kept_legs_survives_a_restart(fake: FakeEngine) -> None:
    a, b, c, d = await legs(fake, 4)
    await fake.connect(a, b)
    await fake.connect(c, d)
    again = fake.restarted()
    again.kept_legs |= {a, b, c}
    seen: list[Event] = []
    again.subscribe(seen.append)
    await again.start()
    assert told(seen) == [("LegConnected", a, b), ("LegConnected", b, a)]
    created = [i for i, e in enumerate(seen) if isinstance(e, LegCreated)]
    assert max(created) < min(i for i, e in enumerate(seen) if isinstance(e, LegConnected))
    assert again.peer(a) == b and again.peer(c) is None  # d was swept
    await again.connect(a, c)  # driven as any connection of this run
    assert again.peer(b) is None and again.peer(c) == a


async def test_hold_with_music_or_as_a_party(fake: FakeEngine) -> None:
    a, b = await legs(fake, 2)
    await fake.hold(a, "jazz")
    await fake.connect(b, (await fake.incoming_call()).id)
    await fake.hold(b)
    assert fake.held == {a: "jazz", b: ""}
    await fake.unhold(a)
    await fake.unhold(b)
    assert fake.held == {}
    assert [c for c in fake.commands if c[0] in ("hold", "unhold")] == [
        ("hold", a, "jazz"),
        ("hold", b, ""),
        ("unhold", a),
        ("unhold", b),
    ]
