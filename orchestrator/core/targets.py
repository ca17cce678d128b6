"""Where a leg goes, and how a new leg finds its owner: typed values, no dialplan.

Features name what they dial (:meth:`Engine.originate`) or hand a call over to
(:meth:`Engine.transfer`) with a :class:`Target`; each adapter maps it to its own means
(Asterisk: a dial string, or a context/extension/priority plus channel variables;
FreeSWITCH: a dial string, or an extension in a dialplan context the adapter owns).
Contexts, priorities and dial strings never leave the adapters.

A :class:`Routing` says which service of the orchestrator a new leg belongs to and that
service's data (the call it joins...). It goes out with ``originate(..., routing=...)``
and comes back on the new leg's :class:`~orchestrator.core.events.LegCreated`; legs the
engine's own dialplan hands over arrive with a routing too (an IVR access number: the
flow and the tenant).

Every field is checked when the value is made, before anything reaches an engine: what
a caller dialled or an admin typed never reaches dialplan syntax unchecked
(AST-2010-002). Adapters check again where they build engine syntax. Example::

    await engine.originate(SipUser("101@a.example"), routing=Routing("cti", {"call": cid}))
    await engine.transfer(leg_id, Extension("3", "102"))
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from orchestrator.core.errors import ValidationError

# "<user>@<domain>", as the SIP users' endpoints are named.
SIP_ENDPOINT = re.compile(r"[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9.-]{1,253}")
TRUNK_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
# What a trunk can be asked to dial: digits, "+", and the keypad's * and #.
NUMBER = re.compile(r"[0-9+*#]{1,32}")
TENANT = re.compile(r"[A-Za-z0-9_]{1,32}")
# Routing: a service and its keys are names; values are short tokens (ids, numbers,
# endpoints) that every engine can carry in an argument list or a channel variable.
ROUTING_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROUTING_VALUE = re.compile(r"[A-Za-z0-9_.@+*#:-]{0,128}")


def check(pattern: re.Pattern[str], value: object, what: str) -> str:
    """``value`` if it is a string ``pattern`` matches whole, else ValidationError naming
    ``what``: how the targets here and the adapters' own values (contexts, variables)
    are checked before anything reaches an engine."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValidationError(f"invalid {what} {value!r}", field=what, value=str(value))
    return value


@dataclass(frozen=True, slots=True)
class Target:
    """Somewhere a leg can be dialled or transferred to (see the subclasses).

    An adapter may accept targets of its own besides the core ones (for its tests and
    tooling); features only ever use the core ones.
    """


@dataclass(frozen=True, slots=True)
class SipUser(Target):
    """A SIP user's phone(s): the endpoint ``<user>@<domain>`` (e.g. ``101@a.example``).

    Reaches the phone itself, whatever the tenant's dialplan says of its number
    (redirects, feature codes): what the ACD, click-to-call and a flow's ``dial`` ring.
    """

    endpoint: str

    def __post_init__(self) -> None:
        check(SIP_ENDPOINT, self.endpoint, "SIP endpoint")


@dataclass(frozen=True, slots=True)
class TrunkNumber(Target):
    """``number`` dialled out through the SIP trunk ``trunk`` (its endpoint name), as
    the tenant's outbound route says (the digits already rewritten for the carrier)."""

    trunk: str
    number: str

    def __post_init__(self) -> None:
        check(TRUNK_NAME, self.trunk, "trunk name")
        check(NUMBER, self.number, "number")


@dataclass(frozen=True, slots=True)
class Extension(Target):
    """A number of ``tenant`` handled as if a phone of the tenant dialled it.

    Whatever the tenant's dialplan does with that number: an extension (with its
    redirect), a feature code, a DID or IVR access number, an outbound route. The
    blind-transfer target for a tenant's numbers.
    """

    tenant: str
    number: str

    def __post_init__(self) -> None:
        check(TENANT, self.tenant, "tenant")
        check(NUMBER, self.number, "number")


class Routing(Mapping[str, str]):
    """Which service takes a new leg (``service``) and that service's data (str -> str).

    Immutable and hashable; a read-only mapping of the data, whose :meth:`get` reads a
    missing key as ``""``, and always true (test ``is None`` for "no routing"). Example::

        routing = Routing("cti", {"call": call.id})
        routing.service, routing["call"]
    """

    __slots__ = ("_data", "service")

    def __init__(self, service: str, data: Mapping[str, str] | None = None) -> None:
        check(ROUTING_NAME, service, "routing service")
        items = dict(data or {})
        for key, value in items.items():
            check(ROUTING_NAME, key, "routing key")
            check(ROUTING_VALUE, value, "routing value")
        self.service: str = service
        self._data: Mapping[str, str] = MappingProxyType(items)

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError(f"Routing is immutable: cannot set {name}")
        object.__setattr__(self, name, value)

    @property
    def data(self) -> dict[str, str]:
        """A copy of the data."""
        return dict(self._data)

    def __bool__(self) -> bool:
        # It names a service even without data: never mistaken for "no routing".
        return True

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        return self._data.get(key, default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Routing):
            return NotImplemented
        return self.service == other.service and dict(self._data) == dict(other._data)

    def __hash__(self) -> int:
        return hash((self.service, frozenset(self._data.items())))

    def __repr__(self) -> str:
        return f"Routing({self.service!r}, {dict(self._data)!r})"
