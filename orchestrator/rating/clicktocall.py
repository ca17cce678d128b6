"""Prepaid authorization of click-to-call and originated calls.

The CTI service asks before it places leg A (``CtiService.authorizer``, set by the
runtime; the CTI package never imports this one). Each leg to an external number is
authorized as the dialplan authorizes an outbound call
(:meth:`RatingService.authorize`): the paying account is the one the click-to-call
names, else leg A's extension's, else the tenant's default; a prepaid call's money is
reserved under the call's id, which is leg A's engine id and so the CDR's ``call_id``:
rating the CDR releases it. When both legs go to external numbers they are paid at once,
so they are authorized together (the money buys the same time on both). The answer is
the seconds the call may last from each paid leg's answer (the CTI driver hangs up both
legs then), or :class:`~orchestrator.core.errors.PaymentRequiredError` (HTTP 409
``payment-required``) before anything rings::

    cti.authorizer = ClickToCallAuthorizer(rating)
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import Session

from orchestrator.core.errors import PaymentRequiredError
from orchestrator.rating.prepaid import Authorization
from orchestrator.rating.service import RatingService
from orchestrator.store import ledger

log = logging.getLogger(__name__)

# Why a call was refused, as the API says it (Authorization.reason -> message).
REFUSALS = {
    "no-balance": "the account has no money left for this call",
    "credit-limit": "the account is over its credit limit",
    "disabled": "the account is disabled",
    "unknown-account": "no such account in the tenant",
}


class ClickToCallAuthorizer:
    """Implements the CTI service's ``CallAuthorizer`` with a :class:`RatingService`."""

    def __init__(self, rating: RatingService) -> None:
        self.rating = rating

    async def authorize(
        self,
        *,
        tenant_id: int,
        call_id: str,
        account: str | None,
        extension: str | None,
        numbers: list[str],
    ) -> float | None:
        """The seconds each paid leg may last (None: no limit), or PaymentRequiredError.

        The paid legs are authorized together: both legs to external numbers run at the
        same time, so the money must pay for both for as long as the answer says."""
        if not numbers:
            return None
        answer = await asyncio.to_thread(
            self.rating.authorize,
            tenant_id=tenant_id,
            number=numbers,
            call_id=call_id,
            account=account,
            extension=extension,
        )
        log.info(
            "click-to-call %s of tenant %s to %s: %s (%s)",
            call_id, tenant_id, ", ".join(numbers), answer.answer(), answer.reason,
        )  # fmt: skip
        if answer.decision == "refuse":
            raise _refused(answer, numbers, account)
        if answer.decision == "limit":
            return answer.max_ms / 1000
        return None

    async def release(self, call_id: str) -> None:
        """Drop the call's reservations (it never started, so no CDR will)."""

        def work(session: Session) -> int:
            released = ledger.release(session, call_id)
            session.commit()
            return released

        await asyncio.to_thread(ledger.with_retry, self.rating.sessions, work)


def _refused(
    answer: Authorization, numbers: list[str], account: str | None
) -> PaymentRequiredError:
    message = REFUSALS.get(answer.reason, f"the call cannot be billed ({answer.reason})")
    return PaymentRequiredError(
        message,
        reason=answer.reason,
        number=numbers[0] if len(numbers) == 1 else numbers,
        account=account,
        account_id=answer.account_id,
    )
