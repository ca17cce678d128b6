"""The adapter's own bridges: ARI's mixing bridges and their events, never seen above it.

The seam speaks of connections (``Engine.connect`` / ``disconnect``) and supervision;
on Asterisk both are made of ARI bridges the adapter creates, fills, empties and
destroys. These types carry that bookkeeping through the adapter's one event pipeline
(:meth:`AsteriskEngine.apply`, fed by translate.py, reconcile.py and the adapter itself),
which keeps :attr:`AsteriskEngine.bridges` and turns a connection's bridge events into
the core's ``LegConnected`` / ``LegDisconnected``. They are core ``Event`` subclasses only
so that the pipeline carries them with the rest; the adapter never emits them to
subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.core.events import Event


@dataclass(slots=True)
class Bridge:
    """A bridge of this app, as the adapter last saw it (``leg_ids``: our legs in it)."""

    id: str
    kind: str = "mixing"
    leg_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEvent(Event):
    bridge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeCreated(BridgeEvent):
    """ARI BridgeCreated (sent to other apps only: the adapter makes its own for its bridges)."""

    kind: str = "mixing"


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(BridgeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEnteredBridge(BridgeEvent):
    """ARI ChannelEnteredBridge for a leg of ours (or any channel in a bridge of ours)."""

    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegLeftBridge(BridgeEvent):
    leg_id: str
