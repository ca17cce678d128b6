"""Queue and agent configuration, validated when built.

Everything here is plain data: the store (part 2) keeps it, the REST API fills it,
and :class:`~orchestrator.queues.acd.service.AcdService` reads it. Each dataclass checks
itself in ``__post_init__`` and raises :class:`ValidationError` with a ``field``
detail, so a bad value is refused where an admin typed it and never reaches the
engine (dial strings, prompts and MOH class names all come from here).

Example::

    queue = QueueConfig(tenant_id=1, name="support", strategy=Strategy.LONGEST_IDLE,
                        ring_timeout_s=15, wrapup_s=10, max_wait_s=300,
                        overflow="extension:200",
                        priority_rules=(PriorityRule("+4420794600*", 5),))
    agent = AgentConfig(tenant_id=1, agent_id="alice", extension="101",
                        endpoint="alice@acme.example", skills={"french": 7})
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.errors import ValidationError

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_EXTENSION = re.compile(r"[0-9]{2,10}")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}(@[A-Za-z0-9.-]{1,253})?")
_SKILL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_MOH_CLASS = re.compile(r"[A-Za-z0-9_-]{1,80}")
_PATTERN = re.compile(r"\+?[0-9]{1,20}\*?")
DTMF_KEYS = frozenset("0123456789*#")
PAUSE_REASON_MAX = 40


class Strategy(enum.StrEnum):
    """How a queue picks the agent(s) to offer a call to (see :mod:`.strategies`)."""

    RING_ALL = "ring_all"
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    RANDOM = "random"
    SKILLS = "skills"


def _fail(field_name: str, message: str, value: Any) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", field=field_name, value=repr(value))


def _seconds(value: Any, field_name: str, *, low: float, high: float, zero: bool) -> float:
    """A duration in seconds in (low, high], or 0 when ``zero`` (meaning "off")."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(field_name, "must be a number of seconds", value)
    if zero and value == 0:
        return 0.0
    if not low < value <= high:
        raise _fail(field_name, f"must be more than {low} and at most {high} s", value)
    return float(value)


def _int(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field_name, f"must be an integer from {low} to {high}", value)
    return value


