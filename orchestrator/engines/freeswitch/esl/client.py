"""The ESL link that stays up: reconnect with backoff, re-subscribe, report the gaps.

:meth:`EslClient.run` connects, authenticates, subscribes and sets the event filters
(``filters``: ``filter <header> <value>`` pairs), then hands its callback
:class:`LinkUp`, every event in arrival order, and :class:`LinkDown` when the link is
lost; it reconnects with exponential backoff (``backoff = (first delay, cap)``) and
subscribes and filters again, forever, until :meth:`EslClient.close`. Between a LinkDown and the
next LinkUp events were missed: the LinkUp handler is where the adapter reconciles
(``show channels as json``). Requests made while the link is down fail at once with
:class:`EngineUnavailableError`; nothing is queued for a resend (an ``originate`` sent
twice is two calls).

A FreeSWITCH that stops answering with its socket open (stopped, deadlocked, swapping)
would look connected forever: every ``probe_every`` seconds the client asks it
``api version``, and with no reply in ``probe_timeout`` seconds it drops the link
(LinkDown "no reply to a liveness probe ...") and reconnects as after any loss: the
connect's own auth timeout keeps it down until the engine answers again.

Example::

    client = EslClient("127.0.0.1", 8021, "ClueCon", events=["CHANNEL_PARK"])

    async def on_item(item: LinkUp | LinkDown | EslEvent) -> None:
        print(item)

    task = asyncio.create_task(client.run(on_item))
    await client.wait_connected(5.0)
    print(await client.api("status"))
    await client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core.errors import (
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    OrchestratorError,
)
from orchestrator.engines.freeswitch.esl.connection import EslConnection
from orchestrator.engines.freeswitch.esl.wire import EslEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkUp:
    """Connected, authenticated and subscribed; ``reconnect``: after a gap."""

    reconnect: bool


@dataclass(frozen=True)
class LinkDown:
    reason: str


StreamItem = LinkUp | LinkDown | EslEvent


@dataclass(frozen=True)
class _Lost:
    reason: str


def _closer(queue: asyncio.Queue[EslEvent | _Lost]) -> Callable[[str], None]:
    return lambda reason: queue.put_nowait(_Lost(reason))


class EslClient:
    """One inbound ESL login kept up; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        events: Sequence[str],
        custom: Sequence[str] = (),
        filters: Sequence[tuple[str, str]] = (),
        backoff: tuple[float, float] = (0.2, 5.0),
        request_timeout: float = 5.0,
        probe_every: float = 10.0,
        probe_timeout: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self._password = password
        self.events = tuple(events)
        self.custom = tuple(custom)
        self.filters = tuple(filters)
        if self.filters and ("Event-Name", "BACKGROUND_JOB") not in self.filters:
            # A filtered connection drops every event no filter lets through: without
            # this one, bgapi results would never arrive.
            self.filters = (("Event-Name", "BACKGROUND_JOB"), *self.filters)
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.probe_every, self.probe_timeout = probe_every, probe_timeout
        self._conn: EslConnection | None = None
        self._up = asyncio.Event()
        self._stop = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def run(self, on_item: Callable[[StreamItem], Awaitable[None]]) -> None:
        """Deliver LinkUp / events / LinkDown to ``on_item`` until :meth:`close`."""
        delay = self.backoff[0]
        ever_up = False
        while not self._stop.is_set():
            queue: asyncio.Queue[EslEvent | _Lost] = asyncio.Queue()
            conn = await self._connect(queue)
            if conn is None:
                await self._pause(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            if self._stop.is_set():
                await conn.close()
                break
            self._conn = conn
            delay = self.backoff[0]
            probe = asyncio.create_task(self._probe(conn), name="esl-probe")
            try:
                await on_item(LinkUp(reconnect=ever_up))
                ever_up = True
                self._up.set()
                while True:
                    item = await queue.get()
                    if isinstance(item, _Lost):
                        reason = item.reason
                        break
                    await on_item(item)
            finally:
                probe.cancel()
                self._up.clear()
                self._conn = None
                await conn.close()
            await on_item(LinkDown(reason))
            await self._pause(delay)

    async def _connect(self, queue: asyncio.Queue[EslEvent | _Lost]) -> EslConnection | None:
        """A subscribed, filtered connection feeding ``queue``; None if the engine is not
        reachable."""
        try:
            conn = await EslConnection.open(
                self.host,
                self.port,
                self._password,
                timeout=self.request_timeout,
                on_event=queue.put_nowait,
                on_close=_closer(queue),
            )
        except EngineError as exc:
            log.debug("ESL %s:%s: connect failed: %s", self.host, self.port, exc)
            return None
        try:
            await conn.subscribe(self.events, self.custom)
            for header, value in self.filters:
                await conn.filter(header, value)
        except EngineError as exc:
            await conn.close()
            log.debug("ESL %s:%s: subscribe/filter failed: %s", self.host, self.port, exc)
            return None
        except BaseException:
            # A subscription or filter FreeSWITCH refuses (an unknown event name) is a
            # bug to report, not a link to retry.
            await conn.close()
            raise
        return conn

    async def _probe(self, conn: EslConnection) -> None:
        """Drop ``conn`` once the engine leaves a request unanswered (module doc)."""
        while not conn.closed:
            await asyncio.sleep(self.probe_every)
            try:
                await conn.api("version", timeout=self.probe_timeout)
            except EngineTimeoutError:
                reason = f"no reply to a liveness probe in {self.probe_timeout:g} s"
                log.warning("ESL %s:%s: %s: dropping the link", self.host, self.port, reason)
                conn.abort(reason)
                return
            except EngineError:
                return  # the link is being lost anyway: run() sees it
            except OrchestratorError as exc:  # an answer, if not the expected one: alive
                log.debug("ESL %s:%s: liveness probe: %s", self.host, self.port, exc)

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Return once the link is up and its LinkUp was handled."""
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            raise EngineTimeoutError(
                f"ESL {self.host}:{self.port}: not connected within {timeout} s"
            ) from None

    async def close(self) -> None:
        """Stop :meth:`run` (after its LinkDown) and close the connection."""
        self._stop.set()
        if self._conn is not None:
            await self._conn.close()

    async def drop_link(self) -> None:
        """Drop the socket as a network failure would; :meth:`run` reconnects (tests)."""
        if self._conn is not None:
            self._conn.abort()

    def _link(self) -> EslConnection:
        conn = self._conn
        if conn is None or conn.closed:
            raise EngineUnavailableError(f"ESL {self.host}:{self.port}: not connected")
        return conn

    # -- requests: EslConnection's, on the current link (request_timeout is for the
    # connect, auth and subscription; each request has its own timeout) --------
    async def command(
        self,
        line: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        *,
        timeout: float = 5.0,
    ) -> str:
        return await self._link().command(line, headers, body, timeout=timeout)

    async def api(self, command: str, *, timeout: float = 5.0) -> str:
        return await self._link().api(command, timeout=timeout)

    async def bgapi(
        self, command: str, *, job_uuid: str | None = None, timeout: float = 30.0
    ) -> str:
        return await self._link().bgapi(command, job_uuid=job_uuid, timeout=timeout)

    async def sendmsg(
        self,
        uuid: str,
        command: str = "execute",
        *,
        app: str = "",
        arg: str = "",
        event_uuid: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        await self._link().sendmsg(
            uuid, command, app=app, arg=arg, event_uuid=event_uuid, headers=headers, timeout=timeout
        )
