"""One inbound ESL connection to the fake FreeSWITCH (mod_event_socket's listener).

Commands are read one at a time (pipelined ones queue up); ``api`` runs inline, so
events that fire meanwhile are held and written after the ``api/response``, as
FreeSWITCH does. Reply strings and framing are those of the captures.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch import registrations
from orchestrator.testing.freeswitch.channels import Message
from orchestrator.testing.freeswitch.commands import api
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.names import EVENT_NAMES, MYEVENTS
from orchestrator.testing.freeswitch.originate import background_job

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.server import FakeFreeSwitch

__all__ = ["EslSession"]

GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class EslSession:
    """One client connection: auth, subscriptions, filters, commands."""

    def __init__(
        self, fs: FakeFreeSwitch, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.fs = fs
        self.reader = reader
        self.writer = writer
        self.authed = False
        self.format = ""
        self.all_events = False
        self.events: set[str] = set()
        self.custom: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.myevents_uuid = ""
        self.held: list[bytes] | None = None  # frames held back while an api runs
        self.closed = False
        self.jobs: set[asyncio.Task[None]] = set()
        self.stalled_out: list[bytes] = []  # written while the switch is stalled

    # -- output -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.fs.running.is_set():
            self.stalled_out.append(data)
            return
        self.writer.write(data)

    def flush(self) -> None:
        """Write what was held back while the switch was stalled."""
        held, self.stalled_out = self.stalled_out, []
        for data in held:
            self.write(data)

    def reply(self, text: str, extra: list[tuple[str, str]] | None = None) -> None:
        head = f"Content-Type: command/reply\nReply-Text: {text}\n"
        head += "".join(f"{k}: {v}\n" for k, v in extra or [])
        self.write((head + "\n").encode())

    def notice(self, extra: list[tuple[str, str]] | None = None) -> None:
        head = "Content-Type: text/disconnect-notice\n" + "".join(
            f"{k}: {v}\n" for k, v in extra or []
        )
        self.write(f"{head}Content-Length: {len(GOODBYE)}\n\n".encode() + GOODBYE)

    def on_event(self, event: FsEvent) -> None:
        """A fired event: written now, or after the running api, if subscribed."""
        if not self.authed or not self.format or self.closed or not self._wanted(event):
            return
        fmt = "plain" if self.myevents_uuid else self.format
        frame = event.frame(fmt)
        if self.held is not None:
            self.held.append(frame)
        else:
            self.write(frame)
        # The notice follows CHANNEL_HANGUP_COMPLETE (no CHANNEL_DESTROY reached a3's socket).
        if (
            self.myevents_uuid
            and event.name == "CHANNEL_HANGUP_COMPLETE"
            and event.unique_id == self.myevents_uuid
        ):
            self.format = ""  # nothing more for this socket but the notice
            asyncio.get_running_loop().call_soon(self._myevents_gone)

    def _myevents_gone(self) -> None:
        self.myevents_uuid, uuid = "", self.myevents_uuid
        self.notice([("Controlled-Session-UUID", uuid), ("Content-Disposition", "disconnect")])
        self.close()

    def _wanted(self, event: FsEvent) -> bool:
        if self.myevents_uuid:
            return event.name in MYEVENTS and event.unique_id == self.myevents_uuid
        if event.name == "CUSTOM":
            ok = self.all_events or event.subclass in self.custom
        else:
            ok = self.all_events or event.name in self.events
        if not ok:
            return False
        if not self.filters:
            return True
        return _filtered(event, self.filters)

    # -- input ------------------------------------------------------------------
    async def run(self) -> None:
        self.fs.switch.sinks.append(self.on_event)
        try:
            self.write(b"Content-Type: auth/request\n\n")
            while not self.closed:
                request = await self._read()
                if request is None:
                    break
                await self.fs.running.wait()  # a stalled switch reads nothing
                await self._dispatch(*request)
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _read(self) -> tuple[str, list[tuple[str, str]], str] | None:
        lines: list[str] = []
        while True:
            raw = await self.reader.readline()
            if not raw:
                return None
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not line:
                if lines:
                    break
                continue
            lines.append(line)
        headers = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
        body = ""
        length = next((v for k, v in headers if k.lower() == "content-length"), "")
        if length.isdigit() and int(length):
            body = (await self.reader.readexactly(int(length))).decode(errors="replace")
        return lines[0], headers, body

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.on_event in self.fs.switch.sinks:
            self.fs.switch.sinks.remove(self.on_event)
        with contextlib.suppress(Exception):
            self.writer.close()
        self.fs.sessions.discard(self)

    async def _dispatch(self, line: str, headers: list[tuple[str, str]], body: str) -> None:
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == "exit":
            self.reply("+OK bye")
            self.notice()
            self.close()
            return
        if not self.authed:
            if word == "auth":
                if rest == self.fs.password:
                    self.authed = True
                    self.reply("+OK accepted")
                else:
                    self.reply("-ERR invalid")
                    self.notice()
                    self.close()
                return
            self.reply("-ERR command not found")
            return
        handler = getattr(self, f"_cmd_{word}", None)
        if handler is None:
            self.reply("-ERR command not found")
            return
        await handler(rest, headers, body)

    # -- commands ---------------------------------------------------------------
    async def _cmd_api(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        self.held = []
        try:
            out = (await api(self.fs.switch, rest)).encode()
        finally:
            held, self.held = self.held, None
        self.write(f"Content-Type: api/response\nContent-Length: {len(out)}\n\n".encode() + out)
        for frame in held:
            self.write(frame)

    async def _cmd_bgapi(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        job = next((v for k, v in headers if k.lower() == "job-uuid"), "") or new_uuid()
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        name, _, arg = rest.partition(" ")

        async def run() -> None:
            out = await api(self.fs.switch, rest)
            self.fs.switch.fire(background_job(job, name, arg.strip(), out))

        task = asyncio.get_running_loop().create_task(run())
        self.fs.jobs.add(task)
        task.add_done_callback(self.fs.jobs.discard)

    async def _cmd_event(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        words = rest.split()
        fmt = "plain"
        if words and words[0].lower() in ("plain", "json", "xml"):
            fmt = words.pop(0).lower()
        custom = False
        found = False
        for w in words:
            if custom:
                self.custom.add(w)
                found = True
            elif w == "CUSTOM":
                custom = True
            elif w in EVENT_NAMES:
                found = True
                if w == "ALL":
                    self.all_events = True
                else:
                    self.events.add(w)
        if not found and not custom:
            self.reply("-ERR no keywords supplied")
            return
        self.format = fmt
        self.reply(f"+OK event listener enabled {fmt}")

    async def _cmd_noevents(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        self.format = ""
        self.all_events = False
        self.events.clear()
        self.custom.clear()
        self.reply("+OK no longer listening for events")

    async def _cmd_nixevent(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        for w in rest.split():
            if w == "ALL":
                self.all_events = False
                self.events.clear()
            self.events.discard(w)
            self.custom.discard(w)
        self.reply("+OK events nixed")

    async def _cmd_filter(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        parts = rest.split(" ", 1)
        if parts[0] == "delete":
            target = parts[1] if len(parts) > 1 else ""
            name, _, value = target.partition(" ")
            if name == "all":
                self.filters.clear()
                self.reply("+OK filter deleted. [all][]")
                return
            self.filters = [
                f for f in self.filters if f != (name, value) and not (not value and f[0] == name)
            ]
            self.reply(f"+OK filter deleted. [{name}][{value}]")
            return
        if len(parts) < 2 or not parts[1]:
            self.reply("-ERR invalid syntax")
            return
        self.filters.append((parts[0], parts[1]))
        self.reply(f"+OK filter added. [{parts[0]}]=[{parts[1]}]")

    async def _cmd_myevents(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        uuid = rest.split()[0] if rest.split() else ""
        if self.fs.switch.get(uuid) is None:
            self.reply("-ERR invalid uuid")
            return
        self.myevents_uuid = uuid
        self.format = "plain"  # the format word is lost on inbound sockets (a3)
        self.reply("+OK Events Enabled")

    async def _cmd_sendmsg(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        uuid = rest.strip()
        ch = self.fs.switch.get(uuid) if uuid else None
        if ch is None:
            self.reply(f"-ERR invalid session id [{uuid}]")
            return
        h = {k.lower(): v for k, v in headers}
        self.reply("+OK")
        command = h.get("call-command", "")
        private = [("Command", f"sendmsg {uuid}"), *headers]
        if command == "execute":
            arg = body if body else h.get("execute-app-arg", "")
            loops = int(h.get("loops", "1")) if h.get("loops", "1").isdigit() else 1
            msg = Message(
                h.get("execute-app-name", ""), arg, h.get("event-uuid") or new_uuid(), loops
            )
            msg.private = private
            msg.body = body
            self.fs.switch.queue(ch, msg)
        elif command == "hangup":
            self.fs.switch.hangup(ch, h.get("hangup-cause", "NORMAL_CLEARING"))
            self.fs.switch.private_command(ch, private)
        else:
            self.fs.switch.private_command(ch, private)

    async def _cmd_sendevent(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        name = rest.split()[0] if rest.split() else "CUSTOM"
        event_uuid = new_uuid()
        subclass = next((v for k, v in headers if k == "Event-Subclass"), "")
        leading = ([("Event-Subclass", subclass)] if subclass else []) + [
            ("Command", f"sendevent {name}")
        ]
        leading += [(k, v) for k, v in headers if k != "Event-Subclass"] + [
            ("Event-UUID", event_uuid)
        ]
        event = FsEvent(
            name if name in EVENT_NAMES else "CUSTOM",
            [],
            body=body,
            subclass=subclass,
            leading=leading,
            calling=("mod_event_socket.c", "parse_command", 2275),
        )
        self.reply(f"+OK {event_uuid}")
        self.fs.switch.fire(event)
        if name == "MESSAGE_WAITING":
            registrations.message_waiting(self.fs.switch, headers)

    async def _cmd_log(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        level = rest or "7"
        self.reply(f"+OK log level {level} [{level}]")

    async def _cmd_nolog(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        self.reply("+OK no longer logging")

    async def _cmd_linger(self, rest: str, headers: list[tuple[str, str]], body: str) -> None:
        self.reply("-ERR not controlling a session")

    async def _cmd_divert_events(
        self, rest: str, headers: list[tuple[str, str]], body: str
    ) -> None:
        self.reply("-ERR not controlling a session.")


def _filtered(event: FsEvent, filters: list[tuple[str, str]]) -> bool:
    """mod_event_socket's filters: a match of a positive one (``+`` or no sign) lets the
    event through, a match of a negative one (``-``) stops it; ``/re/`` is a regex,
    anything else a case-insensitive comparison; an event without the header is skipped."""
    headers: dict[str, str] = {}
    for key, val in event.all_headers():
        headers.setdefault(key, val)
    send = False
    for name, value in filters:
        actual = headers.get(name)
        if actual is None:
            continue
        stripped = value.lstrip("+- ")
        positive = not value[: len(value) - len(stripped)].rstrip(" ").endswith("-")
        if send and positive:
            continue
        if value.startswith("/"):
            matched = re.search(stripped.strip("/"), actual) is not None
        else:
            matched = actual.lower() == stripped.lower()
        if matched:
            if not positive:
                return False
            send = True
    return send
