"""How a call's outcome is named: dispositions, and how dial statuses and Q.850 causes map to them.

The disposition of a call (and of each of its legs) is decided in this order:

1. ``answered``: a party leg (not the engine's internal plumbing, such as loopback
   channels) went up. For a leg: it went up.
2. Otherwise the **last final dial outcome** that concerned the call (or the leg, as the
   dialed peer) decides, since the last attempt is what the caller finally got (a busy
   extension forwarded to one that rang out is ``no_answer``; a caller who gave up
   while the forward target rang is ``cancelled``):

   ===============  ===========  ===========================================
   dial outcome     disposition  Q.850 cause used when the engine gave none
   ===============  ===========  ===========================================
   ``busy``         busy         17 user busy
   ``no_answer``    no_answer    19 no answer from user (user alerted)
   ``cancelled``    cancelled    16 normal clearing (the caller hung up)
   ``congestion``   failed       34 no circuit/channel available
   ``unavailable``  failed       20 subscriber absent
   ===============  ===========  ===========================================

   (``rejected``, the callee's screening refusing the call, does not decide: the
   cause does, as step 3.)

   The CDR's ``hangup_cause`` is the Q.850 cause of the party that ended first; for an
   unanswered call whose cause is only 16 "normal clearing" (Asterisk ends a callee
   that rang out that way), the cause of the dial outcome in the table is recorded.
   For an answered call ended "normally" while another answered party ended with
   another cause at the same moment (the engine cleared a phone that vanished: 44,
   and Dial() then hung up the other party with 16), that cause is recorded.

3. With no dial outcome at all, the Q.850 cause of the leg that ended first decides
   (:func:`disposition_for_cause`): 17 → busy; 18, 19 → no_answer; 16, 31, 0 and 127
   (the caller hung up or gave no reason) → cancelled; any other cause (1 unallocated
   number, 3, 20, 21 call rejected, 27, 34, 38, 41, 42, 88, ...) → failed.
"""

from __future__ import annotations

import enum

from orchestrator.core.outcomes import DialOutcome, HangupCause


class Disposition(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Direction(enum.StrEnum):
    INTERNAL = "internal"  # between a tenant's own extensions (and its IVR apps)
    OUTBOUND = "outbound"  # an extension called out through a trunk
    INBOUND = "inbound"  # a trunk (or an unknown party) called in


# The engine's final dial outcomes (ChannelDialed.status) -> disposition, default Q.850 cause.
DIAL_STATUS: dict[str, tuple[Disposition, int]] = {
    DialOutcome.ANSWERED: (Disposition.ANSWERED, HangupCause.NORMAL_CLEARING),
    DialOutcome.BUSY: (Disposition.BUSY, HangupCause.USER_BUSY),
    DialOutcome.NO_ANSWER: (Disposition.NO_ANSWER, HangupCause.NO_ANSWER),
    DialOutcome.CANCELLED: (Disposition.CANCELLED, HangupCause.NORMAL_CLEARING),
    DialOutcome.CONGESTION: (Disposition.FAILED, HangupCause.NORMAL_CIRCUIT_CONGESTION),
    DialOutcome.UNAVAILABLE: (Disposition.FAILED, HangupCause.SUBSCRIBER_ABSENT),
}

# Causes that say only "someone hung up": normal clearing, normal unspecified, none.
NORMAL_CAUSES = frozenset(
    {
        HangupCause.NOT_DEFINED,
        HangupCause.NORMAL_CLEARING,
        HangupCause.NORMAL_UNSPECIFIED,
        HangupCause.INTERWORKING,
    }
)


def disposition_for_cause(cause: int) -> Disposition:
    """The disposition of an unanswered call that ended with ``cause`` and no dial outcome."""
    if cause == HangupCause.USER_BUSY:
        return Disposition.BUSY
    if cause in (HangupCause.NO_USER_RESPONSE, HangupCause.NO_ANSWER):
        return Disposition.NO_ANSWER
    if cause in NORMAL_CAUSES:
        return Disposition.CANCELLED
    return Disposition.FAILED


def decide(answered: bool, dial_statuses: list[str], first_cause: int | None) -> Disposition:
    """The disposition from the facts above (``dial_statuses`` oldest first)."""
    if answered:
        return Disposition.ANSWERED
    for status in reversed(dial_statuses):
        known = DIAL_STATUS.get(status)
        # An "answer" status without a party going up cannot decide an unanswered call.
        if known is not None and known[0] is not Disposition.ANSWERED:
            return known[0]
    return disposition_for_cause(first_cause or 0)


def default_cause(disposition: Disposition) -> int:
    """The Q.850 cause recorded when the engine reported none (0)."""
    return int(
        {
            Disposition.ANSWERED: HangupCause.NORMAL_CLEARING,
            Disposition.BUSY: HangupCause.USER_BUSY,
            Disposition.NO_ANSWER: HangupCause.NO_ANSWER,
            Disposition.CANCELLED: HangupCause.NORMAL_CLEARING,
            Disposition.FAILED: HangupCause.NORMAL_TEMPORARY_FAILURE,
        }[disposition]
    )
