"""The same IVR as a Python flow and as native Asterisk dialplan, under the same SIPp load.

The IVR: answer, a short prompt (``beep``), collect 4 digits, look them up, a short
prompt, hang up. Extension 100 of the context ``bench-ivr`` runs it in dialplan,
extension 200 enters the orchestrator (``Stasis(orchestrator,ivr,bench,1)``), where
an :class:`IvrRunner` in this process runs :meth:`PythonIvr.flow` on the
:class:`AsteriskEngine`: nothing of the FastAPI service is needed for that.

Two SIPp callers (``scenarios/ivr_call.xml``) call 100 and 200 at the same rate at
the same time and key ``4711`` as RFC 2833 events once the prompt has played. The
rate goes up in steps (``rates``, ``step_seconds`` each); for each side the figures
of the highest step it took with fewer than ``max_failed_pct`` % failed calls are
reported. A call counts as failed unless SIPp completed it *and* the IVR got the
right digits: the flow counts its verified lookups itself, the dialplan writes one
AstDB key per verified call (family ``benchivr_ok``, the value the time of the
lookup) and one per wrong one (``benchivr_bad``); the benchmark reads them back
after each step.

SIP: the callers are ``ivr@bench-ivr.example``, an endpoint whose context is
``bench-ivr`` and that has no auth (so no 401 round trip, as for a carrier's
calls), served to the engine's realtime lookups by
:class:`~orchestrator.testing.realtime_stub.RealtimeStub` on the port the bench
instance fetches SIP users from.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import API_PORT, engine_instance, progress, sipp_port
from bench.traffic import SCENARIOS, _count, _errors, run_sipp
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory
from orchestrator.testing import sipp
from orchestrator.testing.realtime_stub import RealtimeStub, SipUser

SCENARIO = SCENARIOS / "ivr_call.xml"
CONTEXT = "bench-ivr"
DOMAIN = "bench-ivr.example"
CALLER = "ivr"
NUMBERS = {"dialplan": "100", "python": "200"}
# Local SIP ports of the two callers: odd, away from bench.traffic's 271xx-274xx.
CALLER_PORTS = {"dialplan": sipp_port(27501), "python": sipp_port(27503)}
SIDES = ("python", "dialplan")
FLOW_KEY = "bench"
TENANT = "1"
DIGITS = "4711"
STATUS = "approved"
# The "database" both IVRs look the digits up in: AstDB for the dialplan, a dict here.
STATUSES = {DIGITS: STATUS}
DB_FAMILY, OK_FAMILY, BAD_FAMILY = "benchivr", "benchivr_ok", "benchivr_bad"
# Not t*.conf: bench.harness deletes those as tenant files of an earlier run.
DIALPLAN_FILE = "bench-ivr.conf"
# beep.gsm plays 0.44 s; a caller keys once it has heard it.
KEY_DELAY_MS = 600
# The digits go 200 ms apart (events of 140 ms): shorter calls, fewer channels at once.
DTMF_GAP_MS = 200
# After the digits the IVR hangs up within about half a second; 10 s means it never will.
HANGUP_WAIT_MS = 10_000
LATENCIES_KEPT = 500_000
_KEPT_LOG_RECORDS = 5


@dataclass(frozen=True, slots=True)
class IvrOptions:
    rates: tuple[float, ...] = (25, 50, 100, 150, 200)
    step_seconds: float = 20
    max_failed_pct: float = 0.1
    # Between steps: calls of the last step end, the engine frees their channels.
    settle: float = 3.0


# `python -m bench --smoke`: one short, slow step.
SMOKE = IvrOptions(rates=(2,), step_seconds=3, settle=0.5)


def dialplan(app: str) -> str:
    """The ``bench-ivr`` context: the IVR in dialplan (100) and the way into the flow (200)."""
    return f"""; The IVR benchmark (bench/ivr.py); written for the run, removed after it.
[{CONTEXT}]
; Read's prompt, unlike Playback, keeps keys pressed while it plays (the flow's
; collect() does too), so an early key is never lost under load.
exten => {NUMBERS["dialplan"]},1,Answer()
 same => n,Read(DIGITS,beep,4,,1,5)
 same => n,GotoIf($[${{LEN(${{DIGITS}})}} != 4]?wrong)
 same => n,Set(STATUS=${{DB({DB_FAMILY}/${{DIGITS}})}})
 same => n,GotoIf($["${{STATUS}}" != "{STATUS}"]?wrong)
 ; One key per call, not a shared counter: concurrent channels would lose increments.
 same => n,Set(DB({OK_FAMILY}/${{UNIQUEID}})=${{STRFTIME(,,%s.%3q)}})
 same => n(bye),Playback(beep)
 same => n,Hangup()
 same => n(wrong),Set(DB({BAD_FAMILY}/${{UNIQUEID}})=${{DIGITS}})
 same => n,Goto(bye)

