"""Drive real SIP phones with SIPp: register, place calls, answer calls, load.

Each function runs one ``sipp`` process under asyncio, with its trace files in a
fresh temporary directory, a global ``-timeout`` (so nothing can hang) and its
own RTP port pair. Results carry SIPp's logs when something went wrong::

    reg = await register(server="127.0.0.1:45060", username="101", password="pw",
                         domain="a.example", local_port=47101)
    assert reg.status == 200, reg.log

    async with uas(local_port=47102) as phone:          # 102 answers
        res = await call(server="127.0.0.1:45060", username="101", password="pw",
                         domain="a.example", local_port=47101, target="102")
    assert res.answered and phone.answered == 1, res.log

The scenarios are in ``scenarios/`` next to this module (package data:
``orchestrator/testing/scenarios/*.xml``). Final status codes are read from
SIPp's message trace, so any 4xx/5xx/6xx is reported. call.xml ACKs the usual
error finals and fails the call; a code it does not list is an "unexpected
message" on which SIPp fails the call without sending anything (we run it with
``-default_behaviors all,-bye``: SIPp's default would send a BYE there).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import functools
import itertools
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "SCENARIOS",
    "AnswerResult",
    "Answerer",
    "CallResult",
    "LoadResult",
    "RegisterResult",
    "SippError",
    "call",
    "dtmf_pcap",
    "load",
    "register",
    "spawn",
    "uas",
    "unregister",
    "wait_listening",
]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PCAP_DIR = Path(os.environ.get("ORCH_SIPP_PCAP_DIR", "/usr/share/sip-tester"))
LOCAL_IP = "127.0.0.1"
DTMF_MARKER = "<!-- dtmf -->"
# Each stock pcap holds one RFC 2833 event of 140 ms; digits go out this far apart.
DTMF_GAP_MS = 250
# A "," in a DTMF string waits this long before the next digit.
PAUSE, PAUSE_MS = ",", 1000
# RTP port pairs (SIPp binds port and port+2) come from here, away from the
# Asterisk RTP ranges (10000-15999) and from the ephemeral range.
MEDIA_PORTS = range(20000, 29998, 4)
_BIND_RETRIES = 4
# Exit codes of sipp(1).
EXIT_OK, EXIT_FAILED_CALLS, EXIT_INTERNAL_STOP, EXIT_NO_CALLS = 0, 1, 97, 99
_EXITS_RAN = (EXIT_OK, EXIT_FAILED_CALLS, EXIT_INTERNAL_STOP, EXIT_NO_CALLS)


class SippError(RuntimeError):
    """SIPp could not run (not installed, a port taken, a bad scenario) or hung."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(f"{message}\n{log}" if log else message)
        self.log = log


# -- results ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """``status`` is the final response to the (authenticated) REGISTER; None: no answer."""

    status: int | None
    returncode: int
    log: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class CallResult:
    """Outcome of one call placed with :func:`call`.

    ``status`` is the final response to the INVITE (None: none came), ``answered``
    whether it was 200, ``completed`` whether SIPp ran the whole scenario (BYE
    answered), ``far_end_hangup`` whether the far end sent the BYE, ``ok``
    whether ``status`` is what the caller expected. ``log`` holds SIPp's stderr,
    error log and message trace when the call did not go as expected.
    """

    status: int | None
    answered: bool
    completed: bool
    expect: int
    returncode: int
    far_end_hangup: bool = False
    log: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == self.expect and (self.status != 200 or self.completed)


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What an :class:`Answerer` did: calls answered (ACK received) and completed (BYE)."""

    answered: int
    completed: int
    returncode: int | None
    log: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Totals of a :func:`load` run; ``rate`` is calls started per second, measured."""

    attempted: int
    successful: int
    failed: int
    elapsed: float
    rate: float
    error_codes: dict[int, int]
    returncode: int
    log: str = field(default="", repr=False)


# -- command lines -----------------------------------------------------------


def _split_server(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"server must be host:port, not {server!r}")
    return host, int(port)


