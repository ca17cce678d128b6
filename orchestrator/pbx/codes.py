"""Feature access codes: the catalogue of actions, their defaults, syntax, collisions, matching.

A phone dials a code (``*72``, ``*97102``) and the orchestrator runs the action behind it
(:mod:`orchestrator.pbx.dispatch`). Every tenant has the same actions; each tenant may
change any code or turn it off, and stores only what differs from the defaults
(:mod:`orchestrator.store.feature_codes`). The defaults (:data:`CATALOGUE`, the table
of docs/pbx.md) are BroadSoft's, which the product's users know: ``*72``/``*73``
forward all on/off, ``*90``/``*91`` on busy, ``*92``/``*93`` on no answer, ``*94``/``*95``
when not reachable, ``*78``/``*79`` DND, ``*57`` voicemail...; the queue agents' codes
are ``*61``/``*62``/``*63`` (they were ``*91``-``*93``, BroadSoft's forwarding codes).

Each action's ``argument``: ``none`` (the code alone), ``digits`` (the code then 1 to 20
digits, e.g. ``*97102``: pick up extension 102's call), ``optional`` (either).

A code is ``*`` or ``#`` 1 to 3 times then 0 to 4 digits, 2 to 7 characters in all. Codes
must not shadow each other or anything else the tenant's phones dial: no two codes are
equal or one a prefix of the other (``*8`` would take every call to ``*800``), and no
code is equal to or a prefix of a number of the tenant (its extensions, DIDs, conference
rooms, outbound routes' prefixes), nor they of it (:func:`collisions`). The engines'
own codes cannot shadow a tenant's: the Asterisk base configuration turns off
``pickupexten`` (``*8``) and the in-call feature map, and FreeSWITCH's dialplan is
the orchestrator's answer alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core.errors import ValidationError

__all__ = [
    "ACTIONS",
    "CATALOGUE",
    "Action",
    "Collision",
    "Match",
    "Number",
    "check_action",
    "check_code",
    "collisions",
    "match",
]

Argument = Literal["none", "digits", "optional"]

CODE = re.compile(r"[*#]{1,3}[0-9]{0,4}")
CODE_MIN, CODE_MAX = 2, 7
# What may follow a code that takes digits: an extension or a phone number.
ARGUMENT = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a feature code does; ``default`` is its code until a tenant changes it."""

    name: str
    default: str
    argument: Argument
    description: str


CATALOGUE: tuple[Action, ...] = (
    Action("forward_all_on", "*72", "optional", "forward every call (to the digits after it)"),
    Action("forward_all_off", "*73", "none", "stop forwarding every call"),
    Action("forward_busy_on", "*90", "optional", "forward calls when busy"),
    Action("forward_busy_off", "*91", "none", "stop forwarding when busy"),
    Action("forward_no_answer_on", "*92", "optional", "forward calls not answered"),
    Action("forward_no_answer_off", "*93", "none", "stop forwarding calls not answered"),
    Action("forward_unreachable_on", "*94", "optional", "forward when not registered"),
    Action("forward_unreachable_off", "*95", "none", "stop forwarding when not registered"),
    Action("all_to_voicemail", "*21", "none", "every call to voicemail (on/off)"),
    Action("dnd_on", "*78", "none", "do not disturb on"),
    Action("dnd_off", "*79", "none", "do not disturb off"),
    Action("voicemail", "*57", "none", "the phone's own mailbox"),
    Action("shared_voicemail", "*56", "none", "a shared mailbox (its number is asked)"),
    Action("group_pickup", "*98", "none", "answer a call ringing in the pickup group"),
    Action("directed_pickup", "*97", "digits", "answer the call ringing at an extension"),
    Action("park", "*68", "optional", "park the call (in the slot after it)"),
    Action("retrieve", "*88", "optional", "take back a parked call"),
    Action("paging", "*46", "digits", "intercom/paging to an extension or group"),
    Action("night_mode", "*16", "none", "the tenant's night service (on/off)"),
    Action("speed_dial", "*74", "digits", "program a speed-dial entry"),
    Action("speed_dial_call", "*0", "digits", "call a speed-dial entry (its 2-digit slot)"),
    Action("call_waiting_on", "*43", "none", "call waiting on"),
    Action("call_waiting_off", "*44", "none", "call waiting off"),
    Action("agent_login", "*61", "none", "queue agent: log into every queue"),
    Action("agent_logout", "*62", "none", "queue agent: log out of every queue"),
    Action("agent_pause", "*63", "none", "queue agent: pause, or unpause if paused"),
)
ACTIONS: Mapping[str, Action] = {a.name: a for a in CATALOGUE}


