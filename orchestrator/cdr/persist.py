"""The builder's durable side: open calls and finished CDRs in the database.

Every method is synchronous and meant for a worker thread (``asyncio.to_thread``): the
builder never blocks the engine's event dispatch on the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.cdr.finalize import Resolve, build
from orchestrator.cdr.tracker import OpenCall
from orchestrator.store import cdrs
from orchestrator.store.db import SessionFactory


class CdrStore:
    """Reads and writes one node's open calls and CDRs through ``sessions``.

    ``resolve`` maps an engine endpoint to its tenant's extension or trunk
    (:meth:`orchestrator.store.endpoints.EndpointResolver.resolve`).
    """

    def __init__(self, sessions: SessionFactory, resolve: Resolve) -> None:
        self.sessions = sessions
        self.resolve = resolve

    def load_open(self, node: str) -> list[OpenCall]:
        """The calls a previous run left open, with ``last_seen`` from the database."""
        with self.sessions() as session:
            rows = cdrs.load_open_calls(session, node)
        calls = []
        for row in rows:
            call = OpenCall.from_state(row.state)
            call.last_seen = max(call.last_seen, row.last_seen.timestamp())
            calls.append(call)
        return calls

    def save(
        self, node: str, upserts: Sequence[tuple[str, dict[str, Any]]], deletes: Sequence[str]
    ) -> None:
        """Persist live calls' states (``(call_id, state)``) and forget merged ones."""
        rows = [
            (key, state, _dt(state["started"]), _dt(state["last_seen"])) for key, state in upserts
        ]
        with self.sessions() as session:
            cdrs.save_open_calls(session, node, rows, deletes)

    def close(self, node: str, state: dict[str, Any]) -> int | None:
        """Write the finished call's CDR (once); returns its id, None if already written."""
        cdr, legs = build(OpenCall.from_state(state), node=node, resolve=self.resolve)
        with self.sessions() as session:
            return cdrs.write_cdr(session, cdr, legs)

    def touch(self, node: str, call_ids: Sequence[str], now: float) -> None:
        with self.sessions() as session:
            cdrs.touch_open_calls(session, node, call_ids, _dt(now))


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
