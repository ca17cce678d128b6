"""Where a flow's ``transfer("102")`` or ``dial("number:+44...")`` goes.

A :class:`Directory` turns a destination a flow names into what the engine needs:
a dial string for :meth:`Engine.originate` and a dialplan place for a blind
transfer. The composition root gives the runner one backed by the store (an
extension's SIP endpoint, the tenant's outbound routes); tests use
:class:`StaticDirectory`.

Destinations: ``"102"`` or ``"extension:102"`` (an extension of the call's tenant),
``"number:+442079460000"`` (an external number, through the tenant's outbound route).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError, ValidationError

_EXTENSION = re.compile(r"[0-9]{2,10}")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved destination.

    ``context``/``extension`` (+ ``variables`` set first) is where a blind transfer
    continues in the engine's dialplan; ``dial_string`` is what ``originate`` dials.
    """

    kind: str
    number: str
    dial_string: str
    context: str
    extension: str
    variables: Mapping[str, str] = field(default_factory=dict)
    caller_id: str = ""


def parse(destination: str) -> tuple[str, str]:
    """``("extension", "102")`` or ``("number", "+44...")``; ValidationError otherwise."""
    kind, sep, value = str(destination).partition(":")
    if not sep:
        kind, value = "extension", kind
    if kind == "extension" and _EXTENSION.fullmatch(value):
        return kind, value
    if kind == "number" and _NUMBER.fullmatch(value):
        return kind, value
    raise ValidationError(
        f"not a destination: {destination!r}",
        destination=str(destination),
        expected="102, extension:102 or number:+442079460000",
    )


class Directory(Protocol):
    async def resolve(self, tenant: str, destination: str) -> Target: ...


# The engine's generic "dial this" place for blind transfers to external numbers
# (see dialplan_templates/asterisk/base/extensions.conf.j2).
DIAL_CONTEXT = "orchestrator-dial"


class StaticDirectory:
    """A directory from a fixed table, for tests and the flow harness.

    Every extension listed in ``extensions`` (or any, when it is None) exists as
    ``<number>@<tenant>``; numbers leave through the trunk ``trunk``.
    """

    def __init__(
        self, engine: Engine, *, extensions: set[str] | None = None, trunk: str = "carrier"
    ) -> None:
        self.engine = engine
        self.extensions = extensions
        self.trunk = trunk

    async def resolve(self, tenant: str, destination: str) -> Target:
        kind, value = parse(destination)
        if kind == "extension":
            if self.extensions is not None and value not in self.extensions:
                raise NotFoundError(f"no extension {value}", extension=value)
            dial = self.engine.user_dial_string(f"{value}@{tenant}")
            return Target(kind, value, dial, f"t{tenant}", value)
        dial = self.engine.trunk_dial_string(self.trunk, value)
        return Target(kind, value, dial, DIAL_CONTEXT, "s", {"ORCH_DIAL": dial})
