"""Message-waiting indication (MWI) as reconciled state: the store says how many new and
old voicemail messages each phone should show; :class:`MwiReconciler` makes the engine
show it, and shows it again whenever a phone or the engine may have lost it.

Other PBXs lose the light after a phone re-registers (it rebooted: its light is off) or
after the switch restarted. Here the desired counts are computed from the store (a
``desired`` callable) and pushed with :meth:`Engine.set_message_waiting`:

- on :meth:`MwiReconciler.changed` (the :class:`MwiNotifier` voicemail calls after each
  deposit, listen, save or delete): the tenant's counts are computed again and every
  endpoint whose counts differ from what was last pushed gets them; the same state is
  never pushed twice in a run except for the re-sends below;
- on ``EndpointStateChanged`` saying a phone (re-)registered (``online``/``reachable``):
  that endpoint's counts are sent again, whatever was pushed before;
- on ``EngineConnected`` (the first connect, a reconnect, an engine restart): everything
  is computed again and sent again.

A push the engine refuses or that fails is logged and forgotten (the next
:meth:`~MwiReconciler.changed` of its tenant pushes it, the next connect sends it
anyway): voicemail never fails because a light could not be set.

Example::

    async def desired(tenant_id: int | None) -> dict[str, tuple[int, int]]:
        return {"101@a.example": (2, 1)}       # endpoint -> (new, old)

    mwi = MwiReconciler(engine, desired)
    mwi.start()                                # follows the engine's events
    await mwi.changed(tenant_id=1, mailbox_id=7)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import EndpointStateChanged, EngineConnected, Event

log = logging.getLogger(__name__)

Counts = tuple[int, int]  # (new, old)
# The desired state: endpoint -> (new, old) for one tenant (its id) or for all (None).
# Every endpoint that has a mailbox is listed, also with (0, 0).
Desired = Callable[[int | None], Awaitable[Mapping[str, Counts]]]
# EndpointStateChanged states meaning that a phone is there again (registrations, or an
# engine's own contact states).
REGISTERED = frozenset({"online", "reachable"})


class MwiNotifier(Protocol):
    """What voicemail tells after it changed a mailbox's counts (a deposit, a message
    heard, saved or deleted, a mailbox created, moved or removed)."""

    async def changed(self, tenant_id: int, mailbox_id: int) -> None: ...


class NoMwi:
    """The :class:`MwiNotifier` when nothing shows message waiting (the default)."""

    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        return None


class MwiReconciler:
    """Keeps the engine's message-waiting indications equal to ``desired`` (module doc).

    ``pushed`` is what this run last pushed per endpoint (what the phones show, as far as
    this run knows). Pushes happen one at a time, in the order they were decided.
    """

    def __init__(self, engine: Engine, desired: Desired) -> None:
        self.engine = engine
        self.desired = desired
        self.pushed: dict[str, Counts] = {}
        # The last desired counts seen per endpoint, and whose (tenant id) they are: what a
        # re-registration re-sends, and how a tenant's vanished endpoints are found.
        self.wanted: dict[str, Counts] = {}
        self.tenant_of: dict[str, int | None] = {}
        # The last computation of everything failed (the store was down at a connect):
        # nothing is known to re-send, so the next registration computes again.
        self.stale = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ---------------------------------------------------------------
    def start(self) -> None:
        """Follow the engine's events (call before the engine's ``start()``, so the first
        ``EngineConnected`` pushes everything)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        """Stop following events; pushes in flight are cancelled."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until the pushes that events started are done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- what voicemail calls -------------------------------------------------------
    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        """A mailbox of the tenant changed: push its endpoints' counts that differ from
        what was pushed (the :class:`MwiNotifier` interface; ``mailbox_id`` is not needed:
        the tenant's counts are computed together, a shared mailbox lights several phones).
        Never raises for the engine's or the store's errors (logged)."""
        async with self._lock:
            await self._sync(tenant_id, resend=False)

    async def resync(self) -> None:
        """Compute everything and send it all again (what a connect does)."""
        async with self._lock:
            await self._sync(None, resend=True)

    async def resend(self, endpoint: str) -> None:
        """Send the endpoint's last desired counts again (a phone that re-registered)."""
        async with self._lock:
            counts = self.wanted.get(endpoint)
            if counts is not None:
                await self._push(endpoint, counts)

    # -- events -----------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        # Never wait inline: the adapter's dispatcher delivers the next events meanwhile.
        if isinstance(event, EngineConnected):
            self._spawn(self.resync(), "mwi-resync")
        elif isinstance(event, EndpointStateChanged) and event.state in REGISTERED:
            if self.stale:  # the last full computation failed: try it again now
                self._spawn(self.resync(), "mwi-resync")
            elif event.endpoint in self.wanted:
                self._spawn(self.resend(event.endpoint), "mwi-resend")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the work ------------------------------------------------------------------------
    async def _sync(self, tenant_id: int | None, *, resend: bool) -> None:
        try:
            desired = dict(await self.desired(tenant_id))
        except Exception:
            # The store is down: nothing is known, nothing changes (the next change or
            # connect computes again).
            log.exception("mwi: cannot compute the desired counts (tenant %s)", tenant_id)
            self.stale = self.stale or tenant_id is None
            return
        if tenant_id is None:
            self.stale = False
        # Endpoints this computation covered before and no longer lists (a mailbox
        # removed, an extension deleted): their lights go off once.
        scope = [e for e, t in self.tenant_of.items() if tenant_id is None or t == tenant_id]
        for endpoint in scope:
            if endpoint not in desired:
                self.wanted.pop(endpoint, None)
                self.tenant_of.pop(endpoint, None)
                if self.pushed.get(endpoint, (0, 0)) != (0, 0) or resend:
                    await self._push(endpoint, (0, 0))
                self.pushed.pop(endpoint, None)
        for endpoint, counts in sorted(desired.items()):
            self.wanted[endpoint] = counts
            if tenant_id is not None or endpoint not in self.tenant_of:
                self.tenant_of[endpoint] = tenant_id
            if resend or self.pushed.get(endpoint) != counts:
                await self._push(endpoint, counts)

    async def _push(self, endpoint: str, counts: Counts) -> None:
        new, old = counts
        try:
            await self.engine.set_message_waiting(endpoint, new, old)
        except OrchestratorError as exc:
            # Forgotten: the next change of its tenant pushes it, the next connect anyway.
            self.pushed.pop(endpoint, None)
            log.warning("mwi: %s not shown to %s: %s", counts, endpoint, exc)
            return
        except Exception:
            self.pushed.pop(endpoint, None)
            log.exception("mwi: %s not shown to %s", counts, endpoint)
            return
        self.pushed[endpoint] = counts
