"""A conference's money on the store (SQLite and PostgreSQL): one CDR with a
``conference`` xDR per participant span, written once, every span charged to the
owner's account at the conference tariff; prepaid authorization of N participants,
its reservation released when the CDR is rated.

The conference tariff of these tests: EUR, ROUND_HALF_UP to 2 places, one default rate
of 0.05 EUR/min with increments 30/6, so a span of b billed seconds costs b/1200 EUR,
rounded once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select

from orchestrator.conferences.billing import (
    ConferenceAuthorizer,
    ConferenceBilling,
    ConferenceRecord,
    ParticipantSpan,
    build,
)
from orchestrator.core.errors import PaymentRequiredError, ValidationError
from orchestrator.rating import RatingService
from orchestrator.store import billing, ledger, tariffs
from orchestrator.store.billing_models import (
    AccountCreate,
    ProductUpdate,
    RateIn,
    TariffCreate,
    TariffVersionCreate,
    TransactionCreate,
)
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import (
    Account,
    AccountTransaction,
    Cdr,
    CdrLeg,
    Extension,
    LegCharge,
    Reservation,
)
from tests.unit.billing_fixtures import START, setup

D = Decimal
T0 = START.timestamp()
CONF = "c0ffee" * 5 + "ab"  # a conference's public uuid (32 hex)
CALL_ID = f"conference-{CONF}"


def _with_conference_tariff(sessions: SessionFactory, *, kind: str = "prepaid") -> dict[str, Any]:
    """setup() plus extension 102, a conference tariff in the product, and two more
    accounts on it: "alice" (pays for 101, the owner; 1.00 EUR) and "bob" (pays for
    102, a participant; 5.00 EUR). The default account "acme" has 10.00 EUR."""
    ids = setup(sessions)
    with sessions() as s:
        s.add(Extension(tenant_id=ids["tenant"], number="102", sip_username="102",
                        sip_password="y" * 16))  # fmt: skip
        s.commit()
        tariff = tariffs.create_tariff(
            s, TariffCreate(tenant_id=ids["tenant"], name="conf", currency="EUR"), None
        )
        assert tariff.id is not None
        tariffs.add_version(
            s,
            tariff.id,
            TariffVersionCreate(
                label="v1",
                effective_from=START - timedelta(days=30),
                rates=[
                    RateIn(
                        prefix="",
                        description="conference",
                        price_per_minute=D("0.05"),
                        first_increment=30,
                        next_increment=6,
                    )
                ],
            ),
            None,
        )
        billing.update_product(
            s,
            ids["product"],
            ProductUpdate(tariffs={"outgoing": ids["tariff"], "conference": tariff.id}),
            None,
        )
        for name, extension in (("alice", "101"), ("bob", "102")):
            data = AccountCreate(
                tenant_id=ids["tenant"], name=name, kind=kind, currency="EUR",
                product_id=ids["product"],
            )  # fmt: skip
            account = billing.create_account(s, data, None)
            assert account.id is not None
            billing.assign_extension(s, account.id, extension, None)
            ids[name] = account.id
    for name, amount in (("alice", "1.00"), ("bob", "5.00")):
        ledger.add_transaction(
            sessions, ids[name], TransactionCreate(kind="topup", amount=D(amount)), None
        )
    return ids


def _span(pid: str, joined: float, left: float, *, number: str, extension: str | None = None,
          role: str = "participant") -> ParticipantSpan:  # fmt: skip
    return ParticipantSpan(
        participant_id=pid, leg_id=f"leg-{pid}-{joined}", number=number, extension=extension,
        role=role, joined_at=T0 + joined, left_at=T0 + left,
    )  # fmt: skip


def _record(tenant_id: int, spans: list[ParticipantSpan], account: str | None = None) -> Any:
    return ConferenceRecord(
        conference_id=CONF, tenant_id=tenant_id, node="test", name="Weekly sync",
        owner_extension="101", account=account, started_at=T0,
        ended_at=max(s.left_at for s in spans), spans=spans, recordings=["rec-1.wav"],
    )  # fmt: skip


# Alice, the owner on 101: 125.3 s -> 126 s billed (30 + 16 x 6) -> 0.105 -> 0.11.
ALICE = ("a" * 32, 0.0, 125.3, "101", "101", "owner")
# Bob on 102, who has an account of his own: 30 s -> 30 s billed -> 0.025 -> 0.03 (half up).
BOB = ("b" * 32, 10.0, 40.0, "102", "102", "participant")
# Carol, dialed out: 180 s -> 0.15.
CAROL = ("c" * 32, 5.0, 185.0, "+4930123456", None, "participant")


def _spans(*rows: tuple[str, float, float, str, str | None, str]) -> list[ParticipantSpan]:
    return [_span(p, j, left, number=n, extension=e, role=r) for p, j, left, n, e, r in rows]


def _balance(sessions: SessionFactory, account_id: int) -> Decimal:
    with sessions() as s:
        account = s.get(Account, account_id)
        assert account is not None
        assert account.balance == ledger.ledger_sum(s, account_id)
        return account.balance


def _charges(sessions: SessionFactory, cdr_id: int) -> list[tuple[Any, ...]]:
    with sessions() as s:
        rows = s.exec(
            select(CdrLeg, LegCharge)
            .join(LegCharge, col(LegCharge.leg_id) == col(CdrLeg.id))
            .where(CdrLeg.cdr_id == cdr_id)
            .order_by(col(CdrLeg.seq))
        ).all()
        return [(leg.detail, leg.billsec, c.service, c.rated, c.reason, c.amount, c.account_id)
                for leg, c in rows]  # fmt: skip


def _listener(calls: list[int], rating: RatingService) -> Callable[[int], Any]:
    async def listener(cdr_id: int) -> None:
        calls.append(cdr_id)
        await rating.on_cdr(cdr_id)

    return listener


async def test_one_cdr_one_xdr_per_participant_paid_by_the_owner_once(
    db_sessions: SessionFactory,
) -> None:
    ids = _with_conference_tariff(db_sessions)
    rating = RatingService(db_sessions)
    told: list[int] = []
    after: list[int] = []
    bill = ConferenceBilling(db_sessions, listeners=[_listener(told, rating), after.append])
    record = _record(ids["tenant"], _spans(ALICE, BOB, CAROL))
    cdr_id = await bill.close(record)
    assert cdr_id is not None and told == after == [cdr_id]
    with db_sessions() as s:
        cdr = s.get(Cdr, cdr_id)
        assert cdr is not None
        assert (cdr.call_id, cdr.direction, cdr.account) == (CALL_ID, "internal", "alice")
        assert (cdr.caller_extension, cdr.leg_count, cdr.recordings) == ("101", 3, ["rec-1.wav"])
        assert (cdr.charge, cdr.currency, cdr.duration_s) == (D("0.29"), "EUR", 185)
        legs = s.exec(select(CdrLeg).where(CdrLeg.cdr_id == cdr_id).order_by(col(CdrLeg.seq)))
        assert [(leg.role, leg.service, leg.number, leg.extension, leg.account)
                for leg in legs] == [
            ("owner", "conference", "101", "101", "alice"),
            ("participant", "conference", "+4930123456", None, "alice"),
            ("participant", "conference", "102", "102", "alice"),
        ]  # fmt: skip
    alice = ids["alice"]
    assert _charges(db_sessions, cdr_id) == [
        ("a" * 32, 126, "conference", True, None, D("0.11"), alice),
        ("c" * 32, 180, "conference", True, None, D("0.15"), alice),
        ("b" * 32, 30, "conference", True, None, D("0.03"), alice),
    ]
    assert _balance(db_sessions, alice) == D("0.71")
    assert _balance(db_sessions, ids["bob"]) == D("5.00")  # Bob's own account pays nothing
    assert _balance(db_sessions, ids["account"]) == D("10.00")
    with db_sessions() as s:
        lines = s.exec(select(AccountTransaction).where(AccountTransaction.kind == "charge"))
        assert sorted(line.description for line in lines) == ["conference time"] * 3

    # Re-rating rates the same xDRs the same way (same number, same payer): no change.
    again = rating.rerate(START - timedelta(hours=1), START + timedelta(hours=1))
    assert (again.checked, again.changed) == (3, 0)

    # Closing again (a retry, a restart) writes nothing, tells nobody, charges nothing.
    assert await bill.close(record) is None
    assert told == after == [cdr_id]
    with db_sessions() as s:
        assert len(s.exec(select(Cdr)).all()) == 1
    assert _balance(db_sessions, alice) == D("0.71")


async def test_a_participant_who_left_and_came_back_has_two_spans(
    db_sessions: SessionFactory,
) -> None:
    ids = _with_conference_tariff(db_sessions)
    rating = RatingService(db_sessions)
    bill = ConferenceBilling(db_sessions, listeners=[rating.on_cdr])
    # Bob again from 60 s to 61.2 s: 2 s, billed as the first increment, 30 s -> 0.03.
    again = ("b" * 32, 60.0, 61.2, "102", "102", "participant")
    cdr_id = await bill.close(_record(ids["tenant"], _spans(ALICE, BOB, CAROL, again)))
    assert cdr_id is not None
    charges = _charges(db_sessions, cdr_id)
    assert [(c[0], c[1], c[5]) for c in charges] == [
        ("a" * 32, 126, D("0.11")),
        ("c" * 32, 180, D("0.15")),
        ("b" * 32, 30, D("0.03")),
        ("b" * 32, 2, D("0.03")),
    ]
    assert {c[6] for c in charges} == {ids["alice"]}
    assert _balance(db_sessions, ids["alice"]) == D("0.68")


async def test_a_named_account_pays_instead_of_the_owners(db_sessions: SessionFactory) -> None:
    ids = _with_conference_tariff(db_sessions)
    rating = RatingService(db_sessions)
    bill = ConferenceBilling(db_sessions, listeners=[rating.on_cdr])
    cdr_id = await bill.close(_record(ids["tenant"], _spans(ALICE, BOB), account="acme"))
    assert cdr_id is not None
    assert {c[6] for c in _charges(db_sessions, cdr_id)} == {ids["account"]}
    assert _balance(db_sessions, ids["account"]) == D("9.86")  # 10.00 - 0.11 - 0.03
    assert _balance(db_sessions, ids["alice"]) == D("1.00")


def test_rating_charges_the_owner_when_the_xdrs_name_no_account(
    db_sessions: SessionFactory,
) -> None:
    """booking.payer: a conference xDR without an account is paid by the CDR's caller
    extension (the owner), not by the participant's own extension."""
    ids = _with_conference_tariff(db_sessions)
    cdr, legs = build(_record(ids["tenant"], _spans(ALICE, BOB)), None)
    with db_sessions() as s:
        cdr_id = write_cdr(s, cdr, legs)
    assert cdr_id is not None
    assert RatingService(db_sessions).rate_cdr(cdr_id) == 2
    assert {c[6] for c in _charges(db_sessions, cdr_id)} == {ids["alice"]}
    assert _balance(db_sessions, ids["bob"]) == D("5.00")


