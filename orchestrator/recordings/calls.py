"""Recording a live call on demand (``POST /api/v1/calls/{id}/record``, ``/stop-record``).

Any answered call of the CTI registry can be recorded: a phone-to-phone dialplan call, a
click-to-call, an IVR call (also while a flow's ``dial()`` or a queue has connected the
caller to someone). The engine records the whole conversation of one of the call's
answered legs (:meth:`Engine.record_call <orchestrator.core.engine.Engine.record_call>`:
both parties, mixed); the recording is then tracked, uploaded and linked to the CDR by
:class:`~orchestrator.recordings.service.RecordingService` like any other.

What cannot be recorded is refused with a reason, never accepted silently: a call not
answered yet (409 ``call-not-answered``), one already being recorded (409
``already-recording``), one that ended (404: it left the registry; 410 when its last leg
hangs up during the request).

Example::

    recorder = CallRecorder(engine, cti.calls, sessions)
    recorder.start()
    started = await recorder.record(call_id, scope=None, max_duration=600)
    stopped = await recorder.stop(call_id, scope=None)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.core.call import LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import ConflictError, LegGoneError
from orchestrator.core.events import Event, RecordingFinished
from orchestrator.cti.registry import ActiveCall, CallRegistry, CallState
from orchestrator.store import recordings as store
from orchestrator.store.db import SessionFactory

# A call in one of these states has a conversation to record.
RECORDABLE = (CallState.ANSWERED, CallState.HELD)


class CallNotAnsweredError(ConflictError):
    """The call has no conversation yet (still ringing, or no leg is up): 409."""

    error_id = "call-not-answered"


class AlreadyRecordingError(ConflictError):
    """The call is being recorded already (stop that recording first): 409."""

    error_id = "already-recording"


@dataclass(frozen=True, slots=True)
class CallRecording:
    recording: str
    leg_id: str


class CallRecorder:
    """Starts and stops on-demand recordings of the registry's calls (see the module doc)."""

    def __init__(self, engine: Engine, calls: CallRegistry, sessions: SessionFactory) -> None:
        self.engine = engine
        self.calls = calls
        self.sessions = sessions
        # Call id -> its on-demand recording while the engine makes it.
        self._live: dict[str, CallRecording] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.engine.subscribe(self._on_event)

    def stop_following(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RecordingFinished):
            for call_id, live in list(self._live.items()):
                if live.recording == event.recording:
                    del self._live[call_id]

    async def record(
        self, call_id: str, *, scope: int | None, max_duration: float, beep: bool = False
    ) -> CallRecording:
        """Start recording the call's conversation until stopped, hung up or ``max_duration``."""
        call = self.calls.get(call_id, scope)
        if call.id in self._live:
            raise AlreadyRecordingError(
                f"call {call.id} is being recorded", call_id=call.id,
                recording=self._live[call.id].recording,
            )  # fmt: skip
        leg_id = self._recorded_leg(call)
        # The name is ours (never the client's): it reaches the engine's file system.
        live = CallRecording(recording=f"rec/{uuid.uuid4().hex}", leg_id=leg_id)
        # Claimed before the engine is asked: a second request meanwhile gets the 409.
        self._live[call.id] = live
        try:
            await self.engine.record_call(
                leg_id, live.recording, max_duration=max_duration, beep=beep
            )
        except BaseException:
            if self._live.get(call.id) is live:
                del self._live[call.id]
            raise
        return live

    def _recorded_leg(self, call: ActiveCall) -> str:
        if call.state not in RECORDABLE:
            raise CallNotAnsweredError(
                f"call {call.id} is {call.state}: only an answered call can be recorded",
                call_id=call.id, state=str(call.state),
            )  # fmt: skip
        # Any answered leg hears the whole conversation; the call's first leg if it can.
        up = [leg for leg in call.legs.values() if leg.state is LegState.UP and not leg.gone]
        up.sort(key=lambda leg: leg.id != call.id)
        if not up:
            raise LegGoneError(f"call {call.id} has no answered leg left", call_id=call.id)
        return up[0].id

    async def stop(self, call_id: str, *, scope: int | None) -> list[str]:
        """Stop every recording of the call's legs (on demand or a flow's); their names."""
        call = self.calls.get(call_id, scope)
        names: list[str] = []
        live = self._live.get(call.id)
        if live is not None:
            names.append(live.recording)

        def stored() -> list[str]:
            with self.sessions() as session:
                return [r.name for r in store.live_recordings(session, list(call.legs))]

        names += [n for n in await asyncio.to_thread(stored) if n not in names]
        for name in names:
            await self.engine.stop_recording(name)
        return names
