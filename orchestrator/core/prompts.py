"""The stock prompts features play, by meaning rather than by an engine's file name.

A feature plays ``Prompt.QUEUE_YOU_ARE_NEXT`` (the media name
``prompt:queue-you-are-next``) with :meth:`Engine.play`, alone or in a list with other
media (``number:3``...); each adapter maps the name to a recording of its own sound
library, so callers hear the same words on every engine.

How engines do it: Asterisk plays the matching file of its core and extra sound packages
(``queue-youarenext``, ``queue-thereare``..., see
orchestrator/engines/asterisk/prompts.py); FreeSWITCH would play the nearest file of its
sound package (``ivr/ivr-you_are_number.wav``...) or a custom recording installed with
its prompts. Example::

    await engine.play(leg_id, [Prompt.QUEUE_THERE_ARE, "number:3", Prompt.QUEUE_CALLS_WAITING])
"""

from __future__ import annotations

import enum


class Prompt(enum.StrEnum):
    """A stock prompt (value: its media name, ``prompt:<name>``)."""

    # Queues: position and estimated hold time ("there are 3 calls waiting ahead of
    # you", "the estimated hold time is less than 1 minute"), and the goodbye.
    QUEUE_YOU_ARE_NEXT = "prompt:queue-you-are-next"
    QUEUE_THERE_ARE = "prompt:queue-there-are"
    QUEUE_CALLS_WAITING = "prompt:queue-calls-waiting"
    QUEUE_HOLD_TIME = "prompt:queue-hold-time"
    QUEUE_LESS_THAN = "prompt:queue-less-than"
    QUEUE_MINUTE = "prompt:queue-minute"
    QUEUE_MINUTES = "prompt:queue-minutes"
    QUEUE_THANK_YOU = "prompt:queue-thank-you"
    # Agents' feature codes.
    AGENT_LOGGED_IN = "prompt:agent-logged-in"
    AGENT_LOGGED_OUT = "prompt:agent-logged-out"
    AGENT_PAUSED = "prompt:agent-paused"
    AGENT_REFUSED = "prompt:agent-refused"
    # An IVR flow failed: "I'm sorry", "please try your call again later".
    SORRY = "prompt:sorry"
    TRY_AGAIN_LATER = "prompt:try-again-later"

    @property
    def name_only(self) -> str:
        """The prompt's name without the ``prompt:`` kind."""
        return self.value.removeprefix("prompt:")


PROMPT_NAMES = frozenset(p.name_only for p in Prompt)
