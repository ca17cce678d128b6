"""Store fixtures for the billing tests: a tenant with a trunk, a tariff, accounts, CDRs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestrator.store import billing, ledger, tariffs
from orchestrator.store.billing_models import (
    AccountCreate,
    ProductCreate,
    RateIn,
    TariffCreate,
    TariffVersionCreate,
    TransactionCreate,
)
from orchestrator.store.cdrs import write_cdr
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Cdr, CdrLeg, Extension, Tenant

START = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
D = Decimal


def setup(
    sessions: SessionFactory, *, balance: str = "10.00", kind: str = "prepaid"
) -> dict[str, Any]:
    """Tenant 1 ("a.example", extension 101), tariff "retail" (EUR, 0.60/min, 1/1 for
    0044, 60/60 for the rest at 1.20), product, a default account with ``balance``."""
    with sessions() as s:
        tenant = Tenant(name="A", sip_domain="a.example")
        s.add(tenant)
        s.commit()
        s.refresh(tenant)
        s.add(Extension(tenant_id=tenant.id, number="101", sip_username="101",
                        sip_password="x" * 16))  # fmt: skip
        s.commit()
        tariff = tariffs.create_tariff(
            s, TariffCreate(tenant_id=tenant.id, name="retail", currency="EUR"), None
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
                        prefix="0044",
                        description="UK",
                        price_per_minute=D("0.60"),
                        first_increment=1,
                        next_increment=1,
                    ),
                    RateIn(prefix="", description="world", price_per_minute=D("1.20")),
                ],
            ),
            None,
        )
        product = billing.create_product(
            s, ProductCreate(tenant_id=tenant.id, name="p", tariffs={"outgoing": tariff.id}), None
        )
        account = billing.create_account(
            s,
            AccountCreate(
                tenant_id=tenant.id,
                name="acme",
                kind=kind,
                currency="EUR",
                product_id=product.id,
                is_default=True,
            ),
            None,
        )
        ids = {"tenant": tenant.id, "tariff": tariff.id, "product": product.id,
               "account": account.id}  # fmt: skip
    if D(balance):
        ledger.add_transaction(
            sessions, ids["account"], TransactionCreate(kind="topup", amount=D(balance)), None
        )
    return ids


def outbound_cdr(
    sessions: SessionFactory, tenant_id: int, *, number: str, billsec: int,
    start: datetime = START, call_id: str | None = None,
) -> int:  # fmt: skip
    """An answered outbound call from extension 101 through trunk "carrier"."""
    call_id = call_id or uuid.uuid4().hex
    end = start + timedelta(seconds=billsec + 1)
    answer = start + timedelta(seconds=1)
    cdr = Cdr(
        uuid=uuid.uuid4().hex, node="test", call_id=call_id, tenant_id=tenant_id,
        direction="outbound", caller_number="101", caller_extension="101",
        called_number=number, started_at=start, answered_at=answer, ended_at=end,
        duration_s=billsec + 1, billsec=billsec, disposition="answered", hangup_cause=16,
    )  # fmt: skip
    legs = [
        CdrLeg(seq=0, channel_id=f"{call_id}-a", role="caller", service="voice",
               tenant_id=tenant_id, extension="101", number="101", started_at=start,
               answered_at=answer, ended_at=end, billsec=billsec, disposition="answered"),
        CdrLeg(seq=1, channel_id=f"{call_id}-b", role="callee", service="voice",
               tenant_id=tenant_id, trunk="carrier", number=number, started_at=start,
               answered_at=answer, ended_at=end, billsec=billsec, disposition="answered"),
    ]  # fmt: skip
    with sessions() as s:
        cdr_id = write_cdr(s, cdr, legs)
    assert cdr_id is not None
    return cdr_id
