"""Ring groups on the FakeEngine: the rules, the ``pbx_ring_group`` flow in the real
runner (each strategy, the total timeout, every fallback) and both engines' rendering.

Members' phones are scripted as in test_follow_me (:class:`Phones`): they ring until
hung up, are busy, or answer. The flow runs at 1/100 speed (a 5 s ring time is 50 ms).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.fake import FakeEngine
from orchestrator.core.targets import Extension, Routing
from orchestrator.engines.asterisk.provisioning.render import Renderer as AsteriskRenderer
from orchestrator.engines.freeswitch.provisioning.render import DIDS_CONTEXT
from orchestrator.engines.freeswitch.provisioning.render import Renderer as FsRenderer
from orchestrator.ivr import AppRegistry, IvrCall, IvrRunner
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.ivr.runner import AppSpec
from orchestrator.pbx import ring_group_rules as rules
from orchestrator.pbx.extension_flow import Line
from orchestrator.pbx.ring_group_rules import Member
from orchestrator.pbx.ring_groups import FLOW, Group, RingGroupFlow
from orchestrator.provisioning.data import snapshot
from orchestrator.provisioning.tenant import DidRoute, RingGroupRoute
from orchestrator.store.models import Did, RingGroup, Tenant
from orchestrator.store.models import Extension as ExtensionRow
from tests.unit.test_follow_me import Phones, Script, answers, busy, rings

TIMESCALE = 0.01
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Abcdefgh1234Abcdefgh1234"

# -- the rules -------------------------------------------------------------------------------


def test_members_are_normalized_with_defaults() -> None:
    members = rules.parse_members(
        [{"destination": "101"}, {"destination": "number:+447700900123", "ring_s": 30}]
    )
    assert members == [
        Member("extension:101", 20, False),
        Member("number:+447700900123", 30, True),  # an external number confirms by default
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "members"),
        ("101", "members"),
        ([{"destination": "extension:1"}], "members[0].destination"),
        ([{"destination": "101,1,System(x)"}], "members[0].destination"),
        ([{"destination": 101}], "members[0].destination"),
        ([{"destination": "101", "ring_s": 4}], "members[0].ring_s"),
        ([{"destination": "101", "ring_s": "20"}], "members[0].ring_s"),
        ([{"destination": "101", "ring_s": True}], "members[0].ring_s"),
        ([{"destination": "101", "confirm": "no"}], "members[0].confirm"),
        ([{"destination": "101", "delay": 1}], "members[0]"),
        ([{"destination": "101"}, {"destination": "extension:101"}], "members[1].destination"),
        ([{"destination": f"1{n:02d}"} for n in range(21)], "members"),
    ],
)
def test_bad_members_are_refused_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        rules.parse_members(data)
    assert err.value.details["field"] == field, err.value.details


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("hangup", ("hangup", "")),
        ("extension:101", ("extension", "101")),
        ("voicemail:101", ("voicemail", "101")),
        ("ivr:main-menu", ("ivr", "main-menu")),
    ],
)
def test_fallbacks(text: str, parsed: tuple[str, str]) -> None:
    assert rules.parse_fallback(text) == parsed


@pytest.mark.parametrize(
    "text", ["", "hangup:1", "extension:", "voicemail", "ivr:Main Menu", "number:+4420", 5]
)
def test_bad_fallbacks_are_refused(text: Any) -> None:
    with pytest.raises(ValidationError):
        rules.parse_fallback(text)


def test_rounds_per_strategy() -> None:
    a, b, c = (Member(f"extension:10{i}") for i in range(3))
    assert rules.rounds([a, b, c], "simultaneous") == [[a, b, c]]
    assert rules.rounds([a, b, c], "sequential", start=2) == [[a], [b], [c]]
    assert rules.rounds([a, b, c], "round_robin", start=1) == [[b], [c], [a]]
    assert rules.rounds([a, b, c], "round_robin", start=5) == [[c], [a], [b]]


# -- the flow on the FakeEngine ----------------------------------------------------------------


class MemoryGroups:
    def __init__(self, group: Group) -> None:
        self.group_ = group
        self.starts: list[int] = []

    async def group(self, tenant_id: int, number: str) -> Group | None:
        if (tenant_id, number) != (self.group_.tenant_id, self.group_.number):
            return None
        return self.group_

    async def next_start(self, group_id: int, start: int) -> None:
        self.starts.append(start)
        self.group_ = replace(self.group_, rr_next=start)


class Lines:
    async def line(self, tenant_id: int, number: str) -> Line | None:
        return Line(7, number, f"{number}@a.example", None) if number == "105" else None


class Mailbox:
    def __init__(self) -> None:
        self.deposits: list[tuple[int, int, str]] = []

    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        self.deposits.append((tenant_id, extension_id, reason))
        await call.answer()
        return True


def group(strategy: str, *members: str, ring_s: int = 5, **kw: Any) -> Group:
    return Group(
        id=1, tenant_id=1, name="sales", number="600", strategy=strategy,
        members=tuple(Member(f"extension:{m}", ring_s) for m in members),
        timeout_s=kw.pop("timeout_s", 60), **kw,
    )  # fmt: skip


async def call_group(
    groups: MemoryGroups,
    scripts: dict[str, Script],
    *,
    run_ivr: Any = None,
    mailbox: Mailbox | None = None,
    dialed: str = "600",
    published: list[tuple[Any, ...]] | None = None,
) -> tuple[Phones, FakeEngine, str, list[tuple[str, dict[str, Any]]]]:
    """One call to the group through the runner; (phones, engine, caller id, actions)."""
    engine = FakeEngine()
    await engine.start()
    phones = Phones(engine, scripts)
    actions: list[tuple[str, dict[str, Any]]] = []
    publish = None if published is None else (lambda *event: published.append(event))
    flow = RingGroupFlow(groups, lines=Lines(), voicemail=mailbox, run_ivr=run_ivr, publish=publish)

    async def lookup(tenant: str, name: str) -> AppSpec:
        return AppSpec(name=name, app=FLOW, tenant=tenant)

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        actions.append((action, dict(details)))

    registry = AppRegistry(builtins={FLOW: flow}, entry_point_group=None)
    runner = IvrRunner(engine, registry, lookup, StaticDirectory(), timescale=TIMESCALE)
    runner.observers += [phones.observe, observe]
    engine.subscribe(phones.on_event)
    runner.start()
    try:
        routing = Routing("ivr", {"flow": "pbx.rg", "tenant": "1", "dialed": dialed})
        caller = await engine.incoming_call(caller="+15550100", called=dialed, routing=routing)
        await runner.wait_idle(10)
    finally:
        for task in list(phones.tasks):
            task.cancel()
        await runner.stop()
    return phones, engine, caller.id, actions


def hangup_cause(engine: FakeEngine, leg_id: str) -> int | None:
    return next((c[2] for c in engine.commands if c[:2] == ("hangup", leg_id)), None)


async def test_simultaneous_rings_every_member_and_connects_the_first_to_answer() -> None:
    groups = MemoryGroups(group("simultaneous", "101", "102", "103", ring_s=30))
    phones, engine, _, actions = await call_group(groups, {"extension:102": answers(after=0.02)})
    assert sorted(phones.order) == ["extension:101", "extension:102", "extension:103"]
    assert phones.connected == ["extension:102"]
    for other in ("extension:101", "extension:103"):
        assert ("hangup", phones.legs[other], 16) in engine.commands
    # Every rung leg was dialed for the caller's call: the CDR ties them (the "dial" notice).
    dialed = [d["leg_id"] for a, d in actions if a == "dial"]
    assert sorted(dialed) == sorted(phones.legs.values())
    assert ("ring_group", {"number": "600", "name": "sales", "strategy": "simultaneous"}) in actions
    assert groups.starts == []  # only round robin remembers anything


async def test_sequential_rings_in_order_past_a_busy_member() -> None:
    groups = MemoryGroups(group("sequential", "101", "102", "103"))
    phones, engine, _, _ = await call_group(
        groups, {"extension:101": rings(), "extension:102": busy(), "extension:103": answers()}
    )
    assert phones.order == ["extension:101", "extension:102", "extension:103"]
    assert phones.connected == ["extension:103"]
    assert ("hangup", phones.legs["extension:101"], 16) in engine.commands  # its 5 s were up


async def test_round_robin_starts_after_where_the_previous_call_stopped() -> None:
    groups = MemoryGroups(group("round_robin", "101", "102", "103"))
    # Call 1: 101 rings out, 102 answers -> the next call starts with 103.
    phones, *_ = await call_group(groups, {"extension:102": answers()})
    assert phones.order == ["extension:101", "extension:102"]
    assert groups.starts == [1, 2] and groups.group_.rr_next == 2
    # Call 2 starts with 103, which answers -> the next starts with 101.
    phones, *_ = await call_group(groups, {"extension:103": answers()})
    assert phones.order == ["extension:103"]
    assert groups.group_.rr_next == 0
    # Call 3: nobody answers: 101, 102, 103 each rang once; then the fallback (hang up 19).
    phones, engine, caller, _ = await call_group(groups, {})
    assert phones.order == ["extension:101", "extension:102", "extension:103"]
    assert groups.group_.rr_next == 0
    assert hangup_cause(engine, caller) == 19


async def test_the_total_timeout_ends_the_ringing_and_the_next_member_never_rings() -> None:
    # Members ring 30 s each, the group only 10 s: 101 rings 10 s (0.1 s here), 102 never.
    groups = MemoryGroups(group("sequential", "101", "102", ring_s=30, timeout_s=10))
    loop = asyncio.get_running_loop()
    started = loop.time()
    phones, engine, caller, actions = await call_group(groups, {})
    elapsed = loop.time() - started
    assert phones.order == ["extension:101"]
    assert 0.09 <= elapsed < 0.29, elapsed
    assert ("hangup", phones.legs["extension:101"], 16) in engine.commands
    assert hangup_cause(engine, caller) == 19
    assert ("ring_group_unanswered", {"number": "600", "status": "no_answer"}) in actions


async def test_simultaneous_members_ring_no_longer_than_the_total_timeout() -> None:
    groups = MemoryGroups(group("simultaneous", "101", "102", ring_s=60, timeout_s=5))
    loop = asyncio.get_running_loop()
    started = loop.time()
    phones, engine, caller, _ = await call_group(groups, {})
    assert loop.time() - started < 0.3
    assert len(phones.order) == 2 and hangup_cause(engine, caller) == 19


async def test_a_call_nobody_took_is_published_for_the_members() -> None:
    published: list[tuple[Any, ...]] = []
    g = group("simultaneous", "101", "102", fallback="extension:105")
    g = replace(g, members=(*g.members, Member("number:+447700900123", 5, True)))
    _, _, caller, _ = await call_group(MemoryGroups(g), {}, published=published)
    assert published == [
        (
            "ring_group_unanswered",
            1,
            {"id": caller, "tenant_id": 1, "extensions": ["101", "102"]},
            {"ring_group": "600", "name": "sales", "strategy": "simultaneous",
             "status": "no_answer", "caller": "+15550100", "fallback": "extension:105"},
        )
    ]  # fmt: skip
    # An answered call publishes nothing.
    published.clear()
    await call_group(MemoryGroups(group("simultaneous", "101")), {"extension:101": answers()},
                     published=published)  # fmt: skip
    assert published == []


async def test_every_member_busy_hangs_up_busy() -> None:
    groups = MemoryGroups(group("simultaneous", "101", "102"))
    _, engine, caller, _ = await call_group(
        groups, {"extension:101": busy(), "extension:102": busy()}
    )
    assert hangup_cause(engine, caller) == 17


async def test_fallback_to_an_extension_transfers_the_call() -> None:
    groups = MemoryGroups(group("sequential", "101", fallback="extension:105"))
    _, engine, caller, actions = await call_group(groups, {})
    assert ("transfer", caller, Extension("1", "105")) in engine.commands
    assert ("transferred", {"destination": "extension:105", "kind": "extension"}) in actions


async def test_fallback_to_voicemail_takes_a_message_for_that_extension() -> None:
    mailbox = Mailbox()
    groups = MemoryGroups(group("sequential", "101", fallback="voicemail:105"))
    _, engine, caller, _ = await call_group(groups, {}, mailbox=mailbox)
    assert mailbox.deposits == [(1, 7, "unavailable")]
    assert hangup_cause(engine, caller) == 16  # the runner's, after the message


async def test_fallback_to_a_mailbox_that_is_not_there_hangs_up() -> None:
    groups = MemoryGroups(group("sequential", "101", fallback="voicemail:106"))
    _, engine, caller, _ = await call_group(groups, {}, mailbox=Mailbox())
    assert hangup_cause(engine, caller) == 19


async def test_fallback_to_an_ivr_app_runs_it() -> None:
    ran: list[str] = []

    async def run_ivr(call: IvrCall, name: str) -> bool:
        ran.append(name)
        await call.answer()
        return True

    groups = MemoryGroups(group("sequential", "101", fallback="ivr:menu"))
    _, engine, caller, _ = await call_group(groups, {}, run_ivr=run_ivr)
    assert ran == ["menu"]
    assert ("answer", caller) in engine.commands


async def test_a_number_that_is_no_group_is_unallocated() -> None:
    groups = MemoryGroups(group("sequential", "101"))
    phones, engine, caller, _ = await call_group(groups, {}, dialed="601")
    assert phones.order == [] and hangup_cause(engine, caller) == 1


# -- rendering on both engines -------------------------------------------------------------------


def _config() -> Any:
    t = Tenant(id=1, name="A", sip_domain="a.example")
    ext = ExtensionRow(tenant_id=1, number="101", sip_username="101", sip_password=PASSWORD)
    rg = RingGroup(tenant_id=1, name="sales", number="600", members=[])
    gone = RingGroup(tenant_id=1, name="shadowed", number="101", members=[])  # an extension's
    dids = [
        Did(number="+12065550100", pricing_batch="b", tenant_id=1, destination="ring_group:600"),
        Did(number="+12065550101", pricing_batch="b", tenant_id=1, destination="ring_group:699"),
    ]
    return snapshot(t, [ext], dids, ring_groups=[rg, gone])


def test_snapshot_keeps_groups_and_routes_dids_to_them() -> None:
    config = _config()
    assert config.ring_groups == (RingGroupRoute("600", "sales"),)
    assert config.dids == (
        DidRoute("+12065550100", "ring_group", "600"),
        DidRoute("+12065550101", "hangup", ""),  # no such group: refused, not silence
    )


def test_asterisk_sends_the_group_number_to_the_flow() -> None:
    from tests.unit.test_provisioning import answer

    # [orchestrator-route]'s group: Stasis(orchestrator,ivr,pbx.rg,1,<endpoint>,600)
    assert answer(_config(), "600") == "group/600/1"
    assert answer(_config(), "+12065550100", did=True) == "group/600/1"
    assert answer(_config(), "101") == "ring/101/101@a.example/30"  # the extension won
    plan = AsteriskRenderer(REPO / "dialplan_templates" / "asterisk").render(_config()).dialplan
    assert "600" not in plan  # looked up per call: no reload for a group


def test_freeswitch_sends_the_group_number_to_the_flow() -> None:
    index = FsRenderer(REPO / "freeswitch_conf").render(_config())
    doc = index.dialplan[("t1", "600")]
    for action in ('data="orch_route_flow=pbx.rg"', 'data="orch_route_dialed=600"',
                   'data="orch_route_tenant=1"', 'application="park"'):  # fmt: skip
        assert action in doc, doc
    did = index.dialplan[(DIDS_CONTEXT, "+12065550100")]
    assert 'application="transfer" data="600 XML t1"' in did, did
    assert "pbx.rg" not in index.dialplan[("t1", "101")]
