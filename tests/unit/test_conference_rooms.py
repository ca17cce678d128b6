"""Conference rooms on the FakeEngine: the ``conference_room`` IVR flow (PIN tries,
moderator PIN, locked, full), waiting for the moderator, announcements, ending when the
last moderator leaves, recording; the rooms' rules over the real ConferenceService."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.conferences import ConferenceLedger, ConferenceService
from orchestrator.conferences.room_flow import ROOM_FLOW, room_flow
from orchestrator.conferences.rooms import Room, RoomHost
from orchestrator.core import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing
from orchestrator.cti import CtiService
from orchestrator.ivr import StaticDirectory
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import AppSpec, IvrRunner
from orchestrator.store.db import SessionFactory, make_engine, session_factory, upgrade
from orchestrator.store.models import Tenant
from orchestrator.store.pins import hash_pin

PIN, MOD_PIN = "1234", "987654"
HASHES = {PIN: hash_pin(PIN), MOD_PIN: hash_pin(MOD_PIN)}


def room(**fields: Any) -> Room:
    values: dict[str, Any] = {
        "id": 1,
        "tenant_id": 1,
        "name": "board",
        "number": "800",
        "pin_hash": HASHES[PIN],
        "moderator_pin_hash": HASHES[MOD_PIN],
        **fields,
    }
    return Room(**values)


class World:
    """One service: engine, CTI, conference service, room host, IVR runner; callers
    with scripted keys (each given when the flow next collects)."""

    def __init__(
        self,
        rooms: dict[str, Room],
        engine: FakeEngine | None = None,
        sessions: SessionFactory | None = None,
    ) -> None:
        self.engine = engine or FakeEngine()
        self.rooms = rooms
        self.cti = CtiService(self.engine, StaticDirectory(self.engine))
        ledger = ConferenceLedger(sessions, node="n1") if sessions is not None else None
        self.service = ConferenceService(self.engine, self.cti, ledger, node="n1")

        async def by_id(room_id: int) -> Room | None:
            return next((r for r in self.rooms.values() if r.id == room_id), None)

        self.host = RoomHost(self.engine, self.service, by_id)

        async def lookup(tenant_id: int, name: str) -> Room | None:
            found = self.rooms.get(name)
            return found if found is not None and found.tenant_id == tenant_id else None

        registry = AppRegistry(builtins={ROOM_FLOW: room_flow(self.host, lookup)})

        async def app(tenant: str, name: str) -> AppSpec:
            return AppSpec(name=name, app=ROOM_FLOW, tenant=tenant, settings={"room": name})

        self.runner = IvrRunner(self.engine, registry, app, StaticDirectory(self.engine),
                                timescale=0.01)  # fmt: skip
        self.keys: dict[str, deque[str]] = {}
        self.played: dict[str, list[str]] = {}
        self.runner.observers.append(self._observe)
        self._tasks: set[asyncio.Task[None]] = set()

    def _observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play":
            self.played.setdefault(call.id, []).extend(details["media"])
        elif action == "collect" and self.keys.get(call.id):
            keys = self.keys[call.id].popleft()
            task = asyncio.get_running_loop().create_task(self.engine.dtmf(call.id, keys))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        # As the service starts: the features first (the conferences' legs kept), then
        # the engine.
        self.cti.start()
        await self.service.start()
        self.host.start()
        self.runner.start()
        await self.engine.start()

    async def stop(self) -> None:
        await self.runner.stop()
        await self.host.stop()
        await self.service.stop()
        await self.cti.stop()

    async def call(self, *keys: str, room_name: str = "board", caller: str = "+15550100") -> str:
        """A caller dials the room's access number; returns its leg id."""
        routing = Routing("ivr", {"flow": room_name, "tenant": "1"})
        leg = await self.engine.incoming_call(caller=caller, called="5000", routing=routing)
        # Before the flow's task runs (it starts on the next await): its keys are ready.
        self.keys[leg.id] = deque(keys)
        return leg.id

    def conference(self) -> dict[str, Any]:
        (only,) = [c for c in self.service._confs.values() if c.active]
        return only.view()

    def members(self) -> dict[str, Any]:
        """The engine's members of the room's active conference ({} before there is one)."""
        active = [c for c in self.service._confs.values() if c.active]
        if not active:
            return {}
        return {m.leg_id: m for m in self.engine.conferences.members(active[0].uuid)}

    def conference_plays(self) -> list[str]:
        return [c[2][0] for c in self.engine.commands if c[0] == "conference_play"]

    def alive(self, leg_id: str) -> bool:
        leg = self.engine.leg(leg_id)
        return leg is not None and leg.alive