exten => {NUMBERS["python"]},1,Stasis({app},ivr,{FLOW_KEY},{TENANT})
 same => n,Hangup()
"""


class PythonIvr:
    """The flow, with its own tally of verified lookups (times) and wrong ones."""

    def __init__(self) -> None:
        self.verified: list[float] = []
        self.wrong: collections.Counter[str] = collections.Counter()

    def reset(self) -> None:
        self.verified = []
        self.wrong = collections.Counter()

    async def flow(self, call: IvrCall) -> None:
        await call.answer()
        await call.play("sound:beep")
        # Read()'s timeout: 5 s for each key.
        digits = await call.collect(4, first_timeout=5, inter_timeout=5)
        if STATUSES.get(digits) == STATUS:
            self.verified.append(time.time())
        else:
            self.wrong[digits] += 1
        await call.play("sound:beep")
        await call.hangup()


async def lookup(tenant: str, name: str) -> AppSpec | None:
    if (tenant, name) != (TENANT, FLOW_KEY):
        return None
    return AppSpec(name=FLOW_KEY, app=FLOW_KEY, tenant=TENANT, max_duration=60)


def caller_stub() -> RealtimeStub:
    stub = RealtimeStub([SipUser(CALLER, DOMAIN, "unused", context=CONTEXT)])
    # No auth on the endpoint: its calls are not challenged.
    del stub.tables["ps_endpoints"][f"{CALLER}@{DOMAIN}"]["auth"]
    return stub


# -- results -------------------------------------------------------------------------
@dataclass(slots=True)
class Side:
    """One side's outcome at one step."""

    rate: float
    attempted: int = 0
    completed: int = 0  # SIPp ran the whole scenario
    verified: int = 0  # the IVR looked up the right digits
    wrong: collections.Counter[str] = field(default_factory=collections.Counter)
    times: list[float] = field(default_factory=list)  # of the verified lookups
    log: str = ""

    @property
    def failed(self) -> int:
        return self.attempted - min(self.completed, self.verified)

    @property
    def failed_pct(self) -> float:
        return 100 * self.failed / self.attempted if self.attempted else 100.0

    @property
    def calls_per_s(self) -> float:
        """Verified lookups per second, from the first to the last one of the step."""
        if len(self.times) < 2:
            return 0.0
        times = sorted(self.times)
        return (len(times) - 1) / (times[-1] - times[0])


@dataclass(slots=True)
class Step:
    rate: float
    sides: dict[str, Side]
    latencies: list[float]
    # CPU seconds spent during the step by this process (the orchestrator) and the engine.
    orchestrator_cpu: float = 0.0
    engine_cpu: float = 0.0


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def engine_cpu(instance: AsteriskInstance) -> float:
    """CPU seconds the engine process has used (utime + stime of /proc/<pid>/stat)."""
    pid = instance.pid()
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(name: str, value: float, unit: str, aim: str = "") -> None:
    """One result line on stdout, ``name: value unit``, and the aim after ``#``."""
    digits = {"calls/s": 1, "%": 2, "ratio": 2, "ms": 2, "count": 0}[unit]
    text = f"{value:.{digits}f}" if digits else str(round(value))
    print(f"{name}: {text} {unit}" + (f"  # aim {aim}" if aim else ""), flush=True)


# -- the engine's side ------------------------------------------------------------------
_DB_ROW = re.compile(r"^/(\w+)/(\S+)\s*:\s*(\S*)\s*$", re.M)


def read_family(instance: AsteriskInstance, family: str) -> list[str]:
    """The values of every key of an AstDB family."""
    out = instance.cli(f"database show {family}", timeout=60)
    return [m.group(3) for m in _DB_ROW.finditer(out) if m.group(1) == family]


def install_dialplan(instance: AsteriskInstance) -> Path:
    path = instance.tenants_dir / DIALPLAN_FILE
    path.write_text(dialplan(instance.ari_app))
    instance.cli("dialplan reload")
    shown = instance.cli(f"dialplan show {CONTEXT}")
    if "-= 2 extensions" not in shown:
        raise RuntimeError(f"the engine did not load the {CONTEXT} context:\n{shown}")
    instance.cli(f"database put {DB_FAMILY} {DIGITS} {STATUS}")
    return path


