"""Rating the PBX's xDRs: a forward to a number is paid by the extension that forwarded
(the xDR's ``detail``), not by whoever called; a voicemail deposit is rated with the
paying product's ``voicemail`` tariff, on the mailbox extension's account; a call picked
up is paid as the rung extension's, the picker's leg (``picked_up``) not billed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from orchestrator.rating import RatingService
from orchestrator.store import billing
from orchestrator.store.billing_models import AccountCreate, ProductCreate, ProductUpdate
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import AccountExtension, Cdr, CdrLeg, Extension, LegCharge
from tests.unit.billing_fixtures import START, setup

D = Decimal


def _extension_with_own_account(
    sessions: SessionFactory, ids: dict[str, int], tariffs: dict[str, int]
) -> int:
    """Extension 103 with an account of its own (postpaid, product ``tariffs``)."""
    with sessions() as s:
        ext = Extension(tenant_id=ids["tenant"], number="103", sip_username="103",
                        sip_password="x" * 16)  # fmt: skip
        s.add(ext)
        s.commit()
        s.refresh(ext)
        product = billing.create_product(
            s, ProductCreate(tenant_id=ids["tenant"], name="own", tariffs=tariffs), None
        )
        account = billing.create_account(
            s,
            AccountCreate(tenant_id=ids["tenant"], name="bob", kind="postpaid", currency="EUR",
                          product_id=product.id, credit_limit=D("100")),
            None,
        )  # fmt: skip
        assert ext.id is not None and account.id is not None
        s.add(AccountExtension(extension_id=ext.id, account_id=account.id))
        s.commit()
        return account.id


def _inbound_cdr(
    sessions: SessionFactory, tenant_id: int, legs: list[CdrLeg], *, caller_trunk: str | None = None
) -> int:
    """A call from outside (no caller extension) to extension 102 (paid by the tenant's
    default account), with ``legs`` after the caller's."""
    call_id = uuid.uuid4().hex
    end = START + timedelta(seconds=61)
    cdr = Cdr(
        uuid=uuid.uuid4().hex, node="test", call_id=call_id, tenant_id=tenant_id,
        direction="inbound", caller_number="+15550100", called_number="102",
        called_extension="102", started_at=START, answered_at=START + timedelta(seconds=1),
        ended_at=end, duration_s=61, billsec=60, disposition="answered", hangup_cause=16,
    )  # fmt: skip
    caller = CdrLeg(
        seq=0, channel_id=f"{call_id}-a", role="caller", service="voice", tenant_id=tenant_id,
        number="+15550100", started_at=START, answered_at=START, ended_at=end, billsec=60,
        disposition="answered", trunk=caller_trunk,
    )  # fmt: skip
    for n, leg in enumerate(legs, 1):
        leg.seq, leg.channel_id = n, f"{call_id}-{n}"
    with sessions() as s:
        cdr_id = write_cdr(s, cdr, [caller, *legs])
    assert cdr_id is not None
    return cdr_id


def _leg(**fields: object) -> CdrLeg:
    base: dict[str, object] = dict(
        channel_id="", seq=0, tenant_id=None, started_at=START,
        answered_at=START + timedelta(seconds=1), ended_at=START + timedelta(seconds=61),
        billsec=60, disposition="answered",
    )  # fmt: skip
    return CdrLeg(**{**base, **fields})  # type: ignore[arg-type]


def test_a_forward_to_a_number_is_paid_by_the_forwarding_extension(
    db_sessions: SessionFactory,
) -> None:
    """102 forwards to 103, which forwards to a mobile: 103 pays for the mobile leg."""
    ids = setup(db_sessions)
    own = _extension_with_own_account(db_sessions, ids, {"forwarded": ids["tariff"]})
    forwarded = _leg(role="forwarded", service="forwarded", tenant_id=ids["tenant"],
                     trunk="carrier", number="00447700900123", detail="103")  # fmt: skip
    cdr_id = _inbound_cdr(db_sessions, ids["tenant"], [forwarded])
    assert RatingService(db_sessions).rate_cdr(cdr_id) == 1
    with db_sessions() as s:
        [charge] = s.exec(select(LegCharge)).all()
    # 60 s to the UK at 0.60 a minute, per second: 0.60, on 103's own account.
    assert (charge.account_id, charge.service, charge.amount) == (own, "forwarded", D("0.60"))


def test_a_voicemail_deposit_is_rated_with_the_voicemail_tariff(
    db_sessions: SessionFactory,
) -> None:
    """102 forwards to 103's voicemail: 103's account pays for the deposit."""
    ids = setup(db_sessions)
    own = _extension_with_own_account(db_sessions, ids, {"voicemail": ids["tariff"]})
    deposit = _leg(role="voicemail", service="voicemail", tenant_id=ids["tenant"],
                   extension="103", detail="103")  # fmt: skip
    cdr_id = _inbound_cdr(db_sessions, ids["tenant"], [deposit])
    assert RatingService(db_sessions).rate_cdr(cdr_id) == 1
    with db_sessions() as s:
        [charge] = s.exec(select(LegCharge)).all()
    # Rated on "0": the tariff's world rate, 1.20 a minute, 60/60: one minute.
    assert (charge.account_id, charge.service, charge.amount) == (own, "voicemail", D("1.20"))


def test_a_picked_up_call_is_paid_as_the_rung_extensions_not_by_the_picker(
    db_sessions: SessionFactory,
) -> None:
    """A call from a carrier rings 102; 103 picks it up (*98). The caller's incoming leg
    is rated on 102's account (the called extension's: the tenant default here), and the
    picker's own leg (role ``picked_up``) is not billed, although 103 has an account
    with an incoming tariff of its own."""
    ids = setup(db_sessions)
    tariffs = {"incoming": ids["tariff"], "outgoing": ids["tariff"]}
    own = _extension_with_own_account(db_sessions, ids, tariffs)
    with db_sessions() as s:
        billing.update_product(s, ids["product"], ProductUpdate(tariffs=tariffs), None)
    picker = _leg(role="picked_up", service="voice", tenant_id=ids["tenant"], extension="103",
                  number="*98", detail="102")  # fmt: skip
    cdr_id = _inbound_cdr(db_sessions, ids["tenant"], [picker], caller_trunk="carrier")
    assert RatingService(db_sessions).rate_cdr(cdr_id) == 1
    with db_sessions() as s:
        [charge] = s.exec(select(LegCharge)).all()
        legs = {leg.id: leg for leg in s.exec(select(CdrLeg)).all()}
    assert legs[charge.leg_id].role == "caller"
    assert charge.account_id == ids["account"] and charge.account_id != own
    # The world rate, 1.20 a minute, on the number the caller dialed (102), 60/60.
    assert (charge.service, charge.amount) == ("incoming", D("1.20"))
    assert all(leg.rated_at is not None for leg in legs.values())
