"""Prepaid authorization of a conference: how long may N participants go on talking?

A conference is paid by its owner's account (:mod:`orchestrator.rating.booking`: one
``conference`` xDR per participant span, all rated on the account's conference tariff
at :data:`~orchestrator.rating.booking.CONFERENCE_NUMBER`). Nothing is charged until
the conference ends and its CDR is rated, so the money a prepaid conference may spend
is held as one reservation under the CDR's ``call_id`` and replaced each time the
conference asks again (a participant joined or left):

- what is spent already: ``used_s`` participant-seconds, priced as one span of the
  conference tariff;
- what the ``participants`` still in it may spend: the longest time all of them can
  talk together on the rest (:func:`~orchestrator.rating.prepaid.max_joint_duration`,
  one leg each, as click-to-call pays its two legs at once), each leg priced as its own
  span (its increments, fee, minimum and the tariff's rounding).

Rating the CDR releases the reservation (:mod:`orchestrator.rating.charging`) and books
the exact charges of the real spans. A refusal keeps the previous reservation: the
conference is about to end on it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from orchestrator.core.errors import ValidationError
from orchestrator.pricing import Charge, Service, Unrated, UnratedReason, rate
from orchestrator.pricing.tariff import EXACT, exact_sum
from orchestrator.rating.authorize import paying_account
from orchestrator.rating.booking import CONFERENCE_NUMBER, TariffCache, price
from orchestrator.rating.prepaid import Authorization, limit_ms, max_joint_duration
from orchestrator.store import ledger
from orchestrator.store.models import Account, AccountKind, utcnow

# A product without a conference tariff (or an account without a product) leaves the
# conference's xDRs unrated: it costs nothing, so there is nothing to limit.
FREE = (UnratedReason.NO_TARIFF, "no-product")
PARTICIPANTS_MAX = 1000


class ConferenceAuthorizing:
    """Authorizes conferences (:meth:`authorize_conference`). A part of
    :class:`~orchestrator.rating.RatingService`, whose ``__init__`` sets these attributes."""

    sessions: Callable[[], Session]
    tariffs: TariffCache
    cap_s: int
    ring_s: int
    _account_locks: list[threading.Lock]

    def authorize_conference(
        self,
        *,
        tenant_id: int,
        call_id: str,
        participants: int,
        used_s: float,
        account: str | None = None,
        extension: str | None = None,
        now: datetime | None = None,
    ) -> Authorization:
        """May the conference whose CDR will have ``call_id`` go on with ``participants``
        members, ``used_s`` participant-seconds having been spent, and for how long? The
        payer is the ``account`` named (a name or id), else the owner ``extension``'s
        account, else the tenant's default. A prepaid answer replaces the conference's
        reservation with one for the time it allows."""
        if isinstance(participants, bool) or not isinstance(participants, int):
            raise ValidationError("participants: a whole number", field="participants")
        if not 1 <= participants <= PARTICIPANTS_MAX:
            raise ValidationError(
                f"participants: 1 to {PARTICIPANTS_MAX}", field="participants", value=participants
            )
        if not math.isfinite(used_s) or used_s < 0:
            raise ValidationError("used_s: seconds >= 0", field="used_s")
        moment = now or utcnow()
        # Whole seconds, a started one counting, as a CDR bills them (milliseconds first:
        # float noise must not add a second).
        used = math.ceil(round(used_s * 1000) / 1000)
        return ledger.with_retry(
            self.sessions,
            lambda s: self._conference(
                s, tenant_id, call_id, participants, used, account, extension, moment
            ),
        )

    def _conference(
        self,
        session: Session,
        tenant_id: int,
        call_id: str,
        participants: int,
        used_s: int,
        named: str | None,
        extension: str | None,
        now: datetime,
    ) -> Authorization:
        found = paying_account(session, tenant_id, extension, named)
        if isinstance(found, Authorization):
            return found
        assert found.id is not None
        with self._account_locks[found.id % len(self._account_locks)]:
            account = ledger.fresh_account(session, found.id)
            return self._hold(session, account, call_id, participants, used_s, now)

    def _hold(
        self,
        session: Session,
        account: Account,
        call_id: str,
        participants: int,
        used_s: int,
        now: datetime,
    ) -> Authorization:
        def refuse(reason: str) -> Authorization:
            # Not committed: the conference's previous reservation (if any) stays.
            return Authorization("refuse", account_id=account.id, reason=reason)

        assert account.id is not None
        if not account.enabled:
            return refuse("disabled")
        if account.kind == AccountKind.POSTPAID:
            if account.balance < -account.credit_limit:
                return refuse("credit-limit")
            return Authorization("unlimited", account_id=account.id, reason="postpaid")
        quote, tariff_id = price(
            session, self.tariffs, account, Service.CONFERENCE, CONFERENCE_NUMBER, now, 1
        )
        if not isinstance(quote, Charge):
            if quote.reason in FREE:
                return Authorization("unlimited", account_id=account.id, reason=quote.reason)
            return refuse(quote.reason)
        tariff = self.tariffs.get(session, int(tariff_id or 0))
        assert tariff is not None
        # This conference's own reservation is replaced, so it does not count against it.
        ledger.release(session, call_id)
        available = EXACT.subtract(account.balance, ledger.reserved(session, account.id, now))
        spent = rate(tariff, number=CONFERENCE_NUMBER, start=now, duration_s=used_s)
        assert isinstance(spent, Charge)  # the number and time rated for one second above
        left = EXACT.subtract(available, spent.amount)
        if left <= 0:
            return refuse("no-balance")
        legs = [(tariff, CONFERENCE_NUMBER)] * participants
        bought = max_joint_duration(legs, start=now, available=left, cap_s=self.cap_s)
        assert not isinstance(bought, Unrated)  # same tariff and number as above
        seconds, amounts = bought
        if seconds == 0:
            return refuse("no-balance")
        held: list[tuple[str, Decimal]] = (
            [("conference-used", spent.amount)] if spent.amount else []
        )
        held += [(f"conference-participant-{i}", a) for i, a in enumerate(amounts, 1)]
        ledger.reserve(
            session,
            account,
            call_id=call_id,
            amounts=held,
            max_duration_s=seconds,
            expires_at=now + timedelta(seconds=seconds + self.ring_s + 600),
        )
        session.commit()
        return Authorization(
            "limit",
            max_ms=limit_ms(seconds),
            account_id=account.id,
            reserved=exact_sum(a for _, a in held),
        )
