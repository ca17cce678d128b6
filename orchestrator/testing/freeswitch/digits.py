"""DTMF on the fake switch: digits sent and received across loopback pairs and
bridges, and the apps that collect them (``play_and_get_digits``, ``read``)."""

from __future__ import annotations

import re

from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.media import play
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["app_play_and_get_digits", "app_read", "receive_dtmf", "send_dtmf"]


# -- DTMF -------------------------------------------------------------------------
def receive_dtmf(sw: Switch, ch: Channel, digits: str) -> None:
    """Digits arriving *on* ``ch``: DTMF events there, passed on through a bridge."""
    for digit in digits:
        if not ch.up:
            return
        sw.emit(
            ch,
            "DTMF",
            variables=False,
            after=[("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "UNKNOWN")],
            calling=("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
        )
        ch.dtmf.put_nowait(digit)
        ch.interrupt("dtmf")
        partner = sw.get(ch.bridged_to)
        if partner is not None:
            send_dtmf(sw, partner, digit)


def send_dtmf(sw: Switch, ch: Channel, digits: str) -> None:
    """Digits sent *out of* ``ch``: a loopback leg's peer receives them."""
    digits = "".join(d for d in digits.split("@")[0] if d in "0123456789*#ABCDabcd")
    peer = sw.get(ch.loopback_peer)
    if peer is not None:
        receive_dtmf(sw, peer, digits.upper())
    else:
        sw.dtmf_sent.setdefault(ch.uuid, []).append(digits)


async def collect(
    sw: Switch,
    ch: Channel,
    *,
    min_digits: int,
    max_digits: int,
    timeout_ms: int,
    terminators: str,
    prompt: str,
    digit_timeout_ms: int,
) -> tuple[str, str]:
    """Play ``prompt`` (broken by a digit), then collect digits: (digits, terminator)."""
    while not ch.dtmf.empty():
        ch.dtmf.get_nowait()
    if prompt:
        await play(sw, ch, prompt, stop_on_dtmf=True)
    digits, used = "", ""
    first = True
    while len(digits) < max_digits:
        if ch.dtmf.empty():
            wait_ms = timeout_ms if first else digit_timeout_ms
            kind = await sw.wait(ch, wait_ms / 1000, wake=frozenset({"dtmf", "break"}))
            if kind in ("timeout", "break"):
                break
            continue
        digit = ch.dtmf.get_nowait()
        first = False
        if digit in terminators:
            used = digit
            break
        digits += digit
    return digits, used


async def app_play_and_get_digits(sw: Switch, ch: Channel, arg: str) -> str:
    a = arg.split()
    min_d, max_d, tries, timeout, terms, prompt = (
        int(a[0]),
        int(a[1]),
        int(a[2]),
        int(a[3]),
        a[4],
        a[5],
    )
    var = a[7] if len(a) > 7 else "pagd_result"
    regex = a[8] if len(a) > 8 else ""
    digit_timeout = int(a[9]) if len(a) > 9 else timeout
    for _ in range(max(1, tries)):
        digits, used = await collect(
            sw,
            ch,
            min_digits=min_d,
            max_digits=max_d,
            timeout_ms=timeout,
            terminators=terms,
            prompt=prompt,
            digit_timeout_ms=digit_timeout,
        )
        if used:
            ch.variables["read_terminator_used"] = used
        if len(digits) >= min_d and (not regex or re.fullmatch(regex, digits)):
            ch.variables["read_result"] = "success"
            ch.variables[var] = digits
            return "_none_"
        if len(a) > 6 and a[6] and tries > 1:
            await play(sw, ch, a[6], stop_on_dtmf=True)
    ch.variables["read_result"] = "failure"
    ch.variables.pop(var, None)
    return "_none_"


async def app_read(sw: Switch, ch: Channel, arg: str) -> str:
    a = arg.split()
    min_d, max_d, prompt, var = int(a[0]), int(a[1]), a[2], a[3]
    timeout = int(a[4]) if len(a) > 4 else 5000
    terms = a[5] if len(a) > 5 else "#"
    digit_timeout = int(a[6]) if len(a) > 6 else timeout
    digits, used = await collect(
        sw,
        ch,
        min_digits=min_d,
        max_digits=max_d,
        timeout_ms=timeout,
        terminators=terms,
        prompt=prompt,
        digit_timeout_ms=digit_timeout,
    )
    ch.variables[var] = digits
    ch.variables["read_result"] = "success" if len(digits) >= min_d else "failure"
    if used:
        ch.variables["read_terminator_used"] = used
    return "_none_"
