"""Writes the service's conferences to the store, in order, off the event loop.

:meth:`LedgerWriter.changed` notes a conference synchronously; one task saves what was
noted (a copy of each, in a worker thread), so the store always holds a state the service
had and no engine event waits for the database. A heartbeat notes when the active
conferences were last seen alive (what a restart closes a gap with).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

from orchestrator.conferences.ledger import ConferenceLedger
from orchestrator.conferences.model import Conference

log = logging.getLogger("orchestrator.conferences")

RETRY_S = 1.0


class LedgerWriter:
    """See the module doc. Without a ledger it only forgets what it is told."""

    def __init__(
        self,
        ledger: ConferenceLedger | None,
        active: Callable[[], list[Conference]],
        *,
        heartbeat_s: float,
    ) -> None:
        self.ledger = ledger
        self.active = active
        self.heartbeat_s = heartbeat_s
        self._dirty: dict[str, Conference] = {}
        self._wake = asyncio.Event()
        self._writing = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="conference-ledger"),
            asyncio.create_task(self._heartbeat(), name="conference-heartbeat"),
        ]

    async def stop(self) -> None:
        """Write the active conferences (seen alive now) and what is pending, then stop."""
        for conf in self.active():
            self._dirty[conf.uuid] = conf
        try:
            await self.flush()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []

    def changed(self, conf: Conference) -> None:
        self._dirty[conf.uuid] = conf
        self._wake.set()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every change so far is in the store."""
        if self.ledger is None:
            self._dirty.clear()
            return
        async with asyncio.timeout(timeout):
            while self._dirty or self._wake.is_set() or self._writing:
                if not self._tasks or self._tasks[0].done():
                    await self._write_once()
                else:
                    self._wake.set()
                    await asyncio.sleep(0.005)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            try:
                await self._write_once()
            except Exception:
                log.exception("could not write conferences; retrying")
                await asyncio.sleep(RETRY_S)
                self._wake.set()

    async def _write_once(self) -> None:
        self._wake.clear()
        batch, self._dirty = list(self._dirty.values()), {}
        if self.ledger is None:
            return
        self._writing = True
        try:
            for conf in batch:
                try:
                    ids = await asyncio.to_thread(self.ledger.save, _copy(conf))
                except Exception:
                    self._dirty.setdefault(conf.uuid, conf)
                    raise
                conf.row_id = ids.get(conf.uuid, conf.row_id)
                for p in conf.participants:
                    p.row_id = ids.get(p.uuid, p.row_id)
        finally:
            self._writing = False

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            confs = self.active()
            if self.ledger is not None and confs:
                try:
                    await asyncio.to_thread(self.ledger.touch, confs, time.time())
                except Exception:
                    log.exception("could not note the conferences alive")


def _copy(conf: Conference) -> Conference:
    """A copy for the writer thread: the loop goes on changing the original."""
    return dataclasses.replace(
        conf,
        participants=[dataclasses.replace(p) for p in conf.participants],
        recordings=list(conf.recordings),
    )
