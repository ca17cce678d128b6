"""One inbound Event Socket connection: auth, requests and their replies, events.

FreeSWITCH answers the commands of one connection strictly in order (an ``api`` even
blocks the connection until it is done), so every request written takes the next place
in one FIFO of waiters and every ``command/reply`` or ``api/response`` frame settles the
oldest place. The place is taken and the bytes written with no ``await`` in between, so
concurrent callers cannot swap their replies; a request that timed out keeps its place
(its late reply is read and dropped) so the replies after it still meet their waiters.

``bgapi`` waiters are keyed by a Job-UUID the client chooses and registers *before* the
request is written: the BACKGROUND_JOB event can arrive right behind the ``+OK``, and it
arrives only on a connection subscribed to BACKGROUND_JOB (:meth:`subscribe` adds it).

Errors are translated here into :mod:`orchestrator.core.errors`:

* refused / closed / not in the ESL ACL (``text/rude-rejection``) / wrong password
  (``-ERR invalid``: "ESL auth refused") ->
  :class:`EngineUnavailableError`; no answer in time -> :class:`EngineTimeoutError`;
* the link lost with requests pending -> each fails at once with
  :class:`EngineUnavailableError`;
* an api/bgapi result ``-ERR No such channel``, ``-ERR Invalid uuid`` / ``invalid uuid``,
  ``-ERR Cannot locate session`` (and ``sendmsg``'s ``-ERR invalid session id``) ->
  :class:`LegGoneError`; any other ``-ERR`` / ``-USAGE`` -> :class:`EslCommandError`;
* a command or header holding a line break -> :class:`ValidationError`.

Example::

    conn = await EslConnection.open("127.0.0.1", 8021, "ClueCon", on_event=print)
    await conn.subscribe(["CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"])
    print(await conn.api("status"))
    await conn.bgapi("originate loopback/7000/esl &park()")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.core.errors import (
    CallError,
    EngineTimeoutError,
    EngineUnavailableError,
    LegGoneError,
    ValidationError,
)
from orchestrator.engines.freeswitch.esl.wire import (
    EslEvent,
    EslProtocolError,
    Frame,
    FrameParser,
    encode_command,
    parse_event,
)

log = logging.getLogger(__name__)

EventCallback = Callable[[EslEvent], None]
CloseCallback = Callable[[str], None]

# API results that mean "that channel is not there (any more)", as FreeSWITCH 1.10 words
# them: uuid_kill/uuid_transfer/uuid_getvar, uuid_bridge, uuid_broadcast, uuid_send_dtmf.
LEG_GONE = (
    "-ERR No such channel",
    "-ERR Invalid uuid",
    "-ERR invalid uuid",
    "-ERR Cannot locate session",
)
_READ_SIZE = 1 << 16


class EslCommandError(CallError):
    """FreeSWITCH refused a command: ``text`` is its ``-ERR ...`` / ``-USAGE ...`` answer."""

    error_id = "esl-command-refused"

    def __init__(self, text: str, *, command: str = "", **details: Any) -> None:
        message = f"FreeSWITCH refused {command!r}: {text}" if command else text
        super().__init__(message, command=command, **details)
        self.text = text


def check_result(command: str, text: str) -> str:
    """``text`` (an api/bgapi result) if it is not an error; else the error it means."""
    if text.startswith(LEG_GONE):
        words = command.split()
        leg_id = words[1] if len(words) > 1 and words[0].startswith("uuid_") else ""
        raise LegGoneError(f"{command}: {text.strip()}", leg_id=leg_id, command=command)
    if text.startswith(("-ERR", "-USAGE")):
        raise EslCommandError(text.strip(), command=command)
    return text


def _reply_text(frame: Frame) -> str:
    return frame.headers.get("Reply-Text", "")


class EslConnection:
    """An authenticated inbound connection; build it with :meth:`open` (the constructor
    takes an open stream pair as is, before any auth)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._on_close = on_close
        self._parser = FrameParser()
        self._replies: deque[asyncio.Future[Frame]] = deque()
        self._jobs: dict[str, asyncio.Future[EslEvent]] = {}
        self._auth_request: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False
        self.close_reason = ""
        self._task = asyncio.create_task(self._read_loop(), name="esl-reader")

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        password: str,
        *,
        timeout: float = 5.0,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
    ) -> EslConnection:
        """Connect and authenticate (``auth <password>``); see the module docstring."""
        conn: EslConnection | None = None
        try:
            async with asyncio.timeout(timeout):
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    raise EngineUnavailableError(
                        f"ESL {host}:{port}: {exc}", host=host, port=port
                    ) from None
                conn = cls(reader, writer, on_event=on_event, on_close=on_close)
                await asyncio.shield(conn._auth_request)
                try:
                    await conn.command(f"auth {password}", timeout=timeout)
                except EslCommandError as exc:
                    raise EngineUnavailableError(
                        "ESL auth refused", host=host, port=port, reply=exc.text
                    ) from None
                except ValidationError:
                    raise EngineUnavailableError(
                        "ESL auth refused: the password holds a line break", host=host, port=port
                    ) from None
        except TimeoutError:
            if conn is not None:
                await conn.close()
            raise EngineTimeoutError(f"ESL {host}:{port}: no auth in {timeout} s") from None
        except BaseException:
            if conn is not None:
                await conn.close()
            raise
        return conn

    @property
    def closed(self) -> bool:
        return self._closed

    # -- requests ----------------------------------------------------------
    def _send(self, data: bytes) -> asyncio.Future[Frame]:
        if self._closed:
            raise EngineUnavailableError(f"ESL link is down ({self.close_reason})")
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies.append(future)
        self._writer.write(data)
        return future

    @staticmethod
    def _encode(
        line: str, headers: Mapping[str, str] | None = None, body: str | None = None
    ) -> bytes:
        try:
            return encode_command(line, headers, body)
        except EslProtocolError as exc:
            raise ValidationError(f"not sent to FreeSWITCH: {exc}") from None

    async def _request(self, data: bytes, what: str, timeout: float) -> Frame:
        future = self._send(data)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            # The future is cancelled but keeps its place: its late reply is dropped.
            raise EngineTimeoutError(f"ESL {what}: no reply in {timeout} s") from None

    async def command(
        self,
        line: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        *,
        timeout: float = 5.0,
    ) -> str:
        """Send one command; return its ``Reply-Text`` (``+OK ...``) or raise on ``-ERR``."""
        data = self._encode(line, headers, body)
        word = line.split(" ", 1)[0]
        frame = await self._request(data, word, timeout)
        text = _reply_text(frame)
        if text.startswith("-"):
            raise EslCommandError(text, command=word if word == "auth" else line)
        return text

    async def api(self, command: str, *, timeout: float = 5.0) -> str:
        """``api <command>``: its output (the api/response body), errors translated.

        The connection is blocked while FreeSWITCH runs it: keep it for quick commands.
        """
        frame = await self._request(self._encode(f"api {command}"), f"api {command}", timeout)
        if frame.content_type != "api/response":
            # An outbound socket without ``full`` or a session not authenticated says
            # ``-ERR command not found`` in a command/reply.
            text = _reply_text(frame)
            raise EslCommandError(text or frame.content_type, command=command)
        return check_result(command, frame.body.decode("utf-8", "replace"))

    async def bgapi(
        self, command: str, *, job_uuid: str | None = None, timeout: float = 30.0
    ) -> str:
        """``bgapi <command>`` with a Job-UUID of ours: the job's output, errors translated.

        Needs a subscription to BACKGROUND_JOB (:meth:`subscribe` adds it): without it
        FreeSWITCH never sends the result and this times out.
        """
        job = job_uuid or str(uuidlib.uuid4())
        if job in self._jobs:
            raise ValidationError(f"Job-UUID {job} is already waited for")
        data = self._encode(f"bgapi {command}", {"Job-UUID": job})
        result: asyncio.Future[EslEvent] = asyncio.get_running_loop().create_future()
        self._jobs[job] = result
        try:
            async with asyncio.timeout(timeout):
                frame = await self._request(data, f"bgapi {command}", timeout)
                text = _reply_text(frame)
                if not text.startswith("+OK"):
                    raise EslCommandError(text, command=command)
                event = await result
        except TimeoutError:
            raise EngineTimeoutError(
                f"ESL bgapi {command}: no BACKGROUND_JOB in {timeout} s", job_uuid=job
            ) from None
        finally:
            self._jobs.pop(job, None)
        return check_result(command, event.body)

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
        """``sendmsg <uuid>`` with ``call-command`` execute|hangup|unicast|nomedia.

        ``event_uuid`` comes back as ``Application-UUID`` on the app's CHANNEL_EXECUTE
        and CHANNEL_EXECUTE_COMPLETE. An ``arg`` with line breaks goes as a text/plain
        body. ``headers`` adds e.g. ``hangup-cause``, ``event-lock``, ``loops``.
        """
        fields: dict[str, str] = {"call-command": command}
        body: str | None = None
        if app:
            fields["execute-app-name"] = app
        if arg:
            if "\n" in arg or "\r" in arg:
                body = arg
            else:
                fields["execute-app-arg"] = arg
        if event_uuid:
            fields["Event-UUID"] = event_uuid
        fields.update(headers or {})
        line = f"sendmsg {uuid}" if uuid else "sendmsg"
        try:
            await self.command(line, fields, body, timeout=timeout)
        except EslCommandError as exc:
            if exc.text.startswith("-ERR invalid session id"):
                raise LegGoneError(f"{line}: {exc.text}", leg_id=uuid) from None
            raise

    async def subscribe(self, events: Sequence[str], custom: Sequence[str] = ()) -> None:
        """``event json <events...> BACKGROUND_JOB CUSTOM <custom...>`` (``ALL`` has all).

        Plain names go before ``CUSTOM``: FreeSWITCH reads every word after it as a
        subclass and silently ignores a plain name there.
        """
        names = list(events)
        for name in (*names, *custom):
            if not name or name != name.strip() or any(c.isspace() for c in name):
                raise ValidationError(f"bad event name {name!r}")
        if "CUSTOM" in names:
            raise ValidationError("CUSTOM goes in custom=[subclasses], not in events")
        if "BACKGROUND_JOB" not in names and "ALL" not in names:
            names.append("BACKGROUND_JOB")
        if custom:
            names += ["CUSTOM", *custom]
        await self.command("event json " + " ".join(names))

    async def filter(self, header: str, value: str) -> None:
        """``filter <header> <value>``: once any filter is set, only events matching one
        of them are sent (``value``: exact, ``/regex/``, or ``-value`` to exclude).

        Mind BACKGROUND_JOB: a filtered connection needs ``filter Event-Name
        BACKGROUND_JOB`` too, or no bgapi ever completes (:class:`EslClient` adds it).
        """
        if not header or any(c.isspace() for c in header) or header.lower() == "delete":
            raise ValidationError(f"bad filter header {header!r}")
        if not value.strip():
            raise ValidationError(f"filter {header}: an empty value")
        await self.command(f"filter {header} {value}")

    # -- reading -----------------------------------------------------------
    async def _read_loop(self) -> None:
        reason = "closed by the engine"
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    break
                for frame in self._parser.feed(data):
                    self._dispatch(frame)
        except EslProtocolError as exc:
            for frame in exc.frames:
                self._dispatch(frame)
            reason = f"protocol error: {exc}"
            log.warning("ESL: %s; dropping the connection", reason)
        except OSError as exc:
            reason = f"connection error: {exc}"
        except asyncio.CancelledError:
            reason = self.close_reason or "closed"
        finally:
            self._lost(reason)

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.content_type
        if kind in ("command/reply", "api/response"):
            if not self._replies:
                log.warning("ESL: a reply nobody waits for: %r", _reply_text(frame))
                return
            future = self._replies.popleft()
            if not future.done():
                future.set_result(frame)
        elif kind.startswith("text/event-"):
            try:
                event = parse_event(frame)
            except EslProtocolError as exc:
                log.warning("ESL: dropped an event: %s", exc)
                return
            if event.name == "BACKGROUND_JOB":
                job = self._jobs.get(event.get("Job-UUID"))
                if job is not None and not job.done():
                    job.set_result(event)
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("ESL: event handler failed on %s", event.name)
        elif kind == "auth/request":
            if not self._auth_request.done():
                self._auth_request.set_result(None)
        elif kind == "text/rude-rejection":
            # The ESL ACL (apply-inbound-acl) refused our address; the close follows.
            text = frame.body.decode("utf-8", "replace").strip()
            self.close_reason = f"refused by the engine's ACL ({text})"
        elif kind == "text/disconnect-notice":
            disposition = frame.headers.get("Content-Disposition", "disconnect")
            self.close_reason = f"disconnect-notice ({disposition})"
        # log/data and anything newer: nothing to do.

    def _lost(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = self.close_reason or reason
        error = EngineUnavailableError(f"ESL link lost: {self.close_reason}")
        pending: list[asyncio.Future[Any]] = [*self._replies, *self._jobs.values()]
        if not self._auth_request.done():
            pending.append(self._auth_request)
        self._replies.clear()
        for future in pending:
            if not future.done():
                future.set_exception(error)
                # Retrieved or not, it must not be logged as "never retrieved".
                future.exception()
        self._writer.close()
        if self._on_close is not None:
            try:
                self._on_close(self.close_reason)
            except Exception:
                log.exception("ESL: close handler failed")

    def abort(self, reason: str = "link dropped") -> None:
        """Drop the socket at once, as a network failure would: a test hook, and what is
        done to the link of an engine that stopped answering (EslClient's probe)."""
        self.close_reason = reason
        self._writer.transport.abort()

    async def close(self) -> None:
        """Close the socket; pending requests fail with :class:`EngineUnavailableError`."""
        if not self._closed:
            self.close_reason = self.close_reason or "closed by the orchestrator"
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
