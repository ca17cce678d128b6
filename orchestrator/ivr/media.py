"""What a flow may ask the engine to play, checked before it reaches the engine.

Flows name media the way the engine-neutral :meth:`Engine.play` takes it:

- ``"hello-world"`` or ``"sound:hello-world"``: a prompt from the engine's sound library
  (sub-folders allowed: ``"sound:custom/visa/welcome"``);
- ``"recording:ivr/abc123"``: something recorded earlier with :meth:`IvrCall.record`;
- ``"tone:ring"`` / ``"tone:busy"``: a tone (``ring``, ``busy``, ``congestion``,
  ``dial``, ``info``, ``stutter``, ``record``);
- ``"digits:2024"`` (said one by one) and ``"number:42"`` (said as a number);
- ``"prompt:queue-thank-you"``: a stock prompt the engine maps to its own recording
  (:class:`~orchestrator.core.prompts.Prompt`).

Anything else is refused with a :class:`ValidationError`: media names can come from a
remote CTI client or from caller input, and an unchecked name could read files outside
the sound library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.core.errors import ValidationError
from orchestrator.core.prompts import PROMPT_NAMES

_PATH = re.compile(r"[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}")
_DIGITS = re.compile(r"[0-9*#]{1,32}")
_NUMBER = re.compile(r"-?[0-9]{1,15}")
TONES = frozenset({"ring", "busy", "congestion", "dial", "info", "stutter", "record"})
KINDS = ("sound", "recording", "tone", "digits", "number", "prompt")


def media_item(value: object) -> str:
    """One media reference in its canonical ``kind:value`` form, or ValidationError."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError("media must be a string", media=repr(value))
    text = str(value)
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = "sound", text
    ok = {
        "sound": _PATH.fullmatch(rest),
        "recording": _PATH.fullmatch(rest),
        "tone": rest in TONES,
        "digits": _DIGITS.fullmatch(rest),
        "number": _NUMBER.fullmatch(rest),
        "prompt": rest in PROMPT_NAMES,
    }.get(kind)
    if not ok:
        raise ValidationError(
            f"cannot play {text!r}",
            media=text,
            expected="sound name, sound:, recording:, tone:, digits:, number: or prompt:",
        )
    return f"{kind}:{rest}"


def media_list(items: Iterable[object]) -> list[str]:
    """Flatten and check what a flow passed to ``play`` (strings or lists of strings)."""
    out: list[str] = []
    for item in items:
        if isinstance(item, list | tuple):
            out.extend(media_item(x) for x in item)
        else:
            out.append(media_item(item))
    if not out:
        raise ValidationError("nothing to play")
    return out
