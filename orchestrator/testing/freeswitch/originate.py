"""``originate`` and the ``bridge`` app's dialling: dial strings, ``{vars}``,
loopback pairs as mod_loopback makes them, and the wait for an answer."""

from __future__ import annotations

import asyncio
import contextlib

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.names import CAUSES
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["ORIGINATE_USAGE", "originate", "parse_vars", "split_app"]

ORIGINATE_USAGE = (
    "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>]"
    " [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
)


def parse_vars(dial: str) -> tuple[dict[str, str], str]:
    """Split ``{a=1,b=2}rest`` (also ``[...]`` / ``<...>``) into vars and the rest."""
    variables: dict[str, str] = {}
    while dial and dial[0] in "{[<":
        close = {"{": "}", "[": "]", "<": ">"}[dial[0]]
        end = dial.find(close)
        if end < 0:
            break
        for item in _split_commas(dial[1:end]):
            name, _, value = item.partition("=")
            if name:
                variables[name.strip()] = value.strip("'")
        dial = dial[end + 1 :]
    return variables, dial


def _split_commas(text: str) -> list[str]:
    """Split ``{a=1,b='x,y'}``'s inside on the commas outside single quotes."""
    out: list[str] = []
    cur, quote = "", False
    for ch in text:
        if ch == "'":
            quote = not quote
        if ch == "," and not quote:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        out.append(cur)
    return out


def split_app(target: str) -> tuple[str, str] | None:
    """``&app(args)`` -> (app, args); None for an extension."""
    if not target.startswith("&"):
        return None
    body = target[1:]
    if "(" in body and body.endswith(")"):
        app, _, arg = body[:-1].partition("(")
        return app, arg
    app, _, arg = body.partition(" ")
    return app, arg


async def originate(
    sw: Switch,
    dial: str,
    timeout: float | None,
    *,
    caller: Channel | None = None,
    cid_name: str = "",
    cid_num: str = "",
) -> Channel | str:
    """Dial ``dial``; the answered outbound channel or a hangup cause name."""
    variables, rest = parse_vars(dial.strip())
    if caller is not None:  # the bridge app passes the caller's exported variables on
        for name in caller.variables.get("export_vars", "").split(","):
            if name and name in caller.variables:
                variables.setdefault(name, caller.variables[name])
        # switch_ivr_originate: the peer is part of the caller's call from its first
        # event on (its CHANNEL_CREATE's Channel-Call-UUID is the caller's call_uuid).
        variables["call_uuid"] = caller.call_uuid
        # switch_core_session_outgoing_channel: the peer knows who dials it from its
        # CHANNEL_OUTGOING on (Other-Type: originator), as a sofia far end shows it.
        variables["originator"] = caller.uuid
    for name in ("originate_timeout", "leg_timeout"):
        if name in variables:
            with contextlib.suppress(ValueError):
                timeout = float(variables[name])
    timeout = timeout if timeout is not None else sw.originate_timeout
    if cid_num:
        variables.setdefault("origination_caller_id_number", cid_num)
    if cid_name:
        variables.setdefault("origination_caller_id_name", cid_name)
    tech, _, data = rest.partition("/")
    if tech == "error":
        return data if data in CAUSES else "CHAN_NOT_IMPLEMENTED"
    if tech == "loopback":
        a_leg = _loopback(sw, data, variables)
    else:
        handler = next((h for prefix, h in sw.endpoints.items() if rest.startswith(prefix)), None)
        if handler is None:
            return "SUBSCRIBER_ABSENT" if tech == "user" else "CHAN_NOT_IMPLEMENTED"
        made = await handler(sw, rest, variables)
        if isinstance(made, str):
            return made
        a_leg = made
    if caller is not None:
        a_leg.variables.setdefault("originator", caller.uuid)
    return await _wait_answer(sw, a_leg, timeout)


