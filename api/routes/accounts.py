"""``/api/v1/accounts``: who pays, balances, the ledger, and which extensions each pays for.

An account is prepaid (calls are authorized up to what the balance buys and cut off
when it runs out) or postpaid (calls are refused once the balance is below minus the
credit limit). Its ``balance`` is the sum of its transactions: top-ups and adjustments
posted here, charges and re-rating differences posted by the rating service. An
extension without an account of its own is paid for by the tenant's default account.
``/api/v1/rating`` runs the rating batch, re-rates a period and lists charges. See
docs/billing.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import ConfigStateDep, CurrentUser, PageDep, RequireAdmin, SessionDep
from api.schemas import Page, page_of
from api.services import services_of
from orchestrator.bounds import StoreInt
from orchestrator.pricing.tariff import EXACT
from orchestrator.store import billing as store
from orchestrator.store import ledger
from orchestrator.store.billing_models import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    ExtensionAssign,
    TransactionCreate,
    TransactionPublic,
)
from orchestrator.store.models import Account, utcnow

router = APIRouter(prefix="/api/v1/accounts", tags=["billing"], dependencies=[RequireAdmin])


def _public(session: SessionDep, account: Account) -> AccountPublic:
    assert account.id is not None
    held = ledger.reserved(session, account.id, utcnow())
    out = AccountPublic.model_validate(account, from_attributes=True)
    out.reserved = held
    out.available = EXACT.subtract(account.balance, held)
    return out


@router.get("")
def list_accounts(
    session: SessionDep, user: CurrentUser, page: PageDep, tenant_id: StoreInt | None = None
) -> Page[AccountPublic]:
    rows, total = store.list_accounts(
        session, offset=page.offset, limit=page.limit, tenant_id=tenant_id, scope=user.scope
    )
    items = [_public(session, r) for r in rows]
    return Page[AccountPublic](items=items, total=total, offset=page.offset, limit=page.limit)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_account(
    session: SessionDep, user: CurrentUser, data: AccountCreate, config: ConfigStateDep
) -> AccountPublic:
    """A new account, balance 0. The tenant's dialplan starts authorizing outbound calls."""
    account = await run_in_threadpool(store.create_account, session, data, user.scope)
    await config.changed(account.tenant_id)
    return _public(session, account)


@router.get("/{account_id}")
def read_account(session: SessionDep, user: CurrentUser, account_id: StoreInt) -> AccountPublic:
    return _public(session, store.read_account(session, account_id, user.scope))


@router.patch("/{account_id}")
async def update_account(
    session: SessionDep,
    user: CurrentUser,
    account_id: StoreInt,
    data: AccountUpdate,
    config: ConfigStateDep,
) -> AccountPublic:
    account = await run_in_threadpool(store.update_account, session, account_id, data, user.scope)
    await config.changed(account.tenant_id)
    return _public(session, account)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(
    session: SessionDep, user: CurrentUser, account_id: StoreInt, config: ConfigStateDep
) -> None:
    """Delete an account without transactions (409 otherwise: disable it instead)."""
    tenant_id = await run_in_threadpool(store.delete_account, session, account_id, user.scope)
    await config.changed(tenant_id)


@router.get("/{account_id}/transactions")
def list_transactions(
    session: SessionDep, user: CurrentUser, page: PageDep, account_id: StoreInt
) -> Page[TransactionPublic]:
    """The account's ledger, newest first; ``balance_after`` is the running balance."""
    rows, total = ledger.list_transactions(
        session, account_id, user.scope, offset=page.offset, limit=page.limit
    )
    return page_of(TransactionPublic, rows, total, offset=page.offset, limit=page.limit)


@router.post("/{account_id}/transactions", status_code=status.HTTP_201_CREATED)
async def add_transaction(
    request: Request, user: CurrentUser, account_id: StoreInt, data: TransactionCreate
) -> TransactionPublic:
    """A top-up (``kind: topup``, positive) or an adjustment (either sign). Send the
    amount as a string ("10.00")."""
    line = await run_in_threadpool(
        ledger.add_transaction,
        services_of(request.app).session_factory,
        account_id,
        data,
        user.scope,
    )
    return TransactionPublic.model_validate(line, from_attributes=True)


@router.get("/{account_id}/extensions")
def list_extensions(session: SessionDep, user: CurrentUser, account_id: StoreInt) -> list[str]:
    """The extensions this account pays for (besides all others, if it is the default)."""
    return store.account_extensions(session, account_id, user.scope)


@router.post("/{account_id}/extensions", status_code=status.HTTP_204_NO_CONTENT)
def assign_extension(
    session: SessionDep, user: CurrentUser, account_id: StoreInt, data: ExtensionAssign
) -> None:
    store.assign_extension(session, account_id, data.extension, user.scope)


@router.delete("/{account_id}/extensions/{number}", status_code=status.HTTP_204_NO_CONTENT)
def unassign_extension(
    session: SessionDep, user: CurrentUser, account_id: StoreInt, number: str
) -> None:
    store.unassign_extension(session, account_id, number, user.scope)
