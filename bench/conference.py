"""Conference participants per core: CPU of Asterisk and of the orchestrator per participant-second.

For each conference size (3 and 20 by default), ``participants`` SIPp calls (one SIPp
process, ``scenarios/conf_member.xml``) come into the orchestrator on the ``bench``
engine: ``conf@bench-conf.example`` dials 300 from the ``orchestrator-stasis`` context
(the stock way into Stasis, so each call is an incoming leg of the
:class:`AsteriskEngine` in this process). Each call sends real G.711 mu-law RTP from the
moment it is answered: SIPp plays a pcap this module writes (20 ms packets in real time:
a tone for 1.6 s of every 4 s, silence between, like people talking in turns) until the
orchestrator hangs up. The orchestrator's side is what the
conference feature does on the seam: ``engine.answer(leg)``, then
``engine.conferences.create(id)`` and ``join(id, leg)`` for every answered leg, ``size``
legs to a conference in the order they arrive.

Once every leg is in and ``settle`` seconds have passed, the CPU of the Asterisk process
and of this process (the orchestrator: the adapter's ARI and AMI links, its event
handling, the conference calls' bookkeeping; SIPp runs in processes of its own) is read
from ``/proc/<pid>/stat`` (utime + stime; this process's by ``time.process_time()``,
the same sum without the 10 ms ticks) at the start and end of a window of ``seconds``.
Per participant-second:

- ``conference_<size>.engine_participants_per_core``: participants one core of the
  engine could mix, participants x window / engine CPU seconds (aim >= 100);
- ``conference_<size>.orchestrator_pct_per_100``: % of one core the orchestrator takes
  per 100 participants (aim <= 1).

The audio is checked, not assumed: ARI's ``rtp_statistics`` of every leg, read before
and after the window, give the packets the engine received and sent per participant and
second (``rtp_in_pps``, ``rtp_out_pps``: 50 each when every 20 ms packet flows both
ways); fewer than ``MIN_PPS`` in either direction, a leg gone during the window, or a
call SIPp did not complete fails the run. The idle CPU of both processes (everything up,
no call) is printed first, as ``conference.engine_idle_pct`` and
``conference.orchestrator_idle_pct``: the per-participant figures include it.

``python -m bench --only conference [--conference-sizes 3,20]
[--conference-participants 200] [--conference-seconds 20]``; smoke: one conference of
each size, a 2 s window.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import API_PORT, engine_instance, progress, sipp_port
from bench.traffic import SCENARIOS, _count, _errors, _last_row
from orchestrator.core.events import Event, LegCreated, LegHungUp
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.testing import sipp
from orchestrator.testing.realtime_stub import RealtimeStub, SipUser

NAME = "conference"
SCENARIO = SCENARIOS / "conf_member.xml"
DOMAIN = "bench-conf.example"
CALLER = "conf"
NUMBER = "300"
CALLER_PORT = sipp_port(27751)  # odd: never a SIPp RTP port; away from the others' ports
# RTP packets a second each way below which a participant is taken for silent: 50 is
# every 20 ms packet; a little slack for the window's edges.
MIN_PPS = 45.0
TONE_HZ = 440
AMPLITUDE = 4000
# Each participant talks in turns, as people in a conference do: the tone for TALK_S of
# every CYCLE_S, silence (still sent: phones here send RTP all the time) between; so
# talk detection, where the engine does it, starts and stops for every one of them.
TALK_S, CYCLE_S = 1.6, 4.0


@dataclass(frozen=True, slots=True)
class ConferenceOptions:
    sizes: tuple[int, ...] = (3, 20)
    participants: int = 200  # per size, in whole conferences (at least one)
    seconds: float = 20.0  # the measured window
    settle: float = 3.0  # after the last join, before the window
    idle_seconds: float = 5.0  # the idle measurement, before any call
    rate: float = 20.0  # calls/s while the participants call in
    join_timeout: float = 60.0


SMOKE = ConferenceOptions(participants=1, seconds=2.0, settle=0.5, idle_seconds=1.0)


@dataclass(slots=True)
class Size:
    """One size's run: the legs joined, the CPU and RTP of its window."""

    size: int
    conferences: int
    legs: list[str] = field(default_factory=list)
    engine_cpu: float = 0.0
    own_cpu: float = 0.0
    window: float = 0.0
    rtp_s: float = 0.0  # the span the RTP counts cover
    rtp_in: int = 0
    rtp_out: int = 0
    gone_in_window: int = 0
    completed: int = 0
    failed: int = 0
    log: str = ""

    @property
    def participants(self) -> int:
        return self.size * self.conferences


# -- the audio ---------------------------------------------------------------------------


