"""Intercom and paging on the FakeEngine: the SIP-header seam (core check, both adapters'
engine syntax, the fake) and the ``paging`` handler in a flow of the real runner.

The paged phones are scripted by extension (answers at once, rings, busy); the flow runs
at 1/20 speed (the 8 s ring time lasts 0.4 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.fake import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.sip_headers import AUTO_ANSWER, check_sip_headers
from orchestrator.core.targets import Extension, Routing, SipUser, TrunkNumber
from orchestrator.engines.asterisk.targets import header_variables
from orchestrator.engines.freeswitch.dialstrings import originate_command
from orchestrator.ivr import AppRegistry, IvrCall, IvrRunner
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.ivr.runner import AppSpec
from orchestrator.pbx.dispatch import CodeContext
from orchestrator.pbx.paging import PageTarget, PageTargets, paging_handler
from orchestrator.testing.freeswitch.originate import parse_vars

TIMESCALE = 0.05
PHONE = SipUser("101@a.example")

# -- the seam: SIP headers on originate ------------------------------------------------------


def test_the_auto_answer_headers_pass_the_check() -> None:
    assert check_sip_headers(PHONE, AUTO_ANSWER) == dict(AUTO_ANSWER)
    assert check_sip_headers(TrunkNumber("carrier", "+15550100"), AUTO_ANSWER)
    assert check_sip_headers(Extension("1", "101"), None) == {}
    assert check_sip_headers(Extension("1", "101"), {}) == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Evil": "1"},  # not on the allow-list
        {"call-info": "<sip:a.example>;answer-after=0"},  # spelt as listed only
        {"Via": "SIP/2.0/UDP evil"},
        {"Call-Info": "<sip:a.example>;answer-after=0\r\nX-Injected: 1"},
        {"Call-Info": "<sip:a.example>, <sip:b.example>"},  # no comma (a FreeSWITCH separator)
        {"Call-Info": "<sip:a.example>;answer-after=0}"},
        {"Alert-Info": "info='x'"},
        {"Alert-Info": "info=Auto Answer"},  # no spaces
        {"Alert-Info": ""},
        {"Alert-Info": "a" * 300},
        {"Alert-Info": 0},
        {1: "x"},
    ],
)
def test_headers_off_the_allow_list_or_with_unsafe_values_are_refused(headers: Any) -> None:
    with pytest.raises(ValidationError):
        check_sip_headers(PHONE, headers)


def test_headers_need_a_sip_target() -> None:
    with pytest.raises(ValidationError, match="SIP target"):
        check_sip_headers(Extension("1", "101"), AUTO_ANSWER)


def test_asterisk_sets_each_header_with_the_pjsip_header_function() -> None:
    variables = header_variables(PHONE, {"ORCH_X": "1"}, AUTO_ANSWER)
    assert variables == {
        "ORCH_X": "1",
        "PJSIP_HEADER(add,Call-Info)": AUTO_ANSWER["Call-Info"],
        "PJSIP_HEADER(add,Alert-Info)": AUTO_ANSWER["Alert-Info"],
    }
    with pytest.raises(ValidationError):  # around the allow-list: refused
        header_variables(PHONE, {"PJSIP_HEADER(add,X-Evil)": "1"}, None)
    with pytest.raises(ValidationError):
        header_variables(PHONE, None, {"X-Evil": "1"})


def test_freeswitch_sends_each_header_as_a_sip_h_variable() -> None:
    command = originate_command(
        "orch-1", PHONE, routing=None, caller_id="101", timeout=8, variables=None,
        headers=AUTO_ANSWER,
    )  # fmt: skip
    assert command.startswith("originate {") and command.endswith("}user/101@a.example &park()")
    variables, rest = parse_vars(command.removeprefix("originate "))
    assert variables["sip_h_Call-Info"] == AUTO_ANSWER["Call-Info"]
    assert variables["sip_h_Alert-Info"] == AUTO_ANSWER["Alert-Info"]
    assert rest == "user/101@a.example &park()"
    with pytest.raises(ValidationError):
        originate_command(
            "orch-1", PHONE, routing=None, caller_id="", timeout=8,
            variables={"sip_h_X_Evil": "1"},
        )  # fmt: skip
    with pytest.raises(ValidationError):
        originate_command(
            "orch-1", Extension("1", "101"), routing=None, caller_id="", timeout=8,
            variables=None, headers=AUTO_ANSWER,
        )  # fmt: skip


async def test_the_fake_engine_keeps_the_headers_and_refuses_bad_ones_before_anything() -> None:
    engine = FakeEngine()
    await engine.start()
    leg = await engine.originate(PHONE, headers=AUTO_ANSWER)
    assert engine.sip_headers[leg.id] == dict(AUTO_ANSWER)
    plain = await engine.originate(PHONE)
    assert plain.id not in engine.sip_headers
    before = list(engine.commands)
    with pytest.raises(ValidationError):
        await engine.originate(PHONE, headers={"X-Evil": "1"})
    assert engine.commands == before


# -- the paging handler ------------------------------------------------------------------------

Script = Callable[[FakeEngine, str], Awaitable[None]]


async def answers(engine: FakeEngine, leg_id: str) -> None:
    await asyncio.sleep(0.01)
    await engine.remote_answer(leg_id)


async def rings(engine: FakeEngine, leg_id: str) -> None:
    return None


async def busy(engine: FakeEngine, leg_id: str) -> None:
    await engine.remote_hangup(leg_id, 17)


GROUP = PageTargets(
    "group",
    "warehouse",
    [PageTarget(n, f"{n}@a.example") for n in ("101", "102", "103", "104")],
)


class Page:
    """One run of the handler: what was dialed, joined, played, and the phones' scripts."""

    def __init__(self, engine: FakeEngine, scripts: dict[str, Script]) -> None:
        self.engine = engine
        self.scripts = scripts
        self.legs: dict[str, str] = {}  # extension -> leg id
        self.paged: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "dial":
            number = details["destination"].removeprefix("extension:")
            self.legs[number] = details["leg_id"]
            script = self.scripts.get(number, answers)
            task = asyncio.ensure_future(script(self.engine, details["leg_id"]))
            self.tasks.add(task)
        elif action == "paged":
            self.paged.append(details["number"])

    def joined(self) -> dict[str, tuple[bool, bool]]:
        """leg id -> (muted, moderator) of every conference join."""
        return {c[2]: (c[3], c[5]) for c in self.engine.commands if c[0] == "conference_join"}


