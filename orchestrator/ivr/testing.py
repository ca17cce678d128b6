"""Unit-test IVR flows without a switch: scripted caller, assertions on what happened.

The flow runs in the real :class:`~orchestrator.ivr.runner.IvrRunner` on a
:class:`~orchestrator.core.FakeEngine`, at 1/1000 speed (a 5 s collect timeout
lasts 5 ms). The caller's script is a list of inputs, each given when the flow
next waits for keys (``collect``/``play_and_collect``):

- a string of keys (``"1234#"``);
- ``SILENCE``: the caller presses nothing (the collect times out);
- ``HANGUP``: the caller hangs up.

Legs the flow dials answer, then hang up after a short talk, unless
``dial_outcomes`` says otherwise (``"answer"``, ``"busy"``, ``"no_answer"``,
``"rejected"``). Recordings end at once with ``recording_audio``.

Example::

    from orchestrator.ivr.testing import run_flow
    from ivr_apps import visa_status

    async def test_approved() -> None:
        result = await run_flow(visa_status.flow, inputs=["12345678"])
        assert "sound:custom/visa-approved" in result.played
        assert result.collected == ["12345678"]
        assert result.hung_up_by == "flow"
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.fake import FakeEngine
from orchestrator.core.targets import Routing
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.ivr.registry import AppRegistry, Flow
from orchestrator.ivr.runner import AppSpec, IvrRunner

SILENCE = "<silence>"
HANGUP = "<hangup>"
CAUSES = {"busy": 17, "no_answer": 19, "rejected": 21}


@dataclass(slots=True)
class FlowResult:
    """What happened on the call, in order."""

    answered: bool = False
    played: list[str] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)
    transferred_to: str | None = None
    recordings: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hung_up_by: str | None = None  # "caller" or "flow"
    hangup_cause: int | None = None
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    engine: FakeEngine | None = None

    @property
    def said(self) -> str:
        """Every ``digits:``/``number:`` item played, joined (what the caller heard read out)."""
        spoken = ("digits:", "number:")
        return " ".join(m.split(":", 1)[1] for m in self.played if m.startswith(spoken))


class _Caller:
    def __init__(
        self,
        engine: FakeEngine,
        inputs: Iterable[str],
        dial_outcomes: Iterable[str],
        talk_seconds: float,
        audio: bytes,
    ) -> None:
        self.engine = engine
        self.inputs = deque(inputs)
        self.dial_outcomes = deque(dial_outcomes)
        self.talk = talk_seconds
        self.audio = audio
        self.result = FlowResult(engine=engine)
        self.tasks: set[asyncio.Task[None]] = set()

    def _later(self, coro: Any) -> None:
        # Observers are called synchronously inside the flow: act after it yields.
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        r = self.result
        r.actions.append((action, details))
        if action == "answered":
            r.answered = True
        elif action == "play":
            r.played.extend(details["media"])
        elif action == "collected":
            r.collected.append(details["digits"])
        elif action == "collect" and self.inputs:
            self._later(self._press(call.id, self.inputs.popleft()))
        elif action == "dial":
            r.dialed.append(details["destination"])
            outcome = self.dial_outcomes.popleft() if self.dial_outcomes else "answer"
            self._later(self._dialed(details["leg_id"], outcome))
        elif action == "transferred":
            r.transferred_to = details["destination"]
        elif action == "record":
            r.recordings.append(details["recording"])
            self._later(self.engine.finish_recording(details["recording"], audio=self.audio))
        elif action == "hung_up":
            r.hangup_cause = details["cause"]
            r.hung_up_by = r.hung_up_by or "flow"
        elif action == "ended":
            r.variables = dict(call.variables)

    async def _press(self, leg_id: str, keys: str) -> None:
        if keys == HANGUP:
            self.result.hung_up_by = "caller"
            await self.engine.remote_hangup(leg_id)
        elif keys != SILENCE:
            await self.engine.dtmf(leg_id, keys)

    async def _dialed(self, leg_id: str, outcome: str) -> None:
        await asyncio.sleep(0)
        if outcome == "answer":
            await self.engine.remote_answer(leg_id)
            await asyncio.sleep(self.talk)
            await self.engine.remote_hangup(leg_id)
        else:
            await self.engine.remote_hangup(leg_id, CAUSES.get(outcome, 38))


async def run_flow(
    flow: Flow,
    *,
    inputs: Sequence[str] = (),
    caller: str = "+15550100",
    called: str = "5000",
    tenant: str = "1",
    settings: Mapping[str, Any] | None = None,
    fallback: str = "hangup",
    dial_outcomes: Sequence[str] = (),
    extensions: set[str] | None = None,
    talk_seconds: float = 0.01,
    recording_audio: bytes = b"RIFF....WAVE",
    max_duration: float = 3600,
    timeout: float = 10.0,
) -> FlowResult:
    """Run ``flow`` on one scripted call and return what happened (see the module doc)."""
    engine = FakeEngine()
    await engine.start()
    registry = AppRegistry(builtins={"flow_under_test": flow}, entry_point_group=None)
    spec = AppSpec(
        name="test",
        app="flow_under_test",
        tenant=tenant,
        fallback=fallback,
        max_duration=max_duration,
        settings=dict(settings or {}),
    )

    async def lookup(_tenant: str, _name: str) -> AppSpec:
        return spec

    runner = IvrRunner(
        engine,
        registry,
        lookup,
        StaticDirectory(engine, extensions=extensions),
        timescale=0.001,
    )
    script = _Caller(engine, inputs, dial_outcomes, talk_seconds, recording_audio)
    runner.observers.append(script.observe)
    runner.start()
    try:
        routing = Routing("ivr", {"flow": "test", "tenant": tenant})
        await engine.incoming_call(caller=caller, called=called, routing=routing)
        await asyncio.sleep(0)
        await runner.wait_idle(timeout)
        for task in list(script.tasks):
            task.cancel()
    finally:
        await runner.stop()
    return script.result
