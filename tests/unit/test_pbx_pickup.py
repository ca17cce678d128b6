"""Call pickup on the FakeEngine: the ringing registry (claims, races, the phone answering
first), then the two flows together (the caller's ``pbx_extension`` and the picker's
``pbx_code``): group and directed pickup connect the caller with the picker and stop the
ringing phone, both flows end when either side hangs up, two pickers racing get one call
between them, the CDR's ``dial`` ties the picker's leg and ``call_picked_up`` is told."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from orchestrator.core.call import LegState
from orchestrator.core.fake import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.directory import StaticDirectory
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import AppSpec, IvrRunner
from orchestrator.pbx import follow_me
from orchestrator.pbx.codes import CATALOGUE
from orchestrator.pbx.dispatch import FeatureHandlers, PhoneOwner, code_flow
from orchestrator.pbx.extension_flow import ExtensionFlow
from orchestrator.pbx.pickup import PickupHandlers
from orchestrator.pbx.pickup_install import picked_up_event
from orchestrator.pbx.ring_group_rules import Member
from orchestrator.pbx.ring_groups import Group, RingGroupFlow
from orchestrator.pbx.ringing import Ringing, RingingRegistry
from tests.unit.test_pbx_extension_flow import Lines
from tests.unit.test_ring_groups import MemoryGroups

GROUPS = {"101": ["102", "103"], "102": ["101", "103"], "103": ["101", "102"], "105": ["106"]}
# Ring group 600 rings 102 and 103 at once; extension 107's follow-me rings 104 and 105.
SALES = Group(
    id=1, tenant_id=1, name="sales", number="600", strategy="simultaneous",
    members=(Member("extension:102", 30), Member("extension:103", 30)), timeout_s=60,
    fallback="voicemail:102",
)  # fmt: skip
FOLLOW_ME = {
    "mode": "simultaneous",
    "steps": [{"destination": "extension:104", "ring_s": 30},
              {"destination": "extension:105", "ring_s": 30}],
}  # fmt: skip


# -- the registry alone ------------------------------------------------------------------
async def test_a_claim_takes_the_oldest_ringing_call_once() -> None:
    registry = RingingRegistry()
    first = registry.register(tenant_id=1, number="102", call_id="c1", caller="+1555")
    second = registry.register(tenant_id=1, number="103", call_id="c2", caller="+1556")
    registry.register(tenant_id=2, number="102", call_id="c3", caller="+1557")
    taken = registry.claim(1, ["103", "102"], picker_leg="p1", picker_number="101", kind="group")
    assert taken is first and first.state == "claimed" and first.claimed.is_set()
    assert first.pickup is not None and first.pickup.picker_number == "101"
    # The claimed call is nobody else's: the next picker gets the other one, then none.
    assert registry.claim(1, ["102", "103"], picker_leg="p2", picker_number="104",
                          kind="group") is second  # fmt: skip
    assert registry.claim(1, ["102", "103"], picker_leg="p3", picker_number="104",
                          kind="group") is None  # fmt: skip
    assert registry.ringing(1) == []
    assert [e.call_id for e in registry.ringing(2)] == ["c3"]


async def test_the_phone_answering_and_a_claim_exclude_each_other() -> None:
    registry = RingingRegistry()
    answered = registry.register(tenant_id=1, number="102", call_id="c1", caller="")
    assert registry.answered(answered)
    assert registry.claim(1, ["102"], picker_leg="p", picker_number="101", kind="directed") is None
    claimed = registry.register(tenant_id=1, number="102", call_id="c2", caller="")
    assert registry.claim(1, ["102"], picker_leg="p", picker_number="101",
                          kind="directed") is claimed  # fmt: skip
    assert not registry.answered(claimed)  # the phone answered too late: it loses
    registry.unregister(answered)
    registry.unregister(claimed)
    gone = registry.register(tenant_id=1, number="102", call_id="c3", caller="")
    registry.unregister(gone)
    assert gone.state == "ended"
    assert registry.claim(1, ["102"], picker_leg="p", picker_number="101", kind="group") is None


async def test_a_picker_never_claims_its_own_leg() -> None:
    registry = RingingRegistry()
    registry.register(tenant_id=1, number="102", call_id="p", caller="101")
    assert registry.claim(1, ["102"], picker_leg="p", picker_number="101", kind="group") is None


# -- the flows together ------------------------------------------------------------------
class World:
    """A FakeEngine running both flows: ``ext`` (calls to managed extensions) and ``code``
    (phones dialing codes), with the pickup handlers over ``GROUPS``."""

    def __init__(self) -> None:
        self.engine = FakeEngine()
        self.registry = RingingRegistry()
        self.events: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
        self.registry.listeners.append(
            picked_up_event(lambda *event: self.events.append(event))  # type: ignore[arg-type]
        )
        handlers = FeatureHandlers()

        async def groups(tenant_id: int, number: str) -> Sequence[str]:
            assert tenant_id == 1
            return GROUPS.get(number, [])

        handlers.update(PickupHandlers(self.registry, groups).handlers())

        async def owner_of(tenant_id: int, endpoint: str) -> PhoneOwner | None:
            number = endpoint.removeprefix("u").split("@")[0]
            return PhoneOwner(int(number), number)

        async def codes_of(tenant_id: int) -> dict[str, str]:
            return {a.name: a.default for a in CATALOGUE}

        lines = Lines(
            **{n: {} for n in ("101", "102", "103", "104", "105", "106")},
            **{"107": {"follow_me_enabled": True, "follow_me": FOLLOW_ME}},
        )
        self.deposits: list[int] = []  # the ring group's fallback (voicemail), if it ran

        class Mailbox:
            async def deposit(_, call: IvrCall, tenant_id: int, ext: int, reason: str) -> bool:
                self.deposits.append(ext)
                return True

        flows = {
            "ext": ExtensionFlow(lines, ringing=self.registry, ring_all=follow_me.ring_stored),
            "code": code_flow(handlers, owner_of, codes_of),
            "rg": RingGroupFlow(
                MemoryGroups(SALES), lines=lines, voicemail=Mailbox(), ringing=self.registry,
                publish=lambda *event: self.events.append(event),
            ),
        }  # fmt: skip

        async def lookup(tenant: str, name: str) -> AppSpec:
            return AppSpec(name=name, app=name, tenant=tenant)

        self.runner = IvrRunner(
            self.engine,
            AppRegistry(builtins=flows, entry_point_group=None),
            lookup,
            StaticDirectory(self.engine),
        )
        self.actions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.runner.observers.append(self.observe)

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        self.actions.setdefault(call.id, []).append((action, details))

    def played(self, leg_id: str) -> list[str]:
        return [m for a, d in self.actions.get(leg_id, []) if a == "play" for m in d["media"]]

    def dialed_legs(self, leg_id: str) -> list[str]:
        return [d["leg_id"] for a, d in self.actions.get(leg_id, []) if a == "dial"]

    async def __aenter__(self) -> World:
        await self.engine.start()
        self.runner.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.stop()

    async def call(self, caller: str, extension: str, flow: str = "ext") -> str:
        """``caller`` calls the managed extension (or ring group: ``flow`` "rg"); the
        caller's leg id, once it rings somewhere."""
        routing = Routing("ivr", {"flow": flow, "tenant": "1", "dialed": extension})
        leg = await self.engine.incoming_call(caller=caller, called=extension, routing=routing)
        await until(lambda: any(e.call_id == leg.id for e in self.registry.ringing(1)))
        return leg.id

    async def dial_code(self, number: str, code: str) -> str:
        """The phone of extension ``number`` dials ``code``; its leg id."""
        routing = Routing(
            "ivr", {"flow": "code", "tenant": "1", "endpoint": f"u{number}@t1.example",
                    "dialed": code},
        )  # fmt: skip
        leg = await self.engine.incoming_call(caller=number, called=code, routing=routing)
        return leg.id

    def state(self, leg_id: str) -> LegState:
        return self.engine.legs[leg_id].state


