"""AsteriskEngine against the real Asterisk test instance.

The tests use their own Stasis app ("adaptertest") and id prefix, so they neither see
nor sweep the channels of other tests sharing the instance. Calls are Local channels
into a test-only context written into the instance's tenants directory. The engine
restart test comes last and leaves the instance running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from orchestrator.core.errors import LegGoneError, NotFoundError, ValidationError
from orchestrator.core.events import (
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegDtmf,
    LegHungUp,
    LegStateChanged,
    PlaybackFinished,
    PlaybackStarted,
)
from orchestrator.core.targets import Routing
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.ari import AriClient
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.conftest import dialplan_file

pytestmark = [
    pytest.mark.engine,
    # AsteriskInstance.start() drops its Popen while Asterisk runs on (by design: the
    # engine outlives the call); CPython then warns from Popen.__del__.
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

APP = "adaptertest"
PREFIX = "adt-"
CONTEXT_FILE = "zz_adaptertest.conf"
CONTEXT = f"""; written by tests/engine/test_adapter.py, removed at the end
[zz-adaptertest]
exten => wait,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => dtmf,1,Answer()
 same => n,Wait(0.5)
 same => n,SendDTMF(12#,150)
 same => n,Wait(10)
 same => n,Hangup()
exten => stasis,1,Stasis({APP},fromdialplan)
 same => n,Hangup()
"""


class Recorder:
    """Collects an engine's events; ``wait_for`` returns the first matching one."""

    def __init__(self, engine: AsteriskEngine) -> None:
        self.events: list[Event] = []
        self._cond = asyncio.Condition()
        engine.subscribe(self._on)

    async def _on(self, event: Event) -> None:
        async with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def find(self, pred: Callable[[Event], bool]) -> Event | None:
        return next((e for e in self.events if pred(e)), None)

    async def wait_for(self, pred: Callable[[Event], bool], timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: self.find(pred) is not None)
        return self.find(pred)


def ari_url(asterisk: AsteriskInstance) -> str:
    return f"http://{asterisk.bind_address}:{asterisk.ports.http}/ari"


@pytest.fixture(scope="module")
def test_context(asterisk: AsteriskInstance) -> Iterator[None]:
    with dialplan_file(asterisk, CONTEXT_FILE, CONTEXT):
        yield


Factory = Callable[..., Awaitable[tuple[AsteriskEngine, Recorder]]]


@contextlib.asynccontextmanager
async def engine_factory(
    asterisk: AsteriskInstance, app: str, prefix: str
) -> AsyncIterator[Factory]:
    """Make connected adapters for ``app``; at the end hang up their legs and stop them."""
    creds = asterisk.credentials()
    engines: list[AsteriskEngine] = []

    async def make(**options: Any) -> tuple[AsteriskEngine, Recorder]:
        # These tests register the app again for every adapter they make. Asterisk 22 tears
        # a subscribe-all app's old events socket down in its own time, which can destroy
        # the new registration or stall ARI; channel observation is tested with one
        # registration per service (test_observe.py and the service-level tests).
        options.setdefault("observe_channels", False)
        kept_legs = options.pop("kept_legs", set())
        engine = AsteriskEngine(
            ari_url=ari_url(asterisk),
            ari_user=str(creds["ari_user"]),
            ari_password=str(creds["ari_password"]),
            ami_host=asterisk.bind_address,
            ami_port=asterisk.ports.ami,
            ami_user=str(creds["ami_user"]),
            ami_password=str(creds["ami_password"]),
            app=app,
            id_prefix=prefix,
            **options,
        )
        engine.kept_legs |= kept_legs  # a new run taking legs back (before start)
        recorder = Recorder(engine)
        engines.append(engine)
        await engine.start()
        await engine.wait_connected(15)
        return engine, recorder

    yield make
    for engine in engines:
        if engine.status().connected:
            for leg_id in list(engine.legs):
                with contextlib.suppress(LegGoneError):
                    await engine.hangup(leg_id)
            for bridge_id in list(engine.bridges):
                with contextlib.suppress(NotFoundError):
                    await engine._destroy_bridge(bridge_id)
        await engine.stop()
    # Asterisk closes an app's events socket in its own time; if that lands after the next
    # test's adapter registered the same app, it destroys that registration (messages.log:
    # Creating, Deactivating, Destroying). Give it the moment it needs.
    await asyncio.sleep(0.5)


@pytest.fixture
async def make_engine(asterisk: AsteriskInstance, test_context: None) -> AsyncIterator[Factory]:
    async with engine_factory(asterisk, APP, PREFIX) as make:
        yield make


@pytest.fixture
async def ari(asterisk: AsteriskInstance) -> AsyncIterator[AriClient]:
    """A second, REST-only client: acts behind the adapter's back."""
    creds = asterisk.credentials()
    async with AriClient(
        ari_url(asterisk), str(creds["ari_user"]), str(creds["ari_password"]), APP
    ) as client:
        yield client


async def call_in_stasis(engine: AsteriskEngine, rec: Recorder, exten: str = "wait") -> str:
    """Originate a Local channel whose other half answers; return the leg id once in Stasis."""
    leg = await engine.originate(DialplanPlace("zz-adaptertest", exten), caller_id='"Test" <101>')
    await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    return leg.id


async def test_connects_and_reports_version(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    status = engine.status()
    assert status.connected and status.links == {"ari": True, "ami": True}
    assert status.version.startswith("22")
    connected = await rec.wait_for(lambda e: isinstance(e, EngineConnected))
    assert connected.reconnect is False and connected.version == status.version


async def test_answer_play_and_hangup(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg = await engine.originate(
        DialplanPlace("zz-adaptertest", "stasis"), caller_id='"Test" <101>'
    )
    # The ;2 half runs Stasis() from the dialplan, ringing: we answer it ...
    half = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == f"{leg.id};2")
    assert half.routing == Routing("fromdialplan") and half.state == "ringing"
    assert half.caller_number == "101"
    await engine.answer(half.leg_id)
    await rec.wait_for(
        lambda e: isinstance(e, LegStateChanged) and e.leg_id == half.leg_id and e.state == "up"
    )
    # ... and then the originated half, answered, enters Stasis too.
    created = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    assert created.state == "up" and engine.legs[leg.id].state == "up"

    pid = await engine.play(leg.id, "sound:beep")
    assert pid.startswith(PREFIX)
    await rec.wait_for(lambda e: isinstance(e, PlaybackStarted) and e.playback_id == pid)
    done = await rec.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    assert done.leg_id == leg.id and done.state == "done"

    await engine.hangup(leg.id, cause=17)
    gone = await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == leg.id)
    assert gone.cause == 17
    await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == half.leg_id)
    # Forgotten once ChannelDestroyed is in, which may trail the hangup request.
    assert leg.id not in engine.legs or not engine.legs[leg.id].alive


