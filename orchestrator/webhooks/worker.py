"""The delivery worker: POSTs due deliveries, logs every attempt, retries with backoff.

Deliveries are rows in the store (:mod:`orchestrator.store.webhooks`), written before
the first attempt; the worker claims the due ones with a lease (so a second replica or
a restart never sends one twice at the same time, and a crash mid-attempt only delays
it), sends them with aiohttp and records the outcome. A 2xx answer delivers; anything
else (another status, a redirect, a timeout, a refused connection) is retried after an
exponential backoff with jitter, until ``max_attempts``; then the delivery is dead.

Unless private targets are allowed, names that resolve only to loopback, private or
link-local addresses are refused when connecting (not only when the URL is saved), so
a tenant cannot reach the orchestrator's own network through DNS tricks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp

from orchestrator.core.errors import ValidationError
from orchestrator.store import webhooks as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import DeliveryState, utcnow
from orchestrator.webhooks.signing import sign_headers

log = logging.getLogger("orchestrator.webhooks")

_SNIPPET = 200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again: ``base_s * factor**(n-1)``, capped at ``max_s``, with jitter.

    ``jitter`` is the fraction of each delay that is random ("equal jitter" at 0.5:
    between half and all of the delay), so receivers that come back are not hit by
    every sender at once. The defaults try 6 times over about 12 minutes.
    """

    max_attempts: int = 6
    base_s: float = 10.0
    factor: float = 3.0
    max_s: float = 3600.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        full = min(self.max_s, self.base_s * self.factor ** max(attempt - 1, 0))
        r = (rand or _JITTER).random()
        return full * (1 - self.jitter) + full * self.jitter * r


# Its own generator, not the random module's: the global one belongs to the application
# embedding the service (a property-based test's seeded draws saw it move under them).
_JITTER = random.Random()


class PublicResolver(aiohttp.ThreadedResolver):
    """A resolver that drops private, loopback and link-local addresses."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        found = await super().resolve(host, port, family)
        public = [r for r in found if store.is_public_address(str(r["host"]))]
        if not public:
            raise OSError(f"{host} resolves to no public address; refused")
        return public


@dataclass(slots=True)
class Outcome:
    status: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class DeliveryWorker:
    """Sends the store's due deliveries (see the module doc); ``start``/``stop``."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        policy: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        poll_s: float = 1.0,
        allow_private: bool = False,
    ) -> None:
        self.sessions = sessions
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.allow_private = allow_private
        self.sent = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop; attempts in flight are cancelled and stay pending (retried after the lease)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        for task in list(self._inflight):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
            self._http = None

    def wake(self) -> None:
        """New deliveries are due now (instead of at the next poll)."""
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            free = self.concurrency - len(self._inflight)
            claimed: list[store.DueDelivery] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(self._claim, free)
                except Exception:
                    log.exception("could not read due webhook deliveries")
            for due in claimed:
                task = asyncio.create_task(self._attempt(due), name=f"webhook-{due.uuid}")
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if claimed and len(claimed) == free:
                continue  # perhaps more are due
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free

    def _claim(self, limit: int) -> list[store.DueDelivery]:
        now = utcnow()
        lease = now + timedelta(seconds=self.timeout_s + 30)
        with self.sessions() as session:
            return store.claim_due(session, now=now, lease_until=lease, limit=limit)

    # -- one attempt -----------------------------------------------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            resolver = None if self.allow_private else PublicResolver()
            connector = aiohttp.TCPConnector(limit=self.concurrency, resolver=resolver)
            self._http = aiohttp.ClientSession(connector=connector)
        return self._http

    async def post(self, due: store.DueDelivery) -> Outcome:
        """POST the delivery once; never raises for a network or HTTP failure."""
        body = due.body.encode()
        headers = sign_headers(
            due.secret, body, delivery_id=due.uuid, event_type=due.event_type,
            attempt=due.attempts + 1,
        )  # fmt: skip
        start = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            # Checked again at send time: the URL may predate a stricter setting.
            store.check_url(due.url, allow_private=self.allow_private)
            async with self._client().post(
                due.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as resp:
                status = resp.status
                if not 200 <= status < 300:
                    snippet = (await resp.content.read(_SNIPPET)).decode("utf-8", "replace")
                    error = f"HTTP {status}" + (f": {snippet.strip()}" if snippet.strip() else "")
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except ValidationError as exc:
            error = exc.message
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - start) * 1000)
        return Outcome(status, latency, error)

    async def _attempt(self, due: store.DueDelivery) -> None:
        outcome = await self.post(due)
        attempt = due.attempts + 1
        now = utcnow()
        retry_at = None
        if not outcome.ok and attempt < self.policy.max_attempts:
            retry_at = now + timedelta(seconds=self.policy.delay(attempt))
        try:
            state = await asyncio.to_thread(self._record, due.id, now, outcome, retry_at)
        except Exception:
            # The lease runs out and the delivery is tried again: at least once.
            log.exception("could not log the attempt of webhook delivery %s", due.uuid)
            return
        if outcome.ok:
            self.sent += 1
        elif state == DeliveryState.DEAD:
            log.warning(
                "webhook delivery %s to %s is dead after %d attempts: %s",
                due.uuid, due.url, attempt, outcome.error,
            )  # fmt: skip

    def _record(self, delivery_id: int, now: Any, outcome: Outcome, retry_at: Any) -> DeliveryState:
        with self.sessions() as session:
            return store.record_attempt(
                session,
                delivery_id,
                at=now,
                status_code=outcome.status,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                delivered=outcome.ok,
                retry_at=retry_at,
            )