async def until(ready: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not ready():  # noqa: ASYNC110  (polling what several tasks change)
            await asyncio.sleep(0.005)


def ringing_leg(world: World, caller_leg: str) -> str:
    (leg,) = world.dialed_legs(caller_leg)
    return leg


async def test_group_pickup_connects_the_caller_with_the_picker() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "102")
        phone = ringing_leg(w, caller)
        assert w.state(phone) != LegState.HUNG_UP
        picker = await w.dial_code("101", "*98")
        await until(lambda: w.engine.connections.get(caller) == picker)
        # The phone stopped ringing; the caller is answered and talks with the picker.
        assert w.state(phone) == LegState.HUNG_UP
        assert w.state(caller) == LegState.UP
        # The caller's CDR ties the picker's leg (the dial notification).
        assert w.dialed_legs(caller) == [phone, picker]
        assert w.registry.ringing(1) == []
        (event,) = w.events
        assert event[0] == "call_picked_up" and event[1] == 1
        assert event[2] == {"id": caller, "tenant_id": 1, "extensions": ["102", "101"]}
        assert event[3] == {"extension": "102", "caller": "+15550100", "picked_up_by": "101",
                            "picker_leg_id": picker, "kind": "group"}  # fmt: skip
        # The picker hangs up: the caller's flow ends too.
        await w.engine.remote_hangup(picker)
        await until(lambda: w.state(caller) == LegState.HUNG_UP)
        await w.runner.wait_idle(3)
        assert Prompt.PICKUP_NONE not in w.played(picker)


