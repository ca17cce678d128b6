"""A stand-in for the orchestrator's realtime endpoint, for SIPp tests and development.

Asterisk's res_config_curl POSTs form data to ``<base>/<family>/single`` (one
row) or ``<base>/<family>/multi`` (rows); a field name may carry an operator
after a space (``id LIKE``). A row is answered as one ``key=value&...`` line
(values URL-encoded), an empty body means "not found". This stub serves
``ps_endpoints``, ``ps_auths`` and ``ps_aors`` for a fixed set of users under
any path prefix, so the secret path segment of the real URL does not matter::

    stub = RealtimeStub([SipUser("101", "a.example", "secret", context="sipptest")])
    async with stub.serve(port=48000):
        ...  # an Asterisk whose extconfig points at http://127.0.0.1:48000/...
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from aiohttp import web

__all__ = ["RealtimeStub", "SipUser"]


@dataclass(frozen=True, slots=True)
class SipUser:
    username: str
    domain: str
    password: str
    context: str = "orchestrator-stasis"

    @property
    def id(self) -> str:
        return f"{self.username}@{self.domain}"

    def rows(self) -> dict[str, dict[str, str]]:
        """This user's row in each realtime family."""
        return {
            "ps_endpoints": {
                "id": self.id,
                "transport": "transport-udp",
                "aors": self.id,
                "auth": self.id,
                "context": self.context,
                "disallow": "all",
                "allow": "ulaw",
                "direct_media": "no",
                "rtp_symmetric": "yes",
                "force_rport": "yes",
                "rewrite_contact": "yes",
                "dtmf_mode": "rfc4733",
            },
            "ps_auths": {
                "id": self.id,
                "auth_type": "digest",
                "username": self.username,
                "password": self.password,
                "realm": "orchestrator",
            },
            "ps_aors": {"id": self.id, "max_contacts": "1", "remove_existing": "yes"},
        }


def encode_row(row: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in row.items())


class RealtimeStub:
    """Answers realtime lookups for ``users``; ``requests`` records what Asterisk asked."""

    def __init__(self, users: Iterable[SipUser] = ()) -> None:
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        for user in users:
            self.add(user)

    def add(self, user: SipUser) -> None:
        for family, row in user.rows().items():
            self.tables.setdefault(family, {})[row["id"]] = row

    def lookup(self, family: str, mode: str, fields: dict[str, str]) -> list[dict[str, str]]:
        table = self.tables.get(family, {})
        # Only exact "id" lookups are answered; "id LIKE" scans get no rows.
        if set(fields) != {"id"}:
            return []
        row = table.get(fields["id"])
        return [row] if row else []

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path.rstrip("/").split("/")
        if len(parts) < 3 or parts[-1] not in ("single", "multi"):
            return web.Response(status=404)
        family, mode = parts[-2], parts[-1]
        body = await request.text()
        fields = dict(parse_qsl(body or request.query_string, keep_blank_values=True))
        self.requests.append((family, mode, fields))
        rows = self.lookup(family, mode, fields)
        if mode == "single":
            rows = rows[:1]
        text = "".join(encode_row(row) + "\n" for row in rows)
        return web.Response(text=text, content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    @contextlib.asynccontextmanager
    async def serve(self, *, host: str = "127.0.0.1", port: int) -> AsyncIterator[RealtimeStub]:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        try:
            yield self
        finally:
            await runner.cleanup()

    @contextlib.contextmanager
    def serve_in_thread(self, *, host: str = "127.0.0.1", port: int) -> Iterator[RealtimeStub]:
        """Serve from a thread with its own event loop (for sync, module-scoped fixtures)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        stop = asyncio.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            try:
                async with self.serve(host=host, port=port):
                    started.set()
                    await stop.wait()
            except BaseException as exc:
                errors.append(exc)
                started.set()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        started.wait(10)
        if errors:
            thread.join(5)
            loop.close()
            raise errors[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
