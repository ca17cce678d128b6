"""Pricing one xDR and booking it: which service, who pays, which tariff, the ledger line.

Which xDRs cost money (``classify``): a leg that left or came in by a trunk, and
conference xDRs. Services: a trunk leg the caller dialed (``callee``, ``transferred``,
click-to-call legs) is ``outgoing``, rated on the number dialed; a forward to a
trunk is ``forwarded``; a trunk that called in is ``incoming``, rated on the number it
called; a participant's time in a conference is ``conference``, rated on
:data:`CONFERENCE_NUMBER` (the conference tariff's default rate): every participant costs
the same, so a prepaid conference can be authorized for N participants without knowing
who they are. Legs between a tenant's own phones and IVR spans cost nothing.

Who pays (``payer``): the account a feature named on the leg (click-to-call
``account``, a conference's owner's account: the account's name or id in the tenant);
else for ``outgoing`` the calling extension's account, for ``forwarded``/``incoming``
the dialed extension's, for ``conference`` the owner's (the CDR's caller extension),
never the participant's own; else the tenant's default account.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import pricing
from orchestrator.core.errors import ValidationError
from orchestrator.pricing import Charge, Service, Unrated, UnratedReason
from orchestrator.pricing.tariff import EXACT
from orchestrator.store import ledger
from orchestrator.store.billing import account_by_name, account_for_extension
from orchestrator.store.models import (
    Account,
    BillingProduct,
    BillingTariff,
    Cdr,
    CdrLeg,
    LegCharge,
    OutboundRoute,
    Trunk,
)
from orchestrator.store.tariffs import load_tariff

Result = Charge | Unrated

#: The number a conference xDR is rated on: digits, so the conference tariff's default
#: rate (prefix "") or a rate for prefix "0" prices it, whoever the participant is.
CONFERENCE_NUMBER = "0"
#: The number a voicemail xDR (the time a caller spent leaving a message) is rated on.
VOICEMAIL_NUMBER = "0"


def classify(session: Session, cdr: Cdr, leg: CdrLeg) -> tuple[Service, str] | None:
    """The service a leg is rated as and the number it is rated on; None: not billed."""
    if leg.service == "conference":
        return Service.CONFERENCE, CONFERENCE_NUMBER
    if leg.service == "voicemail":
        return Service.VOICEMAIL, VOICEMAIL_NUMBER
    if not leg.trunk:
        return None
    if leg.role == "caller":
        return Service.INCOMING, cdr.called_number
    number = sent_number(session, cdr, leg)
    if leg.role == "forwarded":
        return Service.FORWARDED, number
    return Service.OUTGOING, number


def sent_number(session: Session, cdr: Cdr, leg: CdrLeg) -> str:
    """The number a trunk leg was sent to: the xDR's own if it has one, else what the
    caller dialed through the tenant's outbound route to that trunk (its strip and
    prepend applied), as the dialplan sent it and authorized it."""
    if leg.number and leg.number.lstrip("+").isdigit():
        return leg.number
    dialed = cdr.called_number
    routes = session.exec(
        select(OutboundRoute)
        .join(Trunk, col(Trunk.id) == col(OutboundRoute.trunk_id))
        .where(OutboundRoute.tenant_id == leg.tenant_id, Trunk.name == leg.trunk)
        .order_by(col(OutboundRoute.priority))
    ).all()
    for route in sorted(routes, key=lambda r: -len(r.prefix)):
        rest = len(dialed) - len(route.prefix)
        if dialed.startswith(route.prefix) and route.min_length <= rest <= route.max_length:
            return route.prepend + dialed[route.strip :]
    return dialed


def payer(session: Session, cdr: Cdr, leg: CdrLeg, service: Service) -> Account | None:
    tenant_id = leg.tenant_id if leg.tenant_id is not None else cdr.tenant_id
    if tenant_id is None:
        return None
    named = leg.account or cdr.account
    if named:
        return account_by_name(session, tenant_id, named)
    if service is Service.OUTGOING:
        extension = cdr.caller_extension
    elif service is Service.CONFERENCE:
        # The conference's owner pays for every participant: the CDR's caller extension
        # is the owner's (the participant's own extension is ``leg.extension``).
        extension = cdr.caller_extension
    elif service is Service.FORWARDED and leg.detail and leg.detail.isdigit():
        extension = leg.detail  # the extension that forwarded (a forward's xDR detail)
    elif service is Service.VOICEMAIL:
        extension = leg.extension or cdr.called_extension  # the mailbox's extension
    else:
        extension = cdr.called_extension
    return account_for_extension(session, tenant_id, extension)


class TariffCache:
    """Stored tariffs as compiled pure models, reloaded when their ``revision`` moves."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[int, pricing.Tariff | None]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, tariff_id: int) -> pricing.Tariff | None:
        revision = session.exec(
            select(BillingTariff.revision).where(BillingTariff.id == tariff_id)
        ).first()
        if revision is None:
            return None
        with self._lock:
            hit = self._cache.get(tariff_id)
        if hit is not None and hit[0] == revision:
            return hit[1]
        tariff = load_tariff(session, tariff_id)
        with self._lock:
            self._cache[tariff_id] = (revision, tariff)
        return tariff