async def test_the_caller_hanging_up_ends_the_pickers_call() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "103")
        picker = await w.dial_code("102", "*98")
        await until(lambda: w.engine.connections.get(caller) == picker)
        await w.engine.remote_hangup(caller)
        await until(lambda: w.state(picker) == LegState.HUNG_UP)
        await w.runner.wait_idle(3)


async def test_directed_pickup_takes_the_named_extensions_call() -> None:
    async with World() as w:
        # 104 is in no group with 106: *98 finds nothing, *97104 takes it.
        caller = await w.call("+15550100", "104")
        refused = await w.dial_code("106", "*98")
        await until(lambda: w.state(refused) == LegState.HUNG_UP)
        assert w.played(refused) == [Prompt.PICKUP_NONE]
        wrong = await w.dial_code("106", "*97105")  # nothing ringing at 105
        await until(lambda: w.state(wrong) == LegState.HUNG_UP)
        assert w.played(wrong) == [Prompt.PICKUP_NONE]
        assert w.state(caller) == LegState.RINGING
        picker = await w.dial_code("106", "*97104")
        await until(lambda: w.engine.connections.get(caller) == picker)
        assert w.events[0][3]["kind"] == "directed"
        await w.engine.remote_hangup(caller)
        await until(lambda: w.state(picker) == LegState.HUNG_UP)


@pytest.mark.parametrize("code", ["*97", "*97101", "*971"])
async def test_directed_pickup_of_nothing_or_oneself_is_refused(code: str) -> None:
    async with World() as w:
        await w.call("+15550100", "102")
        picker = await w.dial_code("101", code)
        await until(lambda: w.state(picker) == LegState.HUNG_UP)
        # "*97" alone is not a valid code (it needs digits); the others find nothing.
        want = Prompt.FEATURE_INVALID if code == "*97" else Prompt.PICKUP_NONE
        assert w.played(picker) == [want]
        assert len(w.registry.ringing(1)) == 1


async def test_two_pickers_racing_get_one_call_between_them() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "103")
        first, second = await asyncio.gather(w.dial_code("101", "*98"), w.dial_code("102", "*98"))
        await until(lambda: w.engine.connections.get(caller) in (first, second))
        winner = w.engine.connections[caller]
        loser = second if winner == first else first
        await until(lambda: w.state(loser) == LegState.HUNG_UP)
        assert w.played(loser) == [Prompt.PICKUP_NONE]
        assert Prompt.PICKUP_NONE not in w.played(winner)
        assert len(w.events) == 1
        await w.engine.remote_hangup(winner)
        await until(lambda: w.state(caller) == LegState.HUNG_UP)


async def test_a_call_the_phone_answered_cannot_be_picked_up() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "102")
        await w.engine.remote_answer(ringing_leg(w, caller))
        await until(lambda: w.registry.ringing(1) == [])
        picker = await w.dial_code("101", "*98")
        await until(lambda: w.state(picker) == LegState.HUNG_UP)
        assert w.played(picker) == [Prompt.PICKUP_NONE]
        assert w.engine.connections.get(caller) == ringing_leg(w, caller)


