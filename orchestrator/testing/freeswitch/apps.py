"""Dialplan applications of the fake FreeSWITCH (mod_dptools' behaviour, simulated).

Media is simulated: a playback lasts as long as its tone_stream / silence_stream
says (a file: ``Switch.file_ms``), DTMF arrives as events, a recording is a short
silent WAV file written where FreeSWITCH would write it.
"""

from __future__ import annotations

import wave
from pathlib import Path

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.digits import (
    app_play_and_get_digits,
    app_read,
    send_dtmf,
)
from orchestrator.testing.freeswitch.events import now_us
from orchestrator.testing.freeswitch.media import play
from orchestrator.testing.freeswitch.switch import App, Interrupted, Switch

__all__ = ["APPS", "write_wav"]

_PLAY = ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020)


async def app_playback(sw: Switch, ch: Channel, arg: str) -> str:
    if arg in sw.missing_files:
        ch.variables["current_application_response"] = "FILE NOT FOUND"
        return "FILE NOT FOUND"
    await play(sw, ch, arg, stop_on_dtmf=bool(ch.variables.get("playback_terminators")))
    ch.variables["current_application_response"] = "FILE PLAYED"
    return "FILE PLAYED"


async def app_say(sw: Switch, ch: Channel, arg: str) -> str:
    """mod_say: ``<lang> <type> <method> <text>``, played as one file per character."""
    text = arg.split(" ", 3)[-1] if arg.count(" ") >= 3 else arg
    for char in text:
        if char.isalnum():
            await play(sw, ch, f"digits/{char}.wav")
    return "_none_"


async def app_answer(sw: Switch, ch: Channel, arg: str) -> str:
    sw.answer(ch)
    return "_none_"


async def app_pre_answer(sw: Switch, ch: Channel, arg: str) -> str:
    sw.pre_answer(ch)
    return "_none_"


async def app_ring_ready(sw: Switch, ch: Channel, arg: str) -> str:
    sw.pre_answer(ch, ring=True)
    return "_none_"


async def app_park(sw: Switch, ch: Channel, arg: str) -> str:
    """Parked: run sendmsg apps as they come, until a bridge, transfer or hangup."""
    ch.state = "CS_EXECUTE"
    ch.forget_other_leg()
    sw.emit(ch, "CHANNEL_PARK", calling=("switch_ivr.c", "switch_ivr_park", 983))
    try:
        while True:
            await sw.run_messages(ch, parked=True)
            await sw.wait(ch, None, wake=frozenset({"message"}))
    finally:
        sw.emit(ch, "CHANNEL_UNPARK", calling=("switch_ivr.c", "switch_ivr_park", 1204))


async def app_sleep(sw: Switch, ch: Channel, arg: str) -> str:
    await sw.wait(ch, int(arg or "0") / 1000, wake=frozenset())
    return "_none_"


async def app_hangup(sw: Switch, ch: Channel, arg: str) -> str:
    sw.hangup(ch, arg.strip() or "NORMAL_CLEARING")
    raise Interrupted("hangup")


async def app_respond(sw: Switch, ch: Channel, arg: str) -> str:
    code = arg.split()[0] if arg.split() else ""
    if code in ("180", "183"):
        sw.pre_answer(ch, ring=code == "180")
    elif code == "200":
        sw.answer(ch)
    elif code:
        causes = {
            "404": "UNALLOCATED_NUMBER",
            "486": "USER_BUSY",
            "480": "NO_USER_RESPONSE",
            "403": "CALL_REJECTED",
            "503": "NORMAL_TEMPORARY_FAILURE",
        }
        sw.hangup(ch, causes.get(code, "CALL_REJECTED"))
        raise Interrupted("hangup")
    return "_none_"


async def app_set(sw: Switch, ch: Channel, arg: str) -> str:
    name, _, value = arg.partition("=")
    if value:
        ch.variables[name] = value
    else:
        ch.variables.pop(name, None)
    return "_none_"


async def app_export(sw: Switch, ch: Channel, arg: str) -> str:
    name, _, value = arg.partition("=")
    name = name.removeprefix("nolocal:")
    ch.variables[name] = value
    peer = sw.get(ch.bridged_to) or sw.get(ch.loopback_peer)
    if peer is not None:
        peer.variables[name] = value
    return "_none_"


async def app_unset(sw: Switch, ch: Channel, arg: str) -> str:
    ch.variables.pop(arg.strip(), None)
    return "_none_"


async def app_multiset(sw: Switch, ch: Channel, arg: str) -> str:
    for item in arg.split():
        await app_set(sw, ch, item)
    return "_none_"


async def app_send_dtmf(sw: Switch, ch: Channel, arg: str) -> str:
    send_dtmf(sw, ch, arg)
    return "_none_"


async def app_log(sw: Switch, ch: Channel, arg: str) -> str:
    return "_none_"


async def app_transfer(sw: Switch, ch: Channel, arg: str) -> str:
    parts = arg.split()
    dest = parts[0] if parts else ""
    sw.transfer(ch, dest, parts[1] if len(parts) > 1 else "XML", parts[2] if len(parts) > 2 else "")
    raise Interrupted(ch.interrupts.pop() if ch.interrupts else "transfer")


async def app_hash(sw: Switch, ch: Channel, arg: str) -> str:
    from orchestrator.testing.freeswitch.system import hash_command

    hash_command(sw, arg)
    return "_none_"