async def _wait_answer(sw: Switch, ch: Channel, timeout: float) -> Channel | str:
    answered = asyncio.ensure_future(ch.answered_event.wait())
    gone = asyncio.ensure_future(ch.done.wait())
    try:
        await asyncio.wait(
            {answered, gone}, timeout=timeout / sw.speed, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        answered.cancel()
        gone.cancel()
    if ch.answered and ch.up:
        _on_answer(sw, ch, ch.variables.get("execute_on_answer", ""))
        return ch
    if ch.up:
        sw.hangup(ch, "NO_ANSWER")
        return "NO_ANSWER"
    return ch.hangup_cause or "NORMAL_CLEARING"


def _on_answer(sw: Switch, ch: Channel, command: str) -> None:
    """``execute_on_answer``: only ``sched_hangup +<s> [<cause>]`` is simulated."""
    words = command.split()
    if len(words) < 2 or words[0] != "sched_hangup" or not words[1].lstrip("+").isdigit():
        return
    delay = int(words[1].lstrip("+"))
    cause = words[2] if len(words) > 2 else "ALLOTTED_TIMEOUT"

    async def later() -> None:
        await sw.sleep(delay)
        if ch.up:
            sw.hangup(ch, cause)

    task = asyncio.get_running_loop().create_task(later())
    sw.timers.add(task)
    task.add_done_callback(sw.timers.discard)


def _loopback(sw: Switch, data: str, variables: dict[str, str]) -> Channel:
    """mod_loopback: ``<ext>[/<context>[/<dialplan>]]`` makes loopback/<ext>-a (outbound,
    the originated leg) and loopback/<ext>-b (inbound, routed to ``ext`` in ``context``)."""
    parts = data.split("/")
    ext = parts[0]
    context = parts[1] if len(parts) > 1 and parts[1] else "default"
    dialplan = parts[2] if len(parts) > 2 and parts[2] else "XML"
    a_uuid = variables.get("origination_uuid") or new_uuid()
    b_uuid = new_uuid()
    number = variables.get("origination_caller_id_number", "0000000000")
    name = variables.get("origination_caller_id_name", "")
    a_vars = dict(variables)
    a_vars.update(
        {
            "originate_early_media": "true",
            "originate_endpoint": "loopback",
            "other_loopback_leg_uuid": b_uuid,
            "loopback_leg": "A",
        }
    )
    a = sw.new_channel(
        name=f"loopback/{ext}-a",
        direction="outbound",
        destination=ext,
        context=context,
        uuid=a_uuid,
        variables=a_vars,
        caller_number=number,
        caller_name=name,
    )
    a.profile.callee_id_name = "Outbound Call"
    a.profile.callee_id_number = context
    a.loopback_peer = b_uuid
    if "origination_uuid" in variables:
        old = new_uuid()
        sw.emit(
            a,
            "CHANNEL_UUID",
            before=[("Old-Unique-ID", old)],
            calling=("switch_core_session.c", "switch_core_session_set_uuid", 2517),
        )
    sw.emit(
        a,
        "CHANNEL_OUTGOING",
        variables=False,
        calling=("switch_core_session.c", "switch_core_session_outgoing_channel", 712),
    )
    sw.set_state(a, "CS_INIT")
    b_vars = dict(variables)
    b_vars.update({"other_loopback_leg_uuid": a_uuid, "loopback_leg": "B"})
    b = sw.new_channel(
        name=f"loopback/{ext}-b",
        direction="inbound",
        destination=ext,
        context=context,
        uuid=b_uuid,
        variables=b_vars,
        caller_number=number,
        caller_name=name,
    )
    b.profile.dialplan = dialplan
    b.profile.callee_id_name = "Outbound Call"
    b.profile.callee_id_number = context
    b.loopback_peer = a_uuid
    b.hit_dialplan = True
    create = ("switch_core_state_machine.c", "switch_core_session_run", 626)
    sw.emit(a, "CHANNEL_CREATE", calling=create)
    sw.emit(
        a, "CHANNEL_ORIGINATE", calling=("switch_ivr_originate.c", "switch_ivr_originate", 3468)
    )
    sw.set_state(a, "CS_ROUTING")
    sw.set_state(a, "CS_CONSUME_MEDIA")
    sw.set_state(b, "CS_INIT")
    sw.emit(b, "CHANNEL_CREATE", calling=create)
    sw.set_callstate(b, "RINGING")
    sw.start(b, None)
    return a


def background_job(job_uuid: str, command: str, arg: str, body: str) -> FsEvent:
    """The BACKGROUND_JOB event of a bgapi job."""
    headers = [("Job-UUID", job_uuid), ("Job-Command", command)]
    if arg:
        headers.append(("Job-Command-Arg", arg))
    return FsEvent(
        "BACKGROUND_JOB", headers, body=body, calling=("mod_event_socket.c", "api_exec", 1572)
    )
