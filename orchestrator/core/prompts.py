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
    # Conference rooms: "please enter the conference PIN", "that PIN is invalid", "please
    # wait for the leader", "the conference is locked" / "is full", "you are the only
    # person in this conference", "the leader has left", the join and leave chimes
    # played to all, "goodbye".
    CONFERENCE_PIN = "prompt:conference-pin"
    CONFERENCE_BAD_PIN = "prompt:conference-bad-pin"
    CONFERENCE_WAIT_FOR_MODERATOR = "prompt:conference-wait-for-moderator"
    CONFERENCE_LOCKED = "prompt:conference-locked"
    CONFERENCE_FULL = "prompt:conference-full"
    CONFERENCE_ONLY_PERSON = "prompt:conference-only-person"
    CONFERENCE_MODERATOR_LEFT = "prompt:conference-moderator-left"
    CONFERENCE_JOINED = "prompt:conference-joined"
    CONFERENCE_LEFT = "prompt:conference-left"
    GOODBYE = "prompt:goodbye"
    # Voicemail (orchestrator/pbx/voicemail): "the person at extension" <digits> "is
    # unavailable" / "is on the phone", "leave your message after the tone", the owner's
    # login and menus.
    VOICEMAIL_THE_PERSON_AT = "prompt:voicemail-the-person-at"
    VOICEMAIL_IS_UNAVAILABLE = "prompt:voicemail-is-unavailable"
    VOICEMAIL_IS_BUSY = "prompt:voicemail-is-busy"
    VOICEMAIL_LEAVE_MESSAGE = "prompt:voicemail-leave-message"
    VOICEMAIL_ENTER_MAILBOX = "prompt:voicemail-enter-mailbox"
    VOICEMAIL_ENTER_PIN = "prompt:voicemail-enter-pin"
    VOICEMAIL_PIN_INCORRECT = "prompt:voicemail-pin-incorrect"
    VOICEMAIL_YOU_HAVE = "prompt:voicemail-you-have"
    VOICEMAIL_NEW = "prompt:voicemail-new"
    VOICEMAIL_OLD = "prompt:voicemail-old"
    VOICEMAIL_MESSAGES = "prompt:voicemail-messages"
    VOICEMAIL_NO_MORE = "prompt:voicemail-no-more"
    VOICEMAIL_MENU = "prompt:voicemail-menu"
    VOICEMAIL_GREETINGS_MENU = "prompt:voicemail-greetings-menu"
    VOICEMAIL_RECORD_UNAVAILABLE = "prompt:voicemail-record-unavailable"
    VOICEMAIL_RECORD_BUSY = "prompt:voicemail-record-busy"
    VOICEMAIL_RECORD_NAME = "prompt:voicemail-record-name"
    VOICEMAIL_NEW_PIN = "prompt:voicemail-new-pin"
    VOICEMAIL_PIN_CHANGED = "prompt:voicemail-pin-changed"
    VOICEMAIL_DELETED = "prompt:voicemail-deleted"
    VOICEMAIL_SAVED = "prompt:voicemail-saved"
    # An IVR flow failed: "I'm sorry", "please try your call again later".
    SORRY = "prompt:sorry"
    TRY_AGAIN_LATER = "prompt:try-again-later"
    # Feature codes (orchestrator/pbx/dispatch.py): a code the tenant has not, and an
    # action this phone cannot use (or not yet built).
    FEATURE_INVALID = "prompt:feature-invalid"
    FEATURE_NOT_AVAILABLE = "prompt:feature-not-available"
    # Follow-me: what an answered leg hears before it gets the caller ("press 1 to
    # accept the call").
    FOLLOW_ME_ACCEPT = "prompt:follow-me-accept"
    # Call settings by feature code (orchestrator/pbx/setting_codes.py): "call forwarding
    # has been set" / "cancelled", "do not disturb activated" / "deactivated", a setting
    # (call waiting) on / off, "enter the number to forward to".
    FORWARD_SET = "prompt:forward-set"
    FORWARD_CANCELLED = "prompt:forward-cancelled"
    DND_ON = "prompt:dnd-on"
    DND_OFF = "prompt:dnd-off"
    SETTING_ON = "prompt:setting-on"
    SETTING_OFF = "prompt:setting-off"
    FORWARD_ENTER_NUMBER = "prompt:forward-enter-number"
    # Speed dial (orchestrator/pbx/speed_dial.py): "that speed dial location is empty".
    SPEED_DIAL_EMPTY = "prompt:speed-dial-empty"
    # A blacklisted caller with the "prompt" action (orchestrator/pbx/blacklist.py): "the
    # number you have dialed is not in service".
    CALL_BLOCKED = "prompt:call-blocked"
    # Call park (orchestrator/pbx/park.py): "parking failed" (the lot is full or the slot
    # taken), "there is no call parked there" (a retrieve that found none).
    PARK_FAILED = "prompt:park-failed"
    PARK_NO_CALL = "prompt:park-no-call"
    # Call pickup (orchestrator/pbx/pickup.py): nothing rings that the picker may take
    # (or another picker was first). Neither engine has a "no call to pick up": "sorry".
    PICKUP_NONE = "prompt:pickup-none"

    @property
    def name_only(self) -> str:
        """The prompt's name without the ``prompt:`` kind."""
        return self.value.removeprefix("prompt:")


PROMPT_NAMES = frozenset(p.name_only for p in Prompt)
