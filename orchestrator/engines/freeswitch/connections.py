"""The adapter's side of ``Engine.connect`` on FreeSWITCH: ``uuid_bridge`` of two legs.

FreeSWITCH has no bridge object to name: two channels are bridged to each other, and
CHANNEL_BRIDGE / CHANNEL_UNBRIDGE (``Bridge-A-Unique-ID``, ``Bridge-B-Unique-ID``) say
when. :class:`Connections` knows which leg talks with which at once, when
connect/disconnect change it (a connect must know what each leg leaves), and which pairs
have been announced with ``LegConnected``; the adapter turns the bridge events into
``LegConnected`` / ``LegDisconnected`` in engine order.

Every leg we connect has ``park_after_bridge=true``, so when one side leaves (hangs up,
is transferred, joins a conference, is bridged elsewhere) the other is parked again: up,
under control, connected to nothing. A side is told ``LegDisconnected`` at the unbridge,
once FreeSWITCH has taken it out of the bridge.
"""

from __future__ import annotations


def key(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


class Connections:
    """Connections of two legs (see the module doc)."""

    def __init__(self) -> None:
        self._peer: dict[str, str] = {}  # what connect/disconnect asked for, at once
        self._order: dict[frozenset[str], tuple[str, str]] = {}  # pair -> connect's order
        self._announced: set[frozenset[str]] = set()

    def peer(self, leg_id: str) -> str | None:
        return self._peer.get(leg_id)

    def pair_up(self, a: str, b: str) -> None:
        self.unpair(a)
        self.unpair(b)
        self._peer[a], self._peer[b] = b, a
        self._order[key(a, b)] = (a, b)

    def unpair(self, leg_id: str) -> str | None:
        """``leg_id`` and its peer talk no more (as asked); its former peer, if any."""
        peer = self._peer.pop(leg_id, None)
        if peer is not None and self._peer.get(peer) == leg_id:
            del self._peer[peer]
        return peer

    def bridged(self, a: str, b: str) -> tuple[str, str] | None:
        """CHANNEL_BRIDGE of ``a`` and ``b``: the pair to announce (in connect's order),
        or None (not a connection we asked for, or announced already)."""
        k = key(a, b)
        if self._peer.get(a) != b or k in self._announced:
            return None
        self._announced.add(k)
        return self._order.get(k, (a, b))

    def adopt(self, a: str, b: str) -> tuple[str, str] | None:
        """Two legs of ours found bridged (a kept connection after a restart)."""
        self.pair_up(a, b)
        return self.bridged(a, b)

    def unbridged(self, a: str, b: str) -> tuple[str, str] | None:
        """CHANNEL_UNBRIDGE of ``a`` and ``b``: the announced pair that ended (its sides
        are to be told), or None."""
        k = key(a, b)
        if k not in self._announced:
            return None
        self._announced.discard(k)
        if self._peer.get(a) == b:
            self.unpair(a)
        return self._order.pop(k, (a, b))

    def is_announced(self, a: str, b: str) -> bool:
        return key(a, b) in self._announced

    def announced(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for k in self._announced:
            a, b = sorted(k)
            out.append(self._order.get(k, (a, b)))
        return out

    def forget(self, leg_id: str) -> None:
        self.unpair(leg_id)
