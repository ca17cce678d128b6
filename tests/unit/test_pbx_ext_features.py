"""An extension's blacklist and speed dials on the FakeEngine: which caller an entry takes,
the ``pbx_extension`` flow rejecting or prompting a blocked caller before anything rings
(and at a forward's target too), and the speed-dial handlers (program, refuse, call a
slot by handing the phone's call to the tenant's dialplan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Extension
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.testing import FlowResult, run_flow
from orchestrator.pbx.blacklist import REJECTED, Block, blocking
from orchestrator.pbx.codes import CATALOGUE, collisions, match
from orchestrator.pbx.dispatch import CodeContext
from orchestrator.pbx.extension_flow import ExtensionFlow, Line
from orchestrator.pbx.speed_dial import speed_dial_handlers
from tests.unit.test_pbx_extension_flow import Lines, Mailbox


# -- which caller an entry takes --------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "caller", "takes"),
    [
        (Block("+442079460000", "exact", "reject"), "+442079460000", True),
        (Block("+442079460000", "exact", "reject"), "442079460000", True),  # + ignored
        (Block("442079460000", "exact", "reject"), "+442079460000", True),
        (Block("+442079460000", "exact", "reject"), "+4420794600001", False),
        (Block("+4420", "prefix", "reject"), "+442079460000", True),
        (Block("+4420", "prefix", "reject"), "+4421", False),
        (Block("102", "exact", "reject"), "102", True),
        (Block("102", "exact", "reject"), "", False),  # withheld: only by "anonymous"
        (Block("1", "prefix", "reject"), "anonymous", False),
        # "anonymous" takes a caller without a number as each engine and carrier shows it.
        (Block("anonymous", "exact", "reject"), "", True),
        (Block("anonymous", "exact", "reject"), "anonymous", True),
        (Block("anonymous", "exact", "reject"), "Anonymous", True),
        (Block("anonymous", "exact", "reject"), "unknown", True),
        (Block("anonymous", "exact", "reject"), "Restricted", True),
        (Block("anonymous", "exact", "reject"), "0000000000", True),  # FreeSWITCH's none
        (Block("anonymous", "exact", "reject"), "+442079460000", False),
        (Block("anonymous", "exact", "reject"), "102", False),
        (Block("anonymous", "exact", "reject"), "alice", False),  # a SIP user, not withheld
    ],
)
def test_an_entry_takes_a_caller(entry: Block, caller: str, takes: bool) -> None:
    assert entry.takes(caller) is takes


def test_exact_entries_win_then_the_longest_prefix() -> None:
    broad, narrow = Block("+44", "prefix", "reject"), Block("+4420", "prefix", "prompt")
    exact = Block("+442079460000", "exact", "reject")
    assert blocking([broad, narrow], "+442079460000") is narrow
    assert blocking([broad, narrow, exact], "+442079460000") is exact
    assert blocking([broad, narrow, exact], "+33123") is None


# -- the extension flow ----------------------------------------------------------------------
class BlockingLines(Lines):
    def __init__(self, blocks: dict[str, tuple[Block, ...]], **by_number: dict[str, Any]):
        super().__init__(**by_number)
        for number, entries in blocks.items():
            old = self.lines[number]
            self.lines[number] = Line(old.extension_id, old.number, old.endpoint, old.settings,
                                      entries)  # fmt: skip


async def test_a_rejected_caller_gets_cause_21_and_nothing_rings() -> None:
    mailbox = Mailbox()
    lines = BlockingLines({"101": (Block("+1555", "prefix", "reject"),)},
                          **{"101": {"forward_all": "extension:102"}, "102": {}})  # fmt: skip
    result = await run_flow(ExtensionFlow(lines, voicemail=mailbox), called="101",
                            caller="+15550100")  # fmt: skip
    assert result.dialed == [] and not result.answered and result.played == []
    assert result.hangup_cause == REJECTED and result.hung_up_by == "flow"
    assert mailbox.deposits == [] and lines.asked == ["101"]  # the forward not even read


async def test_a_prompted_caller_hears_not_in_service_then_the_call_ends() -> None:
    lines = BlockingLines({"101": (Block("+15550100", "exact", "prompt"),)}, **{"101": {}})
    result = await run_flow(ExtensionFlow(lines), called="101", caller="+15550100")
    assert result.answered and result.played == [Prompt.CALL_BLOCKED.value]
    assert result.dialed == [] and result.hangup_cause == REJECTED


async def test_an_anonymous_caller_is_rejected_a_caller_with_a_number_rings() -> None:
    lines = BlockingLines({"101": (Block("anonymous", "exact", "reject"),)}, **{"101": {}})
    result = await run_flow(ExtensionFlow(lines), called="101", caller="anonymous")
    assert result.dialed == [] and result.hangup_cause == REJECTED and not result.answered
    result = await run_flow(ExtensionFlow(lines), called="101", caller="+15550199")
    assert result.dialed == ["extension:101"]


async def test_another_caller_rings_the_phone() -> None:
    lines = BlockingLines({"101": (Block("+15550100", "exact", "prompt"),)}, **{"101": {}})
    result = await run_flow(ExtensionFlow(lines), called="101", caller="+15550199")
    assert result.dialed == ["extension:101"] and result.answered
    assert Prompt.CALL_BLOCKED.value not in result.played


async def test_a_forward_target_that_blocks_the_caller_rejects_it() -> None:
    lines = BlockingLines({"102": (Block("+1555", "prefix", "reject"),)},
                          **{"101": {"forward_all": "extension:102"}, "102": {}})  # fmt: skip
    result = await run_flow(ExtensionFlow(lines), called="101", caller="+15550100")
    assert lines.asked == ["101", "102"]
    assert result.dialed == [] and result.hangup_cause == REJECTED


# -- speed dial handlers ---------------------------------------------------------------------
@dataclass
class Dials:
    """SpeedDials in memory; ``dialable`` says what the phone could dial."""

    dialable: set[str] = field(default_factory=lambda: {"102", "0044207946000"})
    slots: dict[tuple[int, str], str] = field(default_factory=dict)

    async def number(self, extension_id: int, slot: str) -> str | None:
        return self.slots.get((extension_id, slot))

    async def program(self, extension_id: int, slot: str, number: str) -> None:
        if not number:
            self.slots.pop((extension_id, slot), None)
        elif number not in self.dialable:
            raise ValidationError(f"number: {number} not dialable", field="number")
        else:
            self.slots[(extension_id, slot)] = number


async def run_code(dials: Dials, action: str, argument: str) -> FlowResult:
    handler = speed_dial_handlers(dials)[action]  # type: ignore[arg-type]
    ctx = CodeContext(1, action, argument, 11, "101", "101@a.example")

    async def flow(call: IvrCall) -> None:
        await call.answer()
        await handler(call, ctx)

    return await run_flow(flow, called="*0" + argument)


async def test_star_74_programs_and_clears_a_slot() -> None:
    dials = Dials()
    result = await run_code(dials, "speed_dial", "05102")
    assert dials.slots == {(11, "05"): "102"}
    assert result.played == [Prompt.SETTING_ON.value]
    result = await run_code(dials, "speed_dial", "05")
    assert dials.slots == {} and result.played == [Prompt.SETTING_OFF.value]


@pytest.mark.parametrize("argument", ["5", "05999", "0"])
async def test_star_74_refuses_what_the_phone_could_not_dial(argument: str) -> None:
    dials = Dials(slots={(11, "05"): "102"})
    result = await run_code(dials, "speed_dial", argument)
    assert result.played == [Prompt.FEATURE_INVALID.value]
    assert dials.slots == {(11, "05"): "102"}  # unchanged


async def test_calling_a_slot_hands_the_call_to_the_tenant_dialplan() -> None:
    dials = Dials(slots={(11, "07"): "0044207946000", (12, "08"): "102"})
    result = await run_code(dials, "speed_dial_call", "07")
    assert result.transferred_to == "dialed:0044207946000"
    engine = result.engine
    assert engine is not None
    transfers = [c for c in engine.commands if c[0] == "transfer"]
    assert [c[2] for c in transfers] == [Extension("1", "0044207946000")]


@pytest.mark.parametrize(("argument", "heard"), [
    ("08", Prompt.SPEED_DIAL_EMPTY),  # another extension's slot: empty for this phone
    ("8", Prompt.FEATURE_INVALID),
    ("081", Prompt.FEATURE_INVALID),
])  # fmt: skip
async def test_an_empty_or_bad_slot_is_said_and_nothing_dialed(argument: str, heard: str) -> None:
    dials = Dials(slots={(12, "08"): "102"})
    result = await run_code(dials, "speed_dial_call", argument)
    assert result.played == [heard] and result.transferred_to is None


async def test_transfer_dialed_refuses_what_is_not_digits() -> None:
    refused: list[str] = []

    async def flow(call: IvrCall) -> None:
        for bad in ("*72", "1", "12a", "+4420", "1" * 21):
            with pytest.raises(ValidationError):
                await call.transfer_dialed(bad)
            refused.append(bad)

    result = await run_flow(flow)
    assert len(refused) == 5 and result.transferred_to is None


def test_the_speed_dial_codes_collide_with_no_default() -> None:
    defaults = {a.name: a.default for a in CATALOGUE}
    assert defaults["speed_dial_call"] == "*0" and collisions(defaults) == []
    found = match(defaults, "*005")
    assert found is not None and (found.action, found.argument) == ("speed_dial_call", "05")
    found = match(defaults, "*7405102")
    assert found is not None and (found.action, found.argument) == ("speed_dial", "05102")