class _FirstRecords(logging.Handler):
    """Print the first few log records of the orchestrator, count the rest.

    An overloaded step can make every flow log a traceback; thousands of them
    would only slow the run that is measuring.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.count <= _KEPT_LOG_RECORDS:
            print(self.format(record)[:2000], file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_orchestrator_logs() -> Iterator[_FirstRecords]:
    logger = logging.getLogger("orchestrator")
    handler = _FirstRecords()
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


# -- the load ----------------------------------------------------------------------------
async def place_calls(side: str, *, server: str, rate: float, calls: int) -> Side:
    """``calls`` calls to ``side``'s IVR at ``rate`` calls/s from one SIPp (not yet verified)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-ivr-{side}-") as tmp:
        workdir = Path(tmp)
        pcap = workdir / "dtmf.pcap"
        sipp.dtmf_pcap(DIGITS, pcap, gap_ms=DTMF_GAP_MS)
        scenario = workdir / SCENARIO.name
        scenario.write_text(
            SCENARIO.read_text()
            .replace("KEY_DELAY_MS", str(KEY_DELAY_MS))
            .replace("WAIT_MS", str(HANGUP_WAIT_MS))
            .replace("DTMF_PCAP", str(pcap))
        )
        try:
            stats = await run_sipp(
                scenario,
                workdir,
                server=server,
                local_port=CALLER_PORTS[side],
                calls=calls,
                rate=rate,
                # SIPp's default cap on open calls could hold the rate back.
                limit=max(100, round(rate * 30)),
                keys={"sip_user": CALLER, "sip_domain": DOMAIN, "sip_target": NUMBERS[side]},
            )
        except sipp.SippError as exc:
            return Side(rate=rate, attempted=calls, log=str(exc)[:4000])
        placed = _count(stats, "OutgoingCall(C)")
        failed = _count(stats, "FailedCall(C)")
        return Side(
            rate=rate,
            attempted=max(calls, placed),
            completed=_count(stats, "SuccessfulCall(C)"),
            log=_errors(workdir) if failed or placed < calls else "",
        )


