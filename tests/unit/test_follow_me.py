"""Follow-me on the FakeEngine: the steps' checks, and ring_all in a flow of the real runner.

Each destination's phone is scripted (:class:`Phones`): it rings until cancelled, is busy,
answers (and stays silent), or answers and presses keys. The flow runs at 1/100 speed (a
5 s ring time lasts 50 ms, the 10 s confirmation window 100 ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.events import Event, LegHungUp
from orchestrator.core.fake import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing
from orchestrator.ivr import AppRegistry, CallerHungUp, DialResult, IvrCall, IvrRunner
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.ivr.runner import AppSpec
from orchestrator.pbx.follow_me import (
    FollowMe,
    Step,
    parse_follow_me,
    parse_steps,
    ring_all,
)

TIMESCALE = 0.01

# -- the steps' checks ---------------------------------------------------------------------


def test_steps_are_normalized_with_defaults() -> None:
    steps = parse_steps(
        [
            {"destination": "extension:102", "ring_s": 15},
            {"destination": "number:+447700900123"},
            {"destination": "number:+447700900124", "confirm": False, "ring_s": 120},
        ]
    )
    assert steps == [
        Step("extension:102", 15, False),
        Step("number:+447700900123", 20, True),  # external numbers confirm by default
        Step("number:+447700900124", 120, False),
    ]


def test_a_whole_setting_round_trips() -> None:
    data = {"mode": "simultaneous", "steps": [{"destination": "extension:102", "ring_s": 5}]}
    setting = parse_follow_me(data)
    assert setting == FollowMe("simultaneous", (Step("extension:102", 5, False),))
    assert parse_follow_me(setting.to_json()) == setting
    assert parse_follow_me({}) == FollowMe("sequential", ())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([{"destination": "102"}], "steps[0].destination"),  # the kind must be said
        ([{"destination": "extension:1"}], "steps[0].destination"),
        ([{"destination": "number:+44 7700"}], "steps[0].destination"),
        ([{"destination": "number:sip:evil@x"}], "steps[0].destination"),
        ([{"destination": "voicemail:1"}], "steps[0].destination"),
        ([{"destination": 102}], "steps[0].destination"),
        ([{"destination": "extension:102", "ring_s": 4}], "steps[0].ring_s"),
        ([{"destination": "extension:102", "ring_s": 121}], "steps[0].ring_s"),
        ([{"destination": "extension:102", "ring_s": "20"}], "steps[0].ring_s"),
        ([{"destination": "extension:102", "ring_s": 20.5}], "steps[0].ring_s"),
        ([{"destination": "extension:102", "ring_s": True}], "steps[0].ring_s"),
        ([{"destination": "extension:102", "confirm": "yes"}], "steps[0].confirm"),
        ([{"destination": "extension:102", "timeout": 5}], "steps[0]"),
        (
            [{"destination": "extension:102"}, {"destination": "extension:102"}],
            "steps[1].destination",
        ),
        ([{"destination": f"extension:1{n:02d}"} for n in range(11)], "steps"),
        (["extension:102"], "steps[0]"),
        ("extension:102", "steps"),
    ],
)
def test_bad_steps_are_refused_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_steps(data)
    assert err.value.details["field"] == field, err.value.details


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"mode": "random", "steps": []}, "mode"),
        ({"mode": "sequential", "steps": [], "enabled": True}, "follow_me"),
        ([], "follow_me"),
        ({"steps": [{"destination": "extension:102", "ring_s": 500}]}, "steps[0].ring_s"),
    ],
)
def test_bad_settings_are_refused(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_follow_me(data)
    assert err.value.details["field"] == field


def test_ten_steps_are_allowed() -> None:
    assert len(parse_steps([{"destination": f"extension:1{n:02d}"} for n in range(10)])) == 10


# -- ring_all on the FakeEngine ----------------------------------------------------------------

Script = Callable[["Phones", str], Awaitable[None]]


def rings() -> Script:
    async def script(phones: Phones, leg_id: str) -> None:
        return None  # nobody picks up: it rings until it is hung up

    return script


def busy() -> Script:
    async def script(phones: Phones, leg_id: str) -> None:
        await phones.engine.remote_hangup(leg_id, 17)

    return script


def answers(keys: str = "", *, after: float = 0.0, think: float = 0.01) -> Script:
    """Answers (after ``after`` real seconds), then presses ``keys`` (none: silence)
    ``think`` seconds later (0: at once, over the prompt)."""

    async def script(phones: Phones, leg_id: str) -> None:
        await asyncio.sleep(after)
        await phones.engine.remote_answer(leg_id)
        if keys:
            await asyncio.sleep(think)
            await phones.engine.dtmf(leg_id, keys)

    return script


class Phones:
    """The destinations' phones, scripted; what happened to each leg."""

    def __init__(self, engine: FakeEngine, scripts: dict[str, Script]) -> None:
        self.engine = engine
        self.scripts = scripts
        self.legs: dict[str, str] = {}  # destination -> leg id
        self.order: list[str] = []  # destinations, as dialed
        self.connected: list[str] = []  # destinations connected with the caller
        self.declined: list[str] = []
        self.hung_up: dict[str, int] = {}  # leg id -> cause
        self.tasks: set[asyncio.Task[None]] = set()
        # Talk this long (real seconds) once connected, then hang up.
        self.talk = 0.05

    def destination(self, leg_id: str) -> str:
        return next(d for d, leg in self.legs.items() if leg == leg_id)

    def _later(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "dial":
            destination, leg_id = details["destination"], details["leg_id"]
            self.legs[destination] = leg_id
            self.order.append(destination)
            self._later(self.scripts.get(destination, rings())(self, leg_id))
        elif action == "connected":
            self.connected.append(self.destination(details["leg_id"]))
            self._later(self._talk(details["leg_id"]))
        elif action == "follow_me_declined":
            self.declined.append(self.destination(details["leg_id"]))

    async def _talk(self, leg_id: str) -> None:
        await asyncio.sleep(self.talk)
        await self.engine.remote_hangup(leg_id)

    def on_event(self, event: Event) -> None:
        if isinstance(event, LegHungUp):
            self.hung_up[event.leg_id] = event.cause


async def follow(
    steps: list[dict[str, Any]],
    scripts: dict[str, Script],
    *,
    mode: str = "sequential",
    answered_first: bool = False,
    caller_hangs_up_after: float | None = None,
) -> tuple[DialResult | BaseException, Phones, FakeEngine, str]:
    """Run a flow calling ring_all on one call; (its result or error, phones, engine, caller)."""
    engine = FakeEngine()
    await engine.start()
    phones = Phones(engine, scripts)
    outcome: list[DialResult | BaseException] = []
    parsed = parse_steps(steps)

    async def flow(call: IvrCall) -> None:
        if answered_first:
            await call.answer()
        try:
            outcome.append(await ring_all(call, parsed, mode=mode))
        except CallerHungUp as exc:
            outcome.append(exc)
            raise

    async def lookup(tenant: str, name: str) -> AppSpec:
        return AppSpec(name=name, app="follow", tenant=tenant)

    registry = AppRegistry(builtins={"follow": flow}, entry_point_group=None)
    runner = IvrRunner(engine, registry, lookup, StaticDirectory(), timescale=TIMESCALE)
    runner.observers.append(phones.observe)
    engine.subscribe(phones.on_event)
    runner.start()
    try:
        caller = await engine.incoming_call(
            caller="+15550100", called="5000", routing=Routing("ivr", {"flow": "fm", "tenant": "1"})
        )
        if caller_hangs_up_after is not None:
            await asyncio.sleep(caller_hangs_up_after)
            await engine.remote_hangup(caller.id)
        await runner.wait_idle(10)
    finally:
        for task in list(phones.tasks):
            task.cancel()
        await runner.stop()
    assert len(outcome) == 1
    return outcome[0], phones, engine, caller.id


def played_to(engine: FakeEngine, leg_id: str) -> list[str]:
    return [m for c in engine.commands if c[0] == "play" and c[1] == leg_id for m in c[2]]


async def test_sequential_rings_each_step_in_turn_and_connects_the_one_that_answers() -> None:
    steps = [
        {"destination": "extension:101", "ring_s": 5},
        {"destination": "extension:102", "ring_s": 5},
        {"destination": "extension:103", "ring_s": 5},
    ]
    result, phones, engine, caller = await follow(
        steps, {"extension:101": rings(), "extension:102": busy(), "extension:103": answers()}
    )
    assert isinstance(result, DialResult)
    assert result.status == "answered" and result.talk_seconds > 0
    assert result.leg_id == phones.legs["extension:103"]
    assert phones.order == ["extension:101", "extension:102", "extension:103"]
    assert phones.connected == ["extension:103"]
    assert ("connect", caller, phones.legs["extension:103"]) in engine.commands
    # The unanswered first step was hung up by us when its ring time was over.
    assert ("hangup", phones.legs["extension:101"], 16) in engine.commands
    assert phones.hung_up[phones.legs["extension:102"]] == 17
    assert ("ring", caller) in engine.commands  # the caller heard ringing meanwhile
    assert ("answer", caller) in engine.commands


async def test_sequential_waits_each_ring_time_before_the_next_step() -> None:
    steps = [{"destination": "extension:101", "ring_s": 30}, {"destination": "extension:102"}]
    loop = asyncio.get_running_loop()
    started = loop.time()
    dialed_at: dict[str, float] = {}

    def at(destination: str) -> Script:
        async def script(phones: Phones, leg_id: str) -> None:
            dialed_at[destination] = loop.time() - started
            if destination == "extension:102":
                await answers()(phones, leg_id)

        return script

    result, _, _, _ = await follow(
        steps, {"extension:101": at("extension:101"), "extension:102": at("extension:102")}
    )
    assert isinstance(result, DialResult) and result.answered
    # 30 s at 1/100 speed: 0.3 s between the two.
    assert 0.28 <= dialed_at["extension:102"] - dialed_at["extension:101"] < 1.0


async def test_simultaneous_rings_all_and_hangs_up_the_others() -> None:
    steps = [
        {"destination": "extension:101", "ring_s": 30},
        {"destination": "extension:102", "ring_s": 30},
        {"destination": "extension:103", "ring_s": 30},
    ]
    result, phones, engine, caller = await follow(
        steps, {"extension:102": answers(after=0.02)}, mode="simultaneous"
    )
    assert isinstance(result, DialResult) and result.answered
    assert sorted(phones.order) == ["extension:101", "extension:102", "extension:103"]
    assert phones.connected == ["extension:102"]
    for other in ("extension:101", "extension:103"):
        assert ("hangup", phones.legs[other], 16) in engine.commands
    # The others were hung up before the caller was connected: nothing rings on.
    connect = engine.commands.index(("connect", caller, phones.legs["extension:102"]))
    assert engine.commands.index(("hangup", phones.legs["extension:101"], 16)) < connect


async def test_simultaneous_steps_keep_their_own_ring_times() -> None:
    steps = [
        {"destination": "extension:101", "ring_s": 5},
        {"destination": "extension:102", "ring_s": 60},
    ]
    # 102 answers after 0.2 s: 101 (5 s = 0.05 s) was hung up long before.
    result, phones, engine, _ = await follow(
        steps, {"extension:102": answers(after=0.2)}, mode="simultaneous"
    )
    assert isinstance(result, DialResult) and result.answered
    assert phones.connected == ["extension:102"]
    hangups = [c for c in engine.commands if c[0] == "hangup"]
    assert hangups[0] == ("hangup", phones.legs["extension:101"], 16)


async def test_a_number_that_presses_1_is_connected() -> None:
    steps = [{"destination": "number:+447700900123", "ring_s": 20}]
    result, phones, engine, caller = await follow(steps, {"number:+447700900123": answers("1")})
    assert isinstance(result, DialResult) and result.answered
    leg = phones.legs["number:+447700900123"]
    assert played_to(engine, leg) == [Prompt.FOLLOW_ME_ACCEPT]
    assert ("connect", caller, leg) in engine.commands
    # The prompt went to the called leg, never to the caller.
    assert Prompt.FOLLOW_ME_ACCEPT not in played_to(engine, caller)


@pytest.mark.parametrize("keys", ["", "2", "#"])
async def test_a_leg_that_does_not_press_1_is_hung_up_and_never_connected(keys: str) -> None:
    # Its voicemail answered (silence), or the person refused (2) or pressed something else.
    steps = [{"destination": "number:+447700900123", "ring_s": 20}]
    result, phones, engine, caller = await follow(steps, {"number:+447700900123": answers(keys)})
    assert isinstance(result, DialResult)
    assert result.status == "no_answer" and not result.answered
    leg = phones.legs["number:+447700900123"]
    assert phones.connected == [] and phones.declined == ["number:+447700900123"]
    assert not [c for c in engine.commands if c[0] == "connect"]
    assert ("hangup", leg, 16) in engine.commands
    assert ("answer", caller) not in engine.commands  # the caller was never answered


async def test_silence_waits_the_whole_confirmation_window() -> None:
    steps = [{"destination": "number:+447700900123"}]
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, _, _, _ = await follow(steps, {"number:+447700900123": answers()})
    assert isinstance(result, DialResult) and result.status == "no_answer"
    assert loop.time() - started >= 0.1  # 10 s at 1/100 speed


async def test_a_declined_leg_does_not_stop_the_others() -> None:
    # The mobile's voicemail answers at once and never presses 1; the desk phone answers
    # a moment later (no confirmation for an extension) and gets the caller.
    steps = [
        {"destination": "number:+447700900123", "ring_s": 30},
        {"destination": "extension:101", "ring_s": 30},
    ]
    result, phones, _, _ = await follow(
        steps,
        {"number:+447700900123": answers(), "extension:101": answers(after=0.15)},
        mode="simultaneous",
    )
    assert isinstance(result, DialResult) and result.answered
    assert phones.declined == ["number:+447700900123"]
    assert phones.connected == ["extension:101"]


async def test_the_first_to_press_1_wins_the_other_confirming_leg_is_hung_up() -> None:
    steps = [
        {"destination": "number:+447700900123", "ring_s": 30},
        {"destination": "number:+447700900124", "ring_s": 30},
    ]
    result, phones, engine, caller = await follow(
        steps,
        {"number:+447700900123": answers(), "number:+447700900124": answers("1", after=0.02)},
        mode="simultaneous",
    )
    assert isinstance(result, DialResult) and result.answered
    assert phones.connected == ["number:+447700900124"]
    loser = phones.legs["number:+447700900123"]
    assert ("hangup", loser, 16) in engine.commands
    assert ("connect", caller, loser) not in engine.commands


async def test_a_key_pressed_at_once_skips_the_prompt() -> None:
    steps = [{"destination": "number:+447700900123"}]
    result, phones, engine, _ = await follow(steps, {"number:+447700900123": answers("1", think=0)})
    assert isinstance(result, DialResult) and result.answered
    assert played_to(engine, phones.legs["number:+447700900123"]) == []


async def test_an_extension_can_be_asked_to_confirm_too() -> None:
    steps = [{"destination": "extension:101", "confirm": True}]
    result, phones, engine, _ = await follow(steps, {"extension:101": answers("1")})
    assert isinstance(result, DialResult) and result.answered
    assert played_to(engine, phones.legs["extension:101"]) == [Prompt.FOLLOW_ME_ACCEPT]


async def test_nobody_answers() -> None:
    steps = [
        {"destination": "extension:101", "ring_s": 5},
        {"destination": "number:+447700900123", "ring_s": 5},
    ]
    for mode in ("sequential", "simultaneous"):
        result, phones, engine, caller = await follow(steps, {}, mode=mode)
        assert isinstance(result, DialResult)
        assert (result.status, result.cause) == ("no_answer", 19)
        assert len(phones.legs) == 2
        assert set(phones.legs.values()) <= set(phones.hung_up)  # no leg left ringing
        assert engine.legs[caller].alive is False  # the flow ended: the runner hung up


async def test_all_busy_is_busy() -> None:
    steps = [{"destination": "extension:101"}, {"destination": "extension:102"}]
    result, _, _, _ = await follow(
        steps, {"extension:101": busy(), "extension:102": busy()}, mode="simultaneous"
    )
    assert isinstance(result, DialResult) and (result.status, result.cause) == ("busy", 17)


async def test_a_step_that_cannot_be_dialed_is_skipped() -> None:
    async def flow_result() -> DialResult:
        engine = FakeEngine()
        await engine.start()
        out: list[DialResult] = []

        async def flow(call: IvrCall) -> None:
            steps = parse_steps(
                [{"destination": "extension:999"}, {"destination": "extension:101"}]
            )
            out.append(await ring_all(call, steps))

        async def lookup(tenant: str, name: str) -> AppSpec:
            return AppSpec(name=name, app="f", tenant=tenant)

        runner = IvrRunner(
            engine,
            AppRegistry(builtins={"f": flow}, entry_point_group=None),
            lookup,
            StaticDirectory(extensions={"101"}),
            timescale=TIMESCALE,
        )
        phones = Phones(engine, {"extension:101": answers()})
        runner.observers.append(phones.observe)
        runner.start()
        await engine.incoming_call(routing=Routing("ivr", {"flow": "f", "tenant": "1"}))
        await runner.wait_idle(10)
        await runner.stop()
        assert phones.order == ["extension:101"]
        return out[0]

    assert (await flow_result()).answered


async def test_caller_hanging_up_while_ringing_hangs_up_every_leg() -> None:
    steps = [
        {"destination": "extension:101", "ring_s": 60},
        {"destination": "number:+447700900123", "ring_s": 60},
    ]
    # The number answers and is being asked to confirm when the caller goes.
    result, phones, engine, _ = await follow(
        steps,
        {"number:+447700900123": answers()},
        mode="simultaneous",
        caller_hangs_up_after=0.05,
    )
    assert isinstance(result, CallerHungUp)
    assert len(phones.legs) == 2
    for leg in phones.legs.values():
        assert ("hangup", leg, 16) in engine.commands
        assert not engine.legs[leg].alive
    assert phones.connected == []


async def test_caller_hanging_up_while_connected_hangs_up_the_winner() -> None:
    steps = [{"destination": "extension:101"}]
    result, phones, engine, _ = await follow(
        steps, {"extension:101": answers()}, caller_hangs_up_after=0.02
    )
    assert isinstance(result, CallerHungUp)
    assert phones.connected == ["extension:101"]
    assert not engine.legs[phones.legs["extension:101"]].alive


async def test_an_answered_caller_hears_a_ring_tone_until_connected() -> None:
    steps = [{"destination": "extension:101"}]
    result, phones, engine, caller = await follow(
        steps, {"extension:101": answers(after=0.02)}, answered_first=True
    )
    assert isinstance(result, DialResult) and result.answered
    assert played_to(engine, caller) == ["tone:ring"]
    stop = next(i for i, c in enumerate(engine.commands) if c[0] == "stop_playback")
    connect = engine.commands.index(("connect", caller, phones.legs["extension:101"]))
    assert stop < connect


async def test_ring_all_refuses_a_bad_mode() -> None:
    engine = FakeEngine()
    await engine.start()
    leg = await engine.incoming_call()
    call = IvrCall(engine, leg, tenant="1", app="x", directory=StaticDirectory())
    with pytest.raises(ValidationError):
        await ring_all(call, [Step("extension:101")], mode="random")
