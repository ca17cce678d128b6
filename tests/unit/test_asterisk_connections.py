"""``Engine.connect`` on Asterisk: when a connection ends, each side is told
(``LegDisconnected``) only once it is out of the connection's bridge.

ARI is replaced by a stand-in that behaves as Asterisk does where it matters here: a
``DELETE /bridges/{id}`` is answered at once and the channels leave the dissolving
bridge on their own a moment later (ChannelLeftBridge each, then BridgeDestroyed); a
playback started on a leg still in a bridge is queued on the bridge, and a bridge
dissolved before it ends drops it without any PlaybackFinished. Its events go through
the adapter's dispatcher as ARI's would. A subscriber plays to each leg it is told about,
as a feature would; every such playback must finish. The real-engine proof is
tests/conformance/test_engine_contract.py (Asterisk half).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.events import (
    Event,
    LegConnected,
    LegDisconnected,
    LegLeftApp,
    PlaybackFinished,
)
from orchestrator.core.targets import Extension
from orchestrator.engines.asterisk import adapter as adapter_module
from orchestrator.engines.asterisk.adapter import AsteriskEngine

EVENTS = Path(__file__).resolve().parents[1] / "data" / "ari" / "events"
CHANNEL = json.loads((EVENTS / "stasis_start.json").read_text())["channel"]
LEAVE_S = 0.05  # how long channels take to leave a dissolving bridge
PLAY_S = 0.1  # how long a playback lasts


class StandInAsterisk:
    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine
        self.bridges: dict[str, set[str]] = {}
        self.requests: list[tuple[str, ...]] = []
        self.reports_leaving = True  # False: the channels' leaving is lost (link down)

    def send(self, ari_type: str, **body: Any) -> None:
        self.engine._queue.put_nowait({"type": ari_type, **body})

    def channel(self, leg_id: str) -> dict[str, Any]:
        return dict(CHANNEL, id=leg_id)

    def later(self, delay: float, ari_type: str, **body: Any) -> None:
        asyncio.get_running_loop().call_later(delay, lambda: self.send(ari_type, **body))

    # -- ARI requests ---------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        self.requests.append(("create_bridge", bridge_id))
        self.bridges[bridge_id] = set()
        return {"id": bridge_id}

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("add_channel", bridge_id, channel_id))
        self.bridges[bridge_id].add(channel_id)
        self.send(
            "ChannelEnteredBridge", bridge={"id": bridge_id}, channel=self.channel(channel_id)
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.requests.append(("destroy_bridge", bridge_id))
        # Answered at once; the channels leave on their own threads a moment later.
        asyncio.get_running_loop().call_later(LEAVE_S, self._dissolved, bridge_id)

    def _dissolved(self, bridge_id: str) -> None:
        legs = self.bridges.pop(bridge_id, set())
        if not self.reports_leaving:
            return
        for leg_id in sorted(legs):
            self.send("ChannelLeftBridge", bridge={"id": bridge_id}, channel=self.channel(leg_id))
        self.send("BridgeDestroyed", bridge={"id": bridge_id})

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> dict[str, Any]:
        self.requests.append(("play", channel_id))
        bridge_id = next((b for b, legs in self.bridges.items() if channel_id in legs), None)
        playback = {"id": playback_id, "target_uri": f"channel:{channel_id}", "state": "done"}
        self.send("PlaybackStarted", playback=dict(playback, state="playing"))
        loop = asyncio.get_running_loop()
        loop.call_later(PLAY_S, self._played, bridge_id, channel_id, playback)
        return {"id": playback_id}

    def _played(self, bridge_id: str | None, channel_id: str, playback: dict[str, Any]) -> None:
        if bridge_id is not None and bridge_id not in self.bridges:
            return  # queued on a bridge dissolved meanwhile: dropped, not a word
        self.send("PlaybackFinished", playback=playback)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        pass

    async def continue_in_dialplan(self, channel_id: str, *args: Any) -> None:
        self.requests.append(("continue", channel_id))
        # The channel leaves its bridge, then our app.
        self._leaves(channel_id)
        self.send("StasisEnd", channel=self.channel(channel_id))

    # -- the far end ----------------------------------------------------------------------
    def hangs_up(self, leg_id: str) -> None:
        chan = dict(self.channel(leg_id), state="Down")
        self.send("ChannelHangupRequest", channel=chan, cause=16)
        self._leaves(leg_id)
        self.send("ChannelDestroyed", channel=chan, cause=16, cause_txt="Normal Clearing")

    def _leaves(self, leg_id: str) -> None:
        for bridge_id, legs in self.bridges.items():
            if leg_id in legs:
                legs.discard(leg_id)
                self.send(
                    "ChannelLeftBridge", bridge={"id": bridge_id}, channel=self.channel(leg_id)
                )


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[AsteriskEngine, StandInAsterisk, list[Event]]]:
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:1/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p", observe_channels=False,
    )  # fmt: skip
    ari = StandInAsterisk(engine)
    engine.ari = ari  # type: ignore[assignment]
    seen: list[Event] = []

    async def feature(event: Event) -> None:
        # What a feature does when a leg is left alone: play something to it, at once.
        seen.append(event)
        if isinstance(event, LegDisconnected):
            await engine.play(event.leg_id, "sound:beep", playback_id=f"pb-{event.leg_id}")

    engine.subscribe(feature)
    dispatcher = asyncio.create_task(engine._dispatch_loop())
    for leg_id in ("a", "b", "c"):
        ari.send("StasisStart", channel=ari.channel(leg_id), args=["ivr"])
    yield engine, ari, seen
    await engine.connections.stop()
    dispatcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dispatcher


async def until(seen: list[Event], what: type[Event], leg_id: str) -> Event:
    async with asyncio.timeout(2):
        while True:
            for event in seen:
                if isinstance(event, what) and getattr(event, "leg_id", "") == leg_id:
                    return event
            await asyncio.sleep(0.01)


async def connected(engine: AsteriskEngine, seen: list[Event], a: str, b: str) -> None:
    await engine.connect(a, b)
    await until(seen, LegConnected, a)
    await until(seen, LegConnected, b)


def told(seen: list[Event]) -> list[tuple[str, str]]:
    return [(e.leg_id, e.peer_id) for e in seen if isinstance(e, LegDisconnected)]


async def test_the_survivor_of_a_hangup_is_told_once_out_and_hears_what_it_is_played(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
) -> None:
    engine, ari, seen = asterisk
    await connected(engine, seen, "a", "b")
    ari.hangs_up("a")
    await until(seen, PlaybackFinished, "b")
    assert told(seen) == [("b", "a")]  # only the side still up
    assert ari.requests[-2:] == [("destroy_bridge", ari.requests[0][1]), ("play", "b")]


async def test_both_sides_of_a_disconnect_hear_what_they_are_played(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
) -> None:
    engine, _ari, seen = asterisk
    await connected(engine, seen, "a", "b")
    await engine.disconnect("a")
    await until(seen, PlaybackFinished, "a")
    await until(seen, PlaybackFinished, "b")
    assert sorted(told(seen)) == [("a", "b"), ("b", "a")]


async def test_the_leg_left_by_a_move_hears_what_it_is_played(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
) -> None:
    engine, _ari, seen = asterisk
    await connected(engine, seen, "a", "b")
    await engine.connect("a", "c")
    await until(seen, PlaybackFinished, "b")
    assert ("b", "a") in told(seen) and ("a", "b") in told(seen)


async def test_the_peer_of_a_transferred_leg_hears_what_it_is_played(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
) -> None:
    engine, _ari, seen = asterisk
    await connected(engine, seen, "a", "b")
    await engine.transfer("a", Extension("t1", "300"))
    await until(seen, PlaybackFinished, "b")
    # The transferred leg is told before it is reported gone from our control.
    left = next(e for e in seen if isinstance(e, LegLeftApp))
    a_told = next(e for e in seen if isinstance(e, LegDisconnected) and e.leg_id == "a")
    assert seen.index(a_told) < seen.index(left)
    assert sorted(told(seen)) == [("a", "b"), ("b", "a")]


async def test_a_side_never_seen_leaving_is_told_after_a_moment(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its ChannelLeftBridge lost (the link went down meanwhile): told all the same."""
    engine, ari, seen = asterisk
    monkeypatch.setattr(adapter_module, "LEAVE_WAIT_S", 0.2)
    await connected(engine, seen, "a", "b")
    ari.reports_leaving = False
    await engine.disconnect("a")
    await asyncio.sleep(0.1)
    assert told(seen) == []  # not yet: they may still be in the bridge
    await until(seen, LegDisconnected, "b")
    await until(seen, LegDisconnected, "a")
    assert not engine.connections.still_in(ari.requests[0][1])


