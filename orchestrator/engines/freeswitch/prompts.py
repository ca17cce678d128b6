"""What the seam's media names are in FreeSWITCH: files, tone_stream:// and sounds.

:func:`engine_media` turns one play list (``prompt:``, ``sound:``, ``tone:``, ``digits:``,
``number:``, ``recording:`` items) into the one argument of FreeSWITCH's ``playback``
(several items: a ``file_string://a!b`` list). Sounds are relative paths that FreeSWITCH
resolves against its ``sound_prefix`` (the callie voice of the stock sound packages);
the core's stock prompts (:class:`~orchestrator.core.prompts.Prompt`) map to the nearest
recordings of that package; Asterisk's ``beep`` (used by features as "a beep") is a
tone. Numbers are said with the package's ``digits/`` files, in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from orchestrator.core.errors import ValidationError
from orchestrator.core.prompts import Prompt

PROMPT_SOUNDS: dict[str, str] = {
    Prompt.QUEUE_YOU_ARE_NEXT: "ivr/ivr-you_are_number.wav",
    Prompt.QUEUE_THERE_ARE: "ivr/ivr-there_are.wav",
    Prompt.QUEUE_CALLS_WAITING: "ivr/ivr-calls_waiting.wav",
    Prompt.QUEUE_HOLD_TIME: "ivr/ivr-hold_time.wav",
    Prompt.QUEUE_LESS_THAN: "ivr/ivr-less_than.wav",
    Prompt.QUEUE_MINUTE: "time/minute.wav",
    Prompt.QUEUE_MINUTES: "time/minutes.wav",
    Prompt.QUEUE_THANK_YOU: "ivr/ivr-thank_you.wav",
    Prompt.AGENT_LOGGED_IN: "ivr/ivr-you_are_now_logged_in.wav",
    Prompt.AGENT_LOGGED_OUT: "ivr/ivr-you_are_now_logged_out.wav",
    Prompt.AGENT_PAUSED: "ivr/ivr-on_hold_indefinitely.wav",
    Prompt.AGENT_REFUSED: "ivr/ivr-access_denied.wav",
    # mod_conference's own prompts (its default profile's pin-sound, bad-pin-sound,
    # locked-sound, alone-sound, enter-sound and exit-sound); the package has no "wait
    # for the leader", "conference full" or "leader has left": the nearest ones.
    Prompt.CONFERENCE_PIN: "conference/conf-pin.wav",
    Prompt.CONFERENCE_BAD_PIN: "conference/conf-bad-pin.wav",
    Prompt.CONFERENCE_WAIT_FOR_MODERATOR: "conference/conf-alone.wav",
    Prompt.CONFERENCE_LOCKED: "conference/conf-locked.wav",
    Prompt.CONFERENCE_FULL: "conference/conf-locked.wav",
    Prompt.CONFERENCE_ONLY_PERSON: "conference/conf-alone.wav",
    Prompt.CONFERENCE_MODERATOR_LEFT: "conference/conf-kicked.wav",
    Prompt.CONFERENCE_JOINED: "tone_stream://%(200,0,500,600,700)",
    Prompt.CONFERENCE_LEFT: "tone_stream://%(500,0,300,200,100,50,25)",
    # Voicemail: mod_voicemail's phrases' files (busy: no "on the phone" file, unavailable).
    Prompt.VOICEMAIL_THE_PERSON_AT: "voicemail/vm-person.wav",
    Prompt.VOICEMAIL_IS_UNAVAILABLE: "voicemail/vm-not_available.wav",
    Prompt.VOICEMAIL_IS_BUSY: "voicemail/vm-not_available.wav",
    Prompt.VOICEMAIL_LEAVE_MESSAGE: "voicemail/vm-record_message.wav",
    Prompt.VOICEMAIL_ENTER_MAILBOX: "voicemail/vm-enter_id.wav",
    Prompt.VOICEMAIL_ENTER_PIN: "voicemail/vm-enter_pass.wav",
    Prompt.VOICEMAIL_PIN_INCORRECT: "voicemail/vm-fail_auth.wav",
    Prompt.VOICEMAIL_YOU_HAVE: "voicemail/vm-you_have.wav",
    Prompt.VOICEMAIL_NEW: "voicemail/vm-new.wav",
    Prompt.VOICEMAIL_OLD: "voicemail/vm-saved.wav",
    Prompt.VOICEMAIL_MESSAGES: "voicemail/vm-messages.wav",
    Prompt.VOICEMAIL_NO_MORE: "voicemail/vm-no_more_messages.wav",
    Prompt.VOICEMAIL_MENU: "voicemail/vm-listen_new.wav",
    Prompt.VOICEMAIL_GREETINGS_MENU: "voicemail/vm-record_greeting.wav",
    Prompt.VOICEMAIL_RECORD_UNAVAILABLE: "voicemail/vm-record_greeting.wav",
    Prompt.VOICEMAIL_RECORD_BUSY: "voicemail/vm-record_greeting.wav",
    Prompt.VOICEMAIL_RECORD_NAME: "voicemail/vm-record_name1.wav",
    Prompt.VOICEMAIL_NEW_PIN: "voicemail/vm-enter_new_pin.wav",
    Prompt.VOICEMAIL_PIN_CHANGED: "voicemail/vm-password_has_been_changed.wav",
    Prompt.VOICEMAIL_DELETED: "voicemail/vm-deleted.wav",
    Prompt.VOICEMAIL_SAVED: "voicemail/vm-saved.wav",
    Prompt.GOODBYE: "voicemail/vm-goodbye.wav",
    Prompt.SORRY: "ivr/ivr-im_sorry.wav",
    Prompt.TRY_AGAIN_LATER: "ivr/ivr-please_try_again_later.wav",
    Prompt.FEATURE_INVALID: "ivr/ivr-that_was_an_invalid_entry.wav",
    Prompt.FEATURE_NOT_AVAILABLE: "ivr/ivr-not_available.wav",
    # "To accept, press 1; to reject, press 2..." (what FreeSWITCH's group_confirm plays).
    Prompt.FOLLOW_ME_ACCEPT: "ivr/ivr-accept_reject_voicemail.wav",
    Prompt.FORWARD_SET: "ivr/ivr-call_forwarding_has_been_set.wav",
    Prompt.FORWARD_CANCELLED: "ivr/ivr-call_forwarding_has_been_cancelled.wav",
    Prompt.DND_ON: "ivr/ivr-dnd_activated.wav",
    Prompt.DND_OFF: "ivr/ivr-dnd_deactivated.wav",
    # The sound packages have no "activated"/"deactivated" alone: rising/falling chimes.
    Prompt.SETTING_ON: "tone_stream://%(200,0,500,600,700)",
    Prompt.SETTING_OFF: "tone_stream://%(500,0,300,200,100,50,25)",
    Prompt.FORWARD_ENTER_NUMBER: "ivr/ivr-enter_destination_telephone_number.wav",
    # The sound packages say neither "speed dial" nor "not in service".
    Prompt.SPEED_DIAL_EMPTY: "ivr/ivr-that_was_an_invalid_entry.wav",
    Prompt.CALL_BLOCKED: "ivr/ivr-not_available.wav",
    # The sound packages have no parking words: "not available" for both.
    Prompt.PARK_FAILED: "ivr/ivr-not_available.wav",
    Prompt.PARK_NO_CALL: "ivr/ivr-not_available.wav",
    Prompt.PICKUP_NONE: "ivr/ivr-im_sorry.wav",
}
# Asterisk's sounds that features and the engine tests name and FreeSWITCH's packages
# lack: a tone of the same length instead ("a beep"; tt-monkeys: "about 10 s of audio").
SOUND_TONES: dict[str, str] = {
    "beep": "tone_stream://%(250,0,800)",
    "tt-monkeys": "tone_stream://%(10000,0,440)",
}
# tone:NAME, as FreeSWITCH's vars.xml defines the North American tones.
TONES: dict[str, str] = {
    "ring": "tone_stream://%(2000,4000,440,480);loops=-1",
    "busy": "tone_stream://%(500,500,480,620);loops=-1",
    "congestion": "tone_stream://%(250,250,480,620);loops=-1",
    "dial": "tone_stream://%(10000,0,350,440);loops=-1",
    "beep": "tone_stream://%(250,0,800)",
}
SOUND = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_./-]{0,200}")
DIGITS = re.compile(r"[0-9*#]{1,64}")
NUMBER = re.compile(r"-?[0-9]{1,12}")
RECORDING = re.compile(r"[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]{1,80})?")
_DIGIT_FILES = {"*": "digits/star.wav", "#": "digits/pound.wav"}


def _digit(d: str) -> str:
    return _DIGIT_FILES.get(d, f"digits/{d}.wav")


def say_number(n: int) -> list[str]:
    """The ``digits/`` files that say ``n`` in English (``342``: 3 hundred 40 2)."""
    if n < 0:
        return ["digits/minus.wav", *say_number(-n)]
    if n < 20:
        return [f"digits/{n}.wav"]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [f"digits/{tens * 10}.wav"] + ([f"digits/{ones}.wav"] if ones else [])
    for size, word in (
        (10**9, "billion"),
        (10**6, "million"),
        (1000, "thousand"),
        (100, "hundred"),
    ):
        if n >= size:
            high, rest = divmod(n, size)
            return [*say_number(high), f"digits/{word}.wav", *(say_number(rest) if rest else [])]
    raise AssertionError("unreachable")


def _files(item: str, recordings: Path | None) -> list[str]:
    if item in PROMPT_SOUNDS:
        return [PROMPT_SOUNDS[item]]
    kind, _, value = item.partition(":")
    if kind == "sound" and SOUND.fullmatch(value) and ".." not in value:
        if value in SOUND_TONES:
            return [SOUND_TONES[value]]
        return [value if Path(value).suffix else f"{value}.wav"]
    if kind == "tone" and value in TONES:
        return [TONES[value]]
    if kind == "digits" and DIGITS.fullmatch(value):
        return [_digit(d) for d in value]
    if kind == "number" and NUMBER.fullmatch(value.lstrip("+")):
        return say_number(int(value.lstrip("+")))
    if kind == "recording" and recordings is not None and RECORDING.fullmatch(value):
        return [str(recordings / f"{value}.wav")]
    raise ValidationError(f"FreeSWITCH cannot play {item!r}", media=item)


def engine_media(items: Iterable[str], recordings: Path | None = None) -> str:
    """The ``playback`` argument for a play list (ValidationError for an item it cannot
    play, or for none)."""
    files = [f for item in items for f in _files(item, recordings)]
    if not files:
        raise ValidationError("nothing to play")
    if len(files) == 1:
        return files[0]
    return "file_string://" + "!".join(files)
