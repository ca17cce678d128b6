"""A writer task that stores, in batches, what its owner noted synchronously.

Event handlers must not wait for the database: they note a change (a dict entry) and
call :meth:`BatchWriter.noted`; the writer task calls :meth:`BatchWriter.flush` at once,
so changes made meanwhile collapse into one batch. A failed flush is retried after
``retry_s`` (the database is down: no tight loop).
"""

from __future__ import annotations

import asyncio


class BatchWriter:
    """Subclasses implement :meth:`flush`: write what is noted, False on failure."""

    def __init__(self, *, retry_s: float, name: str) -> None:
        self.retry_s = retry_s
        self._name = name
        self._noted = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def noted(self) -> None:
        self._noted.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Write what is noted and stop (not a cancel: a write in flight completes)."""
        if self._task is not None:
            self._stopping = True
            self._noted.set()
            await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> bool:
        raise NotImplementedError

    async def _run(self) -> None:
        while not self._stopping:
            await self._noted.wait()
            self._noted.clear()
            if not await self.flush() and not self._stopping:
                await asyncio.sleep(self.retry_s)
                self._noted.set()
