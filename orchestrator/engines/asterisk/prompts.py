"""The core's stock prompts (:class:`~orchestrator.core.prompts.Prompt`) as Asterisk sounds.

Each prompt is the file of Asterisk's core or extra sound packages that callers heard
before prompts were engine-neutral (``app_queue``'s and ``app_agent_pool``'s own
announcements), so what they hear is unchanged. :func:`engine_media` rewrites a play
list for ARI: ``prompt:`` items become ``sound:`` ones, anything else passes as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.prompts import Prompt

PROMPT_SOUNDS: dict[str, str] = {
    Prompt.QUEUE_YOU_ARE_NEXT: "sound:queue-youarenext",
    Prompt.QUEUE_THERE_ARE: "sound:queue-thereare",
    Prompt.QUEUE_CALLS_WAITING: "sound:queue-callswaiting",
    Prompt.QUEUE_HOLD_TIME: "sound:queue-holdtime",
    Prompt.QUEUE_LESS_THAN: "sound:queue-less-than",
    Prompt.QUEUE_MINUTE: "sound:queue-minute",
    Prompt.QUEUE_MINUTES: "sound:queue-minutes",
    Prompt.QUEUE_THANK_YOU: "sound:queue-thankyou",
    Prompt.AGENT_LOGGED_IN: "sound:agent-loginok",
    Prompt.AGENT_LOGGED_OUT: "sound:agent-loggedoff",
    Prompt.AGENT_PAUSED: "sound:dictate/paused",
    Prompt.AGENT_REFUSED: "sound:agent-incorrect",
    Prompt.SORRY: "sound:im-sorry",
    Prompt.TRY_AGAIN_LATER: "sound:please-try-call-later",
}


def engine_media(items: Iterable[str]) -> list[str]:
    """``items`` with every stock prompt replaced by its Asterisk sound."""
    return [PROMPT_SOUNDS.get(item, item) for item in items]
