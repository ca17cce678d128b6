"""The ``pbx_inbound`` flow on the FakeEngine at fixed clocks: the blacklist (reject,
prompt) before anything else, a schedule open / closed / on a holiday / in night mode,
destinations (extension transfer, IVR app run on the call, hangup), a DID that is not
the tenant's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.testing import FlowResult, run_flow
from orchestrator.pbx.extension_flow import Line
from orchestrator.pbx.inbound import InboundFlow, InboundPlan
from orchestrator.pbx.schedule import Hours, check_weekly

DID = "+4930123456"
HOURS = Hours(
    timezone="Europe/Berlin",
    weekly=check_weekly(
        [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "17:00"}]
    ),
    holidays=(
        {
            "name": "Christmas",
            "start": "2026-12-25",
            "end": "2026-12-26",
            "yearly": True,
            "destination": "ivr:xmas",
        },
    ),
    open_destination="extension:101",
    closed_destination="extension:102",
    holiday_destination=None,
)
MONDAY_OPEN = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST
MONDAY_EARLY = datetime(2026, 3, 30, 6, 59, tzinfo=UTC)  # 08:59 CEST
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday


class Routes:
    def __init__(self, plan: InboundPlan) -> None:
        self._plan = plan
        self.asked: list[tuple[int, str, str]] = []

    async def plan(self, tenant_id: int, did: str, caller: str) -> InboundPlan:
        self.asked.append((tenant_id, did, caller))
        return self._plan


class Apps:
    def __init__(self) -> None:
        self.ran: list[str] = []

    async def __call__(self, call: IvrCall, name: str) -> None:
        self.ran.append(name)
        await call.answer()
        await call.play("sound:custom/closed")


async def run(
    plan: InboundPlan, *, now: datetime = MONDAY_OPEN, caller: str = "+4930999"
) -> tuple[FlowResult, Routes, Apps]:
    routes, apps = Routes(plan), Apps()
    flow = InboundFlow(routes, run_app=apps, clock=lambda: now)
    result = await run_flow(flow, called=DID, caller=caller, extensions={"101", "102"})
    return result, routes, apps


def scheduled(**values: object) -> InboundPlan:
    return InboundPlan("schedule:office", hours=HOURS, **values)  # type: ignore[arg-type]


async def test_open_transfers_to_the_open_destination() -> None:
    result, routes, _ = await run(scheduled())
    assert routes.asked == [(1, DID, "+4930999")]
    assert result.transferred_to == "extension:101" and not result.answered
    assert result.variables["inbound_state"] == "open"


async def test_a_minute_before_opening_is_closed() -> None:
    result, _, _ = await run(scheduled(), now=MONDAY_EARLY)
    assert result.transferred_to == "extension:102"
    assert result.variables["inbound_state"] == "closed"


async def test_holiday_runs_its_ivr_app_on_the_call() -> None:
    result, _, apps = await run(scheduled(), now=CHRISTMAS)
    assert apps.ran == ["xmas"] and result.transferred_to is None
    assert "sound:custom/closed" in result.played
    assert result.variables["inbound_state"] == "holiday"


async def test_night_mode_closes_an_open_schedule() -> None:
    result, _, _ = await run(scheduled(night_mode=True))
    assert result.transferred_to == "extension:102"
    assert result.variables["inbound_state"] == "night"


async def test_blacklisted_caller_is_rejected_unanswered() -> None:
    result, _, apps = await run(scheduled(blacklist_action="reject"))
    assert result.hangup_cause == 21 and not result.answered
    assert result.transferred_to is None and apps.ran == [] and result.played == []


async def test_blacklisted_caller_hears_the_prompt_then_is_hung_up() -> None:
    result, _, _ = await run(InboundPlan("extension:101", blacklist_action="prompt"))
    assert result.answered and result.transferred_to is None
    assert result.played == [Prompt.SORRY, Prompt.GOODBYE]
    assert result.hung_up_by == "flow" and result.hangup_cause == 16


async def test_a_direct_destination_of_a_blacklisting_tenant() -> None:
    result, _, _ = await run(InboundPlan("extension:102"))
    assert result.transferred_to == "extension:102"
    assert result.variables["inbound_state"] == "direct"


async def test_hangup_destination_rejects() -> None:
    closed = replace(HOURS, closed_destination="hangup")
    result, _, _ = await run(InboundPlan("schedule:office", hours=closed), now=MONDAY_EARLY)
    assert result.hangup_cause == 21 and result.transferred_to is None


async def test_a_schedule_gone_hangs_up() -> None:
    result, _, _ = await run(InboundPlan("schedule:office", hours=None))
    assert result.hangup_cause == 21
    assert result.variables["inbound_state"] == "no_schedule"


async def test_an_extension_gone_hangs_up() -> None:
    result, _, _ = await run(InboundPlan("extension:555"))
    assert result.hangup_cause == 21 and result.transferred_to is None


async def test_not_the_tenants_did_is_unallocated() -> None:
    result, _, _ = await run(InboundPlan(None))
    assert result.hangup_cause == 1


async def test_a_ring_group_destination_is_dialed_as_the_groups_number() -> None:
    """A blacklisting tenant's DID to a ring group, or a schedule sending calls to one:
    the group's number is no extension of the store, so it is handed to the tenant's
    dialplan as if dialed, which runs the ring group."""
    result, _, _ = await run(InboundPlan("ring_group:600"))
    assert result.transferred_to == "dialed:600" and not result.answered
    open_to_group = replace(HOURS, open_destination="ring_group:600")
    result, _, _ = await run(InboundPlan("schedule:office", hours=open_to_group))
    assert result.transferred_to == "dialed:600"
    assert result.variables["inbound_state"] == "open"


class Lines:
    """Extensions 105 (id 7, with a mailbox) and 106 (id 8, without); no other."""

    async def line(self, tenant_id: int, number: str) -> Line | None:
        ids = {"105": 7, "106": 8}
        return Line(ids[number], number, f"{number}@a.example", None) if number in ids else None


class Mailbox:
    """Takes messages for extension id 7 only (the others have no mailbox)."""

    def __init__(self) -> None:
        self.deposits: list[tuple[int, int, str]] = []

    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        if extension_id != 7:
            return False
        self.deposits.append((tenant_id, extension_id, reason))
        await call.answer()
        await call.play("sound:vm-intro")
        return True


async def to_voicemail(destination: str, now: datetime) -> tuple[FlowResult, Mailbox]:
    mailbox = Mailbox()
    hours = replace(HOURS, closed_destination=destination)
    flow = InboundFlow(
        Routes(InboundPlan("schedule:office", hours=hours)),
        clock=lambda: now, lines=Lines(), voicemail=mailbox,
    )  # fmt: skip
    result = await run_flow(flow, called=DID, caller="+4930999", extensions={"101", "105"})
    return result, mailbox


async def test_closed_to_voicemail_takes_a_message_for_that_extension() -> None:
    result, mailbox = await to_voicemail("voicemail:105", MONDAY_EARLY)
    assert mailbox.deposits == [(1, 7, "unavailable")]
    assert result.answered and "sound:vm-intro" in result.played
    assert result.transferred_to is None
    assert result.variables["inbound_destination"] == "voicemail:105"
    # The mailbox time is the extension's voicemail xDR, as from the extension flow.
    notes = [d for a, d in result.actions if a == "voicemail"]
    assert [n["phase"] for n in notes] == ["start", "end"] and notes[1]["taken"], notes


async def test_open_is_not_voicemail() -> None:
    result, mailbox = await to_voicemail("voicemail:105", MONDAY_OPEN)
    assert mailbox.deposits == [] and result.transferred_to == "extension:101"


async def test_voicemail_of_an_extension_gone_or_without_a_mailbox_rejects() -> None:
    for gone in ("voicemail:106", "voicemail:107"):
        result, mailbox = await to_voicemail(gone, MONDAY_EARLY)
        assert mailbox.deposits == [] and not result.answered, gone
        assert result.hangup_cause == 21, gone
