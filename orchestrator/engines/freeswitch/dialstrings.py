"""The core's targets and routing in FreeSWITCH's terms: dial strings, channel variables.

Pure functions, no I/O. The adapter owns every name here (see /work/notes/fs-seam.md,
"Channel variables, dial strings, contexts"): the tenant contexts ``t<tenant>`` that the
kit's dialplan renders, the ``orch_route`` / ``orch_route_<key>`` channel variables that
carry a :class:`~orchestrator.core.targets.Routing`, and the ``{var=value,...}`` block of
an ``originate``. Every value is checked again where it becomes engine syntax: a comma,
brace, quote or newline in a value would end the variable block or the command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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

ROUTE_VAR = "orch_route"
ROUTE_PREFIX = "orch_route_"
# Set by originate on the leg it makes: a loopback b-leg inherits the a-leg's variables,
# orch_route included, and must not be taken for a leg of ours (its orch_leg is not its
# own uuid). A dialplan that hands a channel over sets orch_route without it.
LEG_VAR = "orch_leg"
INBOUND_CONTEXT = "orchestrator-dids"
CONTEXT = re.compile(r"[A-Za-z0-9_-]{1,80}")
EXTENSION = re.compile(r"[A-Za-z0-9*#+_-]{1,80}")
ROUTE_KEY = re.compile(r"[a-z0-9_]{1,32}")
# What may stand in a {var=value} block or an api argument: no separator of either
# (comma, braces, quotes, spaces, ^ which starts an alternative separator, newlines).
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
# sofia adds a custom header to the INVITE for every sip_h_<name> variable of the leg.
HEADER_PREFIX = "sip_h_"
HEADER_VARIABLE = re.compile(r"sip_h_[A-Za-z][A-Za-z0-9-]{0,40}")
VARIABLE_VALUE = re.compile(r"[^,{}'\"\n\r^\s](?:[^,{}'\"\n\r^]{0,254}[^,{}'\"\n\r^\s])?|")


@dataclass(frozen=True, slots=True)
class LoopbackPlace(Target):
    """An extension of FreeSWITCH's own dialplan: for this engine's tests and tooling only
    (features never use it). Originated, it dials ``loopback/<extension>/<context>``;
    transferred to, the leg continues there."""

    context: str
    extension: str

    def __post_init__(self) -> None:
        check(CONTEXT, self.context, "dialplan context")
        check(EXTENSION, self.extension, "dialplan extension")


def tenant_context(tenant: str) -> str:
    """The dialplan context of a tenant's phones (as the kit renders it)."""
    return f"t{check(TENANT, tenant, 'tenant')}"


def dial_string(target: Target) -> str:
    """What ``originate`` dials to reach ``target``."""
    if isinstance(target, SipUser):
        return f"user/{check(SIP_ENDPOINT, target.endpoint, 'SIP endpoint')}"
    if isinstance(target, TrunkNumber):
        trunk = check(TRUNK_NAME, target.trunk, "trunk name")
        return f"sofia/gateway/{trunk}/{check(NUMBER, target.number, 'number')}"
    if isinstance(target, Extension):
        number = check(NUMBER, target.number, "number")
        return f"loopback/{number}/{tenant_context(target.tenant)}"
    if isinstance(target, LoopbackPlace):
        return f"loopback/{target.extension}/{target.context}"
    raise ValidationError(f"FreeSWITCH cannot dial {target!r}", target=repr(target))


def transfer_args(target: Target) -> str:
    """The ``uuid_transfer <uuid> ...`` arguments that send a leg to ``target``: an
    extension of a context, or an inline ``bridge`` to the target's dial string."""
    if isinstance(target, Extension):
        number = check(NUMBER, target.number, "number")
        return f"{number} XML {tenant_context(target.tenant)}"
    if isinstance(target, LoopbackPlace):
        return f"{target.extension} XML {target.context}"
    if isinstance(target, SipUser | TrunkNumber):
        return f"bridge:{dial_string(target)} inline"
    raise ValidationError(f"FreeSWITCH cannot transfer to {target!r}", target=repr(target))


