"""What a ring group may hold, and in which order a call rings its members.

Pure values, no store and no engine: the store checks every write with these
(:mod:`orchestrator.store.ring_groups`) and the call flow checks a stored row again
(:mod:`orchestrator.pbx.ring_groups`), so a row written around the API never rings
something unchecked::

    members = parse_members([{"destination": "101"}, {"destination": "number:+4477009"}])
    rounds(members, "round_robin", start=1)   # [[member 1], [member 0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator import validation as v
from orchestrator.core.errors import ValidationError
from orchestrator.ivr.directory import parse

STRATEGIES = ("simultaneous", "sequential", "round_robin")
MAX_MEMBERS = 20
MIN_RING_S, MAX_RING_S, DEFAULT_RING_S = 5, 120, 20
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 5, 600
FALLBACK_KINDS = ("extension", "voicemail", "ivr", "hangup")
_MEMBER_FIELDS = frozenset({"destination", "ring_s", "confirm"})


@dataclass(frozen=True, slots=True)
class Member:
    """One member: ``extension:<n>`` or ``number:<digits>``, rung ``ring_s``; an external
    number that must ``confirm`` takes the call only by pressing 1 (its voicemail never
    does)."""

    destination: str
    ring_s: int = DEFAULT_RING_S
    confirm: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"destination": self.destination, "ring_s": self.ring_s, "confirm": self.confirm}


def strategy(value: Any, *, field: str = "strategy") -> str:
    if value not in STRATEGIES:
        raise ValidationError(
            f"{field}: must be one of {', '.join(STRATEGIES)}",
            field=field,
            value=str(value)[:40],
            allowed=list(STRATEGIES),
        )
    return str(value)


def timeout_s(value: Any, *, field: str = "timeout_s") -> int:
    return v.bounded_int(value, MIN_TIMEOUT_S, MAX_TIMEOUT_S, field=field)


def parse_members(data: object, *, field: str = "members") -> list[Member]:
    """1 to :data:`MAX_MEMBERS` members, each destination once (``"101"`` is
    ``extension:101``); ``ring_s`` 5..120 (default 20); ``confirm`` true or false
    (default: true for numbers). :class:`ValidationError` names the field
    (``members[1].ring_s``)."""
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise ValidationError(f"{field}: must be a list of members", field=field)
    if not 1 <= len(data) <= MAX_MEMBERS:
        raise ValidationError(
            f"{field}: a ring group has 1 to {MAX_MEMBERS} members", field=field, count=len(data)
        )
    members = [_member(f"{field}[{i}]", item) for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for i, m in enumerate(members):
        if m.destination in seen:
            raise ValidationError(
                f"{field}[{i}]: {m.destination} is already member {seen[m.destination]}",
                field=f"{field}[{i}].destination",
            )
        seen[m.destination] = i
    return members


def _member(where: str, item: object) -> Member:
    if not isinstance(item, Mapping):
        raise ValidationError(f"{where}: must be an object with a destination", field=where)
    unknown = sorted(str(k) for k in item if k not in _MEMBER_FIELDS)
    if unknown:
        raise ValidationError(
            f"{where}: unknown fields {', '.join(unknown)}",
            field=where,
            unknown=unknown,
            allowed=sorted(_MEMBER_FIELDS),
        )
    destination = item.get("destination")
    if not isinstance(destination, str):
        raise ValidationError(
            f"{where}.destination: must be extension:<number> or number:<+digits>",
            field=f"{where}.destination",
        )
    try:
        kind, value = parse(destination)
    except ValidationError as exc:
        raise ValidationError(
            f"{where}.destination: {exc.message}", field=f"{where}.destination", **exc.details
        ) from None
    ring_s = item.get("ring_s", DEFAULT_RING_S)
    if type(ring_s) is not int or not MIN_RING_S <= ring_s <= MAX_RING_S:
        raise ValidationError(
            f"{where}.ring_s: must be a whole number of seconds, {MIN_RING_S}..{MAX_RING_S}",
            field=f"{where}.ring_s",
            value=str(ring_s)[:20],
        )
    confirm = item.get("confirm", kind == "number")
    if not isinstance(confirm, bool):
        raise ValidationError(f"{where}.confirm: must be true or false", field=f"{where}.confirm")
    return Member(f"{kind}:{value}", ring_s, confirm)


def parse_fallback(value: Any, *, field: str = "fallback") -> tuple[str, str]:
    """``(kind, target)`` of a fallback: ``extension:<n>``, ``voicemail:<n>`` (extension
    n's mailbox), ``ivr:<name>`` or ``hangup`` (target "")."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a string", field=field)
    kind, sep, target = value.partition(":")
    if kind == "hangup" and not sep:
        return "hangup", ""
    if kind in ("extension", "voicemail") and sep:
        return kind, v.extension_number(target, field=field)
    if kind == "ivr" and sep:
        return kind, v.ivr_name(target, field=field)
    raise ValidationError(
        f"{field}: must be 'extension:<number>', 'voicemail:<number>', 'ivr:<name>' or 'hangup'",
        field=field,
        value=value[:60],
    )


def rounds(members: Sequence[Member], strategy: str, *, start: int = 0) -> list[list[Member]]:
    """The ringer's rounds: all members at once (``simultaneous``), one after the other
    in order (``sequential``), or in order from member ``start`` on, wrapping round
    (``round_robin``)."""
    if strategy == "simultaneous":
        return [list(members)]
    ordered = list(members)
    if strategy == "round_robin" and ordered:
        first = start % len(ordered)
        ordered = ordered[first:] + ordered[:first]
    return [[m] for m in ordered]