def queue_name(value: Any, *, field_name: str = "name") -> str:
    """A queue's name: lower case letters, digits, ``_`` and ``-``, at most 40."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _fail(field_name, "must be 1-40 of a-z, 0-9, '_', '-' (starting a-z/0-9)", value)
    return value


def skills(value: Any, *, field_name: str = "skills") -> dict[str, int]:
    """``{skill: level}`` with skill names like ``french`` and levels 1..10."""
    if not isinstance(value, Mapping):
        raise _fail(field_name, "must be an object of skill: level", value)
    out: dict[str, int] = {}
    for name, level in value.items():
        if not isinstance(name, str) or not _SKILL.fullmatch(name):
            raise _fail(field_name, "skill names are 1-32 of a-z, 0-9, '_', '-'", name)
        out[name] = _int(level, f"{field_name}.{name}", 1, 10)
    if len(out) > 50:
        raise _fail(field_name, "at most 50 skills", len(out))
    return out


def destination(value: Any, *, field_name: str = "overflow") -> str:
    """Where a caller goes when a queue gives up on it.

    ``extension:<n>``, ``number:<+n>``, ``queue:<name>`` or ``hangup``; the flow that
    called :meth:`~orchestrator.queues.acd.service.AcdService.enqueue` carries it out.
    """
    if not isinstance(value, str):
        raise _fail(field_name, "must be a string", value)
    kind, sep, target = value.partition(":")
    ok = (
        (kind == "hangup" and not sep)
        or (kind == "extension" and _EXTENSION.fullmatch(target) is not None)
        or (kind == "number" and _NUMBER.fullmatch(target) is not None)
        or (kind == "queue" and _NAME.fullmatch(target) is not None)
    )
    if not ok:
        raise _fail(field_name, "must be extension:<n>, number:<+n>, queue:<name> or hangup", value)
    return value


def pause_reason(value: Any) -> str:
    """A pause reason as an agent or supervisor types it (``lunch``, ``training``...)."""
    if not isinstance(value, str) or len(value) > PAUSE_REASON_MAX or not value.isprintable():
        raise _fail("reason", f"must be at most {PAUSE_REASON_MAX} printable characters", value)
    return value


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """Callers whose number matches ``match`` get ``priority`` (higher goes first).

    ``match`` is a whole number (``+442079460000``) or a prefix ending in ``*``
    (``+44207946*``).
    """

    match: str
    priority: int

    def __post_init__(self) -> None:
        if not isinstance(self.match, str) or not _PATTERN.fullmatch(self.match):
            raise _fail("priority_rules.match", "must be a number or a prefix ending in *", self)
        _int(self.priority, "priority_rules.priority", 0, 100)

    def matches(self, number: str) -> bool:
        if self.match.endswith("*"):
            return number.startswith(self.match[:-1])
        return number == self.match


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """One call queue of one tenant. Durations are seconds; 0 means "off" where noted."""

    tenant_id: int
    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    # How long one agent (or ring-all round) rings before the offer is given up.
    ring_timeout_s: float = 15.0
    # Pause between a failed offer and the next one for the same caller.
    retry_s: float = 5.0
    # After-call work: the agent gets no queue call for this long after hanging up (0: none).
    wrapup_s: float = 0.0
    # The caller leaves with outcome "timeout" after this long (0: waits forever).
    max_wait_s: float = 0.0
    # A caller arriving when this many wait leaves at once with "overflow" (0: no limit).
    max_len: int = 0
    overflow: str = "hangup"
    # Also overflow at once when no agent is logged in (Asterisk's joinempty=no).
    leave_when_empty: bool = False
    # Periodic announcements (0: none); position and/or estimated wait.
    announce_every_s: float = 0.0
    announce_position: bool = True
    announce_wait: bool = False
    moh_class: str = "default"
    # Service level: answered within this many seconds of entering the queue.
    service_level_s: float = 20.0
    callback_enabled: bool = False
    callback_key: str = "*"
    # A callback not delivered within this time is dropped (outcome "timeout").
    callback_expire_s: float = 3600.0
    # Last agent: offer to the agent who last handled this caller's number first,
    # and only to them for this long (0: off).
    last_agent_s: float = 0.0
    required_skills: Mapping[str, int] = field(default_factory=dict)
    priority_rules: tuple[PriorityRule, ...] = ()
    # Shared agents serve the queue with the higher weight first.
    weight: int = 0
    # Pause an agent who missed this many offers in a row (0: never).
    autopause_after: int = 0

    def __post_init__(self) -> None:
        _int(self.tenant_id, "tenant_id", 1, 2**31 - 1)
        queue_name(self.name)
        try:
            object.__setattr__(self, "strategy", Strategy(self.strategy))
        except ValueError:
            choices = [s.value for s in Strategy]
            raise _fail("strategy", f"must be one of {choices}", self.strategy) from None
        _seconds(self.ring_timeout_s, "ring_timeout_s", low=0, high=600, zero=False)
        _seconds(self.retry_s, "retry_s", low=0, high=600, zero=True)
        _seconds(self.wrapup_s, "wrapup_s", low=0, high=3600, zero=True)
        _seconds(self.max_wait_s, "max_wait_s", low=0, high=86400, zero=True)
        _int(self.max_len, "max_len", 0, 100_000)
        destination(self.overflow)
        _seconds(self.announce_every_s, "announce_every_s", low=0, high=3600, zero=True)
        if not isinstance(self.moh_class, str) or not _MOH_CLASS.fullmatch(self.moh_class):
            raise _fail("moh_class", "must be 1-80 of A-Z, a-z, 0-9, '_', '-'", self.moh_class)
        _seconds(self.service_level_s, "service_level_s", low=0, high=3600, zero=False)
        if self.callback_key not in DTMF_KEYS:
            raise _fail("callback_key", "must be one DTMF key 0-9, * or #", self.callback_key)
        _seconds(self.callback_expire_s, "callback_expire_s", low=0, high=7 * 86400, zero=False)
        _seconds(self.last_agent_s, "last_agent_s", low=0, high=3600, zero=True)
        object.__setattr__(
            self, "required_skills", skills(self.required_skills, field_name="required_skills")
        )
        rules = tuple(self.priority_rules)
        if not all(isinstance(r, PriorityRule) for r in rules) or len(rules) > 1000:
            raise _fail("priority_rules", "must be at most 1000 PriorityRule", rules)
        object.__setattr__(self, "priority_rules", rules)
        _int(self.weight, "weight", 0, 100)
        _int(self.autopause_after, "autopause_after", 0, 100)

    def priority_for(self, number: str) -> int:
        """The highest priority a rule gives ``number`` (0 when none matches)."""
        return max((r.priority for r in self.priority_rules if r.matches(number)), default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """A person taking queue calls, on one phone (extension) of the tenant.

    ``dial_target`` is how the ACD rings them, resolved by the
    :class:`~orchestrator.ivr.directory.Directory` (``extension:101`` by default, or
    ``number:+44...`` for a remote agent). ``endpoint`` is the engine's SIP endpoint
    id (``<sip user>@<domain>``) whose registration events say whether the phone is
    reachable; empty means "no registration to follow" (always reachable).
    ``penalty``: agents with a lower penalty are offered calls first.
    """

    tenant_id: int
    agent_id: str
    extension: str
    name: str = ""
    dial_target: str = ""
    endpoint: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    penalty: int = 0

    def __post_init__(self) -> None:
        _int(self.tenant_id, "tenant_id", 1, 2**31 - 1)
        if not isinstance(self.agent_id, str) or not _AGENT_ID.fullmatch(self.agent_id):
            raise _fail("agent_id", "must be 1-40 of A-Z, a-z, 0-9, '_', '.', '-'", self.agent_id)
        if not isinstance(self.extension, str) or not _EXTENSION.fullmatch(self.extension):
            raise _fail("extension", "must be 2-10 digits", self.extension)
        if not isinstance(self.name, str) or len(self.name) > 80 or not self.name.isprintable():
            raise _fail("name", "must be at most 80 printable characters", self.name)
        target = self.dial_target or f"extension:{self.extension}"
        kind = destination(target, field_name="dial_target").partition(":")[0]
        if kind not in ("extension", "number"):
            raise _fail("dial_target", "must be extension:<n> or number:<+n>", target)
        object.__setattr__(self, "dial_target", target)
        if self.endpoint and not _ENDPOINT.fullmatch(self.endpoint):
            raise _fail("endpoint", "must be a SIP endpoint id like alice@acme.example", self)
        object.__setattr__(self, "skills", skills(self.skills))
        _int(self.penalty, "penalty", 0, 100)
