"""Building every tenant's configuration with Python's cyclic garbage collector paused.

A full apply builds about a million small objects (the snapshots, then each engine's
rows or index), none in a reference cycle; while the heap grows the collector walks
all of it again and again, which cost more than the build itself (1,000 x 100 on
FreeSWITCH: load and index 2.3 s with it, 1.3 s without). Both engines' provisioners
run their full build through :func:`gc_paused`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["gc_paused"]

T = TypeVar("T")


class _Collector:
    """Counts the builds under way (threads may overlap): the first pauses the
    collector, the last one out collects once and restores it as it was (off stays
    off). That one collection is in the apply's time, so the lookups after it do not
    pay for it (about 0.2 s at 100,000 users). It is of the youngest generation only:
    with the collector off, everything made since the pause is still there, and the
    rest of the heap is not walked (a full collection walked it all: in the test
    suite's processes, whose heaps are large, the applies' full collections were ~17%
    of the unit and API tests' CPU, py-spy 2026-12-07). Nothing else of the process
    changes but when its own cycles are collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds = 0
        self._was_on = False

    def paused(self, build: Callable[[], T]) -> T:
        with self._lock:
            if self._builds == 0:
                self._was_on = gc.isenabled()
                gc.disable()
            self._builds += 1
        try:
            return build()
        finally:
            with self._lock:
                self._builds -= 1
                if self._builds == 0 and self._was_on:
                    gc.enable()
                    gc.collect(0)


_COLLECTOR = _Collector()


def gc_paused(build: Callable[[], T]) -> T:
    """``build()`` with the cyclic garbage collector paused, then one collection.

    Example: ``configs, rows = await asyncio.to_thread(gc_paused, self._build_all)``.
    """
    return _COLLECTOR.paused(build)
