"""The core's targets and routing in Asterisk's terms: dial strings, dialplan places, Stasis args.

Pure functions, no I/O. The adapter owns every name here: the tenant contexts
(``t<tenant>``, as the tenant dialplans are rendered, see
dialplan_templates/asterisk/tenant/extensions.conf.j2), the ``orchestrator-dial`` context
and its ``ORCH_DIAL`` variable (base/extensions.conf.j2), and what the dialplan passes
to ``Stasis()``. Every value is checked again where it becomes engine syntax (the core
checked it when the target was made): AST-2010-002.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.core.errors import ValidationError
from orchestrator.core.sip_headers import check_sip_headers
from orchestrator.core.targets import (
    NUMBER,
    ROUTING_NAME,
    ROUTING_VALUE,
    SIP_ENDPOINT,
    TENANT,
    TRUNK_NAME,
    Extension,
    Routing,
    SipUser,
    Target,
    TrunkNumber,
    check,
)

log = logging.getLogger(__name__)

# The base dialplan's "dial what ORCH_DIAL says" place: blind transfers to a SIP user or
# an external number (the dial string is built here, from checked values only).
DIAL_CONTEXT = "orchestrator-dial"
DIAL_EXTENSION = "s"
DIAL_VARIABLE = "ORCH_DIAL"
# What the dialplan templates pass to Stasis() after the service, by position (an IVR
# access number: Stasis(app,ivr,<flow>,<tenant>); the pbx flows add the calling
# phone's endpoint and what it dialed: Stasis(app,ivr,pbx.code,<tenant>,<endpoint>,
# <dialed>); a feature code adds the endpoint of the phone that blind-transferred the
# call there, or ""). Originated legs carry key=value.
DIALPLAN_ARGS: Mapping[str, tuple[str, ...]] = {
    "ivr": ("flow", "tenant", "endpoint", "dialed", "transferer"),
}
# [orchestrator-stasis] passes the dialled digits alone: Routing("dialed", {"number": ...}).
DIALED = "dialed"
CONTEXT = re.compile(r"[A-Za-z0-9_-]{1,80}")
EXTENSION = re.compile(r"[A-Za-z0-9*#+_-]{1,80}")


@dataclass(frozen=True, slots=True)
class DialplanPlace(Target):
    """A place in Asterisk's own dialplan: for this engine's tests and tooling only.

    Features never use it (they import no adapter): they name core targets. Originated,
    it dials ``Local/<extension>@<context>`` (optimised away once bridged, as a plain
    Local channel is); transferred to, the leg continues there.
    """

    context: str
    extension: str
    priority: int = 1

    def __post_init__(self) -> None:
        check(CONTEXT, self.context, "dialplan context")
        check(EXTENSION, self.extension, "dialplan extension")
        if not 1 <= self.priority <= 1000:
            raise ValidationError(f"invalid dialplan priority {self.priority}", field="priority")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a transferred leg continues, with the variables set on it first."""

    context: str
    extension: str
    priority: int = 1
    variables: Mapping[str, str] = field(default_factory=dict)


def tenant_context(tenant: str) -> str:
    """The dialplan context of a tenant's phones (as provisioning renders it)."""
    return f"t{check(TENANT, tenant, 'tenant')}"


def dial_string(target: Target) -> str:
    """What ``POST /channels`` dials to reach ``target``."""
    if isinstance(target, SipUser):
        # The SIP user's endpoint id is "<user>@<domain>", as the tenant dialplans dial it.
        return f"PJSIP/{check(SIP_ENDPOINT, target.endpoint, 'SIP endpoint')}"
    if isinstance(target, TrunkNumber):
        check(TRUNK_NAME, target.trunk, "trunk name")
        return f"PJSIP/{check(NUMBER, target.number, 'number')}@{target.trunk}"
    if isinstance(target, Extension):
        # /n: no optimisation, so the originated half keeps its id once the call is up.
        number = check(NUMBER, target.number, "number")
        return f"Local/{number}@{tenant_context(target.tenant)}/n"
    if isinstance(target, DialplanPlace):
        return f"Local/{target.extension}@{target.context}/n"
    raise ValidationError(f"Asterisk cannot dial {target!r}", target=repr(target))


# The channel function that adds a header to the INVITE of an outbound PJSIP channel
# (res_pjsip_header_funcs): set as an originate variable, it is applied to the new
# channel before it is called.
HEADER_FUNCTION = "PJSIP_HEADER(add,{name})"


def header_variables(
    target: Target, variables: Mapping[str, str] | None, headers: Mapping[str, str] | None
) -> dict[str, str]:
    """The channel variables of ``POST /channels``: ``variables`` plus each SIP header as
    ``PJSIP_HEADER(add,<name>)`` (names and values checked by the core's allow-list).
    A variable that would set a header itself is refused: headers go through ``headers``."""
    out = dict(variables or {})
    for name in out:
        if name.upper().startswith("PJSIP_HEADER"):
            raise ValidationError(
                "SIP headers are set with headers=, not as variables", field="variables"
            )
    for name, value in check_sip_headers(target, headers).items():
        out[HEADER_FUNCTION.format(name=name)] = value
    return out


def transfer_place(target: Target) -> Place:
    """Where a leg transferred to ``target`` continues in the dialplan."""
    if isinstance(target, Extension):
        number = check(NUMBER, target.number, "number")
        return Place(tenant_context(target.tenant), number)
    if isinstance(target, SipUser | TrunkNumber):
        return Place(DIAL_CONTEXT, DIAL_EXTENSION, 1, {DIAL_VARIABLE: dial_string(target)})
    if isinstance(target, DialplanPlace):
        return Place(target.context, target.extension, target.priority)
    raise ValidationError(f"Asterisk cannot transfer to {target!r}", target=repr(target))


def stasis_args(routing: Routing | None) -> list[str]:
    """``routing`` as Stasis arguments: the service, then ``key=value`` (one comma-separated
    string for ARI: the core's routing values hold no comma, quote, bracket or space)."""
    if routing is None:
        return []
    check(ROUTING_NAME, routing.service, "routing service")
    args = [routing.service]
    for key, value in routing.items():
        args.append(f"{check(ROUTING_NAME, key, 'routing key')}={value}")
        check(ROUTING_VALUE, value, "routing value")
    return args


def routing_from_args(args: Sequence[str]) -> Routing | None:
    """The routing of a leg that entered Stasis with ``args``.

    ``key=value`` arguments (originated legs, see :func:`stasis_args`) are read by name;
    the others by position as the dialplan templates pass them (:data:`DIALPLAN_ARGS`),
    or as ``arg1``, ``arg2``... for a service the templates do not know (a snoop's). A
    value that is not a routing token is left out (the service then finds it missing).
    """
    if not args:
        return None
    service, rest = args[0], args[1:]
    if ROUTING_NAME.fullmatch(service) is None:
        if len(args) == 1 and NUMBER.fullmatch(service):
            return Routing(DIALED, {"number": service})
        log.warning("asterisk: Stasis arguments %r name no service", list(args))
        return None
    names = DIALPLAN_ARGS.get(service, ())
    data: dict[str, str] = {}
    for i, arg in enumerate(rest):
        key, eq, value = arg.partition("=")
        if not (eq and ROUTING_NAME.fullmatch(key)):
            key, value = (names[i] if i < len(names) else f"arg{i + 1}"), arg
        if ROUTING_VALUE.fullmatch(value) is None:
            log.warning("asterisk: Stasis argument %s=%r left out of the routing", key, value)
            continue
        data[key] = value
    return Routing(service, data)