async def test_a_side_gone_before_the_moment_is_not_told(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, ari, seen = asterisk
    monkeypatch.setattr(adapter_module, "LEAVE_WAIT_S", 0.2)
    await connected(engine, seen, "a", "b")
    ari.reports_leaving = False
    await engine.disconnect("a")
    await asyncio.sleep(0.1)
    ari.hangs_up("a")  # out of the bridge already: no ChannelLeftBridge any more
    await until(seen, LegDisconnected, "b")
    await asyncio.sleep(0.05)
    assert told(seen) == [("b", "a")]
    assert not engine.connections.still_in(ari.requests[0][1])


async def test_a_playback_right_after_a_disconnect_waits_until_the_leg_is_out(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
) -> None:
    """A flow that disconnects and plays at once, before any event: the playback is sent
    only once the leg left the dissolving bridge, so it is not dropped with it."""
    engine, ari, seen = asterisk
    await connected(engine, seen, "a", "b")
    await engine.disconnect("a")
    await engine.play("a", "sound:beep", playback_id="right-away")
    assert ari.requests.index(("play", "a")) > ari.requests.index(
        ("destroy_bridge", ari.requests[0][1])
    )
    async with asyncio.timeout(2):
        while True:
            if any(isinstance(e, PlaybackFinished) and e.playback_id == "right-away" for e in seen):
                break
            await asyncio.sleep(0.01)


async def test_a_playback_waits_a_moment_at_most_for_a_leg_never_seen_leaving(
    asterisk: tuple[AsteriskEngine, StandInAsterisk, list[Event]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, ari, seen = asterisk
    monkeypatch.setattr(adapter_module, "LEAVE_WAIT_S", 0.2)
    await connected(engine, seen, "a", "b")
    ari.reports_leaving = False
    await engine.disconnect("a")
    started = asyncio.get_running_loop().time()
    await engine.play("a", "sound:beep", playback_id="late")
    waited = asyncio.get_running_loop().time() - started
    assert 0.15 <= waited < 1.0
    assert ("play", "a") in ari.requests