async def until(ready: Callable[[], bool], what: str = "") -> None:
    for _ in range(3000):
        if ready():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"not in 3 s: {what}")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World({"board": room()})
    await w.start()
    yield w
    await w.stop()


async def test_wrong_then_right_pin_joins(world: World) -> None:
    leg = await world.call("1111#", f"{PIN}#")
    await until(lambda: leg in world.engine.conferences.rooms.get(
        world.engine.conferences.conference_of(leg) or "", {}), "joined")  # fmt: skip
    played = world.played[leg]
    assert played.count(Prompt.CONFERENCE_PIN) == 2
    assert played.count(Prompt.CONFERENCE_BAD_PIN) == 1
    assert Prompt.CONFERENCE_ONLY_PERSON in played
    (p,) = world.conference()["participants"]
    assert (p["via"], p["moderator"], p["state"], p["number"]) == (
        "room", False, "joined", "+15550100",
    )  # fmt: skip
    await world.runner.wait_idle()
    assert world.alive(leg) and world.engine.is_kept(leg)  # the conference's now
    (summary,) = world.runner.recent  # what GET /ivr-apps/{id}/recent-calls shows
    assert summary.collected == ["****", "****"] and summary.outcome == "kept"


async def test_three_wrong_pins_hang_up(world: World) -> None:
    leg = await world.call("1111#", "2222#", f"{MOD_PIN}0#")
    await world.runner.wait_idle()
    played = world.played[leg]
    assert played.count(Prompt.CONFERENCE_BAD_PIN) == 3
    assert played[-1] == Prompt.GOODBYE
    assert not world.alive(leg)
    assert not [c for c in world.service._confs.values() if c.active]


async def test_silence_counts_as_a_wrong_try(world: World) -> None:
    leg = await world.call()  # presses nothing at all
    await world.runner.wait_idle()
    assert world.played[leg].count(Prompt.CONFERENCE_BAD_PIN) == 3
    assert not world.alive(leg)


async def test_wait_for_moderator_then_moderator_joins() -> None:
    w = World({"board": room(wait_for_moderator=True, announce_join_leave=True)})
    await w.start()
    try:
        ann = await w.call(f"{PIN}#", caller="+15550101")
        await until(lambda: ann in w.members() and w.members()[ann].held, "ann waits")
        assert Prompt.CONFERENCE_WAIT_FOR_MODERATOR in w.played[ann]
        assert w.engine.conferences.held_music[ann] == ""  # the engine's default music
        bob = await w.call(f"{PIN}#", caller="+15550102")
        await until(lambda: bob in w.members() and w.members()[bob].held, "bob waits")
        assert w.members()[ann].held  # still no moderator

        boss = await w.call(f"{MOD_PIN}#", caller="+15550199")
        await until(lambda: boss in w.members() and not w.members()[ann].held, "released")
        members = w.members()
        assert not members[bob].held and not members[boss].held
        assert members[boss].moderator and not members[ann].moderator
        assert Prompt.CONFERENCE_WAIT_FOR_MODERATOR not in w.played[boss]
        views = {p["leg_id"]: p for p in w.conference()["participants"]}
        assert views[boss]["moderator"] and not views[ann]["held"]
        # One chime per join (the announcement is played once the caller is in).
        await until(lambda: w.conference_plays().count(Prompt.CONFERENCE_JOINED) == 3, "chimes")

        # The moderator leaves: the others wait again (the conference goes on).
        await w.engine.remote_hangup(boss)
        await until(lambda: boss not in w.members() and w.members()[ann].held, "wait again")
        assert w.members()[bob].held
        await until(lambda: Prompt.CONFERENCE_LEFT in w.conference_plays(), "leave chime")
    finally:
        await w.stop()


async def test_end_when_the_last_moderator_leaves() -> None:
    w = World({"board": room(end_when_moderator_leaves=True)})
    await w.start()
    try:
        boss = await w.call(f"{MOD_PIN}#", caller="+15550199")
        boss2 = await w.call(f"{MOD_PIN}#", caller="+15550198")
        ann = await w.call(f"{PIN}#", caller="+15550101")
        await until(lambda: len(w.members()) == 3, "three in")
        conf_id = w.conference()["id"]
        await w.engine.remote_hangup(boss)
        await asyncio.sleep(0.05)
        assert w.alive(ann) and len(w.members()) == 2  # another moderator is there
        await w.engine.remote_hangup(boss2)
        await until(lambda: not w.alive(ann), "ann hung up")
        assert Prompt.CONFERENCE_MODERATOR_LEFT in w.conference_plays()
        ended = await w.service.get(conf_id, scope=None)
        assert (ended["state"], ended["end_reason"]) == ("ended", "moderator-left")
        # The next caller opens a new conference of the room.
        dan = await w.call(f"{PIN}#")
        await until(lambda: dan in w.members(), "a new conference")
        assert w.conference()["id"] != conf_id
    finally:
        await w.stop()


