"""The CDR builder on scripted channel events: one CDR per call with the expected legs,
disposition, cause and times, for the usual call shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orchestrator.cdr import CdrBuilder
from orchestrator.cdr.sources import cti_lookup
from orchestrator.core import FakeEngine
from orchestrator.core.events import (
    ChannelEnded,
    Event,
    LegCreated,
    LegLeftApp,
    RecordingStarted,
)
from orchestrator.core.targets import Routing
from orchestrator.cti.registry import ActiveCall, CallKind, CallLeg
from orchestrator.store import cdrs as store
from orchestrator.store.models import CdrLeg
from tests.unit.cdr_script import (
    DOMAIN,
    NODE,
    T0,
    Db,
    at,
    builder,
    db,
    dial,
    end,
    fake,
    local,
    phone,
    play,
    up,
)

__all__ = ["builder", "db", "fake"]  # fixtures


def ringing_101_to_102() -> list[Event]:
    """101 dials 102 and 102's phone rings: how most calls here begin."""
    return [
        phone("a", "a", 0, user="101", called="102"),
        phone("b", "a", 0.1, user="102"),
        dial("a", "b", 0.1),
    ]


def answered_101_to_102() -> list[Event]:
    """101 dials 102 and 102 answers at 2 s."""
    return [*ringing_101_to_102(), up("b", 2), dial("a", "b", 2, "answered"), up("a", 2.02)]


def roles(legs: list[CdrLeg]) -> list[tuple[str, str | None, str]]:
    return [(leg.role, leg.extension, leg.disposition) for leg in legs]


async def test_answered_call_between_two_extensions(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        *answered_101_to_102(),
        RecordingStarted(recording="rec-1", leg_id="a", timestamp=T0 + 3),
    )
    assert db.cdrs() == []  # still live
    await play(fake, builder, end("b", 12), end("a", 12.01))
    cdr, legs = db.one()
    assert (cdr.node, cdr.call_id, cdr.tenant_id, cdr.direction) == (
        NODE,
        "a",
        db.tenant_id,
        "internal",
    )
    assert (cdr.caller_extension, cdr.called_number, cdr.called_extension) == ("101", "102", "102")
    assert (cdr.started_at, cdr.answered_at, cdr.ended_at) == (at(0), at(2), at(12.01))
    assert (cdr.duration_s, cdr.billsec, cdr.disposition, cdr.hangup_cause) == (
        13,
        11,
        "answered",
        16,
    )
    assert cdr.answered_by == "102" and cdr.recordings == ["rec-1"] and cdr.leg_count == 2
    assert roles(legs) == [("caller", "101", "answered"), ("callee", "102", "answered")]
    assert [leg.service for leg in legs] == ["voice", "voice"]
    assert legs[1].billsec == 10 and legs[1].charge is None  # rating fills it


@pytest.mark.parametrize(
    ("ends", "cause"),
    [
        # The caller's phone vanished: the engine cleared its channel (no RTP, 44) and
        # Dial() hung up the callee first, "normally".
        pytest.param([end("b", 12, 16), end("a", 12.004, 44)], 44, id="caller_vanished"),
        pytest.param([end("b", 12, 44), end("a", 12.01, 16)], 44, id="callee_vanished"),
        pytest.param([end("b", 12, 16), end("a", 12.01, 16)], 16, id="normal"),
        # An abnormal end long after the call's first party left is not why it ended.
        pytest.param([end("b", 12, 16), end("a", 20, 44)], 16, id="later"),
    ],
)
async def test_answered_call_ended_by_the_engine_says_why(
    db: Db, fake: FakeEngine, builder: CdrBuilder, ends: list[ChannelEnded], cause: int
) -> None:
    await play(fake, builder, *answered_101_to_102(), *ends)
    cdr, legs = db.one()
    assert (cdr.disposition, cdr.hangup_cause) == ("answered", cause)
    assert sorted(leg.hangup_cause or 0 for leg in legs) == sorted(e.cause for e in ends)


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        pytest.param(
            [dial("a", "b", 0.3, "busy"), end("b", 0.3, 17), end("a", 0.4, 17)],
            {"disposition": "busy", "hangup_cause": 17, "answered_at": None, "billsec": 0},
            id="busy",
        ),
        pytest.param(
            [
                dial("a", "b", 30.1, "no_answer"),
                end("b", 30.1, 0),  # Asterisk gives the cancelled peer no cause
                end("a", 30.2, 19),
            ],
            {"disposition": "no_answer", "hangup_cause": 19, "duration_s": 31},
            id="no_answer",
        ),
        pytest.param(
            [end("a", 5, 16), dial("a", "b", 5, "cancelled"), end("b", 5.01, 0)],
            {"disposition": "cancelled", "hangup_cause": 16},
            id="caller_cancels_while_ringing",
        ),
    ],
)
async def test_unanswered_call(
    db: Db, fake: FakeEngine, builder: CdrBuilder, rest: list[Event], expected: dict[str, Any]
) -> None:
    """101 calls 102, whose phone rings; then ``rest`` ends the call unanswered."""
    await play(fake, builder, *ringing_101_to_102(), *rest)
    cdr, legs = db.one()
    assert {field: getattr(cdr, field) for field in expected} == expected
    disposition = expected["disposition"]
    assert roles(legs) == [("caller", "101", disposition), ("callee", "102", disposition)]


