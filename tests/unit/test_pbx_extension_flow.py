"""The ``pbx_extension`` flow on the FakeEngine: DND, every forward, loops, hop limit,
call waiting, voicemail and follow-me seams, forwarding to numbers (authorized, cut off)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core.errors import PaymentRequiredError
from orchestrator.ivr.call import DialResult, IvrCall
from orchestrator.ivr.testing import FlowResult, run_flow
from orchestrator.pbx import follow_me
from orchestrator.pbx.extension_flow import MAX_HOPS, ExtensionFlow, Line
from orchestrator.store.models import CallSettingsPublic

TENANT = "1"


def settings(number: str, **values: Any) -> CallSettingsPublic:
    return CallSettingsPublic(
        extension_id=int(number), tenant_id=1, extension=number, managed=True, **values
    )


class Lines:
    def __init__(self, **by_number: dict[str, Any]) -> None:
        self.lines = {
            n: Line(int(n), n, f"u{n}@t1.example", settings(n, **v)) for n, v in by_number.items()
        }
        self.asked: list[str] = []

    async def line(self, tenant_id: int, number: str) -> Line | None:
        assert tenant_id == 1
        self.asked.append(number)
        return self.lines.get(number)


class Mailbox:
    def __init__(self, has: bool = True) -> None:
        self.has = has
        self.deposits: list[tuple[int, str]] = []

    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        self.deposits.append((extension_id, reason))
        if self.has:
            await call.answer()
            await call.play("beep")
        return self.has


class Authorizer:
    def __init__(self, limit: float | None = None, refuse: bool = False) -> None:
        self.limit, self.refuse = limit, refuse
        self.asked: list[tuple[str | None, list[str]]] = []
        self.released: list[str] = []

    async def authorize(
        self,
        *,
        tenant_id: int,
        call_id: str,
        account: str | None,
        extension: str | None,
        numbers: list[str],
    ) -> float | None:
        self.asked.append((extension, numbers))
        if self.refuse:
            raise PaymentRequiredError("no money", reason="no-balance")
        return self.limit

    async def release(self, call_id: str) -> None:
        self.released.append(call_id)


async def run(
    flow: ExtensionFlow,
    *,
    dialed: str = "101",
    outcomes: Sequence[str] = (),
    offline: Sequence[str] = (),
    talk: float = 0.01,
) -> FlowResult:
    async def wrapped(call: IvrCall) -> None:
        for endpoint in offline:
            call.engine.endpoint_reachability[endpoint] = "offline"  # type: ignore[attr-defined]
        await flow(call)

    return await run_flow(wrapped, called=dialed, dial_outcomes=outcomes, talk_seconds=talk)


async def test_no_setting_rings_the_phone() -> None:
    result = await run(ExtensionFlow(Lines(**{"101": {}})))
    assert result.dialed == ["extension:101"]
    assert result.answered and result.hung_up_by == "flow"


async def test_unknown_extension_is_unallocated() -> None:
    result = await run(ExtensionFlow(Lines(**{"101": {}})), dialed="999")
    assert result.dialed == [] and result.hangup_cause == 1


async def test_dnd_busy_mode() -> None:
    mailbox = Mailbox()
    result = await run(ExtensionFlow(Lines(**{"101": {"dnd": True}}), voicemail=mailbox))
    assert result.dialed == [] and not result.answered
    assert result.hangup_cause == 17
    assert mailbox.deposits == []


async def test_dnd_voicemail_mode() -> None:
    mailbox = Mailbox()
    lines = Lines(**{"101": {"dnd": True, "dnd_mode": "voicemail"}})
    result = await run(ExtensionFlow(lines, voicemail=mailbox))
    assert mailbox.deposits == [(101, "busy")]
    assert result.dialed == [] and "sound:beep" in result.played


async def test_dnd_voicemail_mode_without_voicemail_is_busy() -> None:
    lines = Lines(**{"101": {"dnd": True, "dnd_mode": "voicemail"}})
    result = await run(ExtensionFlow(lines))
    assert result.hangup_cause == 17 and result.dialed == []


async def test_forward_all_to_an_extension_applies_its_settings() -> None:
    lines = Lines(
        **{
            "101": {"forward_all": "extension:102"},
            "102": {"forward_busy": "extension:103"},
            "103": {},
        }
    )
    result = await run(ExtensionFlow(lines), outcomes=["busy", "answer"])
    assert result.dialed == ["extension:102", "extension:103"]
    assert result.answered


async def test_forward_busy() -> None:
    lines = Lines(**{"101": {"forward_busy": "extension:102"}, "102": {}})
    result = await run(ExtensionFlow(lines), outcomes=["busy", "answer"])
    assert result.dialed == ["extension:101", "extension:102"]


async def test_busy_without_forward_goes_to_the_mailbox_else_busy() -> None:
    mailbox = Mailbox()
    result = await run(ExtensionFlow(Lines(**{"101": {}}), voicemail=mailbox), outcomes=["busy"])
    assert mailbox.deposits == [(101, "busy")]
    result = await run(ExtensionFlow(Lines(**{"101": {}})), outcomes=["busy"])
    assert result.hangup_cause == 17 and not result.answered


async def test_forward_no_answer() -> None:
    lines = Lines(**{"101": {"forward_no_answer": "extension:102", "no_answer_ring_s": 5}})
    lines.lines["102"] = Line(102, "102", "u102@t1.example", settings("102"))
    result = await run(ExtensionFlow(lines), outcomes=["no_answer", "answer"])
    assert result.dialed == ["extension:101", "extension:102"]
    assert result.answered


async def test_no_answer_without_anything_is_19() -> None:
    result = await run(ExtensionFlow(Lines(**{"101": {}})), outcomes=["no_answer"])
    assert result.hangup_cause == 19 and not result.answered


async def test_no_answer_rings_the_ring_time() -> None:
    """The phone rings no_answer_ring_s: a phone that never answers is given up on then."""
    lines = Lines(**{"101": {"no_answer_ring_s": 7}})
    seen: list[float] = []

    class Probe(ExtensionFlow):
        async def __call__(self, call: IvrCall) -> None:
            real = call.dial

            async def dial(destination: str, **kw: Any) -> DialResult:
                seen.append(kw["timeout"])
                return await real(destination, **kw)

            call.dial = dial  # type: ignore[method-assign]
            await super().__call__(call)

    await run(Probe(lines), outcomes=["no_answer"])
    assert seen == [7]


async def test_not_reachable_forwards_without_ringing_the_phone() -> None:
    lines = Lines(**{"101": {"forward_unreachable": "extension:102"}, "102": {}})
    result = await run(ExtensionFlow(lines), offline=["u101@t1.example"])
    assert result.dialed == ["extension:102"]


async def test_not_reachable_without_forward() -> None:
    mailbox = Mailbox()
    result = await run(
        ExtensionFlow(Lines(**{"101": {}}), voicemail=mailbox), offline=["u101@t1.example"]
    )
    assert mailbox.deposits == [(101, "unavailable")] and result.dialed == []
    # The time in the mailbox is told to the CDRs (a voicemail xDR of the call).
    told = [(d["phase"], d["extension"], d.get("taken")) for a, d in result.actions
            if a == "voicemail"]  # fmt: skip
    assert told == [("start", "101", None), ("end", "101", True)]
    result = await run(ExtensionFlow(Lines(**{"101": {}})), offline=["u101@t1.example"])
    assert result.hangup_cause == 20 and result.dialed == []


async def test_dial_failing_as_unreachable_takes_the_unreachable_forward() -> None:
    """The engine said nothing of the phone, but dialing it fails with 20 (absent)."""
    lines = Lines(**{"101": {"forward_unreachable": "extension:102"}, "102": {}})
    dialed: list[str] = []

    class Absent(ExtensionFlow):
        async def __call__(self, call: IvrCall) -> None:
            real = call.dial

            async def dial(destination: str, **kw: Any) -> DialResult:
                dialed.append(destination)
                if destination == "extension:101":
                    return DialResult("failed", 20)
                return await real(destination, **kw)

            call.dial = dial  # type: ignore[method-assign]
            await super().__call__(call)

    result = await run(Absent(lines))
    assert dialed == ["extension:101", "extension:102"] and result.answered


async def test_loop_a_b_a_ends_cleanly() -> None:
    lines = Lines(
        **{"101": {"forward_all": "extension:102"}, "102": {"forward_all": "extension:101"}}
    )
    result = await run(ExtensionFlow(lines))
    assert result.dialed == ["extension:102"]  # B's forward back to A is ignored: B rings
    assert result.answered


async def test_loop_on_no_answer_ends_with_19() -> None:
    lines = Lines(
        **{
            "101": {"forward_no_answer": "extension:102"},
            "102": {"forward_no_answer": "extension:101"},
        }
    )
    result = await run(ExtensionFlow(lines), outcomes=["no_answer", "no_answer"])
    assert result.dialed == ["extension:101", "extension:102"]
    assert result.hangup_cause == 19


async def test_hop_limit() -> None:
    chain = {str(n): {"forward_all": f"extension:{n + 1}"} for n in range(101, 120)}
    lines = Lines(**chain)
    result = await run(ExtensionFlow(lines))
    assert result.dialed == [f"extension:{101 + MAX_HOPS}"]
    assert lines.asked == [str(n) for n in range(101, 101 + MAX_HOPS + 1)]


async def test_forward_to_a_gone_extension_is_ignored() -> None:
    result = await run(ExtensionFlow(Lines(**{"101": {"forward_all": "extension:555"}})))
    assert result.dialed == ["extension:101"]


async def test_call_waiting_off_and_on_a_call_is_busy() -> None:
    lines = Lines(**{"101": {"call_waiting": False, "forward_busy": "extension:102"}, "102": {}})
    flow = ExtensionFlow(lines, in_call=lambda endpoint: endpoint == "u101@t1.example")
    result = await run(flow)
    assert result.dialed == ["extension:102"]


async def test_call_waiting_on_rings_a_phone_on_a_call() -> None:
    lines = Lines(**{"101": {"forward_busy": "extension:102"}, "102": {}})
    flow = ExtensionFlow(lines, in_call=lambda endpoint: True)
    result = await run(flow)
    assert result.dialed == ["extension:101"]


async def test_call_waiting_off_and_free_rings() -> None:
    lines = Lines(**{"101": {"call_waiting": False}})
    result = await run(ExtensionFlow(lines, in_call=lambda endpoint: False))
    assert result.dialed == ["extension:101"]


async def test_forward_all_to_voicemail() -> None:
    mailbox = Mailbox()
    result = await run(
        ExtensionFlow(Lines(**{"101": {"forward_all": "voicemail"}}), voicemail=mailbox)
    )
    assert mailbox.deposits == [(101, "busy")] and result.dialed == []


async def test_forward_to_a_number_is_authorized_as_the_extension() -> None:
    auth = Authorizer()
    lines = Lines(**{"101": {"forward_all": "number:+442079460000"}})
    result = await run(ExtensionFlow(lines, authorizer=auth))
    assert auth.asked == [("101", ["+442079460000"])]
    assert result.dialed == ["number:+442079460000"] and result.answered
    assert auth.released == []
    # Dialed on 101's behalf: its CDR makes the leg a forwarded xDR that 101 pays.
    dials = [d for action, d in result.actions if action == "dial"]
    assert [d.get("forwarded_by") for d in dials] == ["101"]


async def test_refused_number_forward_falls_back_to_the_phone() -> None:
    auth = Authorizer(refuse=True)
    lines = Lines(**{"101": {"forward_all": "number:+442079460000"}})
    result = await run(ExtensionFlow(lines, authorizer=auth))
    assert result.dialed == ["extension:101"]


async def test_unanswered_number_forward_releases_the_money() -> None:
    auth = Authorizer(limit=60)
    lines = Lines(**{"101": {"forward_busy": "number:+442079460000"}})
    result = await run(ExtensionFlow(lines, authorizer=auth), outcomes=["busy", "no_answer"])
    assert result.dialed == ["extension:101", "number:+442079460000"]
    assert len(auth.released) == 1 and result.hangup_cause == 19


async def test_number_forward_is_cut_off_when_the_money_runs_out() -> None:
    auth = Authorizer(limit=20)  # 20 ms at the harness's 1/1000 speed
    lines = Lines(**{"101": {"forward_all": "number:+442079460000"}})
    start = time.monotonic()
    result = await run(ExtensionFlow(lines, authorizer=auth), talk=2.0)
    assert time.monotonic() - start < 1.5  # not the far end's 2 s of talk
    assert result.answered and result.hung_up_by == "flow"


async def test_follow_me_on_no_answer() -> None:
    rung: list[tuple[list[Mapping[str, Any]], str, str]] = []

    async def ring_all(
        call: IvrCall, steps: Sequence[Mapping[str, Any]], *, mode: str, forwarded_by: str = ""
    ) -> DialResult:
        rung.append((list(steps), mode, forwarded_by))
        return await call.dial(steps[0]["destination"], timeout=steps[0]["ring_s"])

    plan = {
        "mode": "simultaneous",
        "steps": [{"destination": "extension:102", "ring_s": 10, "confirm": False}],
    }
    lines = Lines(**{"101": {"follow_me_enabled": True, "follow_me": plan}})
    result = await run(ExtensionFlow(lines, ring_all=ring_all), outcomes=["no_answer", "answer"])
    assert rung and rung[0][1:] == ("simultaneous", "101")
    assert result.dialed == ["extension:101", "extension:102"] and result.answered


async def test_follow_me_with_the_real_ringer_after_no_answer() -> None:
    """The stored steps go through follow_me.ring_stored (what the service installs): the
    phone does not answer, the follow-me extension does and talks with the caller."""
    plan = {
        "mode": "sequential",
        "steps": [{"destination": "extension:102", "ring_s": 10, "confirm": False}],
    }
    lines = Lines(**{"101": {"follow_me_enabled": True, "follow_me": plan}})
    flow = ExtensionFlow(lines, ring_all=follow_me.ring_stored)
    result = await run(flow, outcomes=["no_answer", "answer"])
    assert result.dialed == ["extension:101", "extension:102"] and result.answered


async def test_follow_me_steps_written_by_hand_are_checked_again() -> None:
    plan = {"mode": "sequential", "steps": [{"destination": "102;evil", "ring_s": 10}]}
    lines = Lines(**{"101": {"follow_me_enabled": True, "follow_me": plan}})
    mailbox = Mailbox()
    flow = ExtensionFlow(lines, ring_all=follow_me.ring_stored, voicemail=mailbox)
    result = await run(flow, outcomes=["no_answer"])
    # Skipped, and the call goes on to the no-answer handling: voicemail.
    assert result.dialed == ["extension:101"] and mailbox.deposits == [(101, "unavailable")]


async def test_bad_tenant_is_refused() -> None:
    flow = ExtensionFlow(Lines(**{"101": {}}))
    result = await run_flow(flow, tenant="acme", called="101")
    assert result.hangup_cause == 1 and result.dialed == []
