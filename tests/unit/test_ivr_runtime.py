"""The flow API and the runner on the FakeEngine: timeouts, hang-up, failures, dialing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing, SipUser
from orchestrator.ivr import AppRegistry, CallerHungUp, FlowNotFoundError, IvrCall
from orchestrator.ivr.media import media_item
from orchestrator.ivr.testing import HANGUP, run_flow


async def test_collect_stops_at_terminator_and_max_digits() -> None:
    got: list[str] = []

    async def flow(call: IvrCall) -> None:
        got.append(await call.collect(6))
        got.append(await call.collect(2))

    await run_flow(flow, inputs=["12#", "345"])
    assert got == ["12", "34"]


async def test_keys_pressed_during_a_prompt_barge_in_and_are_collected() -> None:
    played_through: list[str | None] = []

    async def flow(call: IvrCall) -> None:
        await call.answer()
        await call.engine.dtmf(call.id, "7")  # type: ignore[attr-defined]
        played_through.append(await call.play("hello", barge_in=True))
        played_through.append(await call.collect(1))

    result = await run_flow(flow)
    assert played_through == ["7", "7"]
    assert "sound:hello" not in result.played  # type-ahead skipped the prompt


async def test_play_and_collect_validates_and_gives_up() -> None:
    answers: list[str | None] = []

    async def flow(call: IvrCall) -> None:
        answers.append(
            await call.play_and_collect("enter", max_digits=3, validate=r"[0-9]{3}", retries=2)
        )

    result = await run_flow(flow, inputs=["12#", "9"])
    assert answers == [None]
    assert result.played.count("sound:invalid") == 2


async def test_caller_hangup_raises_in_flow_and_cleanup_runs() -> None:
    events: list[str] = []

    async def flow(call: IvrCall) -> None:
        try:
            await call.collect(4, first_timeout=60)
        except CallerHungUp:
            events.append("hung up")
            raise
        finally:
            events.append("cleanup")

    result = await run_flow(flow, inputs=[HANGUP])
    assert events == ["hung up", "cleanup"]
    assert result.hung_up_by == "caller"


async def test_flow_that_raises_gets_apology_and_fallback(caplog: pytest.LogCaptureFixture) -> None:
    async def flow(call: IvrCall) -> None:
        await call.answer()
        raise RuntimeError("database down")

    with caplog.at_level(logging.ERROR, logger="orchestrator.ivr"):
        result = await run_flow(flow, fallback="extension:100")
    assert result.played == [Prompt.SORRY, Prompt.TRY_AGAIN_LATER]
    assert result.transferred_to == "extension:100"
    failure = next(r for r in caplog.records if "failed" in r.getMessage())
    assert failure.exc_info is not None and "database down" in str(failure.exc_info[1])
    assert "leg-" in failure.getMessage()  # the call id is in the log line


async def test_failing_flow_without_fallback_hangs_up() -> None:
    async def flow(call: IvrCall) -> None:
        raise ValueError("bug")

    result = await run_flow(flow)
    assert result.answered and result.hung_up_by == "flow"
    assert result.transferred_to is None


async def test_flow_is_cut_at_max_duration() -> None:
    async def flow(call: IvrCall) -> None:
        await call.answer()
        await asyncio.sleep(3600)  # forgets the call entirely

    result = await run_flow(flow, max_duration=5, timeout=2)  # 5 s at 1/1000 speed
    assert result.hung_up_by == "flow"


async def test_sleep_is_interrupted_by_hangup() -> None:
    async def flow(call: IvrCall) -> None:
        await call.collect(1)
        await call.sleep(600)

    result = await run_flow(flow, inputs=[HANGUP], timeout=2)
    assert result.hung_up_by == "caller"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("answer", "answered"), ("busy", "busy"), ("no_answer", "no_answer"), ("x", "failed")],
)
async def test_dial_reports_outcome(outcome: str, status: str) -> None:
    results = []

    async def flow(call: IvrCall) -> None:
        results.append(await call.dial("102", timeout=20))

    result = await run_flow(flow, dial_outcomes=[outcome], extensions={"102"})
    assert [r.status for r in results] == [status]
    assert result.dialed == ["102"]
    engine = result.engine
    assert engine is not None
    originated = [c for c in engine.commands if c[0] == "originate"]
    assert originated and originated[0][1] == SipUser("102@1")
    connected = [c for c in engine.commands if c[0] == "connect"]
    assert len(connected) == (1 if status == "answered" else 0)
    if status == "answered":
        assert results[0].talk_seconds > 0
        assert engine.peer(connected[0][1]) is None  # the dialed party left: over


async def test_dial_unknown_extension_is_an_error_for_the_flow() -> None:
    seen: list[str] = []

    async def flow(call: IvrCall) -> None:
        try:
            await call.dial("999")
        except Exception as exc:
            seen.append(type(exc).__name__)

    await run_flow(flow, extensions={"102"})
    assert seen == ["NotFoundError"]


async def test_record_returns_the_recording() -> None:
    recordings = []

    async def flow(call: IvrCall) -> None:
        await call.answer()
        recordings.append(await call.record(max_duration=30))

    result = await run_flow(flow, recording_audio=b"RIFFdata")
    assert recordings[0].ok and recordings[0].name.startswith("ivr/")
    assert result.engine is not None
    assert result.engine.recordings[recordings[0].name] == b"RIFFdata"


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "sound:a b", "tone:laser", "digits:12a", "number:1.5", "", "x:y"]
)
def test_media_names_are_checked(bad: str) -> None:
    with pytest.raises(ValidationError):
        media_item(bad)


def test_media_names_canonical() -> None:
    assert media_item("hello-world") == "sound:hello-world"
    assert media_item("sound:custom/visa/welcome") == "sound:custom/visa/welcome"
    assert media_item("digits:12#") == "digits:12#"


async def test_bad_input_from_a_flow_is_refused_before_the_engine() -> None:
    seen: list[str] = []

    async def flow(call: IvrCall) -> None:
        for attempt in (
            call.play("../secret"),
            call.transfer("10;Hangup"),
            call.set_caller_id("12,3"),
            call.set_variable("A B", "x"),
        ):
            try:
                await attempt
            except ValidationError:
                seen.append("refused")

    result = await run_flow(flow)
    assert seen == ["refused"] * 4
    assert result.engine is not None
    assert not [c for c in result.engine.commands if c[0] in {"play", "transfer", "set_variable"}]


def test_registry_hot_reloads_and_keeps_last_good(tmp_path: Path) -> None:
    app = tmp_path / "greeter.py"
    app.write_text("async def flow(call):\n    return 1\n")
    registry = AppRegistry([tmp_path], entry_point_group=None)
    assert registry.names() == ["greeter"]
    first = registry.get("greeter")
    assert registry.get("greeter") is first  # unchanged file: no re-import
    app.write_text("async def flow(call):\n    return 2  # edited\n")
    second = registry.get("greeter")
    assert second is not first
    app.write_text("async def flow(call)\n    broken\n")
    assert registry.get("greeter") is second  # a typo does not take the number down
    with pytest.raises(FlowNotFoundError):
        registry.get("nope")
    with pytest.raises(FlowNotFoundError):
        registry.get("../greeter")


async def test_runner_keeps_a_summary_of_each_finished_call() -> None:
    from ivr_apps import visa_status
    from orchestrator.core.fake import FakeEngine
    from orchestrator.ivr import AppSpec, IvrRunner, StaticDirectory

    engine = FakeEngine()
    await engine.start()
    registry = AppRegistry(builtins={"visa_status": visa_status.flow}, entry_point_group=None)

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name=name, app="visa_status", tenant=tenant) if name == "visa" else None

    runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine), timescale=0.001)
    runner.start()
    leg = await engine.incoming_call(
        caller="+15550123", called="7000", routing=Routing("ivr", {"flow": "visa", "tenant": "3"})
    )
    await engine.dtmf(leg.id, "20241234")
    await asyncio.sleep(0.05)
    await engine.remote_hangup(leg.id)
    await engine.incoming_call(routing=Routing("ivr", {"flow": "missing", "tenant": "3"}))
    await runner.wait_idle()
    await runner.stop()
    first, second = runner.recent
    assert (first.app_name, first.caller, first.called, first.tenant) == (
        "visa",
        "+15550123",
        "7000",
        "3",
    )
    assert first.collected[0] == "20241234"
    assert first.variables["visa_status"] == "approved"
    assert first.outcome == "flow_hung_up" and first.answered  # said goodbye, hung up
    assert second.outcome == "no_app" and not second.answered
    assert not runner.calls


async def test_hangup_leaves_the_leg_to_the_engines_report() -> None:
    # The leg is the engine's own object: marked hung up by the flow, the engine would
    # take its own LegHungUp for a repeat and drop it, and whoever else follows the leg
    # (a queue, the CDRs) would never see the caller go.
    from orchestrator.core.call import LegState
    from orchestrator.core.fake import FakeEngine
    from orchestrator.ivr import StaticDirectory

    engine = FakeEngine()
    await engine.start()
    leg = await engine.incoming_call(caller="+15550123", called="7000")
    call = IvrCall(engine, leg, tenant="1", app="t", directory=StaticDirectory(engine))
    asked: list[tuple[str, int]] = []

    async def slow_engine_hangup(leg_id: str, cause: int = 16) -> None:
        asked.append((leg_id, cause))  # the report comes later, as on a real engine

    engine.hangup = slow_engine_hangup  # type: ignore[method-assign]
    await call.hangup(17)
    assert asked == [(leg.id, 17)] and call.hung_up and call.hangup_cause == 17
    assert engine.legs[leg.id].state is not LegState.HUNG_UP
    await engine.stop()


async def test_a_leg_the_engine_takes_from_its_flow_goes_to_the_flow_it_is_handed_to() -> None:
    # A phone's blind transfer of a call a flow connected (FreeSWITCH moves the flow's own
    # leg into its dialplan): LegLeftApp, then the dialplan hands the same leg over again.
    # The first flow, still running, no longer hangs the leg up; the second one has it.
    from orchestrator.core.call import LegState
    from orchestrator.core.events import LegCreated, LegLeftApp
    from orchestrator.core.fake import FakeEngine
    from orchestrator.ivr import AppSpec, IvrRunner, StaticDirectory

    engine = FakeEngine()
    await engine.start()
    first_may_end = asyncio.Event()
    started = {"first": asyncio.Event(), "second": asyncio.Event()}

    async def first(call: IvrCall) -> None:
        started["first"].set()
        await call.answer()
        await first_may_end.wait()

    async def second(call: IvrCall) -> None:
        started["second"].set()
        await call.play("hello")

    registry = AppRegistry(builtins={"first": first, "second": second}, entry_point_group=None)

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name=name, app=name, tenant=tenant)

    runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine), timescale=0.001)
    runner.start()
    leg = await engine.incoming_call(routing=Routing("ivr", {"flow": "first", "tenant": "3"}))
    await asyncio.wait_for(started["first"].wait(), 5)
    await engine.emit(LegLeftApp(leg_id=leg.id))
    await engine.emit(
        LegCreated(leg_id=leg.id, state=LegState.UP,
                   routing=Routing("ivr", {"flow": "second", "tenant": "3"}))
    )  # fmt: skip
    await asyncio.wait_for(started["second"].wait(), 5)  # not delivered to the first flow
    first_may_end.set()
    await runner.wait_idle()
    await runner.stop()
    hangups = [c for c in engine.commands if c[0] == "hangup" and c[1] == leg.id]
    assert len(hangups) == 1  # the second flow's, at its end
    outcomes = {s.app_name: s.outcome for s in runner.recent}
    assert outcomes == {"first": "transferred", "second": "flow_hung_up"}
    assert not runner.calls


async def test_a_dialed_leg_the_engine_takes_goes_to_its_own_flow_not_hung_up() -> None:
    # The caller's phone blind-transfers the call a flow connected to a leg it dialed
    # (FreeSWITCH moves the dialed leg into its dialplan): LegLeftApp of the dialed leg
    # ends the dial; the flow does not hang the leg up, and the dialplan's hand-over of
    # it starts a flow of its own.
    from orchestrator.core.call import LegState
    from orchestrator.core.events import LegCreated, LegLeftApp
    from orchestrator.core.fake import FakeEngine
    from orchestrator.ivr import AppSpec, IvrRunner, StaticDirectory

    engine = FakeEngine()
    await engine.start()
    second_may_end = asyncio.Event()
    started = {"second": asyncio.Event()}
    results = []

    async def first(call: IvrCall) -> None:
        results.append(await call.dial("102", timeout=20))
        first_done.set()

    async def second(call: IvrCall) -> None:
        started["second"].set()
        await second_may_end.wait()

    registry = AppRegistry(builtins={"first": first, "second": second}, entry_point_group=None)

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name=name, app=name, tenant=tenant)

    runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine), timescale=0.001)
    runner.start()
    children: list[str] = []
    connected, first_done = asyncio.Event(), asyncio.Event()
    originate, connect = engine.originate, engine.connect

    async def answering(target: Any, **kwargs: Any) -> Any:  # the phone answers
        dialed = await originate(target, **kwargs)
        children.append(dialed.id)
        asyncio.get_running_loop().call_later(0.01, lambda: tasks.add(
            asyncio.create_task(engine.remote_answer(dialed.id))))  # fmt: skip
        return dialed

    async def connecting(a: str, b: str) -> None:
        await connect(a, b)
        connected.set()

    tasks: set[asyncio.Task[None]] = set()
    engine.originate = answering  # type: ignore[method-assign]
    engine.connect = connecting  # type: ignore[method-assign,assignment]
    leg = await engine.incoming_call(routing=Routing("ivr", {"flow": "first", "tenant": "3"}))
    await asyncio.wait_for(connected.wait(), 5)
    child = children[0]
    await engine.emit(LegLeftApp(leg_id=child))
    await engine.emit(
        LegCreated(leg_id=child, state=LegState.UP,
                   routing=Routing("ivr", {"flow": "second", "tenant": "3"}))
    )  # fmt: skip
    await asyncio.wait_for(started["second"].wait(), 5)  # not delivered to the first flow
    await asyncio.wait_for(first_done.wait(), 5)
    assert [r.status for r in results] == ["answered"]
    await asyncio.sleep(0.05)  # the first flow's cleanup
    assert leg.id not in runner.calls
    assert runner.calls[child].app == "second"
    assert not [c for c in engine.commands if c[0] == "hangup" and c[1] == child]
    second_may_end.set()
    await runner.wait_idle()
    await runner.stop()
    hangups = [c for c in engine.commands if c[0] == "hangup" and c[1] == child]
    assert len(hangups) == 1  # the second flow's, at its end
