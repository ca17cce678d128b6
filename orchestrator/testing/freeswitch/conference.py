"""A small mod_conference: members join with the ``conference`` app and leave when
transferred, hung up or kicked; conference::maintenance events and the api
subcommands list, json_list, count, mute, unmute, deaf, undeaf, hold, unhold, kick,
hup, lock, unlock, play, stop, record, norecord and relate (replies as mod_conference
writes). A member talks (``start-talking``, the floor, ``stop-talking``) while what it
hears from the far end plays: media played on its loopback peer (a test makes a member
talk with ``uuid_broadcast <peer> tone_stream://... aleg``, as on a real FreeSWITCH)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from orchestrator.testing.freeswitch.apps import write_wav
from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid, now_us
from orchestrator.testing.freeswitch.media import media_ms
from orchestrator.testing.freeswitch.switch import Interrupted, Switch

__all__ = ["Conference", "conference_command", "join", "speaking"]

SUBCLASS = "conference::maintenance"


@dataclass
class Member:
    id: int
    channel: Channel
    speak: bool = True
    hear: bool = True
    moderator: bool = False
    hold: bool = False
    talking: bool = False
    talk_started: int = 0  # when it started talking (us)
    nospeak: set[int] = field(default_factory=set)  # relate ... nospeak: not heard by these


@dataclass
class Conference:
    name: str
    profile: str
    uuid: str = field(default_factory=new_uuid)
    members: dict[int, Member] = field(default_factory=dict)
    locked: bool = False
    recordings: dict[str, int] = field(default_factory=dict)  # path -> start (us)
    plays: set[asyncio.Task[None]] = field(default_factory=set)
    floor: int = 0  # the floor holder's Member-ID (0: none)

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Conference-Name", self.name),
            ("Conference-Domain", "127.0.0.1"),
            ("Conference-Size", str(len(self.members))),
            ("Conference-Ghosts", "0"),
            ("Conference-Profile-Name", self.profile),
            ("Conference-Unique-ID", self.uuid),
        ]


def _conferences(sw: Switch) -> dict[str, Conference]:
    return sw.conferences


def _event(
    sw: Switch,
    conf: Conference,
    action: str,
    member: Member | None = None,
    extra: list[tuple[str, str]] | None = None,
    before: list[tuple[str, str]] | None = None,
) -> None:
    headers = conf.headers() + (before or [])
    if member is not None:
        _member_headers(conf, member, headers)
    headers.append(("Action", action))
    headers += extra or []
    sw.fire(
        FsEvent(
            "CUSTOM",
            headers,
            subclass=SUBCLASS,
            calling=("mod_conference.c", "conference_event_send", 0),
        )
    )


async def join(sw: Switch, ch: Channel, arg: str) -> None:
    """The ``conference <name>[@<profile>][+flags{mute|deaf|moderator}]`` app."""
    spec, _, flags_part = arg.partition("+flags{")
    flags = set(flags_part.rstrip("}").split("|")) if flags_part else set()
    name, _, profile = spec.strip().partition("@")
    confs = _conferences(sw)
    conf = confs.get(name)
    if conf is None:
        conf = confs[name] = Conference(name, profile or "default")
        _event(sw, conf, "conference-create")
    member = Member(
        next(sw.member_ids),
        ch,
        speak="mute" not in flags,
        hear="deaf" not in flags,
        moderator="moderator" in flags,
    )
    conf.members[member.id] = member
    ch.variables["conference_member_id"] = str(member.id)
    ch.variables["conference_name"] = name
    _event(sw, conf, "add-member", member)
    if not conf.floor:  # the first member takes the floor (until another one talks)
        _floor(sw, conf, member)
    peer = sw.get(ch.loopback_peer)
    if peer is not None and peer.speaking:  # its far end speaks already
        _talk(sw, conf, member, True)
    # mod_conference's default caller controls (conference_controls=none turns them off)
    controls = ch.variables.get("conference_controls", "default") != "none"
    try:
        while True:
            kind = await sw.wait(ch, None, wake=frozenset({"kick", "dtmf"}))
            if kind == "kick":
                break
            digit = ch.dtmf.get_nowait() if not ch.dtmf.empty() else ""
            if controls and digit == "#":
                break  # hangup-hotkey: leave the conference
            if controls and digit == "0" and member.id in conf.members:
                member.speak = not member.speak
                _event(sw, conf, "unmute-member" if member.speak else "mute-member", member)
    except Interrupted:
        _leave(sw, conf, member)
        raise
    _leave(sw, conf, member)


def _member_headers(conf: Conference, member: Member, out: list[tuple[str, str]]) -> None:
    """A member's part of an event: Floor, its channel's data (no variables), its flags."""
    out += [("Floor", str(conf.floor == member.id).lower()), *member.channel.data(variables=False)]
    out += [
        ("Video", "false"), ("Hear", str(member.hear).lower()), ("See", "true"),
        ("Speak", str(member.speak).lower()), ("Talking", str(member.talking).lower()),
        ("Mute-Detect", "false"), ("Hold", str(member.hold).lower()),
        ("Member-ID", str(member.id)), ("Member-Type", "member"), ("Member-Ghost", "false"),
        ("Energy-Level", "100"), ("Current-Energy", str(TALK_ENERGY if member.talking else 0)),
    ]  # fmt: skip


def _floor(sw: Switch, conf: Conference, member: Member | None) -> None:
    """floor-change: Old-ID, then the new holder's member data and New-ID (or none)."""
    old = str(conf.floor) if conf.floor else "none"
    conf.floor = member.id if member is not None else 0
    if member is None:
        _event(sw, conf, "floor-change", extra=[("Old-ID", old), ("New-ID", "none")])
        return
    headers = [*conf.headers(), ("Action", "floor-change"), ("Old-ID", old), *conf.headers()]
    _member_headers(conf, member, headers)
    headers.append(("New-ID", str(member.id)))
    calling = ("conference_member.c", "conference_member_set_floor_holder", 1158)
    sw.fire(FsEvent("CUSTOM", headers, subclass=SUBCLASS, calling=calling))


