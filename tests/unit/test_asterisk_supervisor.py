"""``AsteriskEngine.supervise``: the snoop channels and bridges it makes stay the adapter's.

ARI is replaced by a stand-in that notes each request and, like Asterisk, reports a snoop
channel's StasisStart only after answering the snoop request, and its hangup after a
DELETE. The real-engine proof (who hears whom in each mode) is
tests/engine/test_adapter_supervise.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import Event, LegCreated, LegHungUp, LegLeftApp
from orchestrator.core.targets import Routing
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.bridges import BridgeCreated, LegEnteredBridge


class StandInAri:
    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine
        self.requests: list[tuple[Any, ...]] = []
        self.gone: set[str] = set()  # channels that no longer exist

    def _later(self, event: Event) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: asyncio.ensure_future(self.engine.apply(event)))

    async def snoop(self, channel_id: str, *, snoop_id: str, **kw: Any) -> dict[str, Any]:
        self.requests.append(("snoop", channel_id, kw["spy"], kw["whisper"]))
        if channel_id in self.gone:
            raise NotFoundError(f"ARI POST /channels/{channel_id}/snoop: 404 Channel not found")
        self._later(LegCreated(leg_id=snoop_id, state="up", routing=Routing("supervise", {})))
        return {"id": snoop_id, "name": f"Snoop/{channel_id}-00000001"}

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        self.requests.append(("create_bridge", kind))
        self._later(BridgeCreated(bridge_id=bridge_id, kind=kind))
        return {"id": bridge_id}

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("add_channel", channel_id))
        self._later(LegEnteredBridge(bridge_id=bridge_id, leg_id=channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.requests.append(("destroy_bridge",))

    async def hangup(self, channel_id: str, **kw: Any) -> None:
        self.requests.append(("hangup", channel_id))
        self._later(LegHungUp(leg_id=channel_id))


async def engine_with_supervisor() -> tuple[AsteriskEngine, StandInAri, list[Event]]:
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:1/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p",
    )  # fmt: skip
    ari = StandInAri(engine)
    engine.ari = ari  # type: ignore[assignment]
    seen: list[Event] = []
    await engine.apply(LegCreated(leg_id="sup", state="up"))
    engine.subscribe(seen.append)
    return engine, ari, seen


def snoops(ari: StandInAri) -> list[str]:
    """The snoop ids, in the order they entered the bridge."""
    return [r[1] for r in ari.requests if r[0] == "add_channel" and r[1] != "sup"]


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_a_snoop_bridged_with_the_supervisor_none_of_it_reported() -> None:
    engine, ari, seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)
    await settle()
    assert ari.requests[:3] == [
        ("snoop", "agent-1", "both", "none"),
        ("create_bridge", "mixing"),
        ("add_channel", "sup"),
    ]
    [snoop] = snoops(ari)
    assert snoop.startswith("orch-snoop-") and ari.requests[3] == ("add_channel", snoop)
    # The snoop, the bridge and the supervisor's seat in it are the adapter's own.
    assert seen == [] and snoop not in engine.legs and not engine.bridges
    assert not engine.connections.bridge_of("sup")


@pytest.mark.parametrize(
    ("mode", "whisper"),
    [
        (SupervisionMode.WHISPER, "out"),
        (SupervisionMode.WHISPER_PEER, "in"),
        (SupervisionMode.BARGE, "both"),
    ],
)
async def test_each_mode_is_a_whisper_direction(mode: SupervisionMode, whisper: str) -> None:
    engine, ari, _seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", mode)
    assert ari.requests[0] == ("snoop", "agent-1", "both", whisper)


async def test_a_mode_switch_replaces_the_snoop_and_keeps_the_bridge() -> None:
    engine, ari, seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)
    await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)  # already so
    [first] = snoops(ari)
    del ari.requests[:]
    await engine.supervise("agent-1", "sup", SupervisionMode.BARGE)
    [second] = snoops(ari)
    # The old snoop leaves before the new one enters; no new bridge, the supervisor stays.
    assert ari.requests == [
        ("snoop", "agent-1", "both", "both"),
        ("hangup", first),
        ("add_channel", second),
    ]
    await settle()
    assert seen == [] and engine.legs["sup"].alive


async def test_the_supervisors_hangup_takes_snoop_and_bridge() -> None:
    engine, ari, seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", SupervisionMode.WHISPER)
    [snoop] = snoops(ari)
    del ari.requests[:]
    await engine.apply(LegHungUp(leg_id="sup"))
    await settle()
    assert ari.requests == [("destroy_bridge",), ("hangup", snoop)]
    assert [type(e) for e in seen] == [LegHungUp]  # the supervisor's, nothing else
    # A new supervise() for that leg is refused: it is gone.
    with pytest.raises(LegGoneError):
        await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)


async def test_the_targets_end_takes_the_bridge_and_leaves_the_supervisor() -> None:
    engine, ari, seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", SupervisionMode.BARGE)
    [snoop] = snoops(ari)
    del ari.requests[:]
    # Asterisk ends the snoop with the channel it snoops on (it leaves the app first).
    await engine.apply(LegLeftApp(leg_id=snoop))
    await engine.apply(LegHungUp(leg_id=snoop))
    await settle()
    assert ari.requests == [("destroy_bridge",)]
    assert seen == [] and engine.legs["sup"].alive
    # The supervisor's leg may supervise again: a new bridge.
    await engine.supervise("agent-2", "sup", SupervisionMode.LISTEN)
    assert ("create_bridge", "mixing") in ari.requests


async def test_errors() -> None:
    engine, ari, seen = await engine_with_supervisor()
    ari.gone.add("agent-gone")
    with pytest.raises(LegGoneError):
        await engine.supervise("agent-gone", "sup", SupervisionMode.LISTEN)
    assert [r[0] for r in ari.requests] == ["snoop"]  # no bridge was made
    with pytest.raises(LegGoneError):
        await engine.supervise("agent-1", "nobody", SupervisionMode.LISTEN)
    with pytest.raises(ValidationError):
        await engine.supervise("agent-1", "sup", "shout")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await engine.supervise("sup", "sup", SupervisionMode.LISTEN)
    assert len(ari.requests) == 1 and seen == []


async def test_a_failed_switch_keeps_the_supervision_going() -> None:
    engine, ari, seen = await engine_with_supervisor()
    await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)
    del ari.requests[:]
    ari.gone.add("agent-gone")
    with pytest.raises(LegGoneError):
        await engine.supervise("agent-gone", "sup", SupervisionMode.BARGE)
    assert ari.requests == [("snoop", "agent-gone", "both", "both")]  # nothing undone
    await engine.supervise("agent-1", "sup", SupervisionMode.LISTEN)  # still so: no-op
    assert len(ari.requests) == 1 and seen == []