async def test_the_caller_gone_before_the_connect_leaves_the_picker_nothing() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "102")
        entry: Ringing = w.registry.ringing(1)[0]
        # The caller hangs up just as a picker claims: the picker is told, not connected.
        await w.engine.remote_hangup(caller)
        claimed = w.registry.claim(1, ["102"], picker_leg="x", picker_number="101",
                                   kind="group")  # fmt: skip
        if claimed is not None:  # the flow had not seen the hang-up yet
            assert claimed.pickup is not None
            await asyncio.wait_for(asyncio.shield(claimed.pickup.outcome), 3)
            assert claimed.pickup.outcome.result() is False
        await until(lambda: entry.state in ("ended", "claimed") and w.registry.ringing(1) == [])
        await w.runner.wait_idle(3)
        assert w.events == []


async def test_a_picker_gone_before_the_connect_leaves_the_caller_to_its_no_answer() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "102")
        phone = ringing_leg(w, caller)
        # A claim whose picker's leg is gone by the time the caller's flow connects it.
        claimed = w.registry.claim(1, ["102"], picker_leg="gone-leg", picker_number="101",
                                   kind="group")  # fmt: skip
        assert claimed is not None and claimed.pickup is not None
        outcome = await asyncio.wait_for(asyncio.shield(claimed.pickup.outcome), 3)
        assert outcome is False
        # The phone stopped ringing; the caller got the no-answer handling (no mailbox,
        # no forward: hung up with 19), and nobody was told of a pickup.
        await until(lambda: w.state(caller) == LegState.HUNG_UP)
        assert w.state(phone) == LegState.HUNG_UP
        assert w.engine.legs[caller].hangup_cause == 19
        assert w.events == []


# -- ring groups and follow-me: every rung phone may be picked up ---------------------------
async def test_claiming_one_sibling_ends_the_others_and_answering_does_too() -> None:
    registry = RingingRegistry()
    a = registry.register(tenant_id=1, number="102", call_id="c1", caller="", ring_group="600")
    b = registry.register(tenant_id=1, number="103", call_id="c1", caller="", ring_group="600")
    other = registry.register(tenant_id=1, number="104", call_id="c2", caller="")
    # A picker takes the caller at 102: nobody may take it at 103 any more, nor may 103
    # answer it; another caller is not touched.
    assert registry.claim(1, ["102"], picker_leg="p1", picker_number="101",
                          kind="directed") is a  # fmt: skip
    assert b.state == "ended" and not registry.answered(b)
    assert registry.claim(1, ["103"], picker_leg="p2", picker_number="101", kind="group") is None
    assert registry.ringing(1) == [other]
    # The phone answering first: its siblings end, a claim finds nothing.
    c = registry.register(tenant_id=1, number="102", call_id="c3", caller="")
    d = registry.register(tenant_id=1, number="103", call_id="c3", caller="")
    assert registry.answered(d) and c.state == "ended"
    assert registry.claim(1, ["102", "103"], picker_leg="p3", picker_number="101",
                          kind="group") is None  # fmt: skip


def members_ringing(w: World, caller: str) -> dict[str, str]:
    """Extension -> the leg ringing there for ``caller`` (from the registry)."""
    return {e.number: e.leg_id for e in w.registry.ringing(1) if e.call_id == caller}


async def test_a_ring_group_member_is_picked_up_and_the_group_ends() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "600", flow="rg")
        await until(lambda: set(members_ringing(w, caller)) == {"102", "103"})
        legs = members_ringing(w, caller)
        picker = await w.dial_code("101", "*98")
        await until(lambda: w.engine.connections.get(caller) == picker)
        # Both members stopped ringing; the caller talks with the picker.
        await until(lambda: all(w.state(leg) == LegState.HUNG_UP for leg in legs.values()))
        assert w.state(caller) == LegState.UP and w.registry.ringing(1) == []
        (event,) = [e for e in w.events if e[0] == "call_picked_up"]
        assert event[3]["ring_group"] == "600" and event[3]["ring_group_name"] == "sales"
        assert event[3]["extension"] in ("102", "103") and event[3]["picked_up_by"] == "101"
        # The caller's CDR: the members rung, then the picker's leg noted as picked up.
        dials = [d for a, d in w.actions[caller] if a == "dial"]
        assert [d["leg_id"] for d in dials][-1] == picker
        assert dials[-1]["picked_up"] == event[3]["extension"]
        await w.engine.remote_hangup(picker)
        await until(lambda: w.state(caller) == LegState.HUNG_UP)
        await w.runner.wait_idle(3)
        # The group's flow ended there: no fallback (voicemail), no "nobody took it".
        assert w.deposits == []
        assert [e[0] for e in w.events] == ["call_picked_up"]