def connected(event: Event, leg_id: str, peer_id: str) -> bool:
    return isinstance(event, LegConnected) and (event.leg_id, event.peer_id) == (leg_id, peer_id)


def disconnected(event: Event, leg_id: str, peer_id: str) -> bool:
    return isinstance(event, LegDisconnected) and (event.leg_id, event.peer_id) == (
        leg_id,
        peer_id,
    )


async def our_bridges(ari: AriClient) -> dict[str, set[str]]:
    """The adapter's bridges on the engine now: id -> the channels in it."""
    return {
        str(b["id"]): set(b.get("channels", []))
        for b in await ari.list_bridges()
        if str(b["id"]).startswith(PREFIX)
    }


async def until_bridges(ari: AriClient, expected: list[set[str]], timeout: float = 5.0) -> None:
    """Poll until the adapter's bridges hold exactly ``expected`` (no event on this side)."""
    want = sorted(map(sorted, expected))
    async with asyncio.timeout(timeout):
        while sorted(map(sorted, (await our_bridges(ari)).values())) != want:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_connect_two_legs(make_engine: Factory, ari: AriClient) -> None:
    engine, rec = await make_engine()
    a, b = await call_in_stasis(engine, rec), await call_in_stasis(engine, rec)
    await engine.connect(a, b)
    await rec.wait_for(lambda e: connected(e, a, b))
    await rec.wait_for(lambda e: connected(e, b, a))
    assert engine.connections.peer(a) == b and engine.connections.peer(b) == a
    # One mixing bridge of the adapter's carries it, named with its id prefix.
    assert list((await our_bridges(ari)).values()) == [{a, b}]
    await engine.connect(b, a)  # already talking: nothing changes
    assert list((await our_bridges(ari)).values()) == [{a, b}]
    with pytest.raises(ValidationError):
        await engine.connect(a, a)
    await engine.hangup(a)
    await engine.hangup(b)
    await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == a)
    await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == b)
    await until_bridges(ari, [])


