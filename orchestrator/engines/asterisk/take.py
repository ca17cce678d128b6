"""``Engine.take`` on Asterisk: channels the dialplan switched come under the app's control.

The two parties of a dialplan call are bridged by ``Dial()``, outside Stasis. One AMI
``Redirect`` of the first channel with the second as ``ExtraChannel`` takes both out of
that bridge at the same moment (neither is hung up when the other leaves, as it would be
if they were moved one by one) into the base dialplan's ``orchestrator-take`` context
(dialplan_templates/asterisk/base/extensions.conf.j2), whose extension is the app's name:
``Stasis(<app>,taken)``. The channels keep their ids (uniqueids), so observation, the CEL
journal and the CDR builder go on with the same call. Each StasisStart becomes the leg's
``LegCreated`` (``Routing("taken")``); two are then connected again at once (a mixing
bridge of ours, :meth:`~orchestrator.core.engine.Engine.connect`).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import LegState
from orchestrator.core.engine import check_take
from orchestrator.core.errors import (
    ConflictError,
    EngineError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import Event, LegConnected, LegCreated
from orchestrator.engines.asterisk.translate import leg_state

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

TAKE_CONTEXT = "orchestrator-take"
# The app's name is the extension the context runs (pattern _[a-zA-Z0-9].): it reaches
# the dialplan, so only these characters, and at least two.
APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,79}")
# How long the channels may take to reach the app, and to be bridged again.
TAKE_TIMEOUT_S = 10.0


async def take(engine: AsteriskEngine, channel_ids: Any) -> list[str]:
    """See :meth:`orchestrator.core.engine.Engine.take` and the module doc."""
    ids = check_take(channel_ids)
    if APP_NAME.fullmatch(engine.app) is None:
        raise ValidationError(f"the app name {engine.app!r} cannot be a dialplan extension")
    for channel_id in ids:
        leg = engine.legs.get(channel_id)
        if leg is not None and leg.alive and channel_id not in engine.left_app:
            raise ValidationError(f"{channel_id} is already a leg", leg_id=channel_id)
    for channel_id in ids:
        try:
            channel = await engine.ari.get_channel(channel_id)
        except NotFoundError:
            raise LegGoneError(f"channel {channel_id} is gone", leg_id=channel_id) from None
        if leg_state(channel) is not LegState.UP:
            raise ConflictError(f"channel {channel_id} is not answered", leg_id=channel_id)
    created: dict[str, asyncio.Event] = {i: asyncio.Event() for i in ids}
    bridged: dict[str, asyncio.Event] = {i: asyncio.Event() for i in ids}

    def on_event(event: Event) -> None:
        if isinstance(event, LegCreated) and event.leg_id in created:
            created[event.leg_id].set()
        elif isinstance(event, LegConnected) and event.leg_id in bridged:
            bridged[event.leg_id].set()

    unsubscribe = engine.subscribe(on_event)
    try:
        await _redirect(engine, ids)
        async with asyncio.timeout(TAKE_TIMEOUT_S):
            for flag in created.values():
                await flag.wait()
            if len(ids) == 2:
                await engine.connect(*ids)
                for flag in bridged.values():
                    await flag.wait()
    except TimeoutError:
        raise EngineError(
            "the taken channels did not reach the app in time", channel_ids=ids
        ) from None
    finally:
        unsubscribe()
    return ids


async def _redirect(engine: AsteriskEngine, ids: list[str]) -> None:
    place = {"Context": TAKE_CONTEXT, "Exten": engine.app, "Priority": "1"}
    action: dict[str, Any] = {"Action": "Redirect", "Channel": ids[0], **place}
    if len(ids) == 2:
        action.update(
            ExtraChannel=ids[1], ExtraContext=TAKE_CONTEXT, ExtraExten=engine.app, ExtraPriority="1"
        )
    response = await engine.ami.action(action)
    if isinstance(response, list):
        response = response[0]
    if response.get("Response") != "Success":
        message = str(response.get("Message", ""))
        # Gone between the check and the redirect (a party hung up meanwhile).
        if "no such channel" in message.lower() or "not found" in message.lower():
            raise LegGoneError(f"channel gone: {message}", channel_ids=ids)
        raise EngineError(f"AMI Redirect failed: {message}", channel_ids=ids)
