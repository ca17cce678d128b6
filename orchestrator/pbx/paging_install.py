"""Wiring of intercom and paging: the ``paging`` feature-code handler over the store.

The composition root passes whether a phone is on a call (the supervision's channel
watch): this package may not import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlmodel import Session

from orchestrator.pbx.dispatch import FeatureHandlers, Handler
from orchestrator.pbx.paging import InCall, PageTarget, PageTargets, paging_handler
from orchestrator.store.paging import page_targets


def store_targets(
    sessions: Callable[[], Session],
) -> Callable[[int, str], Awaitable[PageTargets | None]]:
    """What ``*46<number>`` pages, read from the store on each call (a group changed over
    REST applies to the next page)."""

    def read(tenant_id: int, number: str) -> PageTargets | None:
        with sessions() as session:
            found = page_targets(session, tenant_id, number)
        if found is None:
            return None
        kind, name, targets = found
        return PageTargets(kind, name, [PageTarget(n, e) for n, e in targets])

    async def targets_of(tenant_id: int, number: str) -> PageTargets | None:
        return await asyncio.to_thread(read, tenant_id, number)

    return targets_of


def install(
    sessions: Callable[[], Session], handlers: FeatureHandlers, *, in_call: InCall | None = None
) -> Handler:
    """Register the ``paging`` handler; returns it."""
    handler = paging_handler(store_targets(sessions), in_call=in_call)
    handlers.register("paging", handler)
    return handler