def build_command(
    *,
    scenario: Path,
    workdir: Path,
    local_port: int,
    media_port: int,
    timeout: float,
    server: str | None = None,
    keys: dict[str, str] | None = None,
    username: str | None = None,
    password: str | None = None,
    calls: int | None = 1,
    rate: float | None = None,
    limit: int | None = None,
    trace_messages: bool = True,
    extra: list[str] | None = None,
    sipp: str = "sipp",
) -> list[str]:
    """The ``sipp`` command line for one run; every trace file goes to ``workdir``."""
    cmd = [sipp]
    if server is not None:
        _split_server(server)
        cmd.append(server)
    cmd += [
        "-sf", str(scenario),
        "-t", "u1",
        "-i", LOCAL_IP,
        "-p", str(local_port),
        "-mp", str(media_port),
        "-ci", LOCAL_IP,
        "-nostdin",
        # Global guard: SIPp exits with an error instead of waiting forever.
        "-timeout", f"{max(1, round(timeout * 1000))}ms",
        "-timeout_error",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-trace_logs", "-log_file", str(workdir / "actions.log"),
        "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
        "-trace_screen", "-screen_file", str(workdir / "screen.log"),
        "-trace_error_codes",
        "-trace_counts",
    ]  # fmt: skip
    if trace_messages:
        cmd += ["-trace_msg", "-message_file", str(workdir / "messages.log")]
    if calls is not None:
        cmd += ["-m", str(calls)]
    if rate is not None:
        cmd += ["-r", _fmt_number(rate), "-rp", "1000"]
    if limit is not None:
        cmd += ["-l", str(limit)]
    if username is not None:
        cmd += ["-au", username]
    if password is not None:
        cmd += ["-ap", password]
    for key, value in (keys or {}).items():
        cmd += ["-key", key, value]
    return cmd + (extra or [])


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- DTMF --------------------------------------------------------------------

