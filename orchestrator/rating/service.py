"""The rating service: every CDR's xDRs charged exactly once, re-rating, prepaid cut-off.

:class:`RatingService` is made of four parts, one module each: :class:`~.charging.CdrRater`
(rating each CDR exactly once, when it is written and in batches),
:class:`~.rerate.Rerater` (re-rating a period under a database lease),
:class:`~.authorize.PrepaidAuthorizer` (may this call go ahead, and for how long) and
:class:`~.conference.ConferenceAuthorizing` (how long may a conference's participants go
on); this module adds their shared state and the batch's schedule.

Example::

    service = RatingService(sessions)
    cdr_builder.listeners.append(service.on_cdr)
    service.start()                       # the batch every minute (APScheduler)
    service.run_batch()                   # what the batch does: every unrated xDR
    service.rerate(since, until, tenant_id=1)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from orchestrator.rating.authorize import PrepaidAuthorizer
from orchestrator.rating.booking import TariffCache
from orchestrator.rating.conference import ConferenceAuthorizing
from orchestrator.rating.rerate import Rerater, RerateResult
from orchestrator.store.models import utcnow

__all__ = ["RatingService", "RerateResult"]

log = logging.getLogger(__name__)


class RatingService(Rerater, PrepaidAuthorizer, ConferenceAuthorizing):
    """See the module doc. ``sessions`` makes database sessions; ``cap_s`` is the longest
    a prepaid call is ever authorized for; ``batch_every_s`` the batch's period."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        cap_s: int = 4 * 3600,
        batch_every_s: float = 60.0,
        ring_s: int = 120,
        rerate_lease_s: float = 300.0,
    ) -> None:
        self.sessions = sessions
        self.tariffs = TariffCache()
        self.cap_s = cap_s
        self.batch_every_s = batch_every_s
        self.ring_s = ring_s
        # How long a re-rating's lease outlives a silent holder (renewed while it works).
        self.rerate_lease = timedelta(seconds=rerate_lease_s)
        self.rated = 0  # xDR charges booked by this service
        self._scheduler: Any = None
        # Test hook: called after each CDR's charges are added, before the commit.
        self.before_commit: Callable[[int], None] | None = None
        # Test hook: called with each CDR id a re-rating is about to rate again.
        self.before_rerate: Callable[[int], None] | None = None
        # Authorizations of one account take turns (see _authorize); striped, so the
        # number of locks does not grow with the accounts.
        self._account_locks = [threading.Lock() for _ in range(64)]

    # -- the schedule ----------------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`run_batch` every ``batch_every_s`` (APScheduler, in the event loop)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        async def batch() -> None:
            try:
                booked = await asyncio.to_thread(self.run_batch)
                if booked:
                    log.info("rating batch: %d charges booked", booked)
            except Exception:
                log.exception("rating batch failed")

        self._scheduler = AsyncIOScheduler()
        self._scheduler.add_job(
            batch,
            "interval",
            seconds=self.batch_every_s,
            id="rating-batch",
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),  # at start too: rate what came in while we were down
        )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
