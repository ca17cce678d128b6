"""An in-memory :class:`Engine` for unit tests of flows, features and the API.

It records every command in :attr:`FakeEngine.commands` and lets a test play
the engine's part: ``await fake.incoming_call(...)``, ``await fake.dtmf(leg, "1")``,
``await fake.remote_hangup(leg)``. Playbacks finish at once unless
``auto_finish_playback`` is False.

Example::

    fake = FakeEngine()
    await fake.start()
    leg = await fake.incoming_call(caller="101", called="200")
    await fake.answer(leg.id)
    assert fake.commands[-1] == ("answer", leg.id)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core.call import Bridge, Leg, LegState
from orchestrator.core.engine import Engine, EngineStatus
from orchestrator.core.errors import EngineUnavailableError, LegGoneError, NotFoundError
from orchestrator.core.events import (
    BridgeCreated,
    BridgeDestroyed,
    EngineConnected,
    EngineDisconnected,
    LegCreated,
    LegDtmf,
    LegEnteredBridge,
    LegHungUp,
    LegLeftBridge,
    LegStateChanged,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)


class FakeEngine(Engine):
    name = "fake"

    def __init__(self, *, version: str = "fake-1.0", auto_finish_playback: bool = True) -> None:
        super().__init__()
        self.version = version
        self.auto_finish_playback = auto_finish_playback
        self.connected = False
        self.commands: list[tuple[Any, ...]] = []
        self.console: dict[str, str] = {}
        # Stored recordings by name; a test may put audio here or read what a flow recorded.
        self.recordings: dict[str, bytes] = {}
        self._live_recordings: dict[str, str] = {}  # name -> leg id
        self._ids = itertools.count(1)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # -- life cycle -------------------------------------------------------
    async def start(self) -> None:
        self.connected = True
        await self.emit(EngineConnected(engine=self.name, version=self.version))

    async def stop(self) -> None:
        self.connected = False
        await self.emit(EngineDisconnected(engine=self.name, reason="stopped"))

    def status(self) -> EngineStatus:
        return EngineStatus(
            engine=self.name,
            connected=self.connected,
            version=self.version,
            links={"fake": self.connected},
        )

    def _leg(self, leg_id: str) -> Leg:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        leg = self.legs.get(leg_id)
        if leg is None or not leg.alive:
            raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id)
        return leg

    # -- the engine's side, driven by tests ---------------------------------
    async def incoming_call(
        self, *, caller: str = "", called: str = "", tenant: str = "", args: Sequence[str] = ()
    ) -> Leg:
        leg = Leg(
            id=self._next_id("leg"), caller_number=caller, called_number=called, tenant=tenant
        )
        leg.transition(LegState.RINGING)
        self.legs[leg.id] = leg
        await self.emit(
            LegCreated(
                leg_id=leg.id,
                state=str(leg.state),
                caller_number=caller,
                called_number=called,
                args=tuple(args),
            )
        )
        return leg

    async def dtmf(self, leg_id: str, digits: str) -> None:
        for digit in digits:
            await self.emit(LegDtmf(leg_id=leg_id, digit=digit))

    async def remote_hangup(self, leg_id: str, cause: int = 16) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or not leg.alive:
            return
        await self._end(leg, cause)

    async def remote_answer(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        if leg.transition(LegState.UP):
            await self.emit(LegStateChanged(leg_id=leg.id, state=str(leg.state)))

    async def finish_playback(self, playback_id: str, leg_id: str = "") -> None:
        await self.emit(PlaybackFinished(playback_id=playback_id, leg_id=leg_id))

    async def _end(self, leg: Leg, cause: int) -> None:
        leg.transition(LegState.HUNG_UP)
        leg.hangup_cause = cause
        if leg.bridge_id and leg.bridge_id in self.bridges:
            self.bridges[leg.bridge_id].leg_ids.discard(leg.id)
            await self.emit(LegLeftBridge(bridge_id=leg.bridge_id, leg_id=leg.id))
        await self.emit(LegHungUp(leg_id=leg.id, cause=cause))

    # -- call control -----------------------------------------------------
    async def originate(
        self,
        endpoint: str,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 30,
        variables: Mapping[str, str] | None = None,
        app_args: Sequence[str] = (),
    ) -> Leg:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        leg = Leg(id=leg_id or self._next_id("leg"), name=endpoint, caller_number=caller_id)
        leg.variables.update(variables or {})
        self.legs[leg.id] = leg
        self.commands.append(("originate", endpoint, leg.id))
        await self.emit(LegCreated(leg_id=leg.id, name=endpoint, args=tuple(app_args)))
        return leg

    async def answer(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        self.commands.append(("answer", leg_id))
        if leg.transition(LegState.UP):
            await self.emit(LegStateChanged(leg_id=leg_id, state=str(leg.state)))

    async def hangup(self, leg_id: str, cause: int = 16) -> None:
        leg = self._leg(leg_id)
        self.commands.append(("hangup", leg_id, cause))
        await self._end(leg, cause)

    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        self._leg(leg_id)
        pid = playback_id or self._next_id("playback")
        items = [media] if isinstance(media, str) else list(media)
        self.commands.append(("play", leg_id, tuple(items), pid))
        await self.emit(PlaybackStarted(playback_id=pid, leg_id=leg_id))
        if self.auto_finish_playback:
            await self.emit(PlaybackFinished(playback_id=pid, leg_id=leg_id))
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        self.commands.append(("stop_playback", playback_id))
        await self.emit(PlaybackFinished(playback_id=playback_id, state="stopped"))

    async def create_bridge(self, bridge_id: str | None = None, kind: str = "mixing") -> Bridge:
        bridge = Bridge(id=bridge_id or self._next_id("bridge"), kind=kind)
        self.bridges[bridge.id] = bridge
        self.commands.append(("create_bridge", bridge.id, kind))
        await self.emit(BridgeCreated(bridge_id=bridge.id, kind=kind))
        return bridge

    def _bridge(self, bridge_id: str) -> Bridge:
        try:
            return self.bridges[bridge_id]
        except KeyError:
            raise NotFoundError(f"bridge {bridge_id} not found", bridge_id=bridge_id) from None

    async def add_to_bridge(self, bridge_id: str, leg_id: str) -> None:
        bridge, leg = self._bridge(bridge_id), self._leg(leg_id)
        bridge.leg_ids.add(leg_id)
        leg.bridge_id = bridge_id
        self.commands.append(("add_to_bridge", bridge_id, leg_id))
        await self.emit(LegEnteredBridge(bridge_id=bridge_id, leg_id=leg_id))

    async def remove_from_bridge(self, bridge_id: str, leg_id: str) -> None:
        bridge = self._bridge(bridge_id)
        bridge.leg_ids.discard(leg_id)
        if leg_id in self.legs:
            self.legs[leg_id].bridge_id = None
        self.commands.append(("remove_from_bridge", bridge_id, leg_id))
        await self.emit(LegLeftBridge(bridge_id=bridge_id, leg_id=leg_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self._bridge(bridge_id)
        del self.bridges[bridge_id]
        self.commands.append(("destroy_bridge", bridge_id))
        await self.emit(BridgeDestroyed(bridge_id=bridge_id))

    async def set_variable(self, leg_id: str, name: str, value: str) -> None:
        self._leg(leg_id).variables[name] = value
        self.commands.append(("set_variable", leg_id, name, value))

    async def continue_in_dialplan(
        self, leg_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        self._leg(leg_id)
        self.commands.append(("continue", leg_id, context, extension, priority))

    async def ring(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("ring", leg_id))

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        self._leg(leg_id)
        self.commands.append(("send_dtmf", leg_id, digits))

    async def hold(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("hold", leg_id))

    async def unhold(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("unhold", leg_id))

    async def start_moh(self, leg_id: str, moh_class: str = "default") -> None:
        self._leg(leg_id)
        self.commands.append(("start_moh", leg_id, moh_class))

    async def stop_moh(self, leg_id: str) -> None:
        self._leg(leg_id)
        self.commands.append(("stop_moh", leg_id))

    async def get_variable(self, leg_id: str, name: str) -> str:
        return self._leg(leg_id).variables.get(name, "")

    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        leg = self._leg(leg_id)
        leg.caller_number, leg.caller_name = number, name
        self.commands.append(("set_caller_id", leg_id, number, name))

    async def record(
        self,
        leg_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: float = 0,
        max_silence: float = 0,
        beep: bool = False,
        terminate_on: str = "#",
    ) -> str:
        self._leg(leg_id)
        self.commands.append(("record", leg_id, name, fmt, max_duration, max_silence, beep))
        self._live_recordings[name] = leg_id
        await self.emit(RecordingStarted(recording=name, leg_id=leg_id))
        return name

    async def finish_recording(
        self, name: str, *, audio: bytes = b"RIFF", duration: float = 1.0, state: str = "done"
    ) -> None:
        """The engine's side: a live recording ends (silence, max length, DTMF...)."""
        leg_id = self._live_recordings.pop(name, "")
        if state == "done":
            self.recordings[name] = audio
        await self.emit(
            RecordingFinished(recording=name, leg_id=leg_id, state=state, duration=duration)
        )

    async def stop_recording(self, name: str) -> None:
        self.commands.append(("stop_recording", name))
        if name in self._live_recordings:
            await self.finish_recording(name)

    async def recording_file(self, name: str) -> bytes:
        try:
            return self.recordings[name]
        except KeyError:
            raise NotFoundError(f"recording {name} not found", recording=name) from None

    async def delete_recording(self, name: str) -> None:
        if self.recordings.pop(name, None) is None:
            raise NotFoundError(f"recording {name} not found", recording=name)

    def user_dial_string(self, endpoint: str) -> str:
        return f"SIP/{endpoint}"

    def trunk_dial_string(self, trunk: str, number: str) -> str:
        return f"SIP/{number}@{trunk}"

    # -- configuration ----------------------------------------------------
    async def reload(self, what: str) -> None:
        if not self.connected:
            raise EngineUnavailableError("fake engine is not connected")
        self.commands.append(("reload", what))

    async def invalidate_sip_objects(self, object_type: str, ids: Sequence[str]) -> None:
        self.commands.append(("invalidate", object_type, tuple(ids)))

    async def command(self, text: str) -> str:
        self.commands.append(("command", text))
        return self.console.get(text, "")
