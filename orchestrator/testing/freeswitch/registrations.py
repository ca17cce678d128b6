"""SIP registrations on the fake switch: ``sofia::register`` / ``sofia::unregister``
events as mod_sofia fires them (e2), and the listings that read them back:
``show registrations``, ``sofia status profile <p> reg``, ``sofia_contact``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.switch import Switch

__all__ = [
    "Registration",
    "message_waiting",
    "register",
    "remember",
    "show_registrations",
    "sofia_contact",
    "sofia_reg",
    "unregister",
]

_CALLING = ("sofia_reg.c", "sofia_reg_handle_register_token", 2116)
_RULE = "=" * 97 + "\n"


@dataclass
class Registration:
    user: str
    domain: str
    port: int = 15072
    call_id: str = ""
    agent: str = "fake-phone"
    expires: int = 300
    variables: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def contact(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.port + 1};transport=udp"


def _registrations(sw: Switch) -> dict[str, Registration]:
    return sw.registrations


def remember(sw: Switch, reg: Registration) -> None:
    """Record a registration without an event (a phone registered before the test)."""
    reg.call_id = reg.call_id or f"{int(reg.at)}-{reg.user}@127.0.0.1"
    _registrations(sw)[f"{reg.user}@{reg.domain}"] = reg


def register(sw: Switch, reg: Registration) -> None:
    """A phone registers: it is reachable and ``sofia::register`` fires."""
    remember(sw, reg)
    headers = [
        ("profile-name", "internal"), ("from-user", reg.user), ("from-host", reg.domain),
        ("presence-hosts", f"{reg.domain},{reg.domain}"), ("contact", f'"" <{reg.contact}>'),
        ("call-id", reg.call_id), ("rpid", "unknown"), ("status", "Registered(UDP)"),
        ("expires", str(reg.expires)), ("to-user", reg.user), ("to-host", reg.domain),
        ("network-ip", "127.0.0.1"), ("network-port", str(reg.port)), ("username", reg.user),
        ("realm", reg.domain), ("user-agent", reg.agent),
    ]  # fmt: skip
    headers += list(reg.variables.items())
    sw.fire(FsEvent("CUSTOM", headers, subclass="sofia::register", calling=_CALLING))
    # mod_voicemail answers the registration with the box's state (e2)
    mwi = [("MWI-Messages-Waiting", "no"), ("MWI-Message-Account", f"sip:{reg.user}@{reg.domain}"),
           ("Sofia-Profile", "internal"), ("Call-ID", reg.call_id)]  # fmt: skip
    sw.fire(FsEvent("MESSAGE_WAITING", mwi, calling=("mod_voicemail.c", "vm_event_thread", 0)))


def unregister(sw: Switch, endpoint: str) -> None:
    """The phone's registration ends (``expires: 0``, ``sofia::unregister``)."""
    reg = _registrations(sw).pop(endpoint, None)
    if reg is None:
        return
    headers = [
        ("profile-name", "internal"), ("username", reg.user), ("from-user", reg.user),
        ("from-host", reg.domain), ("contact", f'"" <{reg.contact}>'), ("call-id", reg.call_id),
        ("rpid", "unknown"), ("realm", reg.domain), ("network-ip", "127.0.0.1"),
        ("network-port", str(reg.port)), ("user-agent", reg.agent), ("expires", "0"),
    ]  # fmt: skip
    sw.fire(FsEvent("CUSTOM", headers, subclass="sofia::unregister", calling=_CALLING))


def is_registered(sw: Switch, endpoint: str) -> bool:
    return endpoint in _registrations(sw)


def show_registrations(sw: Switch) -> str:
    regs = list(_registrations(sw).values())
    if not regs:
        return "\n0 total.\n"
    head = (
        "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata\n"
    )
    rows = [
        f"{r.user},{r.domain},{r.call_id},sofia/internal/{r.contact},{int(r.at) + r.expires},"
        f"127.0.0.1,{r.port},udp,vm,\n"
        for r in regs
    ]
    return head + "".join(rows) + f"\n{len(regs)} total.\n"


def sofia_reg(sw: Switch) -> str:
    """``sofia status profile internal reg``."""
    out = ["\nRegistrations:\n", _RULE]
    regs = list(_registrations(sw).values())
    for r in regs:
        expiry = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.at + r.expires))
        out.append(
            f"Call-ID:    \t{r.call_id}\nUser:       \t{r.user}@{r.domain}\n"
            f'Contact:    \t"" <{r.contact}>\nAgent:      \t{r.agent}\n'
            f"Status:     \tRegistered(UDP)(unknown) EXP({expiry}) EXPSECS({r.expires})\n"
            "Ping-Status:\tReachable\nPing-Time:\t0.00\nHost:       \tvm\n"
            f"IP:         \t127.0.0.1\nPort:       \t{r.port}\nAuth-User:  \t{r.user}\n"
            f"Auth-Realm: \t{r.domain}\nMWI-Account:\t{r.user}@{r.domain}\n\n"
        )
    out.append(f"Total items returned: {len(regs)}\n{_RULE}")
    return "".join(out)


def sofia_contact(sw: Switch, arg: str) -> str:
    """``sofia_contact [<profile>/]<user>@<domain>``."""
    endpoint = arg.split("/", 1)[-1]
    reg = _registrations(sw).get(endpoint)
    if reg is None:
        return "error/user_not_registered"
    return f"sofia/internal/{reg.contact}"


def message_waiting(sw: Switch, headers: list[tuple[str, str]]) -> None:
    """A MESSAGE_WAITING event: mod_sofia NOTIFYs the registered phone of the account
    (recorded in ``sw.mwi_sent`` as the NOTIFY body's fields); one without
    MWI-Message-Account or MWI-Messages-Waiting is dropped, as mod_sofia logs."""
    fields = dict(headers)
    account = fields.get("MWI-Message-Account", "")
    if not account or "MWI-Messages-Waiting" not in fields:
        return
    endpoint = account.removeprefix("sip:")
    if endpoint not in _registrations(sw):
        return
    body = {k.removeprefix("MWI-"): v for k, v in headers if k.startswith("MWI-")}
    sw.mwi_sent.append((endpoint, body))