def _unrated(number: str, start: datetime, duration_s: int, reason: str, message: str) -> Unrated:
    return Unrated(number, start, duration_s, "", reason, message)


def price(
    session: Session,
    tariffs: TariffCache,
    account: Account | None,
    service: Service,
    number: str,
    start: datetime,
    duration_s: int,
) -> tuple[Result, int | None]:
    """Rate a leg for ``account`` with its product's tariff for ``service``."""
    if account is None:
        return _unrated(number, start, duration_s, "no-account", "no account pays for it"), None
    product = session.get(BillingProduct, account.product_id) if account.product_id else None
    if product is None:
        return _unrated(
            number, start, duration_s, "no-product", f"account {account.name!r} has no product"
        ), None
    tariff_id = (product.tariffs or {}).get(str(service))
    if tariff_id is None:
        return _unrated(
            number,
            start,
            duration_s,
            UnratedReason.NO_TARIFF,
            f"product {product.name!r} has no tariff for {service} calls",
        ), None
    tariff = tariffs.get(session, int(tariff_id))
    if tariff is None:
        return _unrated(
            number, start, duration_s, UnratedReason.NO_VERSION, "the tariff has no version"
        ), int(tariff_id)
    try:
        result = pricing.rate(tariff, number=number, start=start, duration_s=duration_s)
    except ValidationError as exc:
        return _unrated(number, start, duration_s, UnratedReason.INVALID_CALL, str(exc)), None
    if isinstance(result, Charge) and result.currency != account.currency:
        return _unrated(
            number,
            start,
            duration_s,
            "currency",
            f"tariff in {result.currency}, account {account.name!r} in {account.currency}",
        ), int(tariff_id)
    return result, int(tariff_id)


def charge_row(
    cdr: Cdr,
    leg: CdrLeg,
    service: Service,
    account: Account | None,
    result: Result,
    tariff_id: int | None,
    seq: int,
) -> LegCharge:
    assert leg.id is not None and cdr.id is not None
    rated = isinstance(result, Charge)
    return LegCharge(
        leg_id=leg.id,
        cdr_id=cdr.id,
        seq=seq,
        account_id=account.id if account is not None else None,
        tenant_id=account.tenant_id if account is not None else cdr.tenant_id,
        service=str(service),
        number=result.number[:64],
        started_at=result.start,
        duration_s=result.duration_s,
        rated=rated,
        reason=None if isinstance(result, Charge) else result.reason[:24],
        amount=result.amount if isinstance(result, Charge) else Decimal(0),
        currency=result.currency if isinstance(result, Charge) else None,
        tariff_id=tariff_id,
        version=result.version if isinstance(result, Charge) else None,
        prefix=result.prefix if isinstance(result, Charge) else None,
        explanation=result.to_dict(),
    )


def same(old: LegCharge, new: LegCharge) -> bool:
    """Whether a re-rating changed nothing worth a new charge row."""
    keys = ("rated", "reason", "amount", "currency", "tariff_id", "version", "prefix", "account_id")
    return all(getattr(old, k) == getattr(new, k) for k in keys)


def book(
    session: Session, charge: LegCharge, amount: Decimal, *, kind: str, detail: dict[str, Any]
) -> None:
    """Debit ``amount`` (positive: the account pays) for ``charge``, uncommitted."""
    if charge.account_id is None or not amount:
        return
    account = ledger.fresh_account(session, charge.account_id)
    assert charge.id is not None
    ledger.post(
        session,
        account,
        EXACT.minus(amount),
        kind=kind,
        description=(
            "conference time"
            if charge.service == Service.CONFERENCE
            else f"{charge.service} call to {charge.number}"[:200]
        ),
        charge_id=charge.id,
        detail=detail,
    )


def apply_to_cdr(session: Session, cdr: Cdr, now: datetime) -> None:
    """Copy the current charges onto the xDRs and the CDR (its total if one currency)."""
    rows = session.exec(
        select(LegCharge).where(LegCharge.cdr_id == cdr.id, col(LegCharge.superseded_by).is_(None))
    ).all()
    total, currencies = Decimal(0), set()
    for charge in rows:
        leg = session.get(CdrLeg, charge.leg_id)
        if leg is not None:
            leg.charge = charge.amount if charge.rated else None
            leg.currency = charge.currency
            leg.tariff_id = charge.tariff_id
            leg.rate_id = None
            leg.rated_at = now
            session.add(leg)
        if charge.rated and charge.currency:
            currencies.add(charge.currency)
            total = EXACT.add(total, charge.amount)
    if len(currencies) == 1:
        cdr.charge, cdr.currency = total, currencies.pop()
    else:
        cdr.charge, cdr.currency = None, None
    session.add(cdr)
