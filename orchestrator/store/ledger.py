"""Balances: the ledger (account transactions), reservations and charges' bookings.

An account's ``balance`` is the sum of its transactions. Each posting inserts the
transaction and moves the cached balance in the *same database transaction*, as a
compare-and-set on the account's ``version`` (``UPDATE ... WHERE version = :seen``):
two writers that read the same balance cannot both succeed; the loser gets
:class:`Contended` and retries its whole unit of work. The arithmetic is Python
``Decimal`` (SQLite stores money as text, so SQL ``balance + x`` would go through a
float there): :func:`ledger_sum` recomputes the balance from the lines to check it.

Sign: a positive amount credits the account (top-up), a negative one debits it (a
call's charge). Reservations hold money for prepaid calls while they last; the
available amount is ``balance - reserved``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import ConflictError, ValidationError
from orchestrator.pricing.tariff import EXACT, exact_sum, money
from orchestrator.store._common import page
from orchestrator.store.billing import read_account
from orchestrator.store.billing_models import TransactionCreate
from orchestrator.store.models import Account, AccountTransaction, Reservation, utcnow

T = TypeVar("T")

KINDS = ("topup", "adjustment", "charge", "rerate")
RETRIES = 20


class Contended(Exception):
    """Another writer changed the account since it was read: retry the unit of work."""


def with_retry(sessions: Callable[[], Session], work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in a fresh session until no :class:`Contended` stops it."""
    for _attempt in range(RETRIES):
        with sessions() as session:
            try:
                return work(session)
            except Contended:
                session.rollback()
    raise ConflictError("the account is too busy: try again")


def fresh_account(session: Session, account_id: int) -> Account:
    """The account as stored now (not a stale copy from earlier in the session)."""
    account = session.get(Account, account_id, populate_existing=True)
    if account is None:
        raise Contended()
    return account


def _bump(session: Session, account: Account, balance: Decimal | None = None) -> None:
    """Compare-and-set the account's version (and balance): :class:`Contended` if it moved."""
    values: dict[str, Any] = {"version": account.version + 1, "updated_at": utcnow()}
    if balance is not None:
        values["balance"] = balance
    result = session.execute(
        sa.update(Account)
        .where(col(Account.id) == account.id, col(Account.version) == account.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise Contended()
    session.expire(account)


def post(
    session: Session,
    account: Account,
    amount: Decimal,
    *,
    kind: str,
    description: str = "",
    charge_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AccountTransaction:
    """Book ``amount`` on ``account`` (read with :func:`fresh_account`), uncommitted."""
    assert account.id is not None
    balance = EXACT.add(account.balance, amount)
    line = AccountTransaction(
        account_id=account.id,
        tenant_id=account.tenant_id,
        kind=kind,
        amount=amount,
        balance_after=balance,
        description=description[:200],
        charge_id=charge_id,
        detail=detail or {},
    )
    _bump(session, account, balance)
    session.add(line)
    return line


def add_transaction(
    sessions: Callable[[], Session], account_id: int, data: TransactionCreate, scope: int | None
) -> AccountTransaction:
    """A top-up (a positive amount) or an adjustment (either sign), committed."""
    if data.kind not in ("topup", "adjustment"):
        raise ValidationError("kind: topup or adjustment", field="kind")
    amount = data.amount
    if isinstance(amount, float):  # pragma: no cover - pydantic gives Decimal
        raise ValidationError("amount: money must be a Decimal", field="amount")
    magnitude = money(abs(amount), field="amount")
    if data.kind == "topup" and (amount.is_signed() or not magnitude):
        raise ValidationError("amount: a top-up must be positive", field="amount")
    if not magnitude:
        raise ValidationError("amount: must not be 0", field="amount")

    def work(session: Session) -> AccountTransaction:
        read_account(session, account_id, scope)
        account = fresh_account(session, account_id)
        line = post(session, account, amount, kind=data.kind, description=data.description)
        session.commit()
        session.refresh(line)
        return line

    return with_retry(sessions, work)


def list_transactions(
    session: Session, account_id: int, scope: int | None, *, offset: int, limit: int
) -> tuple[Sequence[AccountTransaction], int]:
    """The account's ledger, newest first."""
    read_account(session, account_id, scope)
    stmt = select(AccountTransaction).where(AccountTransaction.account_id == account_id)
    return page(
        session, stmt, offset=offset, limit=limit, order_by=col(AccountTransaction.id).desc()
    )


def ledger_sum(session: Session, account_id: int) -> Decimal:
    """The balance recomputed from the ledger lines (exact: summed in Python)."""
    amounts = session.execute(
        sa.select(col(AccountTransaction.amount)).where(
            col(AccountTransaction.account_id) == account_id
        )
    ).scalars()
    return exact_sum(amounts)


# -- reservations ------------------------------------------------------------------------
def reserved(session: Session, account_id: int, now: datetime) -> Decimal:
    """Money held by the account's live reservations."""
    amounts = session.execute(
        sa.select(col(Reservation.amount)).where(
            col(Reservation.account_id) == account_id, col(Reservation.expires_at) > now
        )
    ).scalars()
    return exact_sum(amounts)


def reserve(
    session: Session,
    account: Account,
    *,
    call_id: str,
    amounts: Sequence[tuple[str, Decimal]],
    max_duration_s: int,
    expires_at: datetime,
) -> list[Reservation]:
    """Hold money for a call, one row per (number, amount) (uncommitted); the account's
    version, bumped once, guards the check of the available amount the caller made
    against a concurrent reservation."""
    assert account.id is not None
    rows = [
        Reservation(
            account_id=account.id,
            call_id=call_id[:64],
            number=number[:64],
            amount=amount,
            max_duration_s=max_duration_s,
            expires_at=expires_at,
        )
        for number, amount in amounts
    ]
    _bump(session, account)
    session.add_all(rows)
    return rows


def release(session: Session, call_id: str) -> int:
    """Drop the call's reservations (its charge is booked); uncommitted. Returns how many."""
    result = session.execute(sa.delete(Reservation).where(col(Reservation.call_id) == call_id))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, now: datetime) -> int:
    result = session.execute(sa.delete(Reservation).where(col(Reservation.expires_at) <= now))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
