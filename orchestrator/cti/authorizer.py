"""What the CTI service asks before it places a paid leg (prepaid billing).

The billing service implements it (:class:`orchestrator.rating.clicktocall.
ClickToCallAuthorizer`, set by the runtime as ``CtiService.authorizer``); the CTI package
never imports billing. Asked before a click-to-call or originate places leg A, and before
an attended transfer calls an external target.
"""

from __future__ import annotations

from typing import Protocol


class CallAuthorizer(Protocol):
    """Asked before a paid leg is placed (see the module doc). A call's reservations are
    all made under its id; rating its CDR releases them."""

    async def authorize(
        self,
        *,
        tenant_id: int,
        call_id: str,
        account: str | None,
        extension: str | None,
        numbers: list[str],
    ) -> float | None:
        """Seconds each leg to an external ``number`` may talk from its answer (None: no
        limit); raises :class:`~orchestrator.core.errors.PaymentRequiredError` to refuse."""
        ...

    async def release(self, call_id: str) -> None:
        """Give back what ``authorize`` held for a call whose leg A could not be placed."""
        ...
