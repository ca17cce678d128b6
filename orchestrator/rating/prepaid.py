"""How long a prepaid call may last: the seconds the available money buys.

:func:`max_duration` asks the pure rater itself (a binary search over durations), so
the answer honours every rule a charge does (connection fee, free seconds, first and
next increments, minimum charge, the period the call starts in, rounding): the charge
of the authorized duration is never more than the money available, and one second
more would be. Charges never fall as a call gets longer, which is what makes the
search valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orchestrator.pricing import Charge, Tariff, Unrated, rate
from orchestrator.pricing.tariff import exact_sum

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
    bought = max_joint_duration([(tariff, number)], start=start, available=available, cap_s=cap_s)
    if isinstance(bought, Unrated):
        return bought
    seconds, [amount] = bought
    return seconds, amount


def max_joint_duration(
    legs: Sequence[tuple[Tariff, str]], *, start: datetime, available: Decimal, cap_s: int
) -> tuple[int, list[Decimal]] | Unrated:
    """The longest time all ``legs`` (tariff, number) may run together from ``start``:
    ``(seconds, charge of each leg)`` with the charges' sum at most ``available``.

    A click-to-call between two external numbers pays both legs at once; authorizing
    each alone would give the first leg all the money and refuse the second.
    """

    def price(seconds: int) -> list[Decimal] | Unrated:
        amounts: list[Decimal] = []
        for tariff, number in legs:
            charge = rate(tariff, number=number, start=start, duration_s=seconds)
            if not isinstance(charge, Charge):
                return charge
            amounts.append(charge.amount)
        return amounts

    def fits(amounts: list[Decimal]) -> bool:
        return exact_sum(amounts) <= available

    one = price(1)
    if isinstance(one, Unrated):
        return one
    if not fits(one):
        return 0, [Decimal(0)] * len(legs)
    top = price(cap_s)
    assert not isinstance(top, Unrated)
    if fits(top):
        return cap_s, top
    low, high, low_amounts = 1, cap_s, one  # price(low) fits, price(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        amounts = price(middle)
        assert not isinstance(amounts, Unrated)
        if fits(amounts):
            low, low_amounts = middle, amounts
        else:
            high = middle
    return low, low_amounts


def limit_ms(seconds: int) -> int:
    """The engine's timer for ``seconds`` of paid time, with :data:`MARGIN_MS` kept back."""
    return max(seconds * 1000 - MARGIN_MS, 200)