def ulaw(sample: int) -> int:
    """G.711 mu-law of one 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent, mask = exponent - 1, mask >> 1
    return ~(sign | exponent << 4 | (magnitude >> (exponent + 3)) & 0x0F) & 0xFF


def tone_pcap(target: Path, seconds: float) -> None:
    """Write a pcap of ``seconds`` of PCMU RTP, 20 ms packets 20 ms apart: TALK_S of a
    tone, then silence, every CYCLE_S.

    SIPp's ``play_pcap_audio`` sends each packet's RTP at its capture time to the far
    end's media address; the Ethernet, IP and UDP headers only have to parse.
    """
    frame = bytes(
        ulaw(round(AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / 8000))) for i in range(8000)
    )
    silence = bytes([ulaw(0)]) * 160
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet
    records = []
    seq, stamp, ssrc = random.randrange(1 << 15), random.randrange(1 << 30), random.getrandbits(32)
    for n in range(round(seconds * 50)):
        offset = (n * 160) % 8000  # 8000 samples hold whole periods of 440 Hz
        talking = n % round(CYCLE_S * 50) < round(TALK_S * 50)
        payload = frame[offset : offset + 160] if talking else silence
        rtp = struct.pack(
            ">BBHII", 0x80, 0, (seq + n) & 0xFFFF, (stamp + 160 * n) & 0xFFFFFFFF, ssrc
        )
        udp = struct.pack(">HHHH", 6000, 6002, 8 + 12 + 160, 0) + rtp + payload
        ip = struct.pack(
            ">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        )  # fmt: skip
        packet = b"\x00" * 12 + b"\x08\x00" + ip + udp
        at = n * 0.02
        records.append(
            struct.pack("<IIII", int(at), round((at % 1) * 1e6), len(packet), len(packet)) + packet
        )
    target.write_bytes(header + b"".join(records))


# -- measuring ---------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_pid(instance: AsteriskInstance) -> int:
    pid = instance.pid()
    if pid is None:
        raise RuntimeError("the engine is not running")
    return pid


async def rtp_packets(engine: AsteriskEngine, legs: list[str]) -> tuple[int, int, float]:
    """Packets the engine received from and sent to ``legs`` so far (ARI rtp_statistics),
    and when: the middle of the reads (many legs' reads take a while on a loaded machine)."""
    started = time.monotonic()
    stats = await asyncio.gather(
        *(engine.ari.get(f"/channels/{leg}/rtp_statistics") for leg in legs)
    )
    at = (started + time.monotonic()) / 2
    return sum(int(s["rxcount"]) for s in stats), sum(int(s["txcount"]) for s in stats), at


@contextlib.contextmanager
def caller_stub() -> Iterator[RealtimeStub]:
    """The callers' endpoint (no auth: no 401 round trip) for the engine's realtime lookups."""
    stub = RealtimeStub([SipUser(CALLER, DOMAIN, "unused")])
    del stub.tables["ps_endpoints"][f"{CALLER}@{DOMAIN}"]["auth"]
    with stub.serve_in_thread(port=API_PORT):
        yield stub


def make_engine(instance: AsteriskInstance) -> AsteriskEngine:
    creds = instance.credentials()
    return AsteriskEngine(
        ari_url=f"http://{instance.bind_address}:{instance.ports.http}/ari",
        ari_user=str(creds["ari_user"]),
        ari_password=str(creds["ari_password"]),
        ami_host=instance.bind_address,
        ami_port=instance.ports.ami,
        ami_user=str(creds["ami_user"]),
        ami_password=str(creds["ami_password"]),
        app=instance.ari_app,
    )


# -- one size ----------------------------------------------------------------------------


class Joiner:
    """Answers each incoming leg and joins it to the conference whose turn it is."""

    def __init__(self, engine: AsteriskEngine, run: Size, prefix: str) -> None:
        self.engine, self.run = engine, run
        self.conference_ids = [f"{prefix}-{n}" for n in range(run.conferences)]
        self.all_joined = asyncio.Event()  # or a join failed
        self.errors: list[BaseException] = []
        self.hung_up: set[str] = set()
        self.arrived: list[str] = []  # every leg of ours that came in, joined or not
        self._tasks: set[asyncio.Task[None]] = set()

    def on_event(self, event: Event) -> None:
        if isinstance(event, LegHungUp):
            self.hung_up.add(event.leg_id)
            return
        if not isinstance(event, LegCreated) or event.resumed:
            return
        if event.routing is None or event.routing.get("number") != NUMBER:
            return
        slot = len(self.arrived)
        self.arrived.append(event.leg_id)
        if slot >= self.run.participants:
            return  # a stray call: SIPp places exactly `participants`
        task = asyncio.create_task(self._join(event.leg_id, slot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _join(self, leg_id: str, slot: int) -> None:
        try:
            await self.engine.answer(leg_id)
            conference_id = self.conference_ids[slot // self.run.size]
            await self.engine.conferences.join(conference_id, leg_id)
        except Exception as exc:  # reported by run_size, which fails the run
            self.errors.append(exc)
            self.all_joined.set()  # no use waiting for the others
            return
        self.run.legs.append(leg_id)
        if len(self.run.legs) == self.run.participants:
            self.all_joined.set()


async def _sipp(
    workdir: Path, scenario: Path, calls: int, *, server: str, rate: float, timeout: float
) -> dict[str, str]:
    """Run the calls in one SIPp; its final statistics. (``bench.traffic.run_sipp`` gives a
    SIPp ``calls / rate + 30`` s: these calls last as long as the measurement.)"""
    for _ in range(3):
        cmd = sipp.build_command(
            scenario=scenario, workdir=workdir, local_port=CALLER_PORT,
            media_port=sipp.media_port(), timeout=timeout, server=server,
            keys={"sip_user": CALLER, "sip_domain": DOMAIN, "sip_target": NUMBER},
            calls=calls, rate=rate, limit=calls, trace_messages=False,
            extra=["-default_behaviors", "all,-bye"],
        )  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout + 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        stderr = err.decode(errors="replace")
        stats = _last_row(workdir / "stats.csv")
        if stats and proc.returncode in (sipp.EXIT_OK, sipp.EXIT_FAILED_CALLS):
            return stats
        if "Unable to bind" not in stderr:  # else another process took the RTP port: again
            break
    raise sipp.SippError(f"sipp exited with {proc.returncode}", stderr + _errors(workdir))


async def place_calls(calls: int, *, server: str, rate: float, hold_s: float) -> Size:
    """``calls`` participants from one SIPp, each talking for up to ``hold_s`` seconds."""
    out = Size(size=0, conferences=0)
    with tempfile.TemporaryDirectory(prefix="bench-conf-") as tmp:
        workdir = Path(tmp)
        pcap = workdir / "talk.pcap"
        await asyncio.to_thread(tone_pcap, pcap, hold_s)
        scenario = workdir / SCENARIO.name
        scenario.write_text(
            SCENARIO.read_text()
            .replace("WAIT_MS", str(round((hold_s + 10) * 1000)))
            .replace("MEDIA_PCAP", str(pcap))
        )
        try:
            stats = await _sipp(workdir, scenario, calls, server=server, rate=rate,
                                timeout=calls / rate + hold_s + 30)  # fmt: skip
        except sipp.SippError as exc:
            out.failed, out.log = calls, str(exc)[:4000]
            return out
        out.completed = _count(stats, "SuccessfulCall(C)")
        out.failed = calls - out.completed
        if out.failed:
            out.log = _errors(workdir)
    return out


async def run_size(
    engine: AsteriskEngine, instance: AsteriskInstance, size: int, o: ConferenceOptions
) -> Size:
    run = Size(size=size, conferences=max(1, o.participants // size))
    n = run.participants
    progress(f"{NAME}: {run.conferences} conferences of {size}: {n} participants")
    joiner = Joiner(engine, run, prefix=f"bench{size}-{random.getrandbits(24):06x}")
    for conference_id in joiner.conference_ids:
        await engine.conferences.create(conference_id)
    unsubscribe = engine.subscribe(joiner.on_event)
    # Long enough for every call to come in and be joined, the settling and the window;
    # the calls end earlier, when the orchestrator hangs them up.
    hold_s = n / o.rate + o.join_timeout + o.settle + o.seconds + 10
    server = f"127.0.0.1:{instance.ports.sip}"
    placing = asyncio.create_task(place_calls(n, server=server, rate=o.rate, hold_s=hold_s))
    waiting = asyncio.create_task(joiner.all_joined.wait())
    try:
        done, _ = await asyncio.wait(
            {waiting, placing}, timeout=n / o.rate + o.join_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )  # fmt: skip
        if waiting not in done:
            log = placing.result().log if placing in done else ""
            raise RuntimeError(f"{len(run.legs)} of {n} legs joined\n{log}")
        if joiner.errors:
            raise RuntimeError(f"answer or join failed: {joiner.errors[0]!r}")
        progress(f"{NAME}: {n} participants joined; measuring {o.seconds:g} s")
        await asyncio.sleep(o.settle)
        pid = engine_pid(instance)
        rx0, tx0, at0 = await rtp_packets(engine, run.legs)
        gone0 = len(joiner.hung_up)
        engine0, own0, t0 = cpu_s(pid), time.process_time(), time.monotonic()
        await asyncio.sleep(o.seconds)
        engine1, own1, t1 = cpu_s(pid), time.process_time(), time.monotonic()
        rx1, tx1, at1 = await rtp_packets(engine, run.legs)
        run.engine_cpu, run.own_cpu, run.window = engine1 - engine0, own1 - own0, t1 - t0
        run.rtp_in, run.rtp_out, run.rtp_s = rx1 - rx0, tx1 - tx0, at1 - at0
        run.gone_in_window = len(joiner.hung_up) - gone0
    finally:
        waiting.cancel()
        unsubscribe()
        for conference_id in joiner.conference_ids:
            with contextlib.suppress(Exception):
                await engine.conferences.end(conference_id)
        for leg_id in joiner.arrived:
            with contextlib.suppress(Exception):
                await engine.hangup(leg_id)
        # Hung up, every call SIPp placed ends with the engine's BYE; calls that never
        # came in (a failed run) would wait for theirs: SIPp is stopped then.
        await asyncio.wait({placing}, timeout=15)
        placing.cancel()
        calls = await asyncio.gather(placing, return_exceptions=True)
    result = calls[0]
    if isinstance(result, Size):
        run.completed, run.failed, run.log = result.completed, result.failed, result.log
    return run


def report(name: str, value: float, unit: str, digits: int, aim: str = "") -> None:
    """One result line on stdout, ``name: value unit``, and the aim after ``#``."""
    print(f"{name}: {value:.{digits}f} {unit}" + (f"  # aim {aim}" if aim else ""), flush=True)


def report_size(run: Size) -> int:
    """Print one size's lines; the number of failures (silent legs, lost or failed calls)."""
    n, key = run.participants, f"{NAME}_{run.size}"
    participant_s = n * run.window
    in_pps, out_pps = run.rtp_in / (n * run.rtp_s), run.rtp_out / (n * run.rtp_s)
    engine_core = run.engine_cpu / run.window
    report(f"{key}.participants", n, "participants", 0)
    report(f"{key}.conferences", run.conferences, "conferences", 0)
    report(f"{key}.engine_cpu_pct", 100 * engine_core, "%", 1)
    per_core = participant_s / run.engine_cpu if run.engine_cpu else float("inf")
    report(f"{key}.engine_participants_per_core", per_core, "participants", 0, ">= 100")
    report(f"{key}.engine_cpu_ms_per_participant_s", 1000 * run.engine_cpu / participant_s,
           "ms", 2)  # fmt: skip
    report(f"{key}.orchestrator_cpu_pct", 100 * run.own_cpu / run.window, "%", 2)
    per_100 = 100 * (run.own_cpu / run.window) * 100 / n
    report(f"{key}.orchestrator_pct_per_100", per_100, "%", 3, "<= 1")
    report(f"{key}.rtp_in_pps", in_pps, "packets/s", 1, f">= {MIN_PPS:g} per participant")
    report(f"{key}.rtp_out_pps", out_pps, "packets/s", 1, f">= {MIN_PPS:g} per participant")
    report(f"{key}.calls_failed", run.failed + run.gone_in_window, "calls", 0, "0")
    failures = run.failed + run.gone_in_window
    if in_pps < MIN_PPS or out_pps < MIN_PPS:
        progress(f"{NAME}: size {run.size}: the audio did not flow ({in_pps:.1f} packets/s "
                 f"in, {out_pps:.1f} out per participant)")  # fmt: skip
        failures += 1
    if run.log:
        progress(f"{NAME}: size {run.size}: SIPp's errors:\n{run.log}")
    return failures


async def benchmark(instance: AsteriskInstance, o: ConferenceOptions) -> int:
    engine = make_engine(instance)
    await engine.start()
    try:
        await engine.wait_connected(timeout=30)
        progress(f"{NAME}: engine connected (Asterisk {engine.version})")
        pid = engine_pid(instance)
        engine0, own0, t0 = cpu_s(pid), time.process_time(), time.monotonic()
        await asyncio.sleep(o.idle_seconds)
        idle_s = time.monotonic() - t0
        report(f"{NAME}.engine_idle_pct", 100 * (cpu_s(pid) - engine0) / idle_s, "%", 2)
        report(f"{NAME}.orchestrator_idle_pct", 100 * (time.process_time() - own0) / idle_s,
               "%", 2)  # fmt: skip
        failures = 0
        for size in o.sizes:
            run = await run_size(engine, instance, size, o)
            failures += report_size(run)
            await asyncio.sleep(1.0)  # the last size's channels go
        return failures
    finally:
        await engine.stop()


async def run(options: ConferenceOptions | None = None) -> int:
    """Start the engine and the callers' realtime stub, run each size, stop everything."""
    o = options or ConferenceOptions()
    if any(size < 2 for size in o.sizes) or o.seconds <= 0:
        raise ValueError("conferences of at least 2, and a positive window")
    with caller_stub(), engine_instance() as instance:
        return await benchmark(instance, o)
