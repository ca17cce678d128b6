"""Bring the adapter's view of legs back in line with FreeSWITCH after a gap.

While the ESL link is down, events are lost: legs hang up, calls park. After each
reconnect the adapter lists the channels (``show channels as json``) and turns the
difference into the events it missed, applied through :meth:`FreeSwitchEngine.apply`
like any other (so stale ones are ignored): a leg no longer listed ended
(``LegHungUp``, "gone while disconnected"), a channel of ours it does not know is taken
(``LegCreated``). Whether a channel is ours is read from its variables
(``uuid_dump <uuid> json``; see translate.is_ours).

At the first connect of a process, :meth:`Reconciler.sweep` instead clears what a
previous run left behind: channels of ours have no owner any more and are hung up,
except those in ``Engine.kept_legs``, reported as ``LegCreated(resumed=True)``; two kept
legs still bridged to each other are a connection again (``LegConnected``). A conference
room of kept members lives on for the next ``Conferences.create``.

With channel observation both also report the channels found (``ChannelStarted`` with
``resumed``) and those gone meanwhile (``ChannelEnded``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import LegState
from orchestrator.core.errors import CallError
from orchestrator.core.events import ChannelEnded, LegHungUp, LegStateChanged
from orchestrator.engines.freeswitch.dialstrings import LEG_VAR
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.translate import (
    Bridged,
    Destroyed,
    channel_started,
    is_ours,
    leg_created,
    leg_state,
    variables,
)

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

log = logging.getLogger(__name__)

# How long the sweep waits before listing the channels a second time (see sweep()).
SETTLE_S = 0.3


def channel_rows(listing: str) -> list[dict[str, Any]]:
    """The rows of ``show channels as json`` (``{"row_count": 0}`` when there are none)."""
    data = json.loads(listing)
    rows = data.get("rows") or [] if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict) and r.get("uuid")]


class Reconciler:
    """Sweep and reconcile for one :class:`FreeSwitchEngine`."""

    def __init__(self, engine: FreeSwitchEngine) -> None:
        self.engine = engine
        self.settle_s = SETTLE_S

    async def _rows(self) -> dict[str, dict[str, Any]]:
        listing = await self.engine.api("show channels as json")
        return {str(r["uuid"]): r for r in channel_rows(listing)}

    async def _exists(self, uuid: str) -> bool:
        """Whether FreeSWITCH has the channel: ``show channels`` reads a database written
        in the background, and lags a new channel by some 200 ms (seen on 1.10.12)."""
        try:
            return (await self.engine.api(f"uuid_exists {uuid}")).strip() == "true"
        except CallError:
            return False

    def _ours(self, dump: EslEvent) -> bool:
        """Ours to sweep or adopt: handed over by the dialplan, or originated by a run of
        this orchestrator (its id prefix: another orchestrator's legs are not ours)."""
        chan_vars = variables(dump)
        if chan_vars.get(LEG_VAR) and not dump.uuid.startswith(self.engine.id_prefix):
            return False
        return is_ours(dump.uuid, chan_vars)

    async def _dump(self, uuid: str) -> EslEvent | None:
        """The channel's data as an event (None: gone meanwhile)."""
        try:
            text = await self.engine.api(f"uuid_dump {uuid} json")
            data = json.loads(text)
        except (CallError, ValueError):
            return None
        headers = {str(k): str(v) for k, v in data.items()}
        headers.setdefault("Unique-ID", uuid)
        return EslEvent("CHANNEL_DATA", headers)

    async def _observe_found(self, dumps: list[EslEvent]) -> None:
        engine = self.engine
        if not engine.observe_channels:
            return
        for dump in dumps:
            if dump.uuid not in engine.channels:
                engine.channels.add(dump.uuid)
                await engine.emit(dataclasses.replace(channel_started(dump), resumed=True))

    async def sweep(self) -> None:
        """Hang up the channels of ours a previous run left; take back the kept ones."""
        engine = self.engine
        rows = await self._rows()
        # The listing lags new channels (~200 ms): a second look catches a previous run's
        # last ones, and kept legs are asked for by their ids.
        await asyncio.sleep(self.settle_s)
        rows.update(await self._rows())
        for uuid in sorted(engine.kept_legs - rows.keys()):
            if await self._exists(uuid):
                rows[uuid] = {"uuid": uuid}
        kept: list[EslEvent] = []
        others: list[EslEvent] = []
        swept = 0
        for uuid in sorted(rows, key=lambda u: str(rows[u].get("created_epoch", ""))):
            dump = await self._dump(uuid)
            if dump is None:
                continue
            if not self._ours(dump):
                others.append(dump)
            elif uuid in engine.kept_legs:
                kept.append(dump)
            else:
                swept += 1
                with contextlib.suppress(CallError):
                    await engine.api(f"uuid_kill {uuid} NORMAL_CLEARING")
        if swept or kept:
            log.info(
                "freeswitch: swept %d channel(s) left by a previous run, took back %d",
                swept, len(kept),
            )  # fmt: skip
        await self._observe_found(others + kept)
        for dump in kept:
            await engine.apply(dataclasses.replace(leg_created(dump), resumed=True))
        kept_ids = {d.uuid for d in kept}
        for dump in kept:
            other = dump.variable("bridge_uuid") or dump.variable("signal_bond")
            if other in kept_ids and dump.uuid < other:
                await engine.apply(Bridged(a=dump.uuid, b=other))

    async def reconcile(self) -> None:
        """Report what was missed while the link was down."""
        engine = self.engine
        rows = await self._rows()
        if engine.observe_channels:
            for gone in sorted(engine.channels - rows.keys()):
                engine.channels.discard(gone)
                await engine.emit(
                    ChannelEnded(channel_id=gone, cause_text="gone while disconnected")
                )
        for leg in list(engine.legs.values()):
            if leg.id in engine.originating:
                continue  # its originate may not have reached the engine when we listed
            row = rows.get(leg.id)
            if row is None and not await self._exists(leg.id):
                await engine.apply(LegHungUp(leg_id=leg.id, cause_text="gone while disconnected"))
                await engine.apply(Destroyed(leg_id=leg.id))
                continue
            if row is None:
                continue  # too new for the listing (see _exists)
            state = leg_state({"Channel-Call-State": str(row.get("callstate", ""))})
            if state is LegState.UP and leg.state is not LegState.UP:
                await engine.apply(LegStateChanged(leg_id=leg.id, state=state))
        # A connection whose side ended meanwhile: its unbridge was lost with the link.
        for a, b in engine.connections.announced():
            sides = [engine.legs.get(a), engine.legs.get(b)]
            if not all(side is not None and side.alive for side in sides):
                await engine.apply(Bridged(a=a, b=b, up=False))
        found: list[EslEvent] = []
        for uuid in sorted(rows.keys() - engine.legs.keys() - engine.left):
            if uuid in engine.channels and not engine.observe_channels:
                continue
            dump = await self._dump(uuid)
            if dump is None:
                continue
            if uuid not in engine.channels:
                found.append(dump)
            if self._ours(dump) and dump.variable("current_application") == "park":
                await engine.apply(leg_created(dump))
        await self._observe_found(found)