async def test_connect_moves_a_leg_connected_elsewhere(
    make_engine: Factory, ari: AriClient
) -> None:
    engine, rec = await make_engine()
    a, b, c = [await call_in_stasis(engine, rec) for _ in range(3)]
    await engine.connect(a, b)
    await rec.wait_for(lambda e: connected(e, b, a))
    await engine.connect(a, c)
    # b's connection ended (b stays up, alone); a talks with c in a new bridge.
    await rec.wait_for(lambda e: disconnected(e, b, a))
    await rec.wait_for(lambda e: disconnected(e, a, b))
    await rec.wait_for(lambda e: connected(e, a, c))
    await rec.wait_for(lambda e: connected(e, c, a))
    assert engine.connections.peer(b) is None and engine.connections.peer(c) == a
    await until_bridges(ari, [{a, c}])
    assert engine.legs[b].alive
    pid = await engine.play(b, "sound:beep")  # still ours, still up
    await rec.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)


async def test_disconnect_leaves_the_peer_up(make_engine: Factory, ari: AriClient) -> None:
    engine, rec = await make_engine()
    a, b = await call_in_stasis(engine, rec), await call_in_stasis(engine, rec)
    await engine.connect(a, b)
    await rec.wait_for(lambda e: connected(e, b, a))
    await engine.disconnect(a)
    await rec.wait_for(lambda e: disconnected(e, a, b))
    await rec.wait_for(lambda e: disconnected(e, b, a))
    await until_bridges(ari, [])  # the adapter's bridge went with the connection
    assert engine.legs[a].alive and engine.legs[b].alive
    await engine.disconnect(a)  # connected to nothing: nothing to do
    pid = await engine.play(b, "sound:beep")
    await rec.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)


async def test_a_hangup_ends_the_connection_and_its_bridge(
    make_engine: Factory, ari: AriClient
) -> None:
    engine, rec = await make_engine()
    a, b = await call_in_stasis(engine, rec), await call_in_stasis(engine, rec)
    await engine.connect(a, b)
    await rec.wait_for(lambda e: connected(e, b, a))
    await ari.hangup(a, reason="normal")  # the far end leaves
    await rec.wait_for(lambda e: disconnected(e, b, a))
    await until_bridges(ari, [])  # no empty (or one-legged) bridge of ours is left
    assert engine.legs[b].alive and engine.connections.peer(b) is None
    assert rec.find(lambda e: disconnected(e, a, b)) is None  # a is gone, not told
    # A leg gone before it is connected is LegGoneError, and leaves no bridge behind.
    with pytest.raises(LegGoneError):
        await engine.connect(b, a)
    await until_bridges(ari, [])


async def test_a_connection_ended_while_the_link_was_down(
    make_engine: Factory, ari: AriClient
) -> None:
    # A slow first retry leaves time to hang a leg up while the link is down.
    engine, rec = await make_engine(backoff=(1.5, 5.0))
    a, b = await call_in_stasis(engine, rec), await call_in_stasis(engine, rec)
    await engine.connect(a, b)
    await rec.wait_for(lambda e: connected(e, b, a))
    await engine.ari.drop_events_link()
    await rec.wait_for(lambda e: isinstance(e, EngineDisconnected))
    await ari.hangup(a, reason="normal")
    await rec.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect)
    # The reconcile tells b what it missed, and the one-legged bridge goes.
    await rec.wait_for(lambda e: disconnected(e, b, a))
    await until_bridges(ari, [])
    assert engine.legs[b].alive and engine.connections.peer(b) is None


async def test_a_connection_survives_a_restart(make_engine: Factory, ari: AriClient) -> None:
    first, rec = await make_engine()
    a, b, c, d = [await call_in_stasis(first, rec) for _ in range(4)]
    await first.connect(a, b)
    await first.connect(c, d)
    await rec.wait_for(lambda e: connected(e, d, c))
    await first.stop()  # a crash: the legs stay in Stasis, connected
    await until_bridges(ari, [{a, b}, {c, d}])
    # Asterisk drops the old events socket's registration in its own time; one dropped
    # after the next run registered the app would take the new one with it (see
    # engine_factory).
    await asyncio.sleep(1.0)

    # The next run keeps a and b, and c (its peer d is not kept: swept). The app is
    # subscribed to the dialplan half of each Local channel too: kept with it.
    kept = {a, b, c} | {f"{leg};2" for leg in (a, b, c)}
    second, rec2 = await make_engine(kept_legs=kept)
    await rec2.wait_for(lambda e: connected(e, a, b))
    await rec2.wait_for(lambda e: connected(e, b, a))
    assert second.connections.peer(a) == b and second.connections.peer(c) is None
    await until_bridges(ari, [{a, b}])  # c's bridge went (c is up, alone)
    assert second.legs[c].alive
    # Driven as any connection of this run: moved, then the empty bridge goes.
    await second.connect(a, c)
    await rec2.wait_for(lambda e: disconnected(e, b, a))
    await rec2.wait_for(lambda e: connected(e, c, a))
    await until_bridges(ari, [{a, c}])


