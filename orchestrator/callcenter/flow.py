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
"""

from __future__ import annotations

import contextlib
from typing import Any

from orchestrator.acd.config import queue_name, skills
from orchestrator.core.errors import ValidationError
from orchestrator.ivr import CallEnded, IvrCall

QUEUE_APP = "queue"
MAX_HOPS = 3
THANK_YOU = "sound:queue-thankyou"


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
