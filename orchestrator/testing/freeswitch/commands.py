"""``api`` / ``bgapi`` commands of the fake FreeSWITCH (mod_commands, mod_hash...),
with the reply bodies FreeSWITCH writes (see f_errors in the captures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from orchestrator.testing.freeswitch import digits
from orchestrator.testing.freeswitch.channels import Channel, Message
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.listings import uuid_dump
from orchestrator.testing.freeswitch.originate import ORIGINATE_USAGE, originate, split_app
from orchestrator.testing.freeswitch.switch import Switch
from orchestrator.testing.freeswitch.system import (
    conference_api,
    eval_cmd,
    global_getvar,
    hash_api,
    hupall,
    log_cmd,
    reload_module,
    reloadxml,
    show_or_registrations,
    sofia,
    sofia_contact,
    status,
    version,
    xml_flush_cache,
)

__all__ = ["api"]


Command = Callable[[Switch, str], Awaitable[str]]


async def api(sw: Switch, line: str) -> str:
    """Run one api command line; its output (errors included, as FreeSWITCH writes them)."""
    sw.api_log.append(line.strip())
    name, _, arg = line.strip().partition(" ")
    func = sw.api_commands.get(name) or COMMANDS.get(name)
    if func is None:
        return f"-ERR {name} Command not found!\n"
    sw.fire(
        FsEvent(
            "API",
            [("API-Command", name)] + ([("API-Command-Argument", arg)] if arg else []),
            calling=("switch_loadable_module.c", "switch_api_execute", 2954),
        )
    )
    try:
        return await func(sw, arg.strip())
    except (ValueError, IndexError, KeyError) as exc:  # bad arguments: FreeSWITCH says -ERR
        return f"-ERR {name}: {exc}\n"


async def originate_cmd(sw: Switch, arg: str) -> str:
    """``originate <dial> <exten>|&app(args) [dialplan] [context] [cid_name] [cid_num]
    [timeout]``."""
    args = _split_originate(arg)
    if len(args) < 2:
        return ORIGINATE_USAGE
    dial, target = args[0], args[1]
    dialplan = args[2] if len(args) > 2 else "XML"
    context = args[3] if len(args) > 3 else "default"
    cid_name = args[4] if len(args) > 4 else ""
    cid_num = args[5] if len(args) > 5 else ""
    timeout = float(args[6]) if len(args) > 6 and args[6].isdigit() else None
    result = await originate(sw, dial, timeout, cid_name=cid_name, cid_num=cid_num)
    if isinstance(result, str):
        return f"-ERR {result}\n"
    app = split_app(target)
    if app is not None:
        sw.set_state(result, "CS_EXECUTE")
        sw.start(result, [app])
    else:
        result.profile.destination_number = target
        result.profile.dialplan = dialplan
        result.profile.context = context
        sw.start(result, None)
    return f"+OK {result.uuid}\n"


def _split_originate(arg: str) -> list[str]:
    """Split on spaces outside ``{}``/``()``/quotes (the dial string may hold spaces in vars)."""
    out, cur, depth, quote = [], "", 0, False
    for ch in arg:
        if ch == "'":
            quote = not quote
        elif ch in "{([" and not quote:
            depth += 1
        elif ch in "})]" and not quote:
            depth -= 1
        if ch == " " and depth == 0 and not quote:
            if cur:
                out.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        out.append(cur)
    return out


def _channel(sw: Switch, uuid: str) -> Channel | None:
    return sw.get(uuid.strip())


async def uuid_answer(sw: Switch, arg: str) -> str:
    ch = _channel(sw, arg)
    if ch is None:
        return "-ERROR\n"
    sw.answer(ch)
    return "+OK\n"


async def uuid_kill(sw: Switch, arg: str) -> str:
    parts = arg.split()
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None:
        return "-ERR No such channel!\n"
    sw.hangup(ch, parts[1] if len(parts) > 1 else "NORMAL_CLEARING")
    return "+OK\n"


async def uuid_bridge(sw: Switch, arg: str) -> str:
    parts = arg.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <other_uuid>\n"
    a, b = _channel(sw, parts[0]), _channel(sw, parts[1])
    if a is None or b is None or a is b:
        return "-ERR Invalid uuid\n"
    await sw.bridge(a, b)
    return f"+OK {b.uuid}\n"


async def uuid_transfer(sw: Switch, arg: str) -> str:
    """``uuid_transfer <uuid> [-bleg|-both] <dest> [<dialplan>] [<context>]``."""
    parts = arg.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    ch = _channel(sw, parts[0])
    if ch is None:
        return "-ERR No such channel!\n"
    legs = [ch]
    rest = parts[1:]
    if rest[0] in ("-bleg", "-both"):
        other = sw.get(ch.bridged_to)
        legs = ([ch] if rest[0] == "-both" else []) + ([other] if other is not None else [])
        rest = rest[1:]
    if not rest:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    dest = rest[0]
    dialplan = rest[1] if len(rest) > 1 else "XML"
    context = rest[2] if len(rest) > 2 else ""
    for leg in legs:
        if dialplan != "inline" and not context:
            context = leg.profile.context
        sw.transfer(leg, dest, dialplan, context)
    return "+OK\n"


async def uuid_setvar(sw: Switch, arg: str) -> str:
    parts = arg.split(" ", 2)
    if len(parts) < 2:
        return "-USAGE: <uuid> <var> [value]\n"
    ch = _channel(sw, parts[0])
    if ch is None:
        return "-ERR No such channel!\n"
    if len(parts) > 2 and parts[2]:
        ch.variables[parts[1]] = parts[2]
    else:
        ch.variables.pop(parts[1], None)
    return "+OK\n"


async def uuid_getvar(sw: Switch, arg: str) -> str:
    parts = arg.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <var>\n"
    ch = _channel(sw, parts[0])
    if ch is None:
        return "-ERR No such channel!\n"
    return ch.variables.get(parts[1], "_undef_")


async def uuid_exists(sw: Switch, arg: str) -> str:
    return "true" if _channel(sw, arg) is not None else "false"


async def uuid_send_dtmf(sw: Switch, arg: str) -> str:
    parts = arg.split()
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None or len(parts) < 2:
        return "-ERR Cannot locate session!\n"
    digits.send_dtmf(sw, ch, parts[1])
    return f"+OK {ch.uuid} sent DTMF {parts[1]}.\n"


async def uuid_recv_dtmf(sw: Switch, arg: str) -> str:
    parts = arg.split()
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None or len(parts) < 2:
        return "-ERR Cannot locate session!\n"
    digits.receive_dtmf(sw, ch, parts[1].split("@")[0])
    return f"+OK {ch.uuid} received DTMF {parts[1]}.\n"


async def uuid_break(sw: Switch, arg: str) -> str:
    parts = arg.split()
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None:
        return "-ERR No such channel!\n"
    if len(parts) > 1 and parts[1] == "all":
        while not ch.messages.empty():
            ch.messages.get_nowait()
    ch.interrupt("break")
    return "+OK\n"


async def uuid_broadcast(sw: Switch, arg: str) -> str:
    """``uuid_broadcast <uuid> <path>|<app>::<args> [aleg|bleg|both]``."""
    parts = arg.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    ch = _channel(sw, parts[0])
    if ch is None:
        return "-ERR invalid uuid\n"
    which = parts[2] if len(parts) > 2 else "aleg"
    targets = []
    if which in ("aleg", "both", "holdb"):
        targets.append(ch)
    other = sw.get(ch.bridged_to)
    if which in ("bleg", "both") and other is not None:
        targets.append(other)
    app, sep, app_arg = parts[1].partition("::")
    if not sep:
        app, app_arg = "playback", parts[1]
    for leg in targets:
        sw.queue(leg, Message(app, app_arg, new_uuid()))
    return "+OK Message sent\n"


async def uuid_hold(sw: Switch, arg: str) -> str:
    parts = arg.split()
    mode = "on"
    if parts and parts[0] in ("off", "toggle"):
        mode, parts = parts[0], parts[1:]
    ch = _channel(sw, parts[0]) if parts else None
    if ch is None:
        return "-ERR Operation failed\n"
    hold = not ch.held if mode == "toggle" else mode == "on"
    if hold == ch.held:
        return "+OK Success\n" if hold else "-ERR Operation failed\n"
    ch.held = hold
    sw.set_callstate(ch, "HELD" if hold else "ACTIVE")
    sw.emit(
        ch,
        "CHANNEL_HOLD" if hold else "CHANNEL_UNHOLD",
        calling=("switch_ivr.c", "switch_ivr_hold" if hold else "switch_ivr_unhold", 1534),
    )
    return "+OK Success\n"


async def uuid_record(sw: Switch, arg: str) -> str:
    """``uuid_record <uuid> start|stop <path> [<limit>]`` (a media bug on both directions)."""
    from orchestrator.testing.freeswitch.recording import session_record

    return await session_record(sw, arg)


async def uuid_park(sw: Switch, arg: str) -> str:
    ch = _channel(sw, arg)
    if ch is None:
        return "-ERR No such channel!\n"
    sw.transfer(ch, "park", "inline")
    return "+OK\n"


async def uuid_setvar_multi(sw: Switch, arg: str) -> str:
    """``uuid_setvar_multi <uuid> <a>=<1>;<b>=<2>``."""
    uuid, _, pairs = arg.partition(" ")
    ch = _channel(sw, uuid)
    if ch is None:
        return "-ERR No such channel!\n"
    for pair in pairs.split(";"):
        name, _, value = pair.partition("=")
        if name and value:
            ch.variables[name] = value
        elif name:
            ch.variables.pop(name, None)
    return "+OK\n"


COMMANDS: dict[str, Command] = {
    "status": status, "version": version, "originate": originate_cmd,
    "uuid_answer": uuid_answer, "uuid_kill": uuid_kill, "uuid_bridge": uuid_bridge,
    "uuid_transfer": uuid_transfer, "uuid_park": uuid_park, "uuid_setvar": uuid_setvar,
    "uuid_setvar_multi": uuid_setvar_multi, "uuid_getvar": uuid_getvar,
    "uuid_exists": uuid_exists, "uuid_send_dtmf": uuid_send_dtmf,
    "uuid_recv_dtmf": uuid_recv_dtmf, "uuid_break": uuid_break, "uuid_broadcast": uuid_broadcast,
    "uuid_hold": uuid_hold, "uuid_record": uuid_record, "uuid_dump": uuid_dump,
    "show": show_or_registrations, "sofia_contact": sofia_contact, "hupall": hupall,
    "reloadxml": reloadxml, "reload": reload_module, "xml_flush_cache": xml_flush_cache,
    "sofia": sofia, "hash": hash_api, "eval": eval_cmd, "global_getvar": global_getvar,
    "conference": conference_api, "log": log_cmd,
}  # fmt: skip