async def test_dtmf_from_dialplan(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    leg_id = await call_in_stasis(engine, rec, exten="dtmf")

    def digits() -> str:
        return "".join(e.digit for e in rec.events if isinstance(e, LegDtmf) and e.leg_id == leg_id)

    await rec.wait_for(lambda e: len(digits()) >= 3)
    assert digits() == "12#"
    await engine.hangup(leg_id)


async def test_errors_are_translated(make_engine: Factory) -> None:
    engine, _ = await make_engine()
    with pytest.raises(LegGoneError):
        await engine.hangup(f"{PREFIX}no-such-leg")
    with pytest.raises(LegGoneError):
        await engine.play(f"{PREFIX}no-such-leg", "sound:beep")
    with pytest.raises(NotFoundError):
        await engine._destroy_bridge(f"{PREFIX}no-such-bridge")
    with pytest.raises(ValidationError):
        await engine.reload("everything")
    # A leg gone before it joins a bridge (a queue caller hanging up as the agent
    # answers): ARI says 400 "Channel not found"; for the owner the leg is gone.
    bridge = await engine._create_bridge()
    with pytest.raises(LegGoneError):
        await engine._add_to_bridge(bridge.id, f"{PREFIX}no-such-leg")
    await engine._destroy_bridge(bridge.id)


async def test_ami_commands(make_engine: Factory) -> None:
    engine, _ = await make_engine()
    assert "Asterisk 22" in await engine.command("core show version")
    await engine.reload("dialplan")
    await engine.reload("sip")
    await engine.invalidate_sip_objects("endpoint", ["nobody-1", "nobody-2"])
    with pytest.raises(ValidationError):
        await engine.invalidate_sip_objects("registration", ["x"])


async def test_ari_reconnect_reconciles(make_engine: Factory, ari: AriClient) -> None:
    # A slow first retry leaves time to hang a leg up while the link is down.
    engine, rec = await make_engine(backoff=(1.5, 5.0))
    kept, lost = await call_in_stasis(engine, rec), await call_in_stasis(engine, rec)
    await engine.ari.drop_events_link()
    await rec.wait_for(lambda e: isinstance(e, EngineDisconnected))
    assert not engine.status().connected and engine.status().links["ari"] is False
    await ari.hangup(lost)
    back = await rec.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect)
    gone = rec.find(lambda e: isinstance(e, LegHungUp) and e.leg_id == lost)
    assert gone is not None and rec.events.index(gone) < rec.events.index(back)
    assert lost not in engine.legs and engine.legs[kept].alive
    # Still in control of the surviving leg.
    pid = await engine.play(kept, "sound:beep")
    await rec.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)


async def test_ami_reconnect(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    await engine.ami.drop_link()
    await rec.wait_for(lambda e: isinstance(e, EngineDisconnected))
    await rec.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect)
    assert engine.status().links == {"ari": True, "ami": True}
    assert "Asterisk" in await engine.command("core show version")


async def test_sweep_on_start(make_engine: Factory, ari: AriClient) -> None:
    first, rec = await make_engine()
    leg_id = await call_in_stasis(first, rec)
    await first.stop()  # the leg stays in Stasis, with no owner
    assert leg_id in {c["id"] for c in await ari.list_channels()}

    second, _ = await make_engine()
    assert leg_id not in second.legs
    # Polls the engine's channel list: there is no event to wait for on this side.
    async with asyncio.timeout(5):
        while leg_id in {c["id"] for c in await ari.list_channels()}:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_engine_restart(make_engine: Factory, asterisk: AsteriskInstance) -> None:
    """Last in the file: restarts the shared instance and leaves it running."""
    engine, rec = await make_engine()
    await asyncio.to_thread(asterisk.stop)
    await rec.wait_for(lambda e: isinstance(e, EngineDisconnected))
    assert not engine.status().connected
    await asyncio.to_thread(asterisk.start)
    await engine.wait_connected(15)
    await rec.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect)
    assert engine.status().version.startswith("22")