def check_code(value: Any, *, field: str = "code") -> str:
    """A feature code as typed by an admin, or :class:`ValidationError` (422)."""
    if not isinstance(value, str) or not (
        CODE_MIN <= len(value) <= CODE_MAX and CODE.fullmatch(value)
    ):
        raise ValidationError(
            f"{field}: a feature code is '*' or '#' 1 to 3 times then up to 4 digits, "
            f"{CODE_MIN} to {CODE_MAX} characters (e.g. '*72')",
            field=field,
            value=value if isinstance(value, str) and len(value) <= 40 else None,
        )
    return value


def check_action(value: Any, *, field: str = "action") -> Action:
    """The catalogue's action called ``value``, or :class:`ValidationError` (422)."""
    action = ACTIONS.get(value) if isinstance(value, str) else None
    if action is None:
        raise ValidationError(
            f"{field}: no such feature-code action", field=field, known=sorted(ACTIONS)
        )
    return action


@dataclass(frozen=True, slots=True)
class Number:
    """Something else a tenant's phones dial: ``kind`` extension, did, conference_room or
    outbound_route (``value``: the route's prefix), ``name`` what an admin calls it."""

    kind: str
    value: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Collision:
    """``code`` of ``action`` shadows or is shadowed by ``other``."""

    action: str
    code: str
    other: Number
    how: Literal["equal", "prefix_of", "has_prefix"]

    @property
    def message(self) -> str:
        what = {"equal": "is the same as", "prefix_of": "is a prefix of",
                "has_prefix": "starts with"}[self.how]  # fmt: skip
        other = self.other
        label = other.name or other.value
        kind = other.kind.replace("_", " ")
        if other.kind == "feature_code":
            return f"code {self.code} of {self.action} {what} {other.value} of {label}"
        return f"code {self.code} of {self.action} {what} {kind} {label} ({other.value})"

    def details(self) -> dict[str, str]:
        return {
            "action": self.action,
            "code": self.code,
            "how": self.how,
            "other_kind": self.other.kind,
            "other": self.other.value,
            "other_name": self.other.name,
        }


def _relation(code: str, other: str) -> Literal["equal", "prefix_of", "has_prefix"] | None:
    if not other:
        return None  # an outbound route without a prefix takes digits only
    if code == other:
        return "equal"
    if other.startswith(code):
        return "prefix_of"
    if code.startswith(other):
        return "has_prefix"
    return None


def collisions(codes: Mapping[str, str], numbers: Iterable[Number] = ()) -> list[Collision]:
    """Every collision among ``codes`` (action -> code, the enabled ones) and of a code with
    ``numbers``; empty when the table is fine. Each pair of codes is reported once."""
    found: list[Collision] = []
    items = sorted(codes.items(), key=lambda item: (item[1], item[0]))
    for i, (action, code) in enumerate(items):
        for other_action, other_code in items[i + 1 :]:
            how = _relation(code, other_code)
            if how is not None:
                other = Number("feature_code", other_code, other_action)
                found.append(Collision(action, code, other, how))
    numbers = list(numbers)
    for action, code in items:
        for number in numbers:
            how = _relation(code, number.value)
            if how is not None:
                found.append(Collision(action, code, number, how))
    return found


@dataclass(frozen=True, slots=True)
class Match:
    """A dialed string read against a tenant's codes: the action and what followed it."""

    action: str
    code: str
    argument: str = ""


def match(codes: Mapping[str, str], dialed: str) -> Match | None:
    """The action ``dialed`` asks for, given ``codes`` (action -> code, the enabled ones),
    or None (an unknown code, or digits where the action takes none).

    The code alone names an action that takes no digits or optional ones; otherwise the
    longest code that ``dialed`` starts with, of an action that takes digits, with the
    rest (1 to 20 digits) as its argument::

        match({"directed_pickup": "*97", "dnd_on": "*78"}, "*97102")
        # Match(action="directed_pickup", code="*97", argument="102")
    """
    best: Match | None = None
    for action, code in codes.items():
        argument = ACTIONS[action].argument
        if dialed == code:
            if argument != "digits":
                return Match(action, code)
        elif (
            argument != "none"
            and dialed.startswith(code)
            and ARGUMENT.fullmatch(dialed[len(code) :])
            and (best is None or len(code) > len(best.code))
        ):
            best = Match(action, code, dialed[len(code) :])
    return best
