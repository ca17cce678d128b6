"""The rating service: every CDR's xDRs charged exactly once, re-rating, prepaid cut-off.

Exactly once: a CDR is rated in one database transaction that inserts a charge row per
billable xDR (unique on ``(leg_id, seq)``), debits the ledger for each, marks every xDR
``rated_at``, copies the charges onto the CDR and releases the call's reservations.
A crash before the commit leaves nothing; after it, the xDRs are rated and a re-run
skips them (a concurrent rater loses on the unique key and rolls back). So the CDR
listener, the scheduled batch and a manual run may overlap freely. Re-ratings do not
overlap: each takes a database lease on its scope (a tenant, or all of them) first, so
a second one of the same scope, in this process or another, gets a 409
(:mod:`orchestrator.store.leases`).

Example::

    service = RatingService(sessions)
    cdr_builder.listeners.append(service.on_cdr)
    service.start()                       # the batch every minute (APScheduler)
    service.run_batch()                   # what the batch does: every unrated xDR
    service.rerate(since, until, tenant_id=1)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.pricing import Charge, Service, Tariff, Unrated
from orchestrator.pricing.tariff import EXACT, exact_sum
from orchestrator.rating.booking import (
    TariffCache,
    apply_to_cdr,
    book,
    charge_row,
    classify,
    payer,
    price,
    same,
)
from orchestrator.rating.prepaid import Authorization, limit_ms, max_joint_duration
from orchestrator.store import leases, ledger
from orchestrator.store.billing import account_by_name, account_for_extension
from orchestrator.store.models import (
    Account,
    AccountKind,
    Cdr,
    CdrLeg,
    Extension,
    LegCharge,
    Tenant,
    utcnow,
)

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


class RatingService:
    """See the module doc. ``sessions`` makes database sessions; ``cap_s`` is the longest
    a prepaid call is ever authorized for; ``batch_every_s`` the batch's period."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        cap_s: int = 4 * 3600,
        batch_every_s: float = 60.0,
        ring_s: int = 120,
        rerate_lease_s: float = 300.0,
    ) -> None:
        self.sessions = sessions
        self.tariffs = TariffCache()
        self.cap_s = cap_s
        self.batch_every_s = batch_every_s
        self.ring_s = ring_s
        # How long a re-rating's lease outlives a silent holder (renewed while it works).
        self.rerate_lease = timedelta(seconds=rerate_lease_s)
        self.rated = 0  # xDR charges booked by this service
        self._scheduler: Any = None
        # Test hook: called after each CDR's charges are added, before the commit.
        self.before_commit: Callable[[int], None] | None = None
        # Test hook: called with each CDR id a re-rating is about to rate again.
        self.before_rerate: Callable[[int], None] | None = None
        # Authorizations of one account take turns (see _authorize); striped, so the
        # number of locks does not grow with the accounts.
        self._account_locks = [threading.Lock() for _ in range(64)]

    # -- rating ---------------------------------------------------------------------
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

    # -- re-rating -----------------------------------------------------------------------
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

    # -- prepaid authorization -----------------------------------------------------------
    def authorize(
        self,
        *,
        tenant_id: int,
        number: str | Sequence[str],
        call_id: str,
        endpoint: str | None = None,
        account: str | None = None,
        extension: str | None = None,
        now: datetime | None = None,
    ) -> Authorization:
        """May the caller (a SIP ``endpoint`` or an ``extension`` of the tenant, or a named
        ``account``) call ``number`` now, and for how long? A prepaid call's money is
        reserved under ``call_id`` (the engine's call id: the CDR's) until its charge is
        booked. Several numbers (both legs of a click-to-call) are paid at once: the answer
        is how long they may all last together, one reservation per number."""
        moment = now or utcnow()
        numbers = [number] if isinstance(number, str) else list(number)
        return ledger.with_retry(
            self.sessions,
            lambda s: self._authorize(
                s, tenant_id, numbers, call_id, extension or endpoint, account, moment
            ),
        )

    def _authorize(
        self,
        session: Session,
        tenant_id: int,
        numbers: list[str],
        call_id: str,
        caller: str | None,
        named: str | None,
        now: datetime,
    ) -> Authorization:
        if named:
            found = account_by_name(session, tenant_id, named)
            if found is None:
                return Authorization("refuse", reason="unknown-account")
        else:
            # ``caller``: a SIP endpoint (user@domain) or already an extension number.
            extension = caller if caller and "@" not in caller else None
            found = account_for_extension(
                session, tenant_id, extension or _extension(session, tenant_id, caller)
            )
        if found is None:
            return Authorization("unlimited", reason="no-account")
        assert found.id is not None
        # One authorization of an account at a time in this process; the compare-and-set
        # still guards against other processes. Without it, simultaneous calls of one
        # account raced for it and the losers retried all together: in a burst of 200
        # (bench/authorize.py) a call ran out of its tries and was refused with money left.
        with self._account_locks[found.id % len(self._account_locks)]:
            return self._reserve(session, found.id, numbers, call_id, now)

    def _reserve(
        self, session: Session, account_id: int, numbers: list[str], call_id: str, now: datetime
    ) -> Authorization:
        account = ledger.fresh_account(session, account_id)
        if not account.enabled:
            return Authorization("refuse", account_id=account.id, reason="disabled")
        held = ledger.reserved(session, account_id, now)
        available = EXACT.subtract(account.balance, held)
        if account.kind == AccountKind.POSTPAID:
            if account.balance < -account.credit_limit:
                return Authorization("refuse", account_id=account.id, reason="credit-limit")
            return Authorization("unlimited", account_id=account.id, reason="postpaid")
        if available <= 0:
            return Authorization("refuse", account_id=account.id, reason="no-balance")
        legs: list[tuple[Tariff, str]] = []
        for number in numbers:
            quote, tariff_id = price(
                session, self.tariffs, account, Service.OUTGOING, number, now, 1
            )
            if not isinstance(quote, Charge):
                return Authorization("refuse", account_id=account.id, reason=quote.reason)
            tariff = self.tariffs.get(session, int(tariff_id or 0))
            assert tariff is not None
            legs.append((tariff, number))
        bought = max_joint_duration(legs, start=now, available=available, cap_s=self.cap_s)
        if isinstance(bought, Unrated):
            return Authorization("refuse", account_id=account.id, reason=bought.reason)
        seconds, amounts = bought
        if seconds == 0:
            return Authorization("refuse", account_id=account.id, reason="no-balance")
        ledger.reserve(
            session,
            account,
            call_id=call_id,
            amounts=list(zip(numbers, amounts, strict=True)),
            max_duration_s=seconds,
            expires_at=now + timedelta(seconds=seconds + self.ring_s + 600),
        )
        session.commit()
        return Authorization(
            "limit", max_ms=limit_ms(seconds), account_id=account.id, reserved=exact_sum(amounts)
        )

    # -- the schedule ----------------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`run_batch` every ``batch_every_s`` (APScheduler, in the event loop)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        async def batch() -> None:
            try:
                booked = await asyncio.to_thread(self.run_batch)
                if booked:
                    log.info("rating batch: %d charges booked", booked)
            except Exception:
                log.exception("rating batch failed")

        self._scheduler = AsyncIOScheduler()
        self._scheduler.add_job(
            batch,
            "interval",
            seconds=self.batch_every_s,
            id="rating-batch",
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),  # at start too: rate what came in while we were down
        )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


def _extension(session: Session, tenant_id: int, endpoint: str | None) -> str | None:
    """The tenant's extension behind a SIP endpoint (``user@domain``), if any."""
    if not endpoint or "@" not in endpoint:
        return None
    user, _, domain = endpoint.partition("@")
    row = session.exec(
        select(Extension.number)
        .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
        .where(
            Extension.tenant_id == tenant_id,
            Extension.sip_username == user,
            Tenant.sip_domain == domain,
        )
    ).first()
    return str(row) if row is not None else None
