"""Bring the adapter's view of legs and bridges back in line with the engine.

While the events WebSocket is down, events are lost: legs hang up, channels enter
the Stasis app, bridges come and go. After each (re)connect the adapter asks ARI
what exists now and turns the difference into the events it missed, applied through
:meth:`AsteriskEngine.apply` like any other event (so stale ones are ignored).

At the first connect of a process, :meth:`Reconciler.sweep` instead clears what a
previous run left behind: channels still in our Stasis app have no owner any more,
except those in ``Engine.kept_legs`` (callers a queue takes back, the legs of calls
adopted from the store): they are reported as ``LegCreated(resumed=True)``. Such a
channel keeps what it was doing while nobody was connected (checked on Asterisk 22:
still in the app, music on hold going on, still bridged); only the events of that gap
are lost. Our bridges (:attr:`Engine.id_prefix`, or the bare uuid hex ids of versions
before it) are destroyed unless two kept legs are in one: a bridge of two is a connection
again (``Engine.connect``: reported as ``BridgeCreated``, ``LegEnteredBridge`` for each
leg, then ``LegConnected``), one of more is reported as a bridge. A bridge with a single
kept leg goes (its peer is gone: the leg stays up, connected to nothing).
A conference's bridge (conferences.py) is spared while a kept leg is in it, for the next
run's ``Conferences.create`` of the same id to take back, and destroyed otherwise; after a
reconnect one this run does not know and nobody is in is destroyed.

With channel observation, both also bring the adapter's channel table in line: channels
it never reported get a ChannelStarted (the calls in progress at start-up, the ones that
began while the link was down), and those gone meanwhile a ChannelEnded. An app
subscribed to everything lists the "all" topics instead of its channels and bridges,
so which channels are in our Stasis app is read from each channel's dialplan
application (``Stasis`` with our app as first argument).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import LegGoneError, NotFoundError
from orchestrator.core.events import ChannelEnded, LegHungUp, LegStateChanged
from orchestrator.engines.asterisk import journal as cel_journal
from orchestrator.engines.asterisk.bridges import (
    BridgeCreated,
    BridgeDestroyed,
    LegEnteredBridge,
    LegLeftBridge,
)
from orchestrator.engines.asterisk.translate import leg_created_from_snapshot, leg_state

# What an app subscribed to all channels/bridges lists instead of their ids.
ALL_TOPICS = frozenset({"__AST_CHANNEL_ALL_TOPIC", "__AST_BRIDGE_ALL_TOPIC"})
# The bridge ids of the versions before Engine.new_id (a bare uuid4 hex); Asterisk's
# own (dialplan) bridges have dashed uuids.
LEGACY_BRIDGE_ID = re.compile(r"[0-9a-f]{32}")

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

log = logging.getLogger(__name__)


class Reconciler:
    """Sweep and reconcile for one :class:`AsteriskEngine`."""

    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine

    def _ours(self, bridge_id: str, app_bridges: set[str]) -> bool:
        return bridge_id.startswith(self.engine.id_prefix) or bridge_id in app_bridges

    def _made_by_us(self, bridge: dict[str, Any]) -> bool:
        """A bridge some run of the orchestrator made (this one or an earlier one)."""
        bridge_id = str(bridge["id"])
        return (
            bridge_id.startswith(self.engine.id_prefix)
            or LEGACY_BRIDGE_ID.fullmatch(bridge_id) is not None
        )

    def _in_app(self, app: dict[str, Any], channels: dict[str, dict[str, Any]]) -> set[str]:
        """The ids of the channels in our Stasis app now."""
        ids = set(app.get("channel_ids", [])) - ALL_TOPICS
        for channel_id, snapshot in channels.items():
            dialplan = snapshot.get("dialplan") or {}
            app_name, app_data = (
                str(dialplan.get("app_name", "")),
                str(dialplan.get("app_data", "")),
            )
            if app_name.lower() == "stasis" and app_data.split(",")[0] == self.engine.app:
                ids.add(channel_id)
        return ids

    async def _observe(self, channels: dict[str, dict[str, Any]]) -> None:
        engine = self.engine
        if engine.observe_channels:
            events = engine.channels.differences(channels.values())
            gone = [e.channel_id for e in events if isinstance(e, ChannelEnded)]
            if gone:
                # Ended while the link was down: when and why, from the engine's journal.
                found = await engine.journal(gone)
                events = cel_journal.fill_gap(events, found, engine.channels.states)
            for event in events:
                if engine.channels.admit(event):
                    await engine.emit(event)

    async def sweep(self) -> None:
        """Hang up the channels left in our app and destroy our bridges left behind.

        Kept legs still in the app are taken back instead (``LegCreated(resumed=True)``),
        with the bridge of ours they are in.
        """
        engine, ari = self.engine, self.engine.ari
        app = await ari.application()
        channels = {c["id"]: c for c in await ari.list_channels()}
        in_app = self._in_app(app, channels)
        kept = sorted(in_app & engine.kept_legs)
        channel_ids = sorted(in_app - engine.kept_legs)
        for channel_id in channel_ids:
            channels.pop(channel_id, None)
            with contextlib.suppress(LegGoneError):
                await ari.hangup(channel_id, reason="normal")
        kept_bridges: list[dict[str, Any]] = []
        bridge_ids: list[str] = []
        for bridge in await ari.list_bridges():
            if not self._made_by_us(bridge):
                continue
            if engine.conferences.owns_bridge(str(bridge["id"])):
                if set(bridge.get("channels", [])) & set(kept):
                    continue  # a conference with kept members: the next create() takes it
            elif len(set(bridge.get("channels", [])) & set(kept)) >= 2:
                kept_bridges.append(bridge)
                continue
            bridge_ids.append(str(bridge["id"]))
            with contextlib.suppress(NotFoundError):
                await ari.destroy_bridge(bridge["id"])
        if channel_ids or bridge_ids or kept:
            log.info(
                "asterisk: swept %d channel(s) and %d bridge(s) left by a previous run, "
                "took back %d channel(s) and %d bridge(s)",
                len(channel_ids),
                len(bridge_ids),
                len(kept),
                len(kept_bridges),
            )
        await self._observe(channels)
        for channel_id in kept:
            created = leg_created_from_snapshot(channels[channel_id])
            await engine.apply(dataclasses.replace(created, resumed=True))
        for bridge in kept_bridges:
            bridge_id = str(bridge["id"])
            kind = str(bridge.get("bridge_type", "mixing"))
            legs = sorted(set(bridge.get("channels", [])) & set(kept))
            if len(legs) == 2:
                engine.connections.pair_up(bridge_id, legs[0], legs[1])
            await engine.apply(BridgeCreated(bridge_id=bridge_id, kind=kind))
            for leg_id in legs:
                await engine.apply(LegEnteredBridge(bridge_id=bridge_id, leg_id=leg_id))

    async def reconcile(self) -> None:
        engine, ari = self.engine, self.engine.ari
        app = await ari.application()
        channels = {c["id"]: c for c in await ari.list_channels()}
        bridges = {b["id"]: b for b in await ari.list_bridges()}
        await self._observe(channels)
        await self._legs(channels, self._in_app(app, channels))
        await self._bridges(bridges, set(app.get("bridge_ids", [])) - ALL_TOPICS)
        log.debug(
            "asterisk: reconciled: %d leg(s), %d bridge(s)", len(engine.legs), len(engine.bridges)
        )

    async def _legs(self, channels: dict[str, dict[str, Any]], in_app: set[str]) -> None:
        engine = self.engine
        for leg in list(engine.legs.values()):
            if leg.id in engine._originating:
                continue  # its POST may not have reached the engine when we listed
            snapshot = channels.get(leg.id)
            if snapshot is None:
                gone = LegHungUp(leg_id=leg.id, cause_text="gone while disconnected")
                await engine.apply(gone, "ChannelDestroyed")
            elif leg_state(snapshot) is not leg.state:
                await engine.apply(LegStateChanged(leg_id=leg.id, state=leg_state(snapshot)))
        for channel_id in sorted(in_app - engine.legs.keys()):
            if channel_id in channels:
                await engine.apply(leg_created_from_snapshot(channels[channel_id]))

    async def _bridges(self, bridges: dict[str, dict[str, Any]], in_app: set[str]) -> None:
        engine = self.engine
        for bridge_id in list(engine.bridges):
            if bridge_id not in bridges:
                for leg_id in sorted(engine.bridges[bridge_id].leg_ids):
                    await engine.apply(LegLeftBridge(bridge_id=bridge_id, leg_id=leg_id))
                await engine.apply(BridgeDestroyed(bridge_id=bridge_id))
        for bridge_id, snapshot in bridges.items():
            if bridge_id not in engine.bridges:
                if engine.conferences.owns_bridge(bridge_id):
                    # A conference's (conferences.py): one this run does not know and
                    # nobody is in goes, as an empty connection's does.
                    if not (
                        snapshot.get("channels")
                        or engine.conferences.knows_bridge(bridge_id)
                        or bridge_id in engine.making_bridges
                    ):
                        with contextlib.suppress(NotFoundError):
                            await engine.ari.destroy_bridge(bridge_id)
                    continue
                if not self._ours(bridge_id, in_app) or engine._supervisions.owns_bridge(bridge_id):
                    continue  # not ours, or the adapter's own (supervisor.py)
                if not snapshot.get("channels") and bridge_id not in engine.making_bridges:
                    # Ours, empty, and nobody of this run knows it: its owner's destroy
                    # was lost with the link. Nothing can use it any more.
                    with contextlib.suppress(NotFoundError):
                        await engine.ari.destroy_bridge(bridge_id)
                    continue
                kind = str(snapshot.get("bridge_type", "mixing"))
                await engine.apply(BridgeCreated(bridge_id=bridge_id, kind=kind))
            known = engine.bridges[bridge_id].leg_ids
            now = set(snapshot.get("channels", []))
            for leg_id in sorted(now - known):
                await engine.apply(LegEnteredBridge(bridge_id=bridge_id, leg_id=leg_id))
            for leg_id in sorted(known - now):
                await engine.apply(LegLeftBridge(bridge_id=bridge_id, leg_id=leg_id))