async def settled(run: Page, expect: int, timeout: float = 10) -> None:
    """Wait until ``expect`` phones joined the page and every other leg dialed ended."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ended = [leg for leg in run.legs.values() if not run.engine.legs[leg].alive]
        if len(run.paged) >= expect and len(run.paged) + len(ended) >= len(run.legs):
            return
        assert asyncio.get_running_loop().time() < deadline, (run.paged, run.legs)
        await asyncio.sleep(0.01)


async def page(
    argument: str,
    scripts: dict[str, Script],
    *,
    found: PageTargets | None = GROUP,
    offline: tuple[str, ...] = (),
    in_call: tuple[str, ...] = (),
    hang_up: str | None = "pager",
    expect: int = 0,
) -> tuple[Page, str]:
    engine = FakeEngine()
    await engine.start()
    for endpoint in offline:
        await engine.set_registration(endpoint, "offline")
    run = Page(engine, scripts)
    asked: list[tuple[int, str]] = []

    async def targets_of(tenant_id: int, number: str) -> PageTargets | None:
        asked.append((tenant_id, number))
        return found

    handler = paging_handler(targets_of, in_call=lambda endpoint: endpoint in in_call)

    async def flow(call: IvrCall) -> None:
        await call.answer()
        ctx = CodeContext(7, "paging", argument, 1, "100", "100@a.example")
        await handler(call, ctx)

    async def lookup(tenant: str, name: str) -> AppSpec:
        return AppSpec(name=name, app="page", tenant=tenant)

    registry = AppRegistry(builtins={"page": flow}, entry_point_group=None)
    runner = IvrRunner(engine, registry, lookup, StaticDirectory(), timescale=TIMESCALE)
    runner.observers.append(run.observe)
    runner.start()
    try:
        pager = await engine.incoming_call(
            caller="100", called=f"*46{argument}",
            routing=Routing("ivr", {"flow": "p", "tenant": "7"}),
        )  # fmt: skip
        if hang_up is not None:
            await settled(run, expect)
        if hang_up == "phones":
            for leg_id in list(run.legs.values()):
                if engine.legs[leg_id].alive:
                    await engine.remote_hangup(leg_id)
        elif hang_up == "pager" and engine.legs[pager.id].alive:
            await engine.remote_hangup(pager.id)
        await runner.wait_idle(10)
    finally:
        for task in list(run.tasks):
            task.cancel()
        await runner.stop()
    if argument:
        assert asked == [(7, argument)]
    return run, pager.id


def played_to(engine: FakeEngine, leg_id: str) -> list[str]:
    return [m for c in engine.commands if c[0] == "play" and c[1] == leg_id for m in c[2]]


async def test_a_group_page_calls_each_phone_with_auto_answer_headers_muted_in_one_conference() -> (
    None
):
    run, pager = await page("700", {}, expect=4)
    engine = run.engine
    assert sorted(run.legs) == ["101", "102", "103", "104"]
    for number, leg_id in run.legs.items():
        assert engine.sip_headers[leg_id] == dict(AUTO_ANSWER), number
        target = next(c[1] for c in engine.commands if c[0] == "originate" and c[2] == leg_id)
        assert target == SipUser(f"{number}@a.example")
    assert sorted(run.paged) == ["101", "102", "103", "104"]
    joined = run.joined()
    # Only the pager is heard: every paged phone joined muted, the pager not.
    assert joined[pager] == (False, True)
    assert all(joined[leg_id] == (True, False) for leg_id in run.legs.values())
    conferences = {c[1] for c in engine.commands if c[0] == "conference_join"}
    assert len(conferences) == 1
    # The pager hung up: every paged phone was hung up, the conference ended.
    assert all(not engine.legs[leg_id].alive for leg_id in run.legs.values())
    assert ("conference_end", conferences.pop()) in engine.commands


async def test_the_pager_own_phone_busy_and_unregistered_phones_are_skipped() -> None:
    found = PageTargets(
        "group", "all", [PageTarget(n, f"{n}@a.example") for n in ("100", "101", "102", "103")]
    )
    run, _ = await page(
        "700",
        {},
        found=found,
        offline=("102@a.example",),
        in_call=("103@a.example",),
        expect=1,
    )
    assert list(run.legs) == ["101"]  # 100 is the pager, 102 offline, 103 in a call


async def test_a_phone_that_does_not_answer_is_given_up_and_the_others_still_hear() -> None:
    run, pager = await page("700", {"102": rings, "103": busy}, expect=2)
    engine = run.engine
    assert sorted(run.paged) == ["101", "104"]
    assert ("hangup", run.legs["102"], 16) in engine.commands  # its ring time was over
    assert run.legs["103"] not in run.joined()
    assert engine.legs[pager].alive is False


async def test_the_page_ends_when_every_paged_phone_hung_up() -> None:
    run, pager = await page("700", {}, hang_up="phones", expect=4)
    engine = run.engine
    assert sorted(run.paged) == ["101", "102", "103", "104"]
    assert not engine.legs[pager].alive  # hung up by the flow, not by the test
    assert any(c[0] == "hangup" and c[1] == pager for c in engine.commands)


async def test_intercom_to_one_phone() -> None:
    found = PageTargets("intercom", "101", [PageTarget("101", "101@a.example")])
    run, _ = await page("101", {}, found=found, expect=1)
    assert list(run.legs) == ["101"] and run.paged == ["101"]
    assert run.engine.sip_headers[run.legs["101"]] == dict(AUTO_ANSWER)


async def test_nothing_to_page_is_invalid_and_no_one_answering_is_not_available() -> None:
    run, pager = await page("999", {}, found=None, hang_up=None)
    assert run.legs == {}
    assert played_to(run.engine, pager) == [Prompt.FEATURE_INVALID]

    found = PageTargets("group", "g", [PageTarget("102", "102@a.example")])
    run, pager = await page("700", {"102": rings}, found=found, hang_up=None)
    assert played_to(run.engine, pager) == [Prompt.FEATURE_NOT_AVAILABLE]
    assert ("hangup", run.legs["102"], 16) in run.engine.commands

    found = PageTargets("group", "g", [PageTarget("100", "100@a.example")])  # only the pager
    run, pager = await page("700", {}, found=found, hang_up=None)
    assert run.legs == {}
    assert played_to(run.engine, pager) == [Prompt.FEATURE_NOT_AVAILABLE]
