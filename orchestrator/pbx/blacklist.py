"""An extension's blacklist as the ``pbx_extension`` flow checks it (docs/pbx.md,
"Blocking callers"; the stored list: orchestrator/store/ext_features.py).

The flow looks at the caller's number before anything rings: an entry that takes it
either rejects the call (Q.850 21, "call rejected": the caller's phone shows it refused)
or lets the caller hear that the number is not in service (:attr:`Prompt.CALL_BLOCKED`)
and then ends it. Nothing rings, no voicemail, no forward::

    blocking([Block("+4420", "prefix", "reject")], "+442079460000")  # the entry
    blocking([Block("+4420", "prefix", "reject")], "101")            # None
    blocking([Block("anonymous", "exact", "reject")], "")            # the entry

The entry ``anonymous`` (:data:`ANONYMOUS`, exact only) takes the callers without a
number: the caller ID withheld or missing, however the engine shows it
(:func:`is_anonymous`). The tenant's blacklist (orchestrator/store/schedules.py) uses
the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "REJECTED", "Block", "blocking", "is_anonymous"]

#: Q.850 "call rejected": what a rejected caller's call ends with.
REJECTED = 21
#: The blacklist entry that takes every caller without a number.
ANONYMOUS = "anonymous"
# What a caller without a number is shown as: nothing; Asterisk's CALLERID(num) is the
# From user, "anonymous" (RFC 3323: "Anonymous" <sip:anonymous@anonymous.invalid>), and
# carriers send "unknown", "restricted", "private", "withheld" or "unavailable";
# FreeSWITCH's caller ID number when it got none is "0000000000"
# (SWITCH_DEFAULT_CLID_NUMBER).
_WITHHELD = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable", "0000000000"}
)


def is_anonymous(caller: str | None) -> bool:
    """Whether ``caller`` (a caller ID number as an engine reports it) is no number: the
    caller withheld it or has none (``""``, ``anonymous``, ``Restricted``...)."""
    return (caller or "").strip().lower() in _WITHHELD


@dataclass(frozen=True, slots=True)
class Block:
    """One entry: ``match`` "exact" or "prefix", ``action`` "reject" or "prompt"."""

    number: str
    match: str
    action: str

    def takes(self, caller: str) -> bool:
        """Whether this entry blocks ``caller`` (a caller ID number). A leading ``+`` is
        ignored on both sides; a caller without a number (withheld) is taken only by the
        entry ``anonymous``."""
        if self.number == ANONYMOUS:
            return is_anonymous(caller)
        digits = caller.removeprefix("+")
        own = self.number.removeprefix("+")
        if not digits.isdigit() or not own:
            return False
        return digits == own if self.match == "exact" else digits.startswith(own)


def blocking(blocks: Iterable[Block], caller: str) -> Block | None:
    """The entry that blocks ``caller``: an exact one first, else the longest prefix."""
    found = [b for b in blocks if b.takes(caller)]
    found.sort(key=lambda b: (b.match != "exact", -len(b.number.removeprefix("+"))))
    return found[0] if found else None
