"""The rating service: rates stored CDRs and books their charges in the ledger; re-rating;
prepaid authorization.

:mod:`orchestrator.pricing` prices a call (pure, no store); this package applies it to
the store:

- :class:`RatingService` rates each xDR of a CDR when it is written (a
  :class:`~orchestrator.cdr.CdrBuilder` listener) and in scheduled batches (APScheduler),
  exactly once: a charge row per (xDR, rating) under a unique key, booked in the same
  database transaction as its ledger debit. :meth:`RatingService.rerate` rates a period
  again and books the differences.
- :meth:`RatingService.authorize` answers "may this caller dial this number, and for how
  long?" for the dialplan (:func:`authorize_router`) and click-to-call, reserving the
  money a prepaid call may spend; :meth:`RatingService.authorize_conference` the same
  for a conference's participants, paid together by its owner.

See docs/billing.md.
"""

from orchestrator.rating.dialplan import authorize_router
from orchestrator.rating.prepaid import Authorization, max_duration
from orchestrator.rating.rerate import RerateResult
from orchestrator.rating.service import RatingService

__all__ = ["Authorization", "RatingService", "RerateResult", "authorize_router", "max_duration"]