_DTMF_FILES = {**{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"}, "*": "dtmf_2833_star.pcap"}
_DTMF_FILES["#"] = "dtmf_2833_pound.pcap"
_RTP_OFFSET = 14 + 20 + 8  # Ethernet, IPv4, UDP headers in the stock captures


def dtmf_pcap(
    digits: str,
    target: Path,
    *,
    gap_ms: int = DTMF_GAP_MS,
    audio_s: float = 0.0,
    silence_s: float = 0.0,
) -> float:
    """Write one pcap playing ``digits`` as RFC 2833 events; return its length in seconds.

    The stock captures each hold the same RTP sequence numbers and timestamp, so
    played one after the other a receiver would take every digit after the first
    for a retransmission of it; here each digit gets fresh ones. ``audio_s``: first
    that many seconds of voice (a 440 Hz PCMU tone, 20 ms packets), then the digits.
    A ``,`` in ``digits`` waits :data:`PAUSE_MS` before the next digit, as a phone's
    dialing pause does (``"1234#1,,9"``: the PIN and 1, then 9 two seconds later).
    """
    if digits and any(d not in _DTMF_FILES and d != PAUSE for d in digits):
        raise ValueError(f"DTMF digits must be 0-9, * or # (, a pause), not {digits!r}")
    if not digits.replace(PAUSE, "") and audio_s <= 0:
        raise ValueError("a pcap needs digits or audio")
    template = (PCAP_DIR / _DTMF_FILES["1"]).read_bytes()
    header = template[:24]
    records: list[bytes] = []
    seq = random.randrange(1000, 30000)
    timestamp = random.randrange(1 << 16, 1 << 30)
    end = 0.0
    if audio_s > 0:
        records, seq, timestamp = _audio_records(template, audio_s, seq, timestamp, silence_s)
        end = silence_s + audio_s
    start = end + 0.3 if audio_s > 0 else 0.0
    for digit, delay in _dtmf_offsets(digits, gap_ms):
        data = (PCAP_DIR / _DTMF_FILES[digit]).read_bytes()
        offset, first = 24, None
        while offset + 16 <= len(data):
            sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
            packet = bytearray(data[offset + 16 : offset + 16 + incl])
            offset += 16 + incl
            stamp = sec + usec / 1e6
            first = stamp if first is None else first
            at = start + delay + (stamp - first)
            end = max(end, at)
            struct.pack_into(">H", packet, _RTP_OFFSET + 2, seq & 0xFFFF)
            # 8 kHz clock: each event's timestamp is where it starts.
            event_ts = timestamp + round(delay * 8000)
            struct.pack_into(">I", packet, _RTP_OFFSET + 4, event_ts & 0xFFFFFFFF)
            seq += 1
            records.append(_record(at, incl, orig, bytes(packet)))
    target.write_bytes(header + b"".join(records))
    return end


def _record(at: float, incl: int, orig: int, packet: bytes) -> bytes:
    whole = int(at)
    return struct.pack("<IIII", whole, round((at - whole) * 1e6), incl, orig) + packet


def _ulaw(sample: int) -> int:
    """G.711 mu-law of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _audio_records(
    template: bytes,
    seconds: float,
    seq: int,
    timestamp: int,
    silence_s: float = 0.0,
    hz: float = 440.0,
) -> tuple[list[bytes], int, int]:
    """PCMU packets of a tone, on the Ethernet/IPv4/UDP headers of a stock capture (SIPp
    sends each UDP payload; the UDP and IP lengths are set to match)."""
    incl = struct.unpack("<I", template[32:36])[0]
    first = template[40 : 40 + incl]
    headers = bytearray(first[:_RTP_OFFSET])
    ssrc = first[_RTP_OFFSET + 8 : _RTP_OFFSET + 12]
    out: list[bytes] = []
    quiet = round(silence_s * 50)
    for n in range(quiet + round(seconds * 50)):
        payload = (
            bytes([0xFF]) * 160  # mu-law silence
            if n < quiet
            else bytes(
                _ulaw(round(6000 * math.sin(2 * math.pi * hz * (n * 160 + i) / 8000)))
                for i in range(160)
            )
        )
        rtp = struct.pack(">BBHI", 0x80, 0x80 if n == 0 else 0x00, seq & 0xFFFF,
                          timestamp & 0xFFFFFFFF) + ssrc + payload  # fmt: skip
        struct.pack_into(">H", headers, 14 + 2, 20 + 8 + len(rtp))  # IPv4 total length
        struct.pack_into(">HH", headers, 14 + 20 + 4, 8 + len(rtp), 0)  # UDP length, no sum
        packet = bytes(headers) + rtp
        out.append(_record(n * 0.02, len(packet), len(packet), packet))
        seq, timestamp = seq + 1, timestamp + 160
    return out, seq, timestamp


# The hold's receives (the optional re-INVITE SIPp waits on, then the BYE): see call.xml.
_HOLD = re.compile(r'(<recv request="(?:INVITE|BYE)"[^>]* timeout=")\d+(" ontimeout="hangup")')


def dtmf_pcap_length(digits: str, *, gap_ms: int = DTMF_GAP_MS) -> float:
    """How long :func:`dtmf_pcap` takes to play ``digits``, in seconds."""
    offsets = _dtmf_offsets(digits, gap_ms)
    return offsets[-1][1] + 0.14 if offsets else 0.0


def _dtmf_offsets(digits: str, gap_ms: int) -> list[tuple[str, float]]:
    """Each digit of ``digits`` with the second it starts at (``,`` is a pause)."""
    out: list[tuple[str, float]] = []
    at = 0.0
    for char in digits:
        if char == PAUSE:
            at += PAUSE_MS / 1000
            continue
        out.append((char, at))
        at += gap_ms / 1000
    return out


_FROM = re.compile(re.escape("From: <sip:[sip_user]@[sip_domain]>;"))
_FROM_HEADER = re.compile(
    r'(?:"[A-Za-z0-9 ]{0,40}" )?<sip:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9.-]{1,253}>'
)


def _render(
    scenario: str,
    workdir: Path,
    dtmf: str | None,
    hold_ms: int | None = None,
    audio_s: float = 0.0,
    silence_s: float = 0.0,
    from_header: str = "",
) -> tuple[Path, float]:
    """Copy a scenario into ``workdir`` with DTMF (and voice) actions and hold time; return
    it and the pcap's length. ``from_header``: the value of the requests' From header
    instead of ``<sip:[sip_user]@[sip_domain]>`` (its tag is kept)."""
    text = (SCENARIOS / scenario).read_text()
    if from_header:
        if not _FROM_HEADER.fullmatch(from_header):
            raise SippError(f"not a From header for a scenario: {from_header!r}")
        text, found = _FROM.subn(f"From: {from_header};", text)
        if not found:
            raise SippError(f"scenario {scenario} has no From of the phone")
    seconds = 0.0
    if dtmf or audio_s > 0:
        pcap = workdir / "dtmf.pcap"
        seconds = dtmf_pcap(dtmf or "", pcap, audio_s=audio_s, silence_s=silence_s)
        action = f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
        if DTMF_MARKER not in text:
            raise SippError(f"scenario {scenario} has no {DTMF_MARKER} marker")
        text = text.replace(DTMF_MARKER, action)
    if hold_ms is not None:
        # SIPp reads timeouts when it loads the scenario (no keywords there);
        # 0 would mean "no timeout".
        text, found = _HOLD.subn(rf"\g<1>{max(1, hold_ms)}\g<2>", text)
        if found != 2:
            raise SippError(f"scenario {scenario} has no hold timeouts")
    path = workdir / scenario
    path.write_text(text)
    return path, seconds


# -- ports -------------------------------------------------------------------

_media_cycle = itertools.cycle(
    list(MEDIA_PORTS)[(os.getpid() * 7) % len(MEDIA_PORTS) :] + list(MEDIA_PORTS)
)


def udp_free(port: int) -> bool:
    """Whether nothing holds UDP ``port`` on the local address (SIPp binds it once up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((LOCAL_IP, port))
        except OSError:
            return False
    return True


def _udp_inodes(port: int) -> set[str]:
    """The socket inodes bound to UDP ``port`` (any address), from /proc/net/udp."""
    inodes: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _pids_holding(inodes: set[str]) -> list[int]:
    """The processes with an open socket among ``inodes`` (only this user's are readable)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
    return pids


def port_holder(port: int) -> str:
    """Who holds UDP ``port``: "pid N: command line" per process, for an error message
    (a port taken is otherwise a riddle: which earlier test's phone outlived it?)."""
    inodes = _udp_inodes(port)
    if not inodes:
        return f"UDP {port}: free now"
    holders = []
    for pid in _pids_holding(inodes):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        holders.append(f"pid {pid}: {b' '.join(argv).decode(errors='replace').strip()}")
    return f"UDP {port} held by " + ("; ".join(holders) or "a process not readable here")


def holds_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds UDP ``port`` (not some other process)."""
    return pid in _pids_holding(_udp_inodes(port))


def media_port() -> int:
    """An RTP port whose pair (port, port+2) is free now; SIPp may still lose a race."""
    for _ in range(len(MEDIA_PORTS)):
        port = next(_media_cycle)
        if udp_free(port) and udp_free(port + 2):
            return port
    raise SippError(f"no free RTP port pair in {MEDIA_PORTS}")


# -- running -----------------------------------------------------------------


def _sipp_path() -> str:
    path = shutil.which("sipp") or ("/usr/bin/sipp" if Path("/usr/bin/sipp").exists() else None)
    if not path:
        raise SippError("sipp is not installed (apt-get install sip-tester)")
    return path


def _read(path: Path, limit: int = 20_000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _debug_log(workdir: Path) -> str:
    parts = []
    for name in ("stderr.log", "errors.log", "messages.log", "actions.log"):
        text = _read(workdir / name)
        if text.strip():
            parts.append(f"--- sipp {name} ---\n{text.rstrip()}")
    return "\n".join(parts)


def _bind_failure(workdir: Path) -> str:
    """Which socket SIPp could not bind, from its logs: ``"main"`` (its SIP port: errno
    98, another process holds it), ``"rtp"`` (an RTP port lost in a race) or ``""``."""
    text = _read(workdir / "stderr.log") + _read(workdir / "errors.log")
    if "Unable to bind main socket" in text:
        return "main"
    if "Unable to bind audio RTP socket" in text or "Unable to bind video RTP" in text:
        return "rtp"
    return ""


async def spawn(cmd: list[str], workdir: Path) -> asyncio.subprocess.Process:
    """Start SIPp in its own session, stderr to ``workdir/stderr.log``."""
    # stdout is SIPp's live screen, redrawn every second: never a pipe nobody reads.
    with open(workdir / "stderr.log", "ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *cmd,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


async def wait_listening(proc: asyncio.subprocess.Process, port: int, timeout: float) -> None:
    """Return once SIPp holds UDP ``port`` (it binds it when ready, without SO_REUSEADDR);
    :class:`SippError` if it exits first or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise SippError(f"sipp exited with {proc.returncode} ({port_holder(port)})")
        # Its own socket: the port held by another process (an earlier test's phone that
        # outlived it) means this SIPp is about to exit on errno 98, and the calls meant
        # for it would go to that other one.
        if not udp_free(port) and holds_port(proc.pid, port):
            return
        await asyncio.sleep(0.02)
    raise SippError(f"timed out ({port_holder(port)})")


async def kill(proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
    """SIGTERM ``proc``, then SIGKILL it if it has not exited after ``grace`` seconds."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def _run(cmd_for: Callable[..., list[str]], workdir: Path, timeout: float) -> int:
    """Run SIPp to the end; retry with another RTP port when SIPp lost a port race."""
    for attempt in range(_BIND_RETRIES):
        proc = await spawn(cmd_for(media_port=media_port(), sipp=_sipp_path()), workdir)
        try:
            # SIPp's own -timeout fires first; this only catches a wedged process.
            returncode = await asyncio.wait_for(proc.wait(), timeout + 5)
        except TimeoutError:
            raise SippError(
                f"sipp did not exit within {timeout + 5:.0f} s", _debug_log(workdir)
            ) from None
        finally:
            if proc.returncode is None:
                await kill(proc)
        failure = _bind_failure(workdir) if returncode not in _EXITS_RAN else ""
        if not failure or attempt + 1 == _BIND_RETRIES:
            return returncode
        if failure == "main":
            # The SIP port held a moment longer (the previous phone on it still exiting).
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


_RECEIVED = re.compile(
    r"message received \[\d+\] bytes :\n\n(SIP/2\.0 (\d{3})[^\n]*\n.*?)(?=\n-{20,} |\Z)", re.S
)
_FAR_END_BYE = re.compile(r"message received \[\d+\] bytes :\n\n(BYE .*?)(?=\n-{20,} |\Z)", re.S)
_CSEQ = re.compile(r"^CSeq:\s*\d+\s+(\w+)", re.M | re.I)
_CALL_ID = re.compile(r"^(?:Call-ID|i):\s*(\S+)", re.M | re.I)
# The Call-ID of each message a SIPp run sent (its block runs to the next separator).
_SENT_CALL_ID = re.compile(
    r"message sent \(\d+ bytes\):\n\n(?:(?!\n-{20,} ).)*?^(?:Call-ID|i):\s*(\S+)",
    re.M | re.S | re.I,
)


def final_status(messages: str, method: str) -> int | None:
    """The last final (>= 200) response to ``method`` in a SIPp message trace.

    Only responses in this run's own dialogs count (a Call-ID it sent): an engine may
    still retransmit a final response to the phone that had the port before (for 32 s,
    until its ACK), and a stale ``603`` of another call is not this call's answer."""
    ours = set(_SENT_CALL_ID.findall(messages))
    status = None
    for match in _RECEIVED.finditer(messages):
        code = int(match.group(2))
        response = match.group(1)
        cseq = _CSEQ.search(response)
        if code < 200 or not cseq or cseq.group(1).upper() != method:
            continue
        if _ours(response, ours):
            status = code
    return status


def far_end_hangup(messages: str) -> bool:
    """Whether the far end sent a BYE in one of this run's own dialogs (see
    :func:`final_status`: a BYE to the port's previous phone is not this call's end)."""
    ours = set(_SENT_CALL_ID.findall(messages))
    return any(_ours(m.group(1), ours) for m in _FAR_END_BYE.finditer(messages))


def _ours(message: str, ours: set[str]) -> bool:
    """Whether a received message is in one of the run's dialogs (``ours``: the Call-IDs
    it sent); one without a Call-ID, or a run that sent none, counts."""
    call_id = _CALL_ID.search(message)
    if call_id is None or not ours:
        return True
    return call_id.group(1) in ours


def _check_ran(returncode: int, workdir: Path, local_port: int) -> None:
    """Raise when SIPp failed before sending anything (bad option, port taken...)."""
    if returncode in _EXITS_RAN:
        return
    messages = _read(workdir / "messages.log")
    if "message sent" not in messages:
        held = ""
        if _bind_failure(workdir) == "main":
            held = f" ({port_holder(local_port)})"
        raise SippError(f"sipp exited with {returncode} before sending{held}", _debug_log(workdir))


# -- register ----------------------------------------------------------------


async def register(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    expires: int = 300,
    timeout: float = 10,
) -> RegisterResult:
    """REGISTER ``sip:<username>@<domain>`` with Contact ``sip:<username>@127.0.0.1:<local_port>``.

    The 401/407 challenge is answered once with digest auth. ``status`` is 200 on
    success; with a wrong password Asterisk answers 401 again (or 403).
    """
    with tempfile.TemporaryDirectory(prefix="sipp-register-") as tmp:
        workdir = Path(tmp)
        scenario, _ = _render("register.xml", workdir, None)
        factory = functools.partial(
            build_command,
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            timeout=timeout,
            server=server,
            keys={"sip_user": username, "sip_domain": domain, "sip_expires": str(expires)},
            username=username,
            password=password,
            # On a rejection SIPp would "abort the call" with a BYE: nothing to end here.
            extra=["-default_behaviors", "all,-bye"],
        )
        returncode = await _run(factory, workdir, timeout)
        _check_ran(returncode, workdir, local_port)
        status = final_status(_read(workdir / "messages.log", limit=1_000_000), "REGISTER")
        log = "" if status == 200 and returncode == 0 else _debug_log(workdir)
        return RegisterResult(status=status, returncode=returncode, log=log)


async def unregister(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    timeout: float = 10,
) -> RegisterResult:
    """Remove the contact :func:`register` added (REGISTER with Expires: 0)."""
    return await register(
        server=server,
        username=username,
        password=password,
        domain=domain,
        local_port=local_port,
        expires=0,
        timeout=timeout,
    )


# -- call --------------------------------------------------------------------


async def call(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    target: str,
    hold_ms: int = 1000,
    dtmf: str | None = None,
    expect: int = 200,
    timeout: float = 20,
    rtp_echo: bool = False,
    audio_s: float = 0.0,
    silence_s: float = 0.0,
    from_header: str = "",
) -> CallResult:
    """Call ``sip:<target>@<domain>`` as ``sip:<username>@<domain>`` and report the outcome.

    On 200 the call is ACKed, ``dtmf`` (digits 0-9, * and #) is sent as RFC 2833
    events, it is held ``hold_ms`` (at least as long as the DTMF takes) and hung
    up with BYE. Error finals (4xx/5xx/6xx) are ACKed and reported in ``status``;
    ``expect`` is the status that makes ``result.ok`` true. ``rtp_echo``: the phone sends
    back every RTP packet it gets (a test can hear through it what reached it).
    ``audio_s``: the phone speaks (a 440 Hz tone) that many seconds, after ``silence_s`` of
    silence from the ACK, then sends ``dtmf``. ``from_header``: another From than the
    phone's own (``"Anonymous" <sip:anonymous@anonymous.invalid>``: a phone withholding
    its number); the digest user stays ``username``.
    """
    with tempfile.TemporaryDirectory(prefix="sipp-call-") as tmp:
        workdir = Path(tmp)
        dtmf_ms = round(dtmf_pcap_length(dtmf) * 1000) + 300 if dtmf else 0
        dtmf_ms += round((silence_s + audio_s) * 1000) + 300 if audio_s > 0 else 0
        scenario, _ = _render(
            "call.xml", workdir, dtmf, hold_ms=max(hold_ms, dtmf_ms), audio_s=audio_s,
            silence_s=silence_s, from_header=from_header,
        )  # fmt: skip
        factory = functools.partial(
            build_command,
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            timeout=timeout,
            server=server,
            keys={"sip_user": username, "sip_domain": domain, "sip_target": target},
            username=username,
            password=password,
            extra=["-default_behaviors", "all,-bye", *(["-rtp_echo"] if rtp_echo else [])],
        )
        returncode = await _run(factory, workdir, timeout)
        _check_ran(returncode, workdir, local_port)
        messages = _read(workdir / "messages.log", limit=1_000_000)
        status = final_status(messages, "INVITE")
        answered = status == 200
        result = CallResult(
            status=status,
            answered=answered,
            completed=answered and returncode == EXIT_OK,
            expect=expect,
            returncode=returncode,
            far_end_hangup=far_end_hangup(messages),
        )
        if not result.ok:
            result = dataclasses.replace(result, log=_debug_log(workdir))
        return result


# -- answer ------------------------------------------------------------------


class Answerer:
    """A phone (SIPp UAS) on ``127.0.0.1:<local_port>`` answering every INVITE.

    Answers with 180 then 200 (SDP, RTP to 127.0.0.1), takes the ACK, answers
    re-INVITEs and the BYE; after ``calls`` calls SIPp exits by itself, with
    ``calls=None`` it runs until :meth:`stop` (or ``timeout``). ``dtmf`` is sent
    as RFC 2833 events right after each answer::

        async with Answerer(local_port=47102, calls=1) as phone:
            ...  # place a call to the user registered from port 47102
            await phone.wait_completed(1)
        assert phone.result.completed == 1
    """

    def __init__(
        self,
        *,
        local_port: int,
        calls: int | None = None,
        dtmf: str | None = None,
        timeout: float = 300,
    ) -> None:
        self.local_port = local_port
        self.calls = calls
        self.dtmf = dtmf
        self.timeout = timeout
        self.result: AnswerResult | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def workdir(self) -> Path:
        if self._tmp is None:
            raise SippError("the answerer is not started")
        return Path(self._tmp.name)

    def _count(self, word: str) -> int:
        if self._tmp is None:
            return 0
        text = _read(self.workdir / "actions.log", limit=10_000_000)
        return sum(1 for line in text.splitlines() if line.startswith(word + " "))

    @property
    def answered(self) -> int:
        """Calls answered so far (ACK of the 200 received), or in all once stopped."""
        return self.result.answered if self.result else self._count("answered")

    @property
    def completed(self) -> int:
        """Calls finished so far (BYE answered), or in all once stopped."""
        return self.result.completed if self.result else self._count("completed")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, ready_timeout: float = 5.0) -> Answerer:
        """Start SIPp and return once it listens on ``local_port``."""
        if self._proc is not None:
            raise SippError("the answerer is already started")
        self._tmp = tempfile.TemporaryDirectory(prefix="sipp-answer-")
        workdir = self.workdir
        scenario, _ = _render("answer.xml", workdir, self.dtmf)
        for attempt in range(_BIND_RETRIES):
            cmd = build_command(
                scenario=scenario,
                workdir=workdir,
                local_port=self.local_port,
                media_port=media_port(),
                timeout=self.timeout,
                calls=self.calls,
                trace_messages=True,
                extra=["-aa"],
                sipp=_sipp_path(),
            )
            self._proc = await spawn(cmd, workdir)
            try:
                await wait_listening(self._proc, self.local_port, ready_timeout)
                return self
            except SippError:
                if self._proc.returncode is None:
                    await kill(self._proc)
                if attempt + 1 < _BIND_RETRIES and _bind_failure(workdir):
                    # A port held a moment longer (an RTP pair taken in a race, the
                    # previous answerer on this port still exiting): try again shortly.
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                log = _debug_log(workdir)
                self._cleanup()
                raise SippError(
                    f"answerer did not start on port {self.local_port}"
                    f" ({port_holder(self.local_port)})",
                    log,
                ) from None
        raise AssertionError("unreachable")

    async def wait_answered(self, calls: int = 1, timeout: float = 10.0) -> int:
        """Wait until ``calls`` calls were answered; return the count (raise on timeout)."""
        return await self._wait_count("answered", calls, timeout)

    async def wait_completed(self, calls: int = 1, timeout: float = 10.0) -> int:
        """Wait until ``calls`` calls were hung up (BYE answered); return the count."""
        return await self._wait_count("completed", calls, timeout)

    async def _wait_count(self, word: str, calls: int, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (count := self._count(word)) < calls:
            if loop.time() > deadline or not self.running:
                raise SippError(
                    f"{count} of {calls} calls {word} within {timeout} s",
                    _debug_log(self.workdir),
                )
            await asyncio.sleep(0.05)
        return count

    async def wait(self, timeout: float | None = None) -> AnswerResult:
        """Wait for SIPp to exit by itself (after ``calls`` calls) and return the result."""
        if self._proc is None:
            raise SippError("the answerer is not started")
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            raise SippError(
                f"answerer still running after {timeout} s", _debug_log(self.workdir)
            ) from None
        return await self.stop()

    async def stop(self) -> AnswerResult:
        """Stop SIPp (if still running), keep the counts in ``result`` and clean up."""
        if self.result is not None:
            return self.result
        if self._proc is None:
            raise SippError("the answerer is not started")
        await kill(self._proc)
        answered, completed = self._count("answered"), self._count("completed")
        clean = self.calls is not None and self._proc.returncode == EXIT_OK
        self.result = AnswerResult(
            answered=answered,
            completed=completed,
            returncode=self._proc.returncode,
            log="" if clean else _debug_log(self.workdir),
        )
        self._cleanup()
        return self.result

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        self._tmp = None

    async def __aenter__(self) -> Answerer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def uas(
    *, local_port: int, calls: int | None = None, dtmf: str | None = None, timeout: float = 300
) -> Answerer:
    """An :class:`Answerer`, not started yet: use ``async with uas(...) as phone``."""
    return Answerer(local_port=local_port, calls=calls, dtmf=dtmf, timeout=timeout)


# -- load --------------------------------------------------------------------


def _last_stats(path: Path) -> dict[str, str]:
    text = _read(path, limit=10_000_000)
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def _error_codes(workdir: Path) -> dict[int, int]:
    """Error finals per code: the scenario's rejection branches plus unexpected ones."""
    counts: dict[int, int] = {}
    for path in workdir.glob("*_counts.csv"):
        rows = list(csv.reader(_read(path, limit=10_000_000).splitlines(), delimiter=";"))
        if len(rows) < 2:
            continue
        challenges: set[int] = set()
        for name, value in zip(rows[0], rows[-1], strict=False):
            m = re.fullmatch(r"\d+_(\d{3})_Recv", name)
            if not m or int(m.group(1)) < 300 or not value.isdigit():
                continue
            code = int(m.group(1))
            # The first 401/407 of the scenario is the challenge, not a rejection.
            if code in (401, 407) and code not in challenges:
                challenges.add(code)
                continue
            counts[code] = counts.get(code, 0) + int(value)
    for path in workdir.glob("*_error_codes.csv"):
        for line in _read(path, limit=10_000_000).splitlines():
            for item in line.split(";")[-1].split(","):
                if item.strip().isdigit():
                    counts[int(item)] = counts.get(int(item), 0) + 1
    return {code: n for code, n in sorted(counts.items()) if n}


def _int(stats: dict[str, str], key: str) -> int:
    try:
        return int(float(stats.get(key, "0") or 0))
    except ValueError:
        return 0


def _epoch(stamp: str) -> float:
    # SIPp writes times as "date<TAB>time<TAB>epoch".
    try:
        return float(stamp.split("\t")[-1])
    except ValueError:
        return 0.0


async def load(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    target: str,
    calls: int,
    rate: float,
    hold_ms: int = 0,
    max_concurrent: int | None = None,
    timeout: float | None = None,
) -> LoadResult:
    """Place ``calls`` calls at ``rate`` calls/s (``-r``/``-m``) and count the outcomes.

    The calls use the scenario of :func:`call` without the message trace. The
    default ``timeout`` leaves room for the calls at the rate plus 30 s.
    """
    if timeout is None:
        timeout = calls / rate + hold_ms / 1000 + 30
    with tempfile.TemporaryDirectory(prefix="sipp-load-") as tmp:
        workdir = Path(tmp)
        scenario, _ = _render("call.xml", workdir, None, hold_ms=hold_ms)
        factory = functools.partial(
            build_command,
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            timeout=timeout,
            server=server,
            keys={"sip_user": username, "sip_domain": domain, "sip_target": target},
            username=username,
            password=password,
            calls=calls,
            rate=rate,
            limit=max_concurrent,
            trace_messages=False,
            extra=["-default_behaviors", "all,-bye"],
        )
        returncode = await _run(factory, workdir, timeout)
        stats = _last_stats(workdir / "stats.csv")
        if not stats:
            raise SippError(
                f"sipp exited with {returncode} without statistics", _debug_log(workdir)
            )
        successful = _int(stats, "SuccessfulCall(C)")
        failed = _int(stats, "FailedCall(C)")
        attempted = _int(stats, "OutgoingCall(C)")
        elapsed = _epoch(stats.get("CurrentTime", "")) - _epoch(stats.get("StartTime", ""))
        return LoadResult(
            attempted=attempted,
            successful=successful,
            failed=failed,
            elapsed=elapsed,
            rate=attempted / elapsed if elapsed else 0.0,
            error_codes=_error_codes(workdir),
            returncode=returncode,
            log="" if failed == 0 and returncode == EXIT_OK else _debug_log(workdir),
        )
