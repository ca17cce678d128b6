"""Rating new CDRs: every xDR charged exactly once, when its CDR is written and in batches.

Exactly once: a CDR is rated in one database transaction that inserts a charge row per
billable xDR (unique on ``(leg_id, seq)``), debits the ledger for each, marks every xDR
``rated_at``, copies the charges onto the CDR and releases the call's reservations.
A crash before the commit leaves nothing; after it, the xDRs are rated and a re-run
skips them (a concurrent rater loses on the unique key and rolls back). So the CDR
listener, the scheduled batch and a manual run may overlap freely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.rating.booking import (
    TariffCache,
    apply_to_cdr,
    book,
    charge_row,
    classify,
    payer,
    price,
)
from orchestrator.store import ledger
from orchestrator.store.models import Cdr, CdrLeg, utcnow


class CdrRater:
    """Rates CDRs: :meth:`rate_cdr` one, :meth:`run_batch` all with unrated xDRs,
    :meth:`on_cdr` each new one (the CDR builder's listener). A part of
    :class:`~orchestrator.rating.RatingService`, whose ``__init__`` sets these attributes."""

    sessions: Callable[[], Session]
    tariffs: TariffCache
    rated: int
    before_commit: Callable[[int], None] | None

    def rate_cdr(self, cdr_id: int) -> int:
        """Rate the CDR's unrated xDRs; returns how many charges were booked (0: done)."""
        return ledger.with_retry(self.sessions, lambda s: self._rate_cdr(s, cdr_id))

    def _rate_cdr(self, session: Session, cdr_id: int) -> int:
        cdr = session.get(Cdr, cdr_id)
        if cdr is None:
            return 0
        legs = session.exec(
            select(CdrLeg)
            .where(CdrLeg.cdr_id == cdr_id, col(CdrLeg.rated_at).is_(None))
            .order_by(col(CdrLeg.seq))
        ).all()
        if not legs:
            return 0
        now = utcnow()
        booked = 0
        for leg in legs:
            leg.rated_at = now
            session.add(leg)
            kind = classify(session, cdr, leg)
            if kind is None:
                continue
            service, number = kind
            account = payer(session, cdr, leg, service)
            start = leg.started_at
            result, tariff_id = price(
                session, self.tariffs, account, service, number, start, leg.billsec
            )
            charge = charge_row(cdr, leg, service, account, result, tariff_id, seq=1)
            session.add(charge)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # another rater booked this leg first
                return 0
            book(session, charge, charge.amount, kind="charge", detail={"cdr_id": cdr_id})
            booked += 1
        apply_to_cdr(session, cdr, now)
        ledger.release(session, cdr.call_id)
        if self.before_commit is not None:
            self.before_commit(cdr_id)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return 0
        self.rated += booked
        return booked

    def run_batch(self, limit: int = 1000) -> int:
        """Rate every CDR with unrated xDRs (oldest first, up to ``limit`` CDRs); returns
        the charges booked. Each CDR is its own transaction: a killed batch loses none."""
        with self.sessions() as session:
            ids = session.exec(
                select(CdrLeg.cdr_id)
                .where(col(CdrLeg.rated_at).is_(None))
                .distinct()
                .order_by(col(CdrLeg.cdr_id))
                .limit(limit)
            ).all()
            ledger.purge_expired(session, utcnow())
        return sum(self.rate_cdr(int(cdr_id)) for cdr_id in ids if cdr_id is not None)

    async def on_cdr(self, cdr_id: int) -> None:
        """The CDR builder's listener: rate the new CDR now (in a worker thread)."""
        await asyncio.to_thread(self.rate_cdr, cdr_id)
