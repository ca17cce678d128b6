"""``Engine.take`` on FreeSWITCH: channels the dialplan bridged come under the adapter's control.

The two parties of a dialplan call are bridged by the ``bridge`` app. Moving one of them
alone out of the bridge hangs the other up (FreeSWITCH clears a bridge's partner,
NORMAL_CLEARING), so both go at once: ``uuid_transfer <a> -both park inline`` parks the
channel and its bridge partner with their uuids (observation and the CDR go on with the
same call). Before that each gets ``orch_route=taken`` (and no ``orch_leg``: not a leg
we originated), so its CHANNEL_PARK is the ``LegCreated`` of a leg of ours, as for a
call the dialplan hands over (translate.is_ours), and a start-up sweep adopts it when
kept. Two are then bridged again (``uuid_bridge``, :meth:`Engine.connect`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import LegState
from orchestrator.core.engine import TAKEN, check_take
from orchestrator.core.errors import (
    ConflictError,
    EngineError,
    ValidationError,
)
from orchestrator.core.events import Event, LegConnected, LegCreated
from orchestrator.engines.freeswitch.dialstrings import LEG_VAR, ROUTE_VAR
from orchestrator.engines.freeswitch.esl.listings import parse_uuid_dump
from orchestrator.engines.freeswitch.translate import leg_state

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

# How long the channels may take to park, and to be bridged again.
TAKE_TIMEOUT_S = 10.0


async def take(engine: FreeSwitchEngine, channel_ids: Any) -> list[str]:
    """See :meth:`orchestrator.core.engine.Engine.take` and the module doc."""
    ids = check_take(channel_ids)
    for channel_id in ids:
        leg = engine.legs.get(channel_id)
        if leg is not None and leg.alive and channel_id in engine.announced:
            raise ValidationError(f"{channel_id} is already a leg", leg_id=channel_id)
    partners: dict[str, str] = {}
    for channel_id in ids:
        dump = parse_uuid_dump(await engine.api(f"uuid_dump {channel_id} json"))
        if leg_state(dump) is not LegState.UP:
            raise ConflictError(f"channel {channel_id} is not answered", leg_id=channel_id)
        partners[channel_id] = dump.variable("bridge_uuid") or dump.variable("signal_bond")
    created = {i: asyncio.Event() for i in ids}
    bridged = {i: asyncio.Event() for i in ids}

    def on_event(event: Event) -> None:
        if isinstance(event, LegCreated) and event.leg_id in created:
            created[event.leg_id].set()
        elif isinstance(event, LegConnected) and event.leg_id in bridged:
            bridged[event.leg_id].set()

    for channel_id in ids:
        await engine.api(f"uuid_setvar {channel_id} {LEG_VAR}")  # unset
        await engine.api(f"uuid_setvar {channel_id} {ROUTE_VAR} {TAKEN}")
    unsubscribe = engine.subscribe(on_event)
    try:
        if len(ids) == 2 and partners[ids[0]] == ids[1]:
            await engine.api(f"uuid_transfer {ids[0]} -both park inline")
        else:
            for channel_id in ids:
                await engine.api(f"uuid_transfer {channel_id} park inline")
        async with asyncio.timeout(TAKE_TIMEOUT_S):
            for flag in created.values():
                await flag.wait()
            if len(ids) == 2:
                await engine.connect(*ids)
                for flag in bridged.values():
                    await flag.wait()
    except TimeoutError:
        raise EngineError("the taken channels did not park in time", channel_ids=ids) from None
    finally:
        unsubscribe()
    return ids
