"""Conferences on the seam: the Conferences interface and the FakeEngine's in-memory rooms.

The contract (what each engine does) is tests/conformance/test_conference_contract.py;
here the seam's shape and the Fake's state that feature tests read.
"""

from __future__ import annotations

import inspect

from orchestrator.core.conferences import Conferences
from orchestrator.core.engine import Engine
from orchestrator.core.events import ChannelBridged, ChannelUnbridged, ConferenceMemberLeft
from orchestrator.core.fake import FakeEngine
from tests.unit.test_layering import FORBIDDEN


def test_conferences_are_one_attribute_in_telephony_words_saying_how_engines_do_it() -> None:
    assert "conferences" not in Engine.__abstractmethods__
    assert Engine.__annotations__["conferences"] in ("Conferences", Conferences)
    methods = sorted(Conferences.__abstractmethods__)
    assert {"create", "join", "leave", "mute", "deafen", "hold", "play", "record", "end"} <= set(
        methods
    )
    for name in methods:
        method = getattr(Conferences, name)
        words = " ".join([name, *inspect.signature(method).parameters])
        assert not FORBIDDEN.search(words.replace("_", " ")), words
        if inspect.iscoroutinefunction(method):
            note = (inspect.getdoc(method) or "").partition("How engines do it:")[2]
            assert "Asterisk" in note and "FreeSWITCH" in note, name


async def test_the_fake_keeps_rooms_commands_and_observation() -> None:
    fake = FakeEngine()
    seen: list[object] = []
    fake.subscribe(seen.append)
    await fake.start()
    a, b = await fake.incoming_call(caller="101"), await fake.incoming_call(caller="102")
    for leg in (a, b):
        await fake.answer(leg.id)
    await fake.conferences.create("room-1")
    await fake.conferences.join("room-1", a.id, moderator=True)
    await fake.conferences.join("room-1", b.id, deaf=True)
    await fake.conferences.hold(b.id, music="jazz")
    assert fake.conferences.held_music == {b.id: "jazz"}
    room = fake.conferences.rooms["room-1"]
    assert (room[a.id].moderator, room[b.id].deaf, room[b.id].held) == (True, True, True)
    assert ("conference_join", "room-1", b.id, False, True, False) in fake.commands
    # Observation: the members share one conversation.
    talks = {e.conversation_id for e in seen if isinstance(e, ChannelBridged)}
    assert talks == {"conference-room-1"}
    await fake.remote_hangup(b.id)
    assert fake.conferences.held_music == {} and list(room) == [a.id]
    await fake.conferences.end("room-1")
    left = [(e.leg_id, e.reason) for e in seen if isinstance(e, ConferenceMemberLeft)]
    assert left == [(b.id, "hangup"), (a.id, "ended")]
    assert len([e for e in seen if isinstance(e, ChannelUnbridged)]) == 2
    assert "room-1" not in fake.conferences.rooms and a.alive
