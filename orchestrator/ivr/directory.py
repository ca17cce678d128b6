"""Where a flow's ``transfer("102")`` or ``dial("number:+44...")`` goes.

A :class:`Directory` turns a destination a flow names into the engine's typed targets
(:mod:`orchestrator.core.targets`): what :meth:`Engine.originate` dials and where
:meth:`Engine.transfer` sends a blind transfer. The composition root gives the runner
one backed by the store (an extension's SIP endpoint, the tenant's outbound routes);
tests use :class:`StaticDirectory`.

Destinations: ``"102"`` or ``"extension:102"`` (an extension of the call's tenant),
``"number:+442079460000"`` (an external number, through the tenant's outbound route).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from orchestrator.core import targets
from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError, ValidationError

_EXTENSION = re.compile(r"[0-9]{2,10}")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved destination.

    ``dial`` is what ``originate`` calls (an extension's phone itself); ``transfer`` is
    where a blind transfer sends the call (an extension's number in its tenant's
    dialplan, so what the tenant's phones get for it applies).
    """

    kind: str
    number: str
    dial: targets.Target
    transfer: targets.Target
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


class StaticDirectory:
    """A directory from a fixed table, for tests and the flow harness.

    Every extension listed in ``extensions`` (or any, when it is None) exists as
    ``<number>@<tenant>``; numbers leave through the trunk ``trunk``.
    """

    # ``engine`` is not needed any more (targets are engine-neutral): accepted for callers.
    def __init__(
        self,
        engine: Engine | None = None,
        *,
        extensions: set[str] | None = None,
        trunk: str = "carrier",
    ) -> None:
        self.extensions = extensions
        self.trunk = trunk

    async def resolve(self, tenant: str, destination: str) -> Target:
        kind, value = parse(destination)
        if kind == "extension":
            if self.extensions is not None and value not in self.extensions:
                raise NotFoundError(f"no extension {value}", extension=value)
            user = targets.SipUser(f"{value}@{tenant}")
            return Target(kind, value, user, targets.Extension(tenant, value))
        out = targets.TrunkNumber(self.trunk, value)
        return Target(kind, value, out, out)