async def run_step(
    instance: AsteriskInstance,
    runner: IvrRunner,
    ivr: PythonIvr,
    *,
    rate: float,
    seconds: float,
) -> Step:
    for family in (OK_FAMILY, BAD_FAMILY):
        await asyncio.to_thread(instance.cli, f"database deltree {family}")
    ivr.reset()
    runner.latencies.clear()
    server = f"127.0.0.1:{instance.ports.sip}"
    calls = max(1, round(rate * seconds))
    cpu = own_cpu(), engine_cpu(instance)
    python, native = await asyncio.gather(
        place_calls("python", server=server, rate=rate, calls=calls),
        place_calls("dialplan", server=server, rate=rate, calls=calls),
    )
    # SIPp has seen every call end; a flow still running is one that lost its caller.
    with contextlib.suppress(TimeoutError):
        await runner.wait_idle(timeout=15)
    used = own_cpu() - cpu[0], engine_cpu(instance) - cpu[1]
    python.verified, python.wrong, python.times = len(ivr.verified), ivr.wrong, ivr.verified
    ok = await asyncio.to_thread(read_family, instance, OK_FAMILY)
    wrong = await asyncio.to_thread(read_family, instance, BAD_FAMILY)
    native.verified, native.wrong = len(ok), collections.Counter(wrong)
    native.times = [float(v) for v in ok if _is_number(v)]
    return Step(
        rate=rate,
        sides={"python": python, "dialplan": native},
        latencies=list(runner.latencies),
        orchestrator_cpu=used[0],
        engine_cpu=used[1],
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _describe(step: Step) -> str:
    parts = [f"ivr: {step.rate:g} calls/s to each"]
    for name in SIDES:
        s = step.sides[name]
        parts.append(
            f"{name} {s.verified}/{s.attempted} verified, {s.completed} completed, "
            f"{s.wrong.total()} wrong digits {dict(s.wrong.most_common(3))}, "
            f"{s.calls_per_s:.1f} calls/s, {s.failed_pct:.2f} % failed"
        )
    calls = step.sides["python"].attempted + step.sides["dialplan"].attempted
    parts.append(
        f"CPU: orchestrator {1000 * step.orchestrator_cpu / step.sides['python'].attempted:.1f}"
        f" ms per Python call, engine {1000 * step.engine_cpu / calls:.1f} ms per call"
    )
    if step.latencies:
        p50 = percentile(step.latencies, 50) * 1000
        p99 = percentile(step.latencies, 99) * 1000
        parts.append(f"event->command p50 {p50:.2f} ms p99 {p99:.2f} ms")
    return "; ".join(parts)


def best(steps: list[Step], side: str, max_failed_pct: float) -> Step:
    """The highest step ``side`` took with few enough failures (else the lowest step)."""
    passed = [s for s in steps if s.sides[side].failed_pct < max_failed_pct]
    return max(passed, key=lambda s: s.rate) if passed else min(steps, key=lambda s: s.rate)


async def benchmark(instance: AsteriskInstance, options: IvrOptions) -> int:
    """Run the ramp on a started engine; return the failures (a side that took no step)."""
    creds = instance.credentials()
    engine = AsteriskEngine(
        ari_url=f"http://{instance.bind_address}:{instance.ports.http}/ari",
        ari_user=str(creds["ari_user"]),
        ari_password=str(creds["ari_password"]),
        ami_host=instance.bind_address,
        ami_port=instance.ports.ami,
        ami_user=str(creds["ami_user"]),
        ami_password=str(creds["ami_password"]),
        app=instance.ari_app,
    )
    ivr = PythonIvr()
    runner = IvrRunner(
        engine,
        AppRegistry(builtins={FLOW_KEY: ivr.flow}, entry_point_group=None),
        lookup,
        StaticDirectory(engine),
        keep_latencies=LATENCIES_KEPT,
    )
    # Subscribed before the engine starts: no StasisStart may go unseen.
    runner.start()
    await engine.start()
    steps: list[Step] = []
    try:
        await engine.wait_connected(timeout=30)
        progress(f"ivr: engine connected (Asterisk {engine.version})")
        for rate in options.rates:
            progress(f"ivr: {rate:g} calls/s to each IVR for {options.step_seconds:g} s")
            step = await run_step(instance, runner, ivr, rate=rate, seconds=options.step_seconds)
            steps.append(step)
            progress(_describe(step))
            for name in SIDES:
                if step.sides[name].log:
                    progress(f"--- {name}: SIPp's errors ---\n{step.sides[name].log}")
            if all(step.sides[n].failed_pct >= options.max_failed_pct for n in SIDES):
                progress("ivr: both IVRs failed calls at this rate; no higher step")
                break
            await asyncio.sleep(options.settle)
    finally:
        await runner.stop()
        await engine.stop()
    if not steps:
        return 1

    chosen = {name: best(steps, name, options.max_failed_pct) for name in SIDES}
    python, native = (chosen[n].sides[n] for n in SIDES)
    for name, side in (("python", python), ("dialplan", native)):
        progress(f"ivr: {name}: figures of the {side.rate:g} calls/s step")
    report("ivr_python_calls_per_s", python.calls_per_s, "calls/s", ">= 100")
    report("ivr_dialplan_calls_per_s", native.calls_per_s, "calls/s")
    ratio = python.calls_per_s / native.calls_per_s if native.calls_per_s else 0.0
    report("ivr_python_to_dialplan_ratio", ratio, "ratio", ">= 0.9")
    report("ivr_python_failed_pct", python.failed_pct, "%", f"< {options.max_failed_pct:g}")
    report("ivr_dialplan_failed_pct", native.failed_pct, "%", f"< {options.max_failed_pct:g}")
    report("ivr_python_calls", python.attempted, "count")
    report("ivr_dialplan_calls", native.attempted, "count")
    latencies = chosen["python"].latencies
    report("ivr_event_to_command_p50_ms", percentile(latencies, 50) * 1000, "ms")
    report("ivr_event_to_command_p99_ms", percentile(latencies, 99) * 1000, "ms", "< 20")
    # CPU per call at the lowest step (the least disturbed by overload): what bounds the
    # rate on this machine whatever else runs on it.
    low = min(steps, key=lambda s: s.rate)
    calls = sum(low.sides[n].attempted for n in SIDES)
    cpu_ms = 1000 * low.orchestrator_cpu / low.sides["python"].attempted
    report("ivr_orchestrator_cpu_ms_per_python_call", cpu_ms, "ms")
    report("ivr_engine_cpu_ms_per_call", 1000 * low.engine_cpu / calls, "ms")
    return sum(1 for n in SIDES if chosen[n].sides[n].failed_pct >= options.max_failed_pct)


async def run(options: IvrOptions) -> int:
    """Start the engine and the callers' realtime stub, run the ramp, stop everything."""
    stub = caller_stub()
    with contextlib.ExitStack() as stack:
        logs = stack.enter_context(quiet_orchestrator_logs())
        stack.enter_context(stub.serve_in_thread(port=API_PORT))
        instance = stack.enter_context(engine_instance())
        path = await asyncio.to_thread(install_dialplan, instance)
        try:
            failures = await benchmark(instance, options)
        finally:
            path.unlink(missing_ok=True)
        progress(f"ivr: {len(stub.requests)} realtime lookups of the callers' endpoint")
        if logs.count > _KEPT_LOG_RECORDS:
            progress(f"ivr: {logs.count} warnings/errors logged by the orchestrator in all")
        return failures
