"""Prepaid authorization: may this caller dial this number now, and for how long?

The answer comes from the money available (balance less what other calls hold), the
tariff of each number and :func:`~orchestrator.rating.prepaid.max_joint_duration`; a
prepaid call's money is reserved in the ledger until its charge is booked. The dialplan
asks through :func:`~orchestrator.rating.authorize_router`, click-to-call through
:class:`~orchestrator.rating.clicktocall.ClickToCallAuthorizer`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from orchestrator.pricing import Charge, Service, Tariff, Unrated
from orchestrator.pricing.tariff import EXACT, exact_sum
from orchestrator.rating.booking import TariffCache, price
from orchestrator.rating.prepaid import Authorization, limit_ms, max_joint_duration
from orchestrator.store import ledger
from orchestrator.store.billing import account_by_name, account_for_extension
from orchestrator.store.models import Account, AccountKind, Extension, Tenant, utcnow


class PrepaidAuthorizer:
    """Authorizes calls (:meth:`authorize`) and reserves a prepaid call's money. A part of
    :class:`~orchestrator.rating.RatingService`, whose ``__init__`` sets these attributes."""

    sessions: Callable[[], Session]
    tariffs: TariffCache
    cap_s: int
    ring_s: int
    _account_locks: list[threading.Lock]

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
        found = paying_account(session, tenant_id, caller, named)
        if isinstance(found, Authorization):
            return found
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


def paying_account(
    session: Session, tenant_id: int, caller: str | None, named: str | None
) -> Account | Authorization:
    """The account that pays: the ``named`` one, else the ``caller``'s (a SIP endpoint or
    an extension number), else the tenant's default; an :class:`Authorization` if none."""
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
    return found


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