async def test_a_member_answering_after_the_claim_loses_and_is_hung_up() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "600", flow="rg")
        await until(lambda: set(members_ringing(w, caller)) == {"102", "103"})
        legs = members_ringing(w, caller)
        # The claim and 103's answer at the same moment: the claim is first here.
        claimed = w.registry.claim(1, ["102"], picker_leg="nobody", picker_number="101",
                                   kind="directed")  # fmt: skip
        assert claimed is not None and claimed.pickup is not None
        await w.engine.remote_answer(legs["103"])
        # The picker's leg does not exist: no connect; 103 was not given the caller either.
        assert await asyncio.wait_for(asyncio.shield(claimed.pickup.outcome), 3) is False
        await until(lambda: w.state(legs["103"]) == LegState.HUNG_UP)
        assert w.engine.connections.get(caller) != legs["103"]
        await until(lambda: w.state(caller) == LegState.HUNG_UP or w.deposits != [])


async def test_a_member_answering_first_leaves_pickers_nothing() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "600", flow="rg")
        await until(lambda: set(members_ringing(w, caller)) == {"102", "103"})
        legs = members_ringing(w, caller)
        await w.engine.remote_answer(legs["102"])
        # 102 has the call at once (the event listener), though the ringer is yet to see it.
        assert w.registry.ringing(1) == []
        picker = await w.dial_code("101", "*97103")
        await until(lambda: w.state(picker) == LegState.HUNG_UP)
        assert w.played(picker) == [Prompt.PICKUP_NONE]
        await until(lambda: w.engine.connections.get(caller) == legs["102"])
        assert w.state(legs["103"]) == LegState.HUNG_UP
        assert [e for e in w.events if e[0] == "call_picked_up"] == []
        await w.engine.remote_hangup(caller)


async def test_two_pickers_of_a_ring_group_get_one_call_between_them() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "600", flow="rg")
        await until(lambda: set(members_ringing(w, caller)) == {"102", "103"})
        # One picks at 102 (directed), one at 103 (group pickup from 101): one wins.
        first, second = await asyncio.gather(
            w.dial_code("106", "*97102"), w.dial_code("101", "*97103")
        )
        await until(lambda: w.engine.connections.get(caller) in (first, second))
        winner = w.engine.connections[caller]
        loser = second if winner == first else first
        await until(lambda: w.state(loser) == LegState.HUNG_UP)
        assert w.played(loser) == [Prompt.PICKUP_NONE]
        assert len([e for e in w.events if e[0] == "call_picked_up"]) == 1
        await w.engine.remote_hangup(caller)
        await until(lambda: w.state(winner) == LegState.HUNG_UP)
        await w.runner.wait_idle(3)
        assert w.deposits == []


async def test_a_follow_me_step_is_picked_up() -> None:
    async with World() as w:
        caller = await w.call("+15550100", "107")
        # 107's own phone rings out (19): its follow-me rings 104 and 105 at once.
        await w.engine.remote_hangup(ringing_leg(w, caller), cause=19)
        await until(lambda: set(members_ringing(w, caller)) == {"104", "105"})
        legs = members_ringing(w, caller)
        picker = await w.dial_code("106", "*97105")
        await until(lambda: w.engine.connections.get(caller) == picker)
        await until(lambda: all(w.state(leg) == LegState.HUNG_UP for leg in legs.values()))
        (event,) = w.events
        assert event[2]["extensions"] == ["105", "106", "107"]
        assert event[3]["forwarded_by"] == "107" and "ring_group" not in event[3]
        await w.engine.remote_hangup(picker)
        await until(lambda: w.state(caller) == LegState.HUNG_UP)
        await w.runner.wait_idle(3)
        # The flow ended with the pickup, not with the no-answer after a follow-me (19).
        assert w.engine.legs[caller].hangup_cause == 16
