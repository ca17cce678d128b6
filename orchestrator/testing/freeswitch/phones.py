"""SIP far ends of the fake switch: phones (``user/<user>@<domain>``) and gateways
(``sofia/gateway/<name>/<number>``), each answering, ringing out or refusing as a
test says. A dialled one becomes an outbound ``sofia/internal/...`` channel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["FarEnd", "dial_gateway", "dial_sip", "dial_user"]

_CREATE = ("switch_core_state_machine.c", "switch_core_session_run", 626)


@dataclass
class FarEnd:
    """How a phone or gateway answers: after ``answer_after`` s, or with ``refuse``
    (a cause name: USER_BUSY, CALL_REJECTED...) after ``ring`` s; ``answer_after`` None
    rings until the caller gives up. ``registered=False`` is a known user with no phone."""

    answer_after: float | None = 0.0
    refuse: str = ""
    ring: float = 0.0
    registered: bool = True
    auto_hangup: float | None = None  # the far end hangs up this long after answering


async def dial_user(sw: Switch, rest: str, variables: dict[str, str]) -> Channel | str:
    """``user/<user>@<domain>`` as mod_sofia's user endpoint dials it."""
    target = rest.split("/", 1)[1]
    phone = sw.phones.get(target)
    if phone is None:
        return "SUBSCRIBER_ABSENT"
    if not phone.registered:
        return "USER_NOT_REGISTERED"
    user, _, domain = target.partition("@")
    return _far_end(sw, f"sofia/internal/{user}@{domain}", user, phone, variables)


async def dial_gateway(sw: Switch, rest: str, variables: dict[str, str]) -> Channel | str:
    """``sofia/gateway/<gateway>/<number>``."""
    parts = rest.split("/", 3)
    if len(parts) < 4:
        return "INVALID_GATEWAY"
    gateway = sw.gateways.get(parts[2])
    if gateway is None:
        return "INVALID_GATEWAY"
    return _far_end(sw, f"sofia/gateway/{parts[2]}/{parts[3]}", parts[3], gateway, variables)


async def dial_sip(sw: Switch, rest: str, variables: dict[str, str]) -> Channel | str:
    """``sofia/<profile>/<uri>``: a phone when the URI names one, else nobody there
    (NORMAL_TEMPORARY_FAILURE, as a SIP URI on a closed port gave in f_errors)."""
    uri = rest.split("/", 2)[2] if rest.count("/") >= 2 else ""
    target = uri.removeprefix("sip:").split(";")[0]
    how = sw.phones.get(target.split(":")[0]) or FarEnd(
        refuse="NORMAL_TEMPORARY_FAILURE", ring=0.05
    )
    return _far_end(sw, rest, target.split("@")[0], how, variables)


def _far_end(sw: Switch, name: str, dest: str, how: FarEnd, variables: dict[str, str]) -> Channel:
    ch = sw.new_channel(
        name=name,
        direction="outbound",
        destination=dest,
        context="default",
        uuid=variables.get("origination_uuid"),
        variables=dict(variables),
        caller_number=variables.get("origination_caller_id_number", "0000000000"),
        caller_name=variables.get("origination_caller_id_name", ""),
        source="mod_sofia",
    )
    originator = sw.get(variables.get("originator", ""))
    if originator is not None:  # dialed by a channel's bridge: Other-Leg-* is the dialer
        ch.other_type, ch.other_profile = "originator", originator.profile
    sw.emit(ch, "CHANNEL_OUTGOING", variables=False)
    sw.set_state(ch, "CS_INIT")
    sw.emit(ch, "CHANNEL_CREATE", calling=_CREATE)
    sw.set_state(ch, "CS_ROUTING")
    sw.set_state(ch, "CS_CONSUME_MEDIA")
    asyncio.get_running_loop().create_task(_behave(sw, ch, how))
    return ch


async def _behave(sw: Switch, ch: Channel, how: FarEnd) -> None:
    await sw.sleep(how.ring)
    if not ch.up:
        return
    sw.pre_answer(ch, ring=True)
    if how.refuse:
        sw.hangup(ch, how.refuse)
        return
    if how.answer_after is None:
        return
    await sw.sleep(how.answer_after)
    if ch.up:
        sw.answer(ch)
    if how.auto_hangup is not None:
        await sw.sleep(how.auto_hangup)
        if ch.up:
            sw.hangup(ch, "NORMAL_CLEARING")