async def test_without_a_conference_tariff_the_xdrs_stay_unrated(
    db_sessions: SessionFactory,
) -> None:
    ids = setup(db_sessions)  # product "p": an outgoing tariff only
    rating = RatingService(db_sessions)
    bill = ConferenceBilling(db_sessions, listeners=[rating.on_cdr])
    record = ConferenceRecord(
        conference_id=CONF, tenant_id=ids["tenant"], node="test", name="", owner_extension="101",
        account=None, started_at=T0, ended_at=T0 + 60, recordings=[],
        spans=_spans(("a" * 32, 0.0, 60.0, "101", "101", "owner")),
    )  # fmt: skip
    cdr_id = await bill.close(record)
    assert cdr_id is not None
    [(_pid, billsec, service, rated, reason, amount, account)] = _charges(db_sessions, cdr_id)
    assert (billsec, service, rated, reason, amount) == (60, "conference", False, "no-tariff", 0)
    assert account == ids["account"]  # the default account (101 has none of its own)
    assert _balance(db_sessions, ids["account"]) == D("10.00")
    # Nothing is charged, so a prepaid owner is not limited either.
    authorizer = ConferenceAuthorizer(rating)
    assert await authorizer.authorize(**_ask(ids, participants=3)) is None


async def test_bad_records_are_refused_and_write_nothing(db_sessions: SessionFactory) -> None:
    ids = _with_conference_tariff(db_sessions)
    bill = ConferenceBilling(db_sessions, listeners=[])
    for role in ("x", "owner"):  # an unknown role; a span that left before it joined
        spans = _spans(("a" * 32, 5.0, 1.0 if role == "owner" else 9.0, "101", "101", role))
        with pytest.raises(ValidationError):
            await bill.close(_record(ids["tenant"], spans))
    with db_sessions() as s:
        assert s.exec(select(Cdr)).all() == []