async def test_unknown_number_from_a_trunk_fails_without_tenant(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        phone("x", "x", 0, user="stranger", caller="+4930123", called="+15550000"),
        end("x", 0.5, 1),
    )
    cdr, legs = db.one()
    assert (cdr.tenant_id, cdr.direction, cdr.disposition, cdr.hangup_cause) == (
        None,
        "inbound",
        "failed",
        1,
    )
    assert roles(legs) == [("caller", None, "failed")]


async def test_trunk_call_to_an_extension_is_inbound(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        phone("t", "t", 0, user="x", caller="+4930123", called="+15550101"),
    )
    # The trunk's endpoint id names the tenant: trunk-t<id>-<name>.
    builder.calls["t"].channels["t"].endpoint = f"trunk-t{db.tenant_id}-carrier"
    await play(
        fake,
        builder,
        phone("b", "t", 0.1, user="101"),
        dial("t", "b", 0.1),
        up("b", 1),
        up("t", 1),
        end("t", 4),
        end("b", 4),
    )
    cdr, legs = db.one()
    assert (cdr.tenant_id, cdr.direction, cdr.called_extension, cdr.billsec) == (
        db.tenant_id,
        "inbound",
        "101",
        3,
    )
    assert [leg.trunk for leg in legs] == ["carrier", None]


