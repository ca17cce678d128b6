"""Follow-me / find-me: an extension's calls ring a list of destinations.

A user lists where they may be reached, in order, each with a ring time; the list rings
one destination after the other (``sequential``) or all at once (``simultaneous``), and
the first to take the call talks with the caller. External numbers must *confirm*
("press 1 to accept the call") by default, so a mobile's own voicemail, which answers
but never presses 1, cannot swallow the call. The settings (the ``follow_me`` JSON of an
extension's call settings)::

    {"mode": "sequential",
     "steps": [{"destination": "extension:102", "ring_s": 15},
               {"destination": "number:+447700900123", "ring_s": 25, "confirm": true}]}

:func:`parse_follow_me` (or :func:`parse_steps` for the list alone) checks it and raises
:class:`~orchestrator.core.errors.ValidationError` with the offending field; a flow
rings it with :func:`ring_all`::

    settings = parse_follow_me(row.follow_me)
    result = await ring_all(call, settings.steps, mode=settings.mode)
    if not result.answered:
        ...  # voicemail, or hang up with result.cause
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import ValidationError
from orchestrator.ivr.call import DialResult, IvrCall
from orchestrator.ivr.directory import parse
from orchestrator.pbx.ringer import Leg, ring
from orchestrator.pbx.ringing import Pickable

MODES = ("sequential", "simultaneous")
MAX_STEPS = 10
MIN_RING_S, MAX_RING_S = 5, 120
DEFAULT_RING_S = 20
_STEP_FIELDS = frozenset({"destination", "ring_s", "confirm"})
_FIELDS = frozenset({"mode", "steps"})


@dataclass(frozen=True, slots=True)
class Step:
    """One destination of a follow-me list (``destination`` normalized, e.g.
    ``extension:102`` or ``number:+447700900123``)."""

    destination: str
    ring_s: int = DEFAULT_RING_S
    confirm: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"destination": self.destination, "ring_s": self.ring_s, "confirm": self.confirm}


@dataclass(frozen=True, slots=True)
class FollowMe:
    """A whole follow-me setting: ``mode`` and its ``steps``."""

    mode: str = "sequential"
    steps: tuple[Step, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "steps": [s.to_json() for s in self.steps]}


def parse_follow_me(data: object) -> FollowMe:
    """The follow-me setting ``{"mode": ..., "steps": [...]}`` checked and normalized.

    ``mode`` defaults to ``sequential``; see :func:`parse_steps` for the steps.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("follow-me must be an object with mode and steps", field="follow_me")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ValidationError(
            f"follow-me has unknown fields: {', '.join(unknown)}",
            field="follow_me",
            unknown=unknown,
            allowed=sorted(_FIELDS),
        )
    mode = data.get("mode", "sequential")
    if mode not in MODES:
        raise ValidationError(
            "follow-me mode must be sequential or simultaneous",
            field="mode",
            value=str(mode)[:40],
            allowed=list(MODES),
        )
    return FollowMe(str(mode), tuple(parse_steps(data.get("steps", []))))


