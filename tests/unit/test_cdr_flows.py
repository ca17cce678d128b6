"""The CDR builder on the orchestrator's own flows: a queue call's agent leg joins the
caller's CDR, an attended transfer's consult leg keeps its role, and a click-to-call's
legs carry the numbers they were sent to (what rating prices)."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.cdr import CdrBuilder
from orchestrator.cdr.sources import cti_lookup, follow_acd
from orchestrator.core import FakeEngine
from orchestrator.core.events import LegCreated
from orchestrator.core.targets import Routing
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg
from orchestrator.queues.acd import AcdEvent
from tests.unit.cdr_script import T0, Db, builder, db, end, fake, phone, play, up

__all__ = ["builder", "db", "fake"]  # fixtures


class FakeAcd:
    """What follow_acd uses of the ACD: its listeners and which agent legs it rings."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[AcdEvent], None]] = []
        self.agent_legs: dict[str, str] = {}

    def agent_leg_call(self, leg_id: str) -> str | None:
        return self.agent_legs.get(leg_id)

    def emit(self, event: AcdEvent) -> None:
        for listener in self.listeners:
            listener(event)


def _cti_with(call: ActiveCall) -> object:
    class Cti:  # what cti_lookup reads of the CTI service
        class calls:
            @staticmethod
            def call_of_leg(leg_id: str) -> ActiveCall | None:
                return call if leg_id in call.legs else None

    return Cti


async def test_agent_leg_joins_the_queued_callers_cdr(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    acd = FakeAcd()
    follow_acd(builder, acd)  # type: ignore[arg-type]
    await play(
        fake,
        builder,
        phone("c", "c", 0, user="201", called="+15550100"),
        LegCreated(
            leg_id="c",
            routing=Routing("ivr", {"flow": "support", "tenant": str(db.tenant_id)}),
            timestamp=T0 + 0.1,
        ),
        up("c", 0.2),
    )
    acd.emit(AcdEvent(type="queued", tenant_id=1, timestamp=T0 + 1, call_id="q1", leg_id="c"))
    await play(
        fake,
        builder,
        # The ACD rings agent 102: an originated channel, a call of its own to the engine.
        phone("ag", "ag", 5, user="102"),
        up("ag", 7),
        LegCreated(leg_id="ag", routing=Routing("acd", {"call": "q1"}), timestamp=T0 + 7),
        end("ag", 17),
        end("c", 17.1),
    )
    cdr, legs = db.one()
    assert (cdr.call_id, cdr.answered_by, cdr.leg_count) == ("c", "102", 3)
    assert [(leg.role, leg.service, leg.extension, leg.billsec) for leg in legs] == [
        ("caller", "voice", "201", 17),
        ("queue-agent", "queue", "102", 10),
        ("ivr", "ivr", None, 17),
    ]


async def test_an_offer_nobody_answers_is_a_leg_of_the_callers_cdr(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    acd = FakeAcd()
    follow_acd(builder, acd)  # type: ignore[arg-type]
    await play(
        fake,
        builder,
        phone("c", "c", 0, user="201", called="+15550100"),
        LegCreated(
            leg_id="c",
            routing=Routing("ivr", {"flow": "support", "tenant": str(db.tenant_id)}),
            timestamp=T0 + 0.1,
        ),
        up("c", 0.2),
    )
    acd.emit(AcdEvent(type="queued", tenant_id=1, timestamp=T0 + 1, call_id="q1", leg_id="c"))
    # The ACD rings agent 102, who never answers: no LegCreated, only the channel.
    acd.agent_legs["ag"] = "q1"
    await play(fake, builder, phone("ag", "ag", 5, user="102"), end("ag", 20), end("c", 21))
    cdr, legs = db.one()
    assert cdr.call_id == "c"
    assert [(leg.role, leg.service, leg.extension, leg.billsec) for leg in legs] == [
        ("caller", "voice", "201", 21),
        ("queue-agent", "queue", "102", 0),
        ("ivr", "ivr", None, 21),
    ]


async def test_an_unknown_queue_call_leaves_the_leg_alone(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        phone("ag", "ag", 0, user="102"),
        up("ag", 1),
        LegCreated(leg_id="ag", routing=Routing("acd", {"call": "unknown"}), timestamp=T0 + 1),
        end("ag", 3),
    )
    _cdr, legs = db.one()
    assert [leg.role for leg in legs] == ["caller"]


async def test_click_to_call_with_a_consult_leg(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    call = ActiveCall(id="a", tenant_id=db.tenant_id, kind=CallKind.CLICK_TO_CALL, account="acme")
    for leg in (CallLeg("a", "a", "101"), CallLeg("b", "b", "102"), CallLeg("t", "target", "103")):
        call.legs[leg.id] = leg
    builder.lookups.append(cti_lookup(_cti_with(call)))  # type: ignore[arg-type]
    await play(
        fake,
        builder,
        # Leg A shows the caller ID it was given (leg B's number), not its own.
        phone("a", "a", 0, user="101", caller="102"),
        up("a", 1),
        LegCreated(leg_id="a", routing=Routing("cti", {"call": "a"}), timestamp=T0 + 1),
        phone("b", "b", 1.1, user="102", caller="101"),
        up("b", 2),
        LegCreated(leg_id="b", routing=Routing("cti", {"call": "a"}), timestamp=T0 + 2),
        phone("t", "t", 5, user="103", caller="102"),
        up("t", 6),
        LegCreated(leg_id="t", routing=Routing("cti", {"call": "a"}), timestamp=T0 + 6),
        end("b", 8),
        end("t", 12),
        end("a", 12),
    )
    cdr, legs = db.one()
    assert (cdr.caller_number, cdr.called_number, cdr.account) == ("101", "102", "acme")
    assert [(leg.role, leg.number, leg.billsec) for leg in legs] == [
        ("click-to-call-a", "101", 11),
        ("click-to-call-b", "102", 6),
        ("consult", "103", 6),
    ]
