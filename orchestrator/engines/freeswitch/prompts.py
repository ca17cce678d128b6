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
    Prompt.SORRY: "ivr/ivr-im_sorry.wav",
    Prompt.TRY_AGAIN_LATER: "ivr/ivr-please_try_again_later.wav",
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
