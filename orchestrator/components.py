"""What a feature's ``install(deps)`` gets, and what it gives back.

Each feature package has an ``install`` module: ``install(deps, ...)`` builds the
feature over the shared :class:`Deps` (and the features it builds on, passed by name)
and returns its services with a :class:`Component`. The composition root starts the
components in order and stops them in reverse::

    async with AsyncExitStack() as stack:
        await start_all(stack, [ivr.component, cti.component, ...])
        ...  # serve; leaving the block stops them, last started first

If one fails to start, the ones started before it are stopped (in reverse) and the
error propagates: the service does not half-start.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Protocol

from orchestrator.core import Engine
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Deps:
    """The service's shared pieces, built once by the composition root."""

    settings: Settings
    engine: Engine
    sessions: SessionFactory
    #: The engine node a call id is unique on (the engine kit's ``node``).
    node: str


class Component(Protocol):
    """Something with a life cycle: started before the service serves, stopped after."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def _call(action: Callable[[], object]) -> None:
    result = action()
    if inspect.isawaitable(result):
        await result


def _nothing() -> None:
    return None


@dataclass(slots=True)
class Hooks:
    """A :class:`Component` made of two callables (each plain or async)."""

    name: str
    on_start: Callable[[], object] = _nothing
    on_stop: Callable[[], object] = _nothing

    async def start(self) -> None:
        await _call(self.on_start)

    async def stop(self) -> None:
        await _call(self.on_stop)


async def start_all(stack: AsyncExitStack, components: Iterable[Component]) -> None:
    """Start ``components`` in order; ``stack`` stops the started ones in reverse."""
    for component in components:
        log.debug("starting %s", component.name)
        await component.start()
        stack.push_async_callback(component.stop)