async def test_locked_room_refused_before_the_pin() -> None:
    w = World({"board": room(locked=True)})
    await w.start()
    try:
        leg = await w.call(f"{PIN}#")
        await w.runner.wait_idle()
        assert w.played[leg] == [Prompt.CONFERENCE_LOCKED, Prompt.GOODBYE]
        assert not w.alive(leg)
    finally:
        await w.stop()


async def test_conference_locked_through_the_api_and_full() -> None:
    w = World({"board": room(max_participants=2, pin_hash=None)})  # moderator PIN only
    await w.start()
    try:
        ann = await w.call("#")  # an open room: "#" alone is a participant
        bob = await w.call(f"{MOD_PIN}#")
        await until(lambda: len(w.members()) == 2, "two in")
        assert w.members()[bob].moderator and not w.members()[ann].moderator
        carl = await w.call("#")
        await until(lambda: not w.alive(carl), "carl refused")
        assert w.played[carl][-2:] == [Prompt.CONFERENCE_FULL, Prompt.GOODBYE]

        conf_id = w.conference()["id"]
        await w.engine.remote_hangup(ann)
        await until(lambda: len(w.members()) == 1, "ann gone")
        await w.service.lock(conf_id, scope=None)
        dan = await w.call("#")
        await until(lambda: not w.alive(dan), "dan refused")
        assert w.played[dan][-2:] == [Prompt.CONFERENCE_LOCKED, Prompt.GOODBYE]
        assert list(w.members()) == [bob]
    finally:
        await w.stop()


async def test_muted_on_join_and_recording() -> None:
    w = World({"board": room(muted_on_join=True, record=True)})
    await w.start()
    try:
        ann = await w.call(f"{PIN}#")
        boss = await w.call(f"{MOD_PIN}#")
        await until(lambda: len(w.members()) == 2, "two in")
        assert w.members()[ann].muted and not w.members()[boss].muted
        conf = w.conference()
        assert conf["recording"] is not None
        assert ("conference_record", conf["id"]) == next(
            c[:2] for c in w.engine.commands if c[0] == "conference_record"
        )
    finally:
        await w.stop()


async def test_unknown_room_apologises() -> None:
    w = World({})
    await w.start()
    try:
        leg = await w.call(f"{PIN}#")
        await w.runner.wait_idle()
        assert w.played[leg] == [Prompt.SORRY, Prompt.TRY_AGAIN_LATER]
        assert not w.alive(leg)
    finally:
        await w.stop()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'rooms.db'}"
    upgrade(url)
    sql = make_engine(url)
    factory = session_factory(sql)
    with factory() as session:
        session.add(Tenant(name="A", sip_domain="a.example"))
        session.commit()
    yield factory
    sql.dispose()


async def test_the_rules_go_on_after_a_restart(sessions: SessionFactory) -> None:
    rooms = {"board": room(end_when_moderator_leaves=True)}
    w = World(rooms, sessions=sessions)
    await w.start()
    boss = await w.call(f"{MOD_PIN}#", caller="+15550199")
    ann = await w.call(f"{PIN}#", caller="+15550101")
    await until(lambda: len(w.members()) == 2, "two in")
    conf_id = w.conference()["id"]
    await w.runner.wait_idle()
    await w.stop()  # a deploy: the conference stays up, its legs kept

    again = World(rooms, engine=w.engine.restarted(), sessions=sessions)
    await again.start()
    await until(lambda: len(again.engine.conferences.members(conf_id)) == 2, "taken back")
    assert again.service.room_conference(1) == conf_id
    # Nobody entered the room since the restart: the host took the room's rules up itself.
    await until(lambda: conf_id in again.host._live, "rules taken up")
    await again.engine.remote_hangup(boss)
    await until(lambda: not again.alive(ann), "ended: the last moderator left")
    ended = await again.service.get(conf_id, scope=None)
    assert (ended["state"], ended["end_reason"]) == ("ended", "moderator-left")
    await again.stop()
