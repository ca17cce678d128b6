"""The upload loop that call recordings and voicemail messages share: claim what is due,
upload each, and sleep until woken or the poll interval passes (a full batch goes on at
once). Each owner keeps its own claim (its table) and upload (its S3 keys)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")


async def upload_loop(
    wake: asyncio.Event,
    claim: Callable[[], Sequence[Item]],
    upload: Callable[[Item], Awaitable[object]],
    *,
    batch: int,
    poll_s: float,
    what: str,
    log: logging.Logger,
) -> None:
    """Run until cancelled. ``claim`` is blocking (the store): it runs in a worker thread;
    a failed claim is logged and retried at the next wake-up or poll."""
    while True:
        wake.clear()
        try:
            due = await asyncio.to_thread(claim)
        except Exception:
            log.exception("could not read the %s due for upload", what)
            due = []
        for item in due:
            await upload(item)
        if len(due) == batch:
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):
                await wake.wait()