async def test_forward_on_no_answer_through_a_local_channel(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    """101 calls 102, who does not answer; the dialplan forwards to 103 via Local."""
    await play(
        fake,
        builder,
        *ringing_101_to_102(),
        dial("a", "b", 10, "no_answer"),
        end("b", 10, 0),
        local("l1", "a", 10.1, half=1, exten="103"),
        local("l2", "a", 10.1, half=2, exten="103"),
        dial("a", "l1", 10.1),
        phone("c", "a", 10.2, user="103"),
        dial("l2", "c", 10.2),
        up("c", 15),
        dial("l2", "c", 15, "answered"),
        up("l2", 15),
        up("l1", 15),
        dial("a", "l1", 15, "answered"),
        up("a", 15),
        end("c", 25),
        end("l2", 25),
        end("l1", 25),
        end("a", 25.1),
    )
    cdr, legs = db.one()
    assert (cdr.disposition, cdr.answered_by, cdr.billsec, cdr.called_extension) == (
        "answered",
        "103",
        11,
        "102",
    )
    assert roles(legs) == [
        ("caller", "101", "answered"),
        ("callee", "102", "no_answer"),
        ("forwarded", "103", "answered"),
    ]
    assert legs[2].service == "forwarded" and legs[2].billsec == 10
    assert cdr.leg_count == 3  # the Local channel halves are folded away


async def test_standing_redirect_reaches_another_extension(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        phone("a", "a", 0, user="101", called="102"),
        phone("c", "a", 0.1, user="103"),
        dial("a", "c", 0.1),
        up("c", 1),
        up("a", 1),
        end("c", 2),
        end("a", 2),
    )
    _, legs = db.one()
    assert roles(legs) == [("caller", "101", "answered"), ("forwarded", "103", "answered")]


async def test_blind_transfer(db: Db, fake: FakeEngine, builder: CdrBuilder) -> None:
    """101 calls 102; 102 transfers 101 to 103 (the engine dials 103 from 101's channel)."""
    await play(
        fake,
        builder,
        *ringing_101_to_102(),
        up("b", 2),
        up("a", 2),
        end("b", 10),
        phone("c", "a", 10.2, user="103"),
        dial("a", "c", 10.2),
        up("c", 12),
        end("c", 20),
        end("a", 20),
    )
    cdr, legs = db.one()
    assert (cdr.disposition, cdr.billsec, cdr.answered_by) == ("answered", 18, "102")
    assert roles(legs) == [
        ("caller", "101", "answered"),
        ("callee", "102", "answered"),
        ("transferred", "103", "answered"),
    ]
    assert [leg.billsec for leg in legs] == [18, 8, 8]


async def test_click_to_call_with_account(db: Db, fake: FakeEngine, builder: CdrBuilder) -> None:
    """Both legs are originated (two engine calls); the CTI registry ties them and pays."""
    call = ActiveCall(id="ctc", tenant_id=db.tenant_id, kind=CallKind.CLICK_TO_CALL)
    call.account = "acme"
    call.legs["ctc"] = CallLeg("ctc", "a", "101")
    call.legs["ctcb"] = CallLeg("ctcb", "b", "102")

    class Cti:  # what cti_lookup reads of the CTI service
        class calls:
            @staticmethod
            def call_of_leg(leg_id: str) -> ActiveCall | None:
                return call if leg_id in call.legs else None

    builder.lookups.append(cti_lookup(Cti))  # type: ignore[arg-type]
    await play(
        fake,
        builder,
        phone("ctc", "ctc", 0, user="101", caller="102"),
        up("ctc", 3),
        LegCreated(leg_id="ctc", routing=Routing("cti", {"call": "ctc"}), timestamp=T0 + 3),
        phone("ctcb", "ctcb", 3.1, user="102", caller="101"),
        up("ctcb", 5),
        LegCreated(leg_id="ctcb", routing=Routing("cti", {"call": "ctc"}), timestamp=T0 + 5),
        end("ctcb", 65),
        end("ctc", 65),
    )
    cdr, legs = db.one()
    assert (cdr.call_id, cdr.account, cdr.direction, cdr.answered_at) == (
        "ctc",
        "acme",
        "internal",
        at(3),
    )
    assert [(leg.role, leg.service, leg.account, leg.billsec) for leg in legs] == [
        ("click-to-call-a", "click_to_call", "acme", 62),
        ("click-to-call-b", "click_to_call", "acme", 60),
    ]


async def test_click_to_call_legs_join_by_leg_events_alone(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    await play(
        fake,
        builder,
        phone("x1", "x1", 0, user="101"),
        up("x1", 1),
        LegCreated(leg_id="x1", routing=Routing("cti", {"call": "x1"}), timestamp=T0 + 1),
        phone("x2", "x2", 1.1, user="102"),
        up("x2", 2),
        LegCreated(leg_id="x2", routing=Routing("cti", {"call": "x1"}), timestamp=T0 + 2),
        end("x2", 3),
        end("x1", 3),
    )
    _, legs = db.one()
    assert [leg.role for leg in legs] == ["click-to-call-a", "click-to-call-b"]


async def test_ivr_call_has_an_ivr_leg(db: Db, fake: FakeEngine, builder: CdrBuilder) -> None:
    access = "+15550100"
    await play(
        fake,
        builder,
        phone("a", "a", 0, user="201", called=access),
        LegCreated(
            leg_id="a",
            routing=Routing("ivr", {"flow": "visa", "tenant": str(db.tenant_id)}),
            timestamp=T0 + 0.1,
        ),
        up("a", 0.5),
        # The flow dials 102: the observer notes it before the engine reports the leg.
    )
    builder.note("d", join="a", role="callee")
    await play(
        fake,
        builder,
        phone("d", "d", 5, user="102"),
        up("d", 7),
        LegCreated(leg_id="d", routing=Routing("dial", {"call": "a"}), timestamp=T0 + 7),
        end("d", 17),
        LegLeftApp(leg_id="a", timestamp=T0 + 20),
        end("a", 20),
    )
    cdr, legs = db.one()
    assert (cdr.tenant_id, cdr.direction, cdr.called_number, cdr.disposition) == (
        db.tenant_id,
        "internal",
        access,
        "answered",
    )
    assert [(leg.role, leg.service, leg.detail, leg.billsec) for leg in legs] == [
        ("caller", "voice", None, 20),
        ("callee", "voice", None, 10),
        ("ivr", "ivr", "visa", 20),
    ]


async def test_late_events_of_a_finished_call_write_nothing_more(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    events = [phone("a", "a", 0, user="101", called="102"), end("a", 1, 1)]
    await play(fake, builder, *events)
    await play(fake, builder, *events, end("a", 2))
    assert len(db.cdrs()) == 1 and builder.written == 1


async def test_write_cdr_is_idempotent(db: Db, fake: FakeEngine, builder: CdrBuilder) -> None:
    await play(fake, builder, phone("a", "a", 0, user="101", called="102"), end("a", 1, 1))
    cdr, legs = db.one()
    with db.sessions() as session:
        copy = cdr.model_copy(update={"id": None, "uuid": "other"})
        assert store.write_cdr(session, copy, []) is None
    assert len(db.cdrs()) == 1
    assert legs[0].charge is None


async def test_money_round_trips_exactly(db: Db, fake: FakeEngine, builder: CdrBuilder) -> None:
    await play(fake, builder, phone("a", "a", 0, user="101", called="102"), end("a", 1, 1))
    _, legs = db.one()
    with db.sessions() as session:
        leg = session.get(CdrLeg, legs[0].id)
        assert leg is not None
        leg.charge = Decimal("123456789012.123456")
        session.add(leg)
        session.commit()
    with db.sessions() as session:
        again = session.get(CdrLeg, legs[0].id)
        assert again is not None and again.charge == Decimal("123456789012.123456")


async def test_a_taken_dialplan_call_stays_one_cdr(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    """Engine.take makes legs of a dialplan call's channels with the same ids: the CDR
    goes on as the same call, with the same two legs."""
    a, b = await fake.dialplan_call(
        f"101@{DOMAIN}", f"102@{DOMAIN}", caller="101", called="102", hangup=False
    )
    await fake.take([a, b])
    await fake.remote_hangup(b)
    await fake.remote_hangup(a)
    await builder.flush()
    cdr, legs = db.one()
    assert (cdr.call_id, cdr.disposition, cdr.leg_count) == (a, "answered", 2)
    assert (cdr.caller_extension, cdr.called_extension) == ("101", "102")
    assert roles(legs) == [("caller", "101", "answered"), ("callee", "102", "answered")]