def routing_variables(routing: Routing | None) -> dict[str, str]:
    """``routing`` as channel variables (``orch_route``, ``orch_route_<key>``)."""
    if routing is None:
        return {}
    out = {ROUTE_VAR: check(ROUTING_NAME, routing.service, "routing service")}
    for key, value in routing.items():
        check(ROUTE_KEY, key, "routing key")
        check(ROUTING_VALUE, value, "routing value")
        out[ROUTE_PREFIX + key] = check(VARIABLE_VALUE, value, "routing value")
    return out


def routing_from_variables(variables: Mapping[str, str]) -> Routing | None:
    """The routing carried by a channel's variables (names without ``variable_``); None
    when ``orch_route`` is unset. A value that is not a routing token is left out."""
    service = variables.get(ROUTE_VAR, "")
    if not service or ROUTING_NAME.fullmatch(service) is None:
        return None
    data = {
        name[len(ROUTE_PREFIX) :]: value
        for name, value in variables.items()
        if name.startswith(ROUTE_PREFIX)
        and ROUTE_KEY.fullmatch(name[len(ROUTE_PREFIX) :])
        and ROUTING_VALUE.fullmatch(value)
    }
    return Routing(service, data)


def variable_block(variables: Mapping[str, str]) -> str:
    """``{a=1,b=2}`` for an originate, every name and value checked."""
    items = []
    for name, value in variables.items():
        if HEADER_VARIABLE.fullmatch(name) is None:
            check(VARIABLE_NAME, name, "variable name")
        check(VARIABLE_VALUE, value, "variable value")
        # Inside the braces a space would end the originate's argument: quoted (the
        # value holds no quote, see VARIABLE_VALUE).
        items.append(f"{name}='{value}'" if " " in value else f"{name}={value}")
    return "{" + ",".join(items) + "}"


def originate_command(
    leg_id: str,
    target: Target,
    *,
    routing: Routing | None,
    caller_id: str,
    timeout: float,
    variables: Mapping[str, str] | None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The ``originate`` api command (sent with bgapi) for a new leg ``leg_id``; each SIP
    header (the core's allow-list, checked) as a ``sip_h_<name>`` variable."""
    dial = dial_string(target)
    sip_headers = check_sip_headers(target, headers)
    number, name = split_caller_id(caller_id)
    block: dict[str, str] = {"origination_uuid": leg_id, LEG_VAR: leg_id}
    block.update(routing_variables(routing))
    if number:
        block["origination_caller_id_number"] = number
    if name:
        block["origination_caller_id_name"] = name
    block["originate_timeout"] = str(max(1, round(timeout)))
    block["park_after_bridge"] = "true"
    for key, value in (variables or {}).items():
        if key in block or key.startswith(ROUTE_VAR):
            raise ValidationError(f"variable {key} is the adapter's own", field="variables")
        if key.lower().startswith(HEADER_PREFIX):
            raise ValidationError(
                "SIP headers are set with headers=, not as variables", field="variables"
            )
        block[key] = value
    for name, value in sip_headers.items():
        block[HEADER_PREFIX + name] = value
    return f"originate {variable_block(block)}{dial} &park()"


CALLER_ID = re.compile(r'\s*(?:"([^"]*)"\s*)?<([^>]*)>\s*|\s*([^<>"]*?)\s*')
CALLER_NUMBER = re.compile(r"[A-Za-z0-9+*#_.-]{0,40}")


def split_caller_id(caller_id: str) -> tuple[str, str]:
    """``(number, name)`` of ``'"Name" <number>'`` or a bare number, both checked."""
    found = CALLER_ID.fullmatch(caller_id)
    if found is None:
        raise ValidationError(f"invalid caller ID {caller_id!r}", field="caller_id")
    name, bracketed, bare = found.groups()
    number = bracketed if bracketed is not None else (bare or "")
    check(CALLER_NUMBER, number, "caller ID number")
    name = name or ""
    if name:
        check(VARIABLE_VALUE, name, "caller ID name")
    return number, name
