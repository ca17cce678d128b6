"""The adapter's side of ``Engine.connect``: one mixing bridge of ours per two legs.

A connection is a bridge the adapter made for two legs (or found after a restart with two
kept legs in it, see reconcile.py). :class:`Connections` knows which leg talks with which
at once, when connect/disconnect change it (a connect must know what each leg leaves),
and which connections have been announced with ``LegConnected``; the adapter turns the
bridge's own events into ``LegConnected`` / ``LegDisconnected`` in engine order and
destroys a connection's bridge once fewer than two legs are in it.

A side of an ended connection is told (``LegDisconnected``) only once it is out of the
bridge itself: its own ChannelLeftBridge, or Asterisk's BridgeDestroyed. Asterisk queues
a command on a leg still in a bridge (a playback) on the bridge, and a dissolving bridge
drops it without a word (no PlaybackFinished), so a subscriber that plays to the leg it
was just told about must find it out already. Our own DELETE's answer does not say that:
the legs leave on their own threads a moment later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Coroutine
from typing import Any


class Connections:
    """Connections of two legs, by the id of the bridge that carries each."""

    def __init__(self) -> None:
        self._pairs: dict[str, tuple[str, str]] = {}  # bridge -> its two legs, until gone
        self._bridge_of: dict[str, str] = {}  # leg -> bridge, while the two talk
        self._announced: set[str] = set()  # bridges whose LegConnected went out
        # Ended connections: the sides still to be told (leg -> peer), until out of it.
        self._telling: dict[str, dict[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def pair_up(self, bridge_id: str, a_leg_id: str, b_leg_id: str) -> None:
        self._pairs[bridge_id] = (a_leg_id, b_leg_id)
        self._bridge_of[a_leg_id] = self._bridge_of[b_leg_id] = bridge_id

    def pair(self, bridge_id: str) -> tuple[str, str] | None:
        """The two legs of the connection ``bridge_id`` (``None``: not a connection)."""
        return self._pairs.get(bridge_id)

    def bridge_of(self, leg_id: str) -> str | None:
        return self._bridge_of.get(leg_id)

    def peer(self, leg_id: str) -> str | None:
        """The leg ``leg_id`` talks with now, if any."""
        bridge_id = self._bridge_of.get(leg_id)
        if bridge_id is None:
            return None
        a, b = self._pairs[bridge_id]
        return b if a == leg_id else a

    def unpair(self, bridge_id: str) -> bool:
        """Its two legs talk no more; whether they still did."""
        found = False
        for leg_id in self._pairs.get(bridge_id, ()):
            if self._bridge_of.get(leg_id) == bridge_id:
                del self._bridge_of[leg_id]
                found = True
        return found

    def announce(self, bridge_id: str) -> bool:
        """Whether ``LegConnected`` is yet to go out for it (then it has)."""
        if bridge_id in self._announced:
            return False
        self._announced.add(bridge_id)
        return True

    def ended(self, bridge_id: str) -> bool:
        """Whether ``LegDisconnected`` is yet to go out for it (then it has)."""
        if bridge_id not in self._announced:
            return False
        self._announced.discard(bridge_id)
        return True

    def to_tell(self, bridge_id: str, pair: tuple[str, str]) -> None:
        """The connection ended: each side is to be told, once out of the bridge."""
        a, b = pair
        self._telling[bridge_id] = {a: b, b: a}

    def out_of(self, bridge_id: str, leg_ids: Collection[str]) -> list[tuple[str, str]]:
        """``leg_ids`` are out of the bridge: those yet to be told, with their peer."""
        telling = self._telling.get(bridge_id)
        if telling is None:
            return []
        told = [(leg_id, telling.pop(leg_id)) for leg_id in list(telling) if leg_id in leg_ids]
        if not telling:
            del self._telling[bridge_id]
        return told

    def still_in(self, bridge_id: str) -> list[str]:
        """The sides of an ended connection not yet seen leaving its bridge."""
        return list(self._telling.get(bridge_id, ()))

    def forget(self, bridge_id: str) -> None:
        """Its bridge is gone (the sides still to be told stay, see :meth:`out_of`)."""
        self.unpair(bridge_id)
        self._pairs.pop(bridge_id, None)
        self._announced.discard(bridge_id)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` (a bridge's destruction) apart from the event dispatcher."""
        task = asyncio.create_task(coro, name="asterisk-connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
