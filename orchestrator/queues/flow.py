"""The builtin IVR flow ``queue``: an access number (or IVR app) that sends callers to a queue.

An IVR application with the flow key ``queue`` and settings such as::

    {"queue": "support", "greeting": "sound:custom/welcome", "skills": "french:5",
     "priority": 0}

answers nothing itself: the caller goes straight into the queue (the ACD answers and
plays music on hold), after the optional ``greeting``. What happens next follows the
queue's result (docs/queues.md):

- ``overflow``/``timeout``: the queue's ``overflow`` destination: ``extension:<n>`` or
  ``number:<+n>`` (a blind transfer), ``queue:<name>`` (the caller joins that queue,
  at most :data:`MAX_HOPS` times), ``hangup``;
- ``callback``: "thank you", then the call ends (the ACD calls back);
- ``answered``/``abandoned``: the call is over.

Flows of one's own do the same with ``await call.queue("support")``.

A caller taken back after a restart of the service (see :mod:`orchestrator.queues.acd.places`)
has no flow any more, whichever flow put it in the queue: :func:`carry_on` does what
this flow would have done with the result (the ACD calls it), and then hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from orchestrator.core.engine import Engine
from orchestrator.core.errors import LegGoneError, ValidationError
from orchestrator.core.events import Event, LegHungUp, PlaybackFinished
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import CallEnded, IvrCall
from orchestrator.queues.acd import AcdService, QueueResult
from orchestrator.queues.acd.config import queue_name, skills
from orchestrator.queues.acd.places import Place

QUEUE_APP = "queue"
MAX_HOPS = 3
THANK_YOU = Prompt.QUEUE_THANK_YOU
# Longest a resumed caller's "thank you" may take.
PLAY_LIMIT_S = 10.0


def parse_skills(value: Any) -> dict[str, int] | None:
    """``"french:5,german:3"`` (IVR settings are flat) as ``{"french": 5, "german": 3}``."""
    if value in (None, ""):
        return None
    pairs: dict[str, Any] = {}
    for part in str(value).split(","):
        name, sep, level = part.strip().partition(":")
        if not sep or not level.strip().isdigit():
            raise ValidationError("skills: 'name:level,...'", field="skills", value=str(value))
        pairs[name.strip()] = int(level)
    return skills(pairs)


async def queue_flow(call: IvrCall) -> None:
    """The ``queue`` flow (see the module doc)."""
    name = queue_name(call.settings.get("queue"), field_name="queue")
    options: dict[str, Any] = {}
    required = parse_skills(call.settings.get("skills"))
    if required is not None:
        options["required_skills"] = required
    if "priority" in call.settings:
        options["priority"] = int(call.settings["priority"])
    greeting = call.settings.get("greeting")
    if greeting:
        await call.answer()
        await call.play(str(greeting))
    for _ in range(MAX_HOPS + 1):
        result = await call.queue(name, **options)
        if result.outcome == "callback":
            with contextlib.suppress(CallEnded):
                await call.play(THANK_YOU)
            return
        if result.outcome not in ("overflow", "timeout"):
            return
        destination = result.destination or "hangup"
        if destination.startswith("queue:"):
            name = destination.removeprefix("queue:")
            continue
        if destination != "hangup":
            await call.transfer(destination)
        return
    call.log.warning("queue overflow loop from %s; hanging up", name)


async def carry_on(acd: AcdService, place: Place, result: QueueResult) -> None:
    """After a resumed caller's time in the queue: what :func:`queue_flow` would do.

    ``overflow``/``timeout``: the queue's ``overflow`` (another queue with that queue's
    defaults, a blind transfer, or hang up); ``callback``: "thank you"; then, unless
    transferred, the call is hung up (also after ``answered``, when the agent hung up
    first).
    """
    engine, leg_id = acd.engine, place.leg_id
    for _ in range(MAX_HOPS + 1):
        if result.outcome == "callback":
            await _play(engine, leg_id, THANK_YOU)
            break
        if result.outcome not in ("overflow", "timeout"):
            break
        destination = result.destination or "hangup"
        if destination.startswith("queue:"):
            result = await acd.enqueue(
                leg_id, tenant_id=place.tenant_id, queue=destination[6:], caller=place.caller
            )
            continue
        if destination != "hangup":
            target = await acd.directory.resolve(str(place.tenant_id), destination)
            await engine.transfer(leg_id, target.transfer)
            return
        break
    leg = engine.leg(leg_id)
    if leg is not None and leg.alive:
        await engine.hangup(leg_id)


async def _play(engine: Engine, leg_id: str, media: str) -> None:
    """Play ``media`` to the end (or until the caller hangs up, or PLAY_LIMIT_S)."""
    playback_id = engine.new_id()
    done = asyncio.Event()

    def on(event: Event) -> None:
        if (isinstance(event, PlaybackFinished) and event.playback_id == playback_id) or (
            isinstance(event, LegHungUp) and event.leg_id == leg_id
        ):
            done.set()

    unsubscribe = engine.subscribe(on)
    try:
        with contextlib.suppress(LegGoneError, TimeoutError):
            await engine.play(leg_id, [media], playback_id=playback_id)
            await asyncio.wait_for(done.wait(), PLAY_LIMIT_S)
    finally:
        unsubscribe()