# -- prepaid authorization ------------------------------------------------------------
def _ask(ids: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {"tenant_id": ids["tenant"], "conference_id": CONF, "account": None,
            "extension": "101", "used_s": 0.0, **over}  # fmt: skip


def _adjust(sessions: SessionFactory, account_id: int, amount: str) -> None:
    data = TransactionCreate(kind="adjustment", amount=D(amount))
    ledger.add_transaction(sessions, account_id, data, None)


def _held(sessions: SessionFactory) -> list[tuple[str, str, Decimal]]:
    with sessions() as s:
        rows = s.exec(select(Reservation).order_by(col(Reservation.id))).all()
        return [(r.call_id, r.number, r.amount) for r in rows]


async def test_prepaid_joint_authorization_of_the_participants(
    db_sessions: SessionFactory,
) -> None:
    ids = _with_conference_tariff(db_sessions)
    rating = RatingService(db_sessions)
    authorizer = ConferenceAuthorizer(rating)
    # Alice has 1.00. Three participants: each may cost 0.33 (3 x 0.33 <= 1.00), i.e.
    # b/1200 < 0.335, b = 396 s billed (30 + 61 x 6): 396 s, the timer 0.5 s short.
    assert await authorizer.authorize(**_ask(ids, participants=3)) == 395.5
    assert _held(db_sessions) == [(CALL_ID, f"conference-participant-{i}", D("0.33"))
                                  for i in (1, 2, 3)]  # fmt: skip
    # A fourth joins: the reservation is replaced. Each may cost 0.25: b < 306, 300 s.
    assert await authorizer.authorize(**_ask(ids, participants=4)) == 299.5
    assert [a for *_, a in _held(db_sessions)] == [D("0.25")] * 4
    # 120 participant-seconds later (one span of 120 s: 0.10 spent), three are left:
    # 0.90 for three, 0.30 each, b < 366: 360 s.
    assert await authorizer.authorize(**_ask(ids, participants=3, used_s=119.6)) == 359.5
    assert _held(db_sessions) == [(CALL_ID, "conference-used", D("0.10"))] + [
        (CALL_ID, f"conference-participant-{i}", D("0.30")) for i in (1, 2, 3)
    ]
    # The money is held: an outgoing call of the same account is refused meanwhile.
    out = rating.authorize(tenant_id=ids["tenant"], number="0044207946001", call_id="x",
                           extension="101")  # fmt: skip
    assert (out.decision, out.reason) == ("refuse", "no-balance")


async def test_no_money_is_payment_required_and_keeps_the_reservation(
    db_sessions: SessionFactory,
) -> None:
    ids = _with_conference_tariff(db_sessions)
    authorizer = ConferenceAuthorizer(RatingService(db_sessions))
    assert await authorizer.authorize(**_ask(ids, participants=2)) is not None
    before = _held(db_sessions)
    # 1.00 spent already (1200 participant-seconds): not one more second for anyone.
    with pytest.raises(PaymentRequiredError) as refused:
        await authorizer.authorize(**_ask(ids, participants=2, used_s=1200))
    assert refused.value.error_id == "payment-required"
    assert refused.value.details["reason"] == "no-balance"
    assert refused.value.details["conference_id"] == CONF
    assert _held(db_sessions) == before  # refused: the previous answer's money stays held
    # Bob's account (named) is fine; an unknown one is refused.
    assert await authorizer.authorize(**_ask(ids, participants=2, account="bob")) is not None
    with pytest.raises(PaymentRequiredError) as unknown:
        await authorizer.authorize(**_ask(ids, participants=2, account="nobody"))
    assert unknown.value.details["reason"] == "unknown-account"
    with pytest.raises(ValidationError):
        await authorizer.authorize(**_ask(ids, participants=0))


async def test_an_empty_account_cannot_start_a_conference(db_sessions: SessionFactory) -> None:
    ids = _with_conference_tariff(db_sessions)
    _adjust(db_sessions, ids["alice"], "-1.00")
    authorizer = ConferenceAuthorizer(RatingService(db_sessions))
    with pytest.raises(PaymentRequiredError) as refused:
        await authorizer.authorize(**_ask(ids, participants=2))
    assert refused.value.details["reason"] == "no-balance"
    assert _held(db_sessions) == []


async def test_the_reservation_is_released_when_the_cdr_is_rated(
    db_sessions: SessionFactory,
) -> None:
    ids = _with_conference_tariff(db_sessions)
    rating = RatingService(db_sessions)
    authorizer = ConferenceAuthorizer(rating)
    assert await authorizer.authorize(**_ask(ids, participants=3)) == 395.5
    bill = ConferenceBilling(db_sessions, listeners=[rating.on_cdr])
    cdr_id = await bill.close(_record(ids["tenant"], _spans(ALICE, BOB, CAROL)))
    assert cdr_id is not None
    assert _held(db_sessions) == []
    assert _balance(db_sessions, ids["alice"]) == D("0.71")  # 1.00 - 0.11 - 0.03 - 0.15
    # What is left buys the next conference: 0.71 for 3, 0.23 each, b < 282: 276 s.
    assert await authorizer.authorize(**_ask(ids, participants=3)) == 275.5
    await authorizer.release(CONF)
    assert _held(db_sessions) == []


async def test_postpaid_is_not_limited(db_sessions: SessionFactory) -> None:
    ids = _with_conference_tariff(db_sessions, kind="postpaid")
    authorizer = ConferenceAuthorizer(RatingService(db_sessions))
    assert await authorizer.authorize(**_ask(ids, participants=5, used_s=9999)) is None
    assert _held(db_sessions) == []
    _adjust(db_sessions, ids["alice"], "-1.01")
    with pytest.raises(PaymentRequiredError) as refused:
        await authorizer.authorize(**_ask(ids, participants=5))
    assert refused.value.details["reason"] == "credit-limit"