# -- recording ----------------------------------------------------------------------
def write_wav(path: str, ms: int) -> None:
    """A silent 8 kHz 16-bit mono WAV of ``ms`` (what a recording of silence holds)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * (8 * max(ms, 0)))


async def app_record(sw: Switch, ch: Channel, arg: str) -> str:
    """``record <path> [<limit s>] [<silence thresh>] [<silence hits s>]``."""
    a = arg.split()
    path = a[0]
    limit = int(a[1]) if len(a) > 1 and a[1].isdigit() else 0
    silence = int(a[3]) if len(a) > 3 and a[3].isdigit() else 0
    if sw.callers_silent and silence and (not limit or silence < limit):
        limit = silence  # nobody speaks: the silence limit ends it
    terms = ch.variables.get("playback_terminators", "*#")
    sw.emit(
        ch,
        "RECORD_START",
        after=[("Record-File-Path", path)],
        calling=("switch_ivr_play_say.c", "switch_ivr_record_file_event", 399),
    )
    started = now_us()
    cause = "success-maxtime"
    try:
        deadline: float | None = limit if limit > 0 else None
        while True:
            kind = await sw.wait(ch, deadline, wake=frozenset({"break", "dtmf"}))
            if kind == "timeout":
                break
            if kind == "break":
                cause = "success-break"
                break
            digit = ch.dtmf.get_nowait() if not ch.dtmf.empty() else ""
            if digit and (terms == "any" or digit in terms):
                ch.variables["playback_terminator_used"] = digit
                cause = "success-dtmf"
                break
            if deadline is not None:
                deadline = max(0.0, limit - (now_us() - started) / 1e6)
    finally:
        ms = (now_us() - started) // 1000
        write_wav(path, ms)
        ch.variables.update(
            {
                "record_ms": str(ms),
                "record_seconds": str(ms // 1000),
                "record_samples": str(ms * 8),
                "record_completion_cause": cause,
            }
        )
        if ch.up:
            sw.emit(
                ch,
                "RECORD_STOP",
                after=[("Record-File-Path", path), ("Record-Completion-Cause", cause)],
                calling=("switch_ivr_play_say.c", "switch_ivr_record_file_event", 399),
            )
    return "_none_"


async def app_eavesdrop(sw: Switch, ch: Channel, arg: str) -> str:
    """Listen to ``arg``'s channel until it or this one ends (no audio is simulated)."""
    target = sw.get(arg.strip())
    if target is None:
        return "_none_"
    ch.variables["eavesdrop_target"] = target.uuid
    try:
        while target.up:
            await sw.wait(ch, 0.05, wake=frozenset({"break"}))
            if not ch.dtmf.empty():
                sw.eavesdrop_modes[ch.uuid] = ch.dtmf.get_nowait()
    finally:
        ch.variables.pop("eavesdrop_target", None)
    return "_none_"


async def app_bridge(sw: Switch, ch: Channel, arg: str) -> str:
    """``bridge <dial string>``: originate the other leg, then bridge to it."""
    from orchestrator.testing.freeswitch.originate import originate

    result = await originate(sw, arg, None, caller=ch)
    if isinstance(result, str):
        ch.variables["originate_disposition"] = result
        ch.variables["last_bridge_hangup_cause"] = result
        if ch.variables.get("continue_on_fail", "") not in ("true", result):
            # a failed bridge hangs the caller up with its cause unless continue_on_fail
            sw.hangup(ch, result)
            raise Interrupted("hangup")
        return "_none_"
    if result.answered and not ch.answered:
        # switch_ivr_multi_threaded_bridge answers the caller once its peer has answered
        # (after passing the callee id on), before CHANNEL_BRIDGE.
        sw.answer(ch)
    await sw.bridge(ch, result, by_app=True)
    try:
        while True:  # in the bridge until it ends; then the extension goes on
            kind = await sw.wait(ch, None, wake=frozenset({"message", "unbridge"}))
            if kind == "unbridge":
                break
            await sw.run_messages(ch)
    finally:
        if ch.bridged_to == result.uuid:  # not when uuid_bridge moved it elsewhere
            sw.unbridge(ch)
    if ch.variables.get("hangup_after_bridge") == "true":
        sw.hangup(ch, "NORMAL_CLEARING")
        raise Interrupted("hangup")
    return "_none_"


async def app_conference(sw: Switch, ch: Channel, arg: str) -> str:
    from orchestrator.testing.freeswitch.conference import join

    await join(sw, ch, arg)
    return "_none_"


APPS: dict[str, App] = {
    "answer": app_answer, "pre_answer": app_pre_answer, "ring_ready": app_ring_ready,
    "park": app_park, "playback": app_playback, "sleep": app_sleep, "hangup": app_hangup,
    "respond": app_respond, "set": app_set, "export": app_export, "unset": app_unset,
    "multiset": app_multiset, "send_dtmf": app_send_dtmf, "log": app_log, "info": app_log,
    "transfer": app_transfer, "hash": app_hash, "play_and_get_digits": app_play_and_get_digits,
    "read": app_read, "record": app_record, "eavesdrop": app_eavesdrop, "bridge": app_bridge,
    "conference": app_conference, "say": app_say,
}  # fmt: skip
