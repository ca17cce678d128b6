"""Re-rating: the calls of a period rated again with the current tariffs, each difference
booked as a ``rerate`` line; the old charge is kept, superseded.

Re-ratings do not overlap: each takes a database lease on its scope (a tenant, or all
of them) first, so a second one of the same scope, in this process or another, gets a
409 (:mod:`orchestrator.store.leases`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.pricing import Service
from orchestrator.pricing.tariff import EXACT
from orchestrator.rating.booking import apply_to_cdr, book, charge_row, payer, price, same
from orchestrator.rating.charging import CdrRater
from orchestrator.store import leases, ledger
from orchestrator.store.models import Account, Cdr, CdrLeg, LegCharge, utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RerateResult:
    """What a re-rating did: legs looked at, legs whose charge changed, the differences
    booked (per currency; positive: the accounts paid more) and a line per change."""

    checked: int = 0
    changed: int = 0
    first_rated: int = 0
    delta: dict[str, Decimal] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)


class Rerater(CdrRater):
    """Re-rates a period (:meth:`rerate`), rating first what was never rated. A part of
    :class:`~orchestrator.rating.RatingService`, whose ``__init__`` sets these attributes."""

    rerate_lease: timedelta
    before_rerate: Callable[[int], None] | None

    def rerate(
        self,
        since: datetime,
        until: datetime,
        *,
        tenant_id: int | None = None,
        account_id: int | None = None,
    ) -> RerateResult:
        """Rate the calls started in ``[since, until)`` again with the current tariffs and
        book each difference as a ``rerate`` line; the old charge is kept, superseded.
        Re-running it books nothing new (a charge equal to the current one is skipped).
        :class:`~orchestrator.core.errors.ConflictError` if a re-rating of the same
        tenant (or of all tenants, or any tenant's while this is of all) is running."""
        name = "rerate:all" if tenant_id is None else f"rerate:tenant:{tenant_id}"
        # All tenants' re-rating and any one tenant's touch the same CDRs too.
        blocked_by = ["rerate:tenant:%"] if tenant_id is None else ["rerate:all"]
        who = "all tenants" if tenant_id is None else f"tenant {tenant_id}"
        detail = f"a re-rating of {who} [{since.isoformat()}, {until.isoformat()})"
        holder = leases.acquire(
            self.sessions, name, detail=detail, ttl=self.rerate_lease, blocked_by=blocked_by
        )
        try:
            return self._rerate(since, until, tenant_id, account_id, (name, holder))
        finally:
            leases.release(self.sessions, name, holder)

    def _rerate(
        self,
        since: datetime,
        until: datetime,
        tenant_id: int | None,
        account_id: int | None,
        lease: tuple[str, str],
    ) -> RerateResult:
        result = RerateResult()
        renewed = utcnow()
        with self.sessions() as session:
            stmt = (
                select(Cdr.id)
                .where(col(Cdr.started_at) >= since, col(Cdr.started_at) < until)
                .order_by(col(Cdr.id))
            )
            if tenant_id is not None:
                stmt = stmt.where(Cdr.tenant_id == tenant_id)
            cdr_ids = [int(i) for i in session.exec(stmt).all() if i is not None]
        for cdr_id in cdr_ids:
            if utcnow() - renewed > self.rerate_lease / 3:
                leases.renew(self.sessions, *lease, self.rerate_lease)
                renewed = utcnow()
            if self.before_rerate is not None:
                self.before_rerate(cdr_id)
            result.first_rated += self.rate_cdr(cdr_id)

            def work(session: Session, cdr_id: int = cdr_id) -> None:
                self._rerate_cdr(session, cdr_id, account_id, result)

            ledger.with_retry(self.sessions, work)
        return result

    def _rerate_cdr(
        self, session: Session, cdr_id: int, account_id: int | None, out: RerateResult
    ) -> None:
        cdr = session.get(Cdr, cdr_id)
        if cdr is None:
            return
        stmt = select(LegCharge).where(
            LegCharge.cdr_id == cdr_id, col(LegCharge.superseded_by).is_(None)
        )
        if account_id is not None:
            stmt = stmt.where(LegCharge.account_id == account_id)
        changes: list[dict[str, Any]] = []
        for old in session.exec(stmt.order_by(col(LegCharge.id))).all():
            leg = session.get(CdrLeg, old.leg_id)
            if leg is None:
                continue
            out.checked += 1
            service = Service(old.service)
            number = old.number
            account = session.get(Account, old.account_id) if old.account_id else None
            if account is None:
                account = payer(session, cdr, leg, service)
            fresh, tariff_id = price(
                session, self.tariffs, account, service, number, leg.started_at, leg.billsec
            )
            new = charge_row(cdr, leg, service, account, fresh, tariff_id, seq=old.seq + 1)
            if same(old, new):
                continue
            old_amount = old.amount if old.rated else Decimal(0)
            new_amount = new.amount if new.rated else Decimal(0)
            if old.rated and new.rated and old.currency != new.currency and old_amount:
                log.warning("re-rating leg %s would change its currency: skipped", leg.id)
                continue
            session.add(new)
            try:
                session.flush()  # unique (leg_id, seq): a concurrent re-rating fails here
            except IntegrityError:
                # Only if a lease expired under a slow holder: the other one books it.
                session.rollback()
                return
            old.superseded_by = new.id
            session.add(old)
            delta = EXACT.subtract(new_amount, old_amount)
            detail = {
                "cdr_id": cdr_id,
                "leg_id": leg.id,
                "old_charge_id": old.id,
                "new_charge_id": new.id,
                "old_amount": str(old_amount),
                "new_amount": str(new_amount),
                "delta": str(delta),
            }
            # The payer stays the one first charged (re-resolved only if there was none).
            book(session, new, delta, kind="rerate", detail=detail)
            currency = new.currency or old.currency or ""
            changes.append({**detail, "currency": currency, "account_id": new.account_id})
        if not changes:
            session.rollback()
            return
        apply_to_cdr(session, cdr, utcnow())
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return
        for change in changes:
            out.changed += 1
            currency = change["currency"]
            out.delta[currency] = EXACT.add(
                out.delta.get(currency, Decimal(0)), Decimal(change["delta"])
            )
            out.details.append(change)