TALK_ENERGY = 6308  # a member's Current-Energy while it talks (a tone, as captured)


def speaking(sw: Switch, ch: Channel, on: bool) -> None:
    """``ch`` starts or stops playing media: its loopback peer, a member, talks meanwhile."""
    ch.speaking = on
    peer = sw.get(ch.loopback_peer)
    if peer is None:
        return
    for conf in list(_conferences(sw).values()):
        for member in list(conf.members.values()):
            if member.channel is peer:
                _talk(sw, conf, member, on)


def _talk(sw: Switch, conf: Conference, member: Member, on: bool) -> None:
    """start-talking (and the floor to it), or stop-talking with its statistics, as
    mod_conference's input loop sends them."""
    if member.talking == on:
        return
    member.talking = on
    if on:
        member.talk_started = now_us()
        calling = ("conference_loop.c", "conference_loop_input", 1154)
        headers = conf.headers()
        _member_headers(conf, member, headers)
        headers.append(("Action", "start-talking"))
        sw.fire(FsEvent("CUSTOM", headers, subclass=SUBCLASS, calling=calling))
        if conf.floor != member.id:
            _floor(sw, conf, member)
        return
    ms = (now_us() - member.talk_started) // 1000
    packets = max(ms // 20, 1)
    stats = [
        ("talking-gate-hits", str(packets)), ("talking-total-packets", str(packets)),
        ("talking-duration-ms", str(ms)), ("talking-average-energy", f"{TALK_ENERGY - 1:.6f}"),
        ("talking-delta-average", f"{1 / packets:.6f}"), ("talking-hit-on-percent", "100.000000"),
        ("talking-non-hit-ratio", f"{100 / packets:.6f}"),
        ("talking-hit-off-percent", f"{100 / packets:.6f}"),
        ("talking-hit-off-differential", f"{100 - 100 / packets:.6f}"),
    ]  # fmt: skip
    headers = conf.headers()
    _member_headers(conf, member, headers)
    headers += [*stats, ("Action", "stop-talking")]
    calling = ("conference_loop.c", "stop_talking_handler", 783)
    sw.fire(FsEvent("CUSTOM", headers, subclass=SUBCLASS, calling=calling))


def _leave(sw: Switch, conf: Conference, member: Member) -> None:
    if conf.members.pop(member.id, None) is None:
        return
    if conf.floor == member.id:
        _floor(sw, conf, None)
    _event(sw, conf, "del-member", member)  # a hung-up member's Hangup-Cause is in its data
    if not conf.members:
        for task in list(conf.plays):
            task.cancel()
        for path in list(conf.recordings):
            _stop_recording(sw, conf, path)
        _event(sw, conf, "conference-destroy")
        _conferences(sw).pop(conf.name, None)


def _stop_recording(sw: Switch, conf: Conference, path: str) -> None:
    started = conf.recordings.pop(path)
    ms = (now_us() - started) // 1000
    write_wav(path, ms)
    extra = [("Path", path), ("Other-Recordings", "true" if conf.recordings else "false"),
             ("Samples-Out", str(ms * 8)), ("Milliseconds-Elapsed", str(ms))]  # fmt: skip
    _event(sw, conf, "stop-recording", extra=extra)


async def _play(sw: Switch, conf: Conference, path: str) -> None:
    ms = media_ms(sw, path)
    try:
        await sw.sleep((ms if ms is not None else 3_600_000) / 1000)
    except asyncio.CancelledError:
        ms = 0
        raise
    finally:
        played = ms or 0
        if conf.name in _conferences(sw):
            _event(sw, conf, "play-file-done", extra=[("File", path)], before=[
                ("seconds", str(played // 1000)), ("milliseconds", str(played)),
                ("samples", str(played * 8))])  # fmt: skip


def conference_command(sw: Switch, arg: str) -> str:
    parts = arg.split()
    if not parts:
        return "-USAGE: conference <name> <command> [args]\n"
    confs = _conferences(sw)
    if parts[0] == "list" and len(parts) == 1:
        return "".join(_list(c) for c in confs.values())
    if parts[0] == "json_list" and len(parts) == 1:
        return _json_list(list(confs.values()))
    conf = confs.get(parts[0])
    if conf is None:
        return f"-ERR Conference {parts[0]} not found\n"
    cmd = parts[1] if len(parts) > 1 else ""
    if cmd == "list":
        return _list(conf)
    if cmd == "count":
        return str(len(conf.members))
    if cmd == "json_list":
        return _json_list([conf])
    if cmd in ("lock", "unlock"):
        conf.locked = cmd == "lock"
        _event(sw, conf, cmd)
        return f"+OK {conf.name} {cmd}ed\n"
    if cmd == "play":
        if len(parts) < 3:
            return "-ERR (play) File: (unspecified) not found.\n"
        _event(sw, conf, "play-file", extra=[("File", parts[2]), ("Async", "false")])
        task = asyncio.get_running_loop().create_task(_play(sw, conf, parts[2]))
        conf.plays.add(task)
        task.add_done_callback(conf.plays.discard)
        return f"+OK (play) Playing file {parts[2]}\n"
    if cmd == "stop":
        count = len(conf.plays)
        for task in list(conf.plays):
            task.cancel()
        return f"+OK Stopped {count} files\n"
    if cmd == "record":
        if len(parts) < 3:
            return "-ERR missing args\n"
        if parts[2] in conf.recordings:
            return f"-ERR file [{parts[2]}] is already being used for recording.\n"
        conf.recordings[parts[2]] = now_us()
        _event(sw, conf, "start-recording", extra=[("Path", parts[2])])
        return f"+OK Record file {parts[2]}\n"
    if cmd == "norecord":
        if len(parts) < 3:
            return "-ERR missing args\n"
        paths = list(conf.recordings) if parts[2] == "all" else [parts[2]]
        if not all(p in conf.recordings for p in paths) or (parts[2] != "all" and not paths):
            return f"-ERR non-existant recording '{parts[2]}'\n"
        for path in paths:
            _stop_recording(sw, conf, path)
        return f"+OK Stopped recording {len(paths)} file{'' if len(paths) == 1 else 's'}\n"
    if cmd == "relate":
        return _relate(conf, parts[2:])
    if cmd in ("hold", "unhold"):
        member = conf.members.get(int(parts[2])) if len(parts) > 2 and parts[2].isdigit() else None
        if member is None:
            return f"-ERR Member: {parts[2] if len(parts) > 2 else ''} not found.\n"
        member.hold = cmd == "hold"
        _event(sw, conf, f"{cmd}-member", member)
        return f"+OK {cmd} {member.id}\n"
    if cmd in ("mute", "unmute", "deaf", "undeaf", "kick", "hup"):
        if len(parts) < 3:
            return f"-USAGE: {cmd} <[member_id|all|last|non_moderator]> [<optional sound file>]\n"
        member = conf.members.get(int(parts[2])) if parts[2].isdigit() else None
        if member is None:
            return f"-ERR Non-Existant ID {parts[2]}\n"
        if cmd in ("mute", "unmute"):
            member.speak = cmd == "unmute"
            _event(sw, conf, f"{cmd}-member", member)
        elif cmd in ("deaf", "undeaf"):
            member.hear = cmd == "undeaf"
            _event(sw, conf, f"{cmd}-member", member)
        elif cmd == "kick":
            _event(sw, conf, "kick-member", member)
            member.channel.interrupt("kick")
            return f"+OK kicked {member.id}\n"
        else:
            _event(sw, conf, "hup-member", member)
            sw.hangup(member.channel, "NORMAL_CLEARING")
            return f"+OK hup {member.id}\n"
        return f"+OK {cmd} {member.id}\n"
    return f"-ERR Command {cmd} not found\n"


def _relate(conf: Conference, args: list[str]) -> str:
    """``relate <id> <other> nospeak|clear`` (no event), or the relationships listed."""
    if len(args) <= 1:
        wanted = int(args[0]) if args and args[0].isdigit() else 0
        lines = [
            f"{m.id} -> {other} NOSPEAK HEAR NOSENDVIDEO \n"
            for m in conf.members.values()
            if not wanted or m.id == wanted
            for other in sorted(m.nospeak)
        ]
        return (
            "".join(lines)
            if any(m.nospeak for m in conf.members.values())
            else ("No relationships\n")
        )
    usage = (
        "-USAGE: relate <member_id>[,<member_id>] <other_member_id>[,<other_member_id>] "
        "[nospeak|nohear|clear]\n"
    )
    if len(args) < 3 or not (args[2] == "clear" or "nospeak" in args[2]):
        return usage  # (nohear and sendvideo: not simulated)
    mid = int(args[0]) if args[0].isdigit() else 0
    oid = int(args[1]) if args[1].isdigit() else 0
    member = conf.members.get(mid)
    if args[2] == "clear":
        if member is None:
            return f"relationship {mid}->{oid} not found.\n"
        member.nospeak.discard(oid)
        return f"relationship {mid}->{oid} cleared.\n"
    if member is None or oid not in conf.members:
        return f"relationship {mid}->{oid} not found.\n"
    member.nospeak.add(oid)
    return f"ok {mid}->{oid} {args[2]} set\n"


def _list(conf: Conference) -> str:
    lines = []
    for m in conf.members.values():
        flags = "|".join(
            f for f, on in (("hear", m.hear), ("speak", m.speak), ("moderator", m.moderator)) if on
        )
        ch = m.channel
        lines.append(
            f"{m.id};{ch.name};{ch.uuid};{ch.profile.caller_id_name};{ch.profile.caller_id_number};{flags};0;0;100;0\n"
        )
    return "".join(lines)


def _json_list(confs: list[Conference]) -> str:
    """``json_list``: mod_conference's cJSON document (members newest first)."""
    out = []
    for conf in confs:
        members = [
            {
                "type": "caller",
                "id": m.id,
                "flags": {
                    "can_hear": m.hear,
                    "can_see": True,
                    "can_speak": m.speak,
                    "hold": m.hold,
                    "mute_detect": False,
                    "talking": False,
                    "has_video": False,
                    "video_bridge": False,
                    "has_floor": conf.floor == m.id,
                    "is_moderator": m.moderator,
                    "end_conference": False,
                    "mandatory_member_end_conference": False,
                    "pass_digits": False,
                },
                "uuid": m.channel.uuid,
                "caller_id_name": m.channel.profile.caller_id_name,
                "caller_id_number": m.channel.profile.caller_id_number,
                "join_time": 0,
                "last_talking": 0,
                "energy": 100,
            }
            for m in reversed(conf.members.values())
        ]
        out.append({
            "conference_name": conf.name, "member_count": len(members), "ghost_count": 0,
            "rate": 8000, "run_time": 0, "conference_uuid": conf.uuid, "locked": conf.locked,
            "running": True, "answered": True, "dynamic": True,
            "recording": bool(conf.recordings), "variables": {}, "members": members,
        })  # fmt: skip
    return json.dumps(out, indent="\t", separators=(",", ":\t"))
