"""A small wrapper over panoramisk's AMI ``Manager``.

panoramisk handles the wire format; this module adds what the orchestrator needs
around it: the Manager is created inside the running loop, every action has a
timeout, actions still pending when the link drops fail at once with
:class:`EngineUnavailableError` (panoramisk would queue them for a resend we do
not want: a reload sent twice is harmless, an originate is not), and the link is
re-established by our own loop with exponential backoff instead of panoramisk's
fixed-delay reconnect.

Example::

    ami = AmiClient("127.0.0.1", 5038, "user", "secret")
    await ami.start()
    await ami.wait_connected()
    print(await ami.command("core show version"))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

from orchestrator.core.errors import EngineError, EngineTimeoutError, EngineUnavailableError

log = logging.getLogger(__name__)

AmiEventCallback = Callable[[Message], Any]


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with its own reconnect logic switched off."""

    def __init__(self, on_lost: Callable[[Exception | None], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        # On a failed connect panoramisk schedules its own retry; AmiClient retries instead.
        if f.cancelled() or f.exception() is not None:
            return
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        self.authenticated = False
        pinger = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        # Nothing is resent after a reconnect: pending actions are failed by AmiClient.
        self.awaiting_actions.clear()
        self._on_lost(exc)


class AmiClient:
    """One AMI login that stays up; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        action_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        events: str = "on",
        event_filters: tuple[str, ...] = (),
    ) -> None:
        self.host, self.port = host, port
        self._user, self._password = user, password
        self.action_timeout = action_timeout
        self.backoff = backoff
        # What Asterisk sends once someone listens: the login's ``Events`` (a class mask:
        # "on", "reporting"...) and regular expressions an event must match (AMI action
        # ``Filter``, any of them), so that unused events cost neither side anything.
        self.events = events
        self.event_filters = event_filters
        self.connected = False
        self.on_link_change: Callable[[bool, str], None] | None = None
        self._callbacks: list[tuple[str, AmiEventCallback]] = []
        self._event_switch: asyncio.Future[Any] | None = None
        self._manager: _Manager | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register_event(self, pattern: str, callback: AmiEventCallback) -> None:
        """Call ``callback(message)`` for AMI events matching ``pattern`` (fnmatch).

        Registrations survive reconnects.
        """
        first = not self._callbacks
        self._callbacks.append((pattern, callback))
        if self._manager is not None:
            self._manager.register_event(pattern, lambda _m, msg: callback(msg))
            if first and self.connected:
                # Logged in with events off (nobody listened): switch them on now.
                task = asyncio.ensure_future(self._events_on())
                self._event_switch = task

    async def start(self) -> None:
        """Start connecting in the background; see :meth:`wait_connected`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ami-{self.host}:{self.port}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._up.wait()

    async def _run(self) -> None:
        delay = self.backoff[0]
        try:
            while True:
                try:
                    await self._connect()
                except (OSError, TimeoutError, EngineError) as exc:
                    log.debug("AMI connect failed: %s; retry in %.1f s", exc, delay)
                    self._close_manager()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                delay = self.backoff[0]
                self._set_connected(True, "")
                await self._lost.wait()
                self._set_connected(False, "link lost")
                await asyncio.sleep(delay)
        finally:
            self._close_manager()
            self._fail_pending("AMI client stopped")
            if self.connected:
                self._set_connected(False, "stopped")

    async def _connect(self) -> None:
        self._lost = asyncio.Event()
        manager = _Manager(
            self._link_lost,
            host=self.host,
            port=self.port,
            username=self._user,
            secret=self._password,
            loop=asyncio.get_running_loop(),
            ping_delay=10,
            ping_interval=10,
            # Asterisk sends dozens of events a call; parsing them unused cost the bench
            # more CPU than anything else, so they are on only while someone listens.
            events=self.events if self._callbacks else "off",
        )
        for pattern, callback in self._callbacks:
            manager.register_event(pattern, lambda _m, msg, cb=callback: cb(msg))
        self._manager = manager
        async with asyncio.timeout(self.action_timeout):
            await manager.connect()
            # panoramisk sends the login from a done callback of the connect task.
            await asyncio.sleep(0)
            login = manager.authenticated_future
            if login is None:
                raise EngineError("AMI login was not sent", host=self.host, port=self.port)
            await login
        if not manager.authenticated:
            raise EngineError("AMI login refused", host=self.host, port=self.port)
        if self._callbacks:
            async with asyncio.timeout(self.action_timeout):
                for pattern in self.event_filters:
                    _check_filter(await manager.send_action(_filter(pattern)), pattern)

    async def _events_on(self) -> None:
        for pattern in self.event_filters:
            _check_filter(await self.action(_filter(pattern)), pattern)
        await self.action({"Action": "Events", "EventMask": self.events})

    def _link_lost(self, exc: Exception | None) -> None:
        self._fail_pending(f"AMI link lost: {exc}" if exc else "AMI link lost")
        self._lost.set()

    def _close_manager(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    def _fail_pending(self, reason: str) -> None:
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(EngineUnavailableError(reason))
        self._pending.clear()

    def _set_connected(self, up: bool, reason: str) -> None:
        self.connected = up
        if up:
            self._up.set()
        else:
            self._up.clear()
        if self.on_link_change is not None:
            self.on_link_change(up, reason)

    # -- actions ----------------------------------------------------------
    async def action(
        self, action: dict[str, Any], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Any:
        """Send one action; return panoramisk's response (a Message, or a list of them)."""
        manager = self._manager
        if not self.connected or manager is None:
            raise EngineUnavailableError("AMI is not connected", action=action.get("Action"))
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.add(waiter)

        def relay(fut: asyncio.Future[Any]) -> None:
            if waiter.done():
                return
            if fut.cancelled():
                waiter.set_exception(EngineUnavailableError("AMI action cancelled"))
            elif fut.exception() is not None:
                waiter.set_exception(EngineError(f"AMI action failed: {fut.exception()}"))
            else:
                waiter.set_result(fut.result())

        try:
            manager.send_action(dict(action), as_list=as_list).add_done_callback(relay)
            async with asyncio.timeout(timeout or self.action_timeout):
                return await waiter
        except TimeoutError:
            raise EngineTimeoutError(
                f"AMI {action.get('Action')}: no answer", action=action.get("Action")
            ) from None
        finally:
            self._pending.discard(waiter)

    async def command(self, text: str, *, timeout: float | None = None) -> str:
        """Run a CLI command (``Action: Command``) and return its output."""
        resp = await self.action({"Action": "Command", "Command": text}, timeout=timeout)
        if isinstance(resp, list):
            resp = resp[0]
        output = resp.get("Output")
        if output is None:
            text_out = str(getattr(resp, "content", "") or "")
        else:
            text_out = "\n".join(output) if isinstance(output, list) else str(output)
        if resp.get("Response") == "Error":
            raise EngineError(f"AMI command {text!r} failed: {text_out}", command=text)
        return text_out

    async def drop_link(self) -> None:
        """Close the AMI socket (it reconnects); for tests and diagnostics."""
        if self._manager is not None and self._manager.protocol is not None:
            self._manager.protocol.transport.close()


def _filter(pattern: str) -> dict[str, str]:
    return {"Action": "Filter", "Operation": "Add", "Filter": pattern}


def _check_filter(response: Any, pattern: str) -> None:
    # Not fatal: unfiltered events cost CPU but lose nothing.
    if isinstance(response, list):
        response = response[0]
    if response.get("Response") != "Success":
        log.warning("AMI refused the event filter %r: %s", pattern, response.get("Message"))