def parse_steps(data: object) -> list[Step]:
    """A follow-me list (``[{"destination", "ring_s", "confirm"}, ...]``) checked.

    At most :data:`MAX_STEPS` steps, each destination once: ``extension:<2-10 digits>``
    or ``number:<+ and 3-20 digits>``; ``ring_s`` 5..120 (default 20); ``confirm`` a
    boolean, by default true for numbers and false for extensions. Raises
    :class:`ValidationError` naming the field (``steps[1].ring_s``).
    """
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise ValidationError("follow-me steps must be a list", field="steps")
    if len(data) > MAX_STEPS:
        raise ValidationError(
            f"follow-me has at most {MAX_STEPS} steps", field="steps", count=len(data)
        )
    steps = [_step(i, item) for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step.destination in seen:
            raise ValidationError(
                f"{step.destination} is listed twice in follow-me",
                field=f"steps[{i}].destination",
                first=f"steps[{seen[step.destination]}]",
            )
        seen[step.destination] = i
    return steps


def _step(i: int, item: object) -> Step:
    where = f"steps[{i}]"
    if not isinstance(item, Mapping):
        raise ValidationError(f"follow-me step {i + 1} must be an object", field=where)
    unknown = sorted(str(k) for k in item if k not in _STEP_FIELDS)
    if unknown:
        raise ValidationError(
            f"follow-me step {i + 1} has unknown fields: {', '.join(unknown)}",
            field=where,
            unknown=unknown,
            allowed=sorted(_STEP_FIELDS),
        )
    destination = item.get("destination")
    if not isinstance(destination, str) or ":" not in destination:
        raise ValidationError(
            f"follow-me step {i + 1}: destination must be extension:<number> or number:<+digits>",
            field=f"{where}.destination",
            expected="extension:102 or number:+442079460000",
        )
    try:
        kind, value = parse(destination)
    except ValidationError as exc:
        raise ValidationError(
            f"follow-me step {i + 1}: {exc.message}", field=f"{where}.destination", **exc.details
        ) from None
    ring_s = item.get("ring_s", DEFAULT_RING_S)
    if (
        not isinstance(ring_s, int)
        or isinstance(ring_s, bool)
        or not MIN_RING_S <= ring_s <= MAX_RING_S
    ):
        raise ValidationError(
            f"follow-me step {i + 1}: ring_s must be a whole number of seconds, "
            f"{MIN_RING_S}..{MAX_RING_S}",
            field=f"{where}.ring_s",
            value=str(ring_s)[:20],
        )
    confirm = item.get("confirm", kind == "number")
    if not isinstance(confirm, bool):
        raise ValidationError(
            f"follow-me step {i + 1}: confirm must be true or false",
            field=f"{where}.confirm",
            value=str(confirm)[:20],
        )
    return Step(f"{kind}:{value}", ring_s, confirm)


async def ring_all(
    call: IvrCall,
    steps: Sequence[Step],
    *,
    mode: str = "sequential",
    caller_id: str | None = None,
    forwarded_by: str = "",
    pickup: Pickable | None = None,
) -> DialResult:
    """Ring ``steps`` for ``call`` and connect the first that takes the call.

    ``sequential``: each step rings for its ``ring_s``, then the next; ``simultaneous``:
    all at once, each for its own ``ring_s``. A step with ``confirm`` takes the call only
    by pressing 1 after "press 1 to accept the call" (within 10 s); one that does not
    is hung up and the others ring on. Every other leg is hung up once one takes it; the
    caller hears ringing meanwhile. Returns like :meth:`IvrCall.dial`: ``answered``
    (after the talk, with its length) or ``no_answer``/``busy``/...; raises
    :class:`~orchestrator.ivr.errors.CallerHungUp` if the caller hangs up (all legs are
    hung up then). ``pickup``: the extensions rung may be picked up (``*98``/``*97``),
    which ends the ringing as a step taking the call would.
    """
    if mode not in MODES:
        raise ValidationError("follow-me mode must be sequential or simultaneous", mode=mode)
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"follow-me has at most {MAX_STEPS} steps", count=len(steps))
    legs = [Leg(s.destination, float(s.ring_s), s.confirm) for s in steps]
    rounds = [legs] if mode == "simultaneous" else [[leg] for leg in legs]
    return await ring(call, rounds, caller_id=caller_id, forwarded_by=forwarded_by, pickup=pickup)


async def ring_stored(
    call: IvrCall,
    steps: Sequence[Mapping[str, Any]],
    *,
    mode: str,
    forwarded_by: str = "",
    pickup: Pickable | None = None,
) -> DialResult:
    """:func:`ring_all` over an extension's stored follow-me steps (the call settings'
    ``follow_me.steps``, checked again: a row written by hand is not trusted)."""
    return await ring_all(
        call, parse_steps(list(steps)), mode=mode, forwarded_by=forwarded_by, pickup=pickup
    )
