"""System api commands of the fake FreeSWITCH: status, version, hupall, reloadxml,
xml_flush_cache, sofia, registrations, hash (mod_hash), eval, conference (dispatch)."""

from __future__ import annotations

import time

from orchestrator.testing.freeswitch import registrations
from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.listings import show
from orchestrator.testing.freeswitch.switch import Switch

__all__ = [
    "VERSION",
    "conference_api",
    "eval_cmd",
    "global_getvar",
    "hash_api",
    "hash_command",
    "hupall",
    "log_cmd",
    "reload_module",
    "reloadxml",
    "show_or_registrations",
    "sofia",
    "sofia_contact",
    "status",
    "version",
    "xml_flush_cache",
]

VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
_STARTED = time.time()


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


async def reload_module(sw: Switch, arg: str) -> str:
    return "+OK Reloading XML\n+OK module unloaded\n+OK module loaded\n"
