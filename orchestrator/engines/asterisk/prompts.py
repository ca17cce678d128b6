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
    # MeetMe's and ConfBridge's own prompts and chimes (core sounds).
    Prompt.CONFERENCE_PIN: "sound:conf-getpin",
    Prompt.CONFERENCE_BAD_PIN: "sound:conf-invalidpin",
    Prompt.CONFERENCE_WAIT_FOR_MODERATOR: "sound:conf-waitforleader",
    Prompt.CONFERENCE_LOCKED: "sound:conf-locked",
    Prompt.CONFERENCE_FULL: "sound:conf-full",
    Prompt.CONFERENCE_ONLY_PERSON: "sound:conf-onlyperson",
    Prompt.CONFERENCE_MODERATOR_LEFT: "sound:conf-leaderhasleft",
    Prompt.CONFERENCE_JOINED: "sound:confbridge-join",
    Prompt.CONFERENCE_LEFT: "sound:confbridge-leave",
    # Voicemail: app_voicemail's own recordings.
    Prompt.VOICEMAIL_THE_PERSON_AT: "sound:vm-theperson",
    Prompt.VOICEMAIL_IS_UNAVAILABLE: "sound:vm-isunavail",
    Prompt.VOICEMAIL_IS_BUSY: "sound:vm-isonphone",
    Prompt.VOICEMAIL_LEAVE_MESSAGE: "sound:vm-intro",
    Prompt.VOICEMAIL_ENTER_MAILBOX: "sound:vm-login",
    Prompt.VOICEMAIL_ENTER_PIN: "sound:vm-password",
    Prompt.VOICEMAIL_PIN_INCORRECT: "sound:vm-incorrect",
    Prompt.VOICEMAIL_YOU_HAVE: "sound:vm-youhave",
    Prompt.VOICEMAIL_NEW: "sound:vm-INBOX",
    Prompt.VOICEMAIL_OLD: "sound:vm-Old",
    Prompt.VOICEMAIL_MESSAGES: "sound:vm-messages",
    Prompt.VOICEMAIL_NO_MORE: "sound:vm-nomore",
    Prompt.VOICEMAIL_MENU: "sound:vm-onefor",
    Prompt.VOICEMAIL_GREETINGS_MENU: "sound:vm-options",
    Prompt.VOICEMAIL_RECORD_UNAVAILABLE: "sound:vm-rec-unv",
    Prompt.VOICEMAIL_RECORD_BUSY: "sound:vm-rec-busy",
    Prompt.VOICEMAIL_RECORD_NAME: "sound:vm-rec-name",
    Prompt.VOICEMAIL_NEW_PIN: "sound:vm-newpassword",
    Prompt.VOICEMAIL_PIN_CHANGED: "sound:vm-passchanged",
    Prompt.VOICEMAIL_DELETED: "sound:vm-deleted",
    Prompt.VOICEMAIL_SAVED: "sound:vm-saved",
    Prompt.GOODBYE: "sound:vm-goodbye",
    Prompt.SORRY: "sound:im-sorry",
    Prompt.TRY_AGAIN_LATER: "sound:please-try-call-later",
    Prompt.FEATURE_INVALID: "sound:pbx-invalid",
    Prompt.FEATURE_NOT_AVAILABLE: "sound:feature-not-avail-line",
    # app_followme's own "press 1 to accept this call, or 2 to reject it".
    Prompt.FOLLOW_ME_ACCEPT: "sound:followme/options",
    Prompt.FORWARD_SET: "sound:activated",
    Prompt.FORWARD_CANCELLED: "sound:de-activated",
    Prompt.DND_ON: "sound:do-not-disturb",
    Prompt.DND_OFF: "sound:de-activated",
    Prompt.SETTING_ON: "sound:activated",
    Prompt.SETTING_OFF: "sound:de-activated",
    Prompt.FORWARD_ENTER_NUMBER: "sound:vm-enter-num-to-call",
    Prompt.SPEED_DIAL_EMPTY: "sound:speed-dial-empty",
    Prompt.CALL_BLOCKED: "sound:ss-noservice",
    # res_parking's own announcements.
    Prompt.PARK_FAILED: "sound:pbx-parkingfailed",
    Prompt.PARK_NO_CALL: "sound:pbx-invalidpark",
    Prompt.PICKUP_NONE: "sound:im-sorry",
}


def engine_media(items: Iterable[str]) -> list[str]:
    """``items`` with every stock prompt replaced by its Asterisk sound."""
    return [PROMPT_SOUNDS.get(item, item) for item in items]
