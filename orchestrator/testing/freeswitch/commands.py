"""``api`` / ``bgapi`` commands of the fake FreeSWITCH (mod_commands, mod_hash...),
with the reply bodies FreeSWITCH writes (see f_errors in the captures)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from orchestrator.testing.freeswitch import digits, registrations
from orchestrator.testing.freeswitch.channels import Channel, Message
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.listings import show, uuid_dump
from orchestrator.testing.freeswitch.originate import ORIGINATE_USAGE, originate, split_app
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["VERSION", "api", "hash_command"]

VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
_STARTED = time.time()

Command = Callable[[Switch, str], Awaitable[str]]


async def api(sw: Switch, line: str) -> str:
    """Run one api command line; its output (errors included, as FreeSWITCH writes them)."""
    name, _, arg = line.strip().partition(" ")
    func = COMMANDS.get(name)
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


async def status(sw: Switch, arg: str) -> str:
    up = int(time.time() - _STARTED)
    return (
        f"UP 0 years, 0 days, 0 hours, {up // 60} minutes, {up % 60} seconds, "
        "0 milliseconds, 0 microseconds\n"
        "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
        f"{sw.session_count} session(s) since startup\n"
        f"{len(sw.channels)} session(s) - peak {len(sw.channels)}, last 5min 0 \n"
        "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
        "1000 session(s) max\nmin idle cpu 0.00/87.93\nCurrent Stack Size/Max 240K/8192K\n"
    )


async def version(sw: Switch, arg: str) -> str:
    return VERSION


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


async def hupall(sw: Switch, arg: str) -> str:
    """``hupall [<cause>] [<var> <value>]``."""
    words = arg.split()
    cause = words[0] if words else "NORMAL_CLEARING"
    var, value = (words[1], words[2]) if len(words) > 2 else ("", "")
    for ch in list(sw.channels.values()):
        if not var or ch.variables.get(var) == value:
            sw.hangup(ch, cause)
    if var:
        return f"+OK hangup all channels matching [{var}]=[{value}] with cause: {cause}\n"
    return f"+OK hangup all channels with cause {cause}\n"


async def reloadxml(sw: Switch, arg: str) -> str:
    sw.fire(FsEvent("RELOADXML", calling=("switch_xml.c", "switch_xml_open_root", 2385)))
    return "+OK [Success]\n"


async def xml_flush_cache(sw: Switch, arg: str) -> str:
    sw.flushed.append(arg)
    return "+OK cleared 0 entries\n"  # the fake caches no directory users


async def sofia(sw: Switch, arg: str) -> str:
    if arg.split()[:2] == ["status", "profile"] and arg.split()[-1] == "reg":
        return registrations.sofia_reg(sw)
    if arg.startswith("status"):
        rule = "=" * 97 + "\n"
        return (
            f"{'Name':>25}\t{'Type':>7}\t{'Data':>42}\tState\n{rule}"
            f"{'internal':>25}\t{'profile':>7}\t{'sip:mod_sofia@127.0.0.1:5060':>42}\tRUNNING (0)\n"
            f"{rule}1 profile 0 aliases\n"
        )
    if arg.startswith("profile") and ("rescan" in arg or "restart" in arg):
        sw.flushed.append(f"sofia {arg}")
        await reloadxml(sw, "")
        return "Reload XML [Success]\n+OK scan complete\n"
    return "-ERR Usage: sofia status|profile <name> rescan\n"


def hash_command(sw: Switch, arg: str) -> str:
    """mod_hash: ``insert|select|delete/<realm>/<key>[/<value>]``."""
    parts = arg.split("/", 3)
    if len(parts) < 3:
        return "-ERR Usage: insert|select|delete/realm/key[/value]\n"
    op, realm, key = parts[0], parts[1], parts[2]
    table = sw.hash.setdefault(realm, {})
    if op == "insert":
        table[key] = parts[3] if len(parts) > 3 else ""
        return "+OK\n"
    if op == "delete":
        table.pop(key, None)
        return "+OK\n"
    if op == "select":
        return table.get(key, "")
    return "-ERR Usage: insert|select|delete/realm/key[/value]\n"


async def hash_api(sw: Switch, arg: str) -> str:
    return hash_command(sw, arg)


async def eval_cmd(sw: Switch, arg: str) -> str:
    if arg.startswith("uuid:"):
        uuid, _, text = arg[5:].partition(" ")
        return sw.expand(sw.get(uuid), text)
    return sw.expand(None, arg)


async def show_or_registrations(sw: Switch, arg: str) -> str:
    if arg.split()[:1] == ["registrations"]:
        return registrations.show_registrations(sw)
    return await show(sw, arg)


async def sofia_contact(sw: Switch, arg: str) -> str:
    return registrations.sofia_contact(sw, arg)


async def global_getvar(sw: Switch, arg: str) -> str:
    return sw.globals.get(arg, "")


async def conference_api(sw: Switch, arg: str) -> str:
    from orchestrator.testing.freeswitch.conference import conference_command

    return conference_command(sw, arg)


async def log_cmd(sw: Switch, arg: str) -> str:
    return "+OK\n"


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


async def reload_module(sw: Switch, arg: str) -> str:
    return "+OK Reloading XML\n+OK module unloaded\n+OK module loaded\n"


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
