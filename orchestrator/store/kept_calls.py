"""Connected click-to-call calls kept for the next run (the CTI's CallKeeper, in the store).

:class:`KeptCallStore` notes each change synchronously and a writer task stores what is
noted in one transaction in a worker thread, a few milliseconds later (a crash in that
window loses the call's adoption, not the call). :meth:`KeptCallStore.load` reads what
the previous run of the same engine node left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.cti.kept import KeptCall
from orchestrator.store.batching import BatchWriter
from orchestrator.store.models import KeptCallRecord

log = logging.getLogger("orchestrator.store")

RETRY_S = 1.0


def save(session: Session, changes: Mapping[str, KeptCall | None], node: str) -> None:
    """Store the latest record of each call (``None``: released), in one go."""
    session.execute(sa.delete(KeptCallRecord).where(col(KeptCallRecord.call_id).in_(list(changes))))
    now = datetime.now(UTC)
    for call in changes.values():
        if call is not None:
            session.add(
                KeptCallRecord(
                    call_id=call.call_id,
                    tenant_id=call.tenant_id,
                    node=node,
                    data=call.to_json(),
                    kept_at=now,
                )
            )
    try:
        session.commit()
    except sa.exc.IntegrityError:  # a tenant deleted meanwhile: its calls are not kept
        session.rollback()


def load(session: Session, node: str) -> list[KeptCall]:
    """The records kept on ``node``; a row that is not one is dropped."""
    rows = session.exec(select(KeptCallRecord).where(KeptCallRecord.node == node)).all()
    out: list[KeptCall] = []
    for row in rows:
        try:
            out.append(KeptCall.from_json(row.call_id, row.tenant_id, row.data))
        except (KeyError, TypeError, ValueError):
            log.warning("kept call %s: unreadable record dropped", row.call_id)
            session.delete(row)
    session.commit()
    return out


class KeptCallStore(BatchWriter):
    """The store behind :class:`~orchestrator.cti.kept.CallKeeper` (see the module doc)."""

    def __init__(
        self, sessions: Callable[[], Session], *, node: str = "", retry_s: float = RETRY_S
    ) -> None:
        super().__init__(retry_s=retry_s, name="cti-kept-calls")
        self.sessions = sessions
        self.node = node
        self._changes: dict[str, KeptCall | None] = {}

    def keep(self, call: KeptCall) -> None:
        self._changes[call.call_id] = call
        self.noted()

    def release(self, call_id: str) -> None:
        self._changes[call_id] = None
        self.noted()

    async def load(self) -> list[KeptCall]:
        def read() -> list[KeptCall]:
            with self.sessions() as session:
                return load(session, self.node)

        return await asyncio.to_thread(read)

    async def flush(self) -> bool:
        if not self._changes:
            return True
        changes, self._changes = self._changes, {}

        def write() -> None:
            with self.sessions() as session:
                save(session, changes, self.node)

        try:
            await asyncio.to_thread(write)
        except Exception:
            log.exception("could not store %d kept call(s); retrying", len(changes))
            self._changes = changes | self._changes  # newer changes win
            return False
        return True
