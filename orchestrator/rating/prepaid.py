"""How long a prepaid call may last: the seconds the available money buys.

:func:`max_duration` asks the pure rater itself (a binary search over durations), so
the answer honours every rule a charge does (connection fee, free seconds, first and
next increments, minimum charge, the period the call starts in, rounding): the charge
of the authorized duration is never more than the money available, and one second
more would be. Charges never fall as a call gets longer, which is what makes the
search valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orchestrator.billing import Charge, Tariff, Unrated, rate

# A prepaid call is cut off this long before its money runs out: the CDR counts a
# started second as a whole one, and the engine's timer and the events' clock differ
# by some milliseconds, so a cut exactly at the limit could bill one second more.
MARGIN_MS = 500


@dataclass(frozen=True, slots=True)
class Authorization:
    """The answer to "may this call go ahead?".

    ``decision``: ``limit`` (a prepaid call, cut off after ``max_ms``), ``unlimited``
    (postpaid within its credit, or a caller nobody bills), ``refuse``. ``cause`` is the
    Q.850 cause a refused call is ended with (21, call rejected: SIP 403).
    """

    decision: str
    max_ms: int = 0
    account_id: int | None = None
    reason: str = ""
    reserved: Decimal = Decimal(0)
    cause: int = 21

    def answer(self) -> str:
        """The dialplan's form: ``limit_<ms>``, ``unlimited`` or ``refuse_<cause>``."""
        if self.decision == "limit":
            return f"limit_{self.max_ms}"
        if self.decision == "unlimited":
            return "unlimited"
        return f"refuse_{self.cause}"


def max_duration(
    tariff: Tariff, *, number: str, start: datetime, available: Decimal, cap_s: int
) -> tuple[int, Decimal] | Unrated:
    """``(seconds, charge)``: the longest call to ``number`` starting at ``start`` whose
    charge is at most ``available`` (at most ``cap_s``), with that charge; ``(0, 0)`` if
    not even one second is affordable; :class:`Unrated` if the tariff cannot rate it."""

    def price(seconds: int) -> Charge | Unrated:
        return rate(tariff, number=number, start=start, duration_s=seconds)

    one = price(1)
    if not isinstance(one, Charge):
        return one
    if one.amount > available:
        return 0, Decimal(0)
    top = price(cap_s)
    assert isinstance(top, Charge)
    if top.amount <= available:
        return cap_s, top.amount
    low, high, low_amount = 1, cap_s, one.amount  # price(low) <= available < price(high)
    while high - low > 1:
        middle = (low + high) // 2
        charge = price(middle)
        assert isinstance(charge, Charge)
        if charge.amount <= available:
            low, low_amount = middle, charge.amount
        else:
            high = middle
    return low, low_amount


def limit_ms(seconds: int) -> int:
    """The engine's timer for ``seconds`` of paid time, with :data:`MARGIN_MS` kept back."""
    return max(seconds * 1000 - MARGIN_MS, 200)
