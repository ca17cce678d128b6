"""SIP phones for the benchmark: calls and registrations in the background, REGISTER times.

Every phone is a real SIPp process talking SIP to the engine (see
:mod:`orchestrator.testing.sipp`); nothing is simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import sipp_port
from orchestrator.testing import sipp

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REGISTER_SCENARIO = SCENARIOS / "register_many.xml"
CALL_SCENARIO = SCENARIOS / "call_hold.xml"
# Local SIP ports of the benchmark's phones: odd, so never one of SIPp's RTP
# ports (even, 20000-29998), and away from the test suite's 16xxx.
CALLEE_PORTS = tuple(sipp_port(p) for p in (27101, 27103, 27105, 27107))
# Where a callee goes when its port is held by another process (odd: never a SIPp RTP port).
SPARE_CALLEE_PORTS = tuple(sipp_port(p) for p in range(27111, 27131, 2))
CALLER_PORT = sipp_port(27201)
REGISTER_PORT = sipp_port(27301)
_KEPT_LOGS = 3


@dataclass(frozen=True, slots=True)
class Phone:
    """One SIP user: ``sip:<username>@<domain>``."""

    username: str
    password: str
    domain: str


@dataclass(slots=True)
class Tally:
    """Attempts and failures, with SIPp's logs of the first few failures."""

    attempted: int = 0
    failed: int = 0
    logs: list[str] = field(default_factory=list)

    def add(self, attempted: int, failed: int, log: str = "") -> None:
        self.attempted += attempted
        self.failed += failed
        if failed and len(self.logs) < _KEPT_LOGS:
            self.logs.append(log[:4000])


class Traffic:
    """Calls and registrations from :meth:`start` until :meth:`stop`.

    Calls: bursts of :func:`place_calls` at ``rate`` calls/s, each call held
    ``hold_ms``, from each pair's caller to its callee; the callees are registered
    from their own ports, where an :class:`sipp.Answerer` answers. The pairs take
    turns. Registrations: one :func:`sipp.register` after the other, cycling over
    the phones last given to :meth:`register_from`.
    """

    def __init__(
        self,
        *,
        server: str,
        pairs: list[tuple[Phone, Phone]],
        registrants: Iterable[Phone],
        rate: float = 10,
        burst: int = 20,
        hold_ms: int = 1000,
    ) -> None:
        if len(pairs) > len(CALLEE_PORTS):
            raise ValueError(f"at most {len(CALLEE_PORTS)} caller/callee pairs")
        self.server = server
        self.pairs = pairs
        self.rate = rate
        self.burst = burst
        self.hold_ms = hold_ms
        self.calls = Tally()
        self.registrations = Tally()
        self._registrants: Iterator[Phone] = itertools.cycle(list(registrants))
        self._stopping = asyncio.Event()
        self._answerers: list[sipp.Answerer] = []
        self._tasks: list[asyncio.Task[None]] = []

    def register_from(self, phones: Iterable[Phone]) -> None:
        """Register these phones from now on (in turn, over and over)."""
        self._registrants = itertools.cycle(list(phones))

    async def start(self) -> None:
        """Register the callees and start their answerers, then the call and registration
        loops. If any of it fails, the answerers already started are stopped before the
        error goes on: each would otherwise hold its port for its 30-minute timeout, and
        the next benchmark run on this machine would find it taken."""
        try:
            await self._start_answerers()
        except BaseException:
            await self._stop_answerers()
            raise
        self._tasks = [
            asyncio.create_task(self._call_loop(), name="bench-calls"),
            asyncio.create_task(self._register_loop(), name="bench-registrations"),
        ]

    async def _start_answerers(self) -> None:
        # A port another process holds (seen in CI: "answerer did not start on port 27103",
        # errno 98) is passed over for a spare one, so the traffic starts all the same.
        ports = iter([p for p in (*CALLEE_PORTS, *SPARE_CALLEE_PORTS) if sipp.udp_free(p)])
        for (_, callee), port in zip(self.pairs, ports, strict=False):
            result = await sipp.register(
                server=self.server,
                username=callee.username,
                password=callee.password,
                domain=callee.domain,
                local_port=port,
                expires=3600,
            )
            if not result.ok:
                raise RuntimeError(f"callee {callee} could not register:\n{result.log}")
            answerer = sipp.Answerer(local_port=port, timeout=1800)
            self._answerers.append(answerer)
            await answerer.start()

    async def stop(self) -> None:
        """Let the bursts in progress finish (their calls count), then stop every phone."""
        self._stopping.set()
        grace = self.burst / self.rate + self.hold_ms / 1000 + 30
        try:
            if self._tasks:
                _, pending = await asyncio.wait(self._tasks, timeout=grace)
                for task in pending:
                    task.cancel()
                results = await asyncio.gather(*self._tasks, return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException) and not isinstance(
                        result, asyncio.CancelledError
                    ):
                        raise result
        finally:
            await self._stop_answerers()

    async def _stop_answerers(self) -> None:
        for answerer in self._answerers:
            with contextlib.suppress(sipp.SippError):
                await answerer.stop()

    async def _call_loop(self) -> None:
        for caller, callee in itertools.cycle(self.pairs):
            if self._stopping.is_set():
                return
            try:
                attempted, failed, log = await place_calls(
                    server=self.server,
                    caller=caller,
                    callee=callee,
                    calls=self.burst,
                    rate=self.rate,
                    hold_ms=self.hold_ms,
                )
            except sipp.SippError as exc:
                attempted, failed, log = self.burst, self.burst, str(exc)
            self.calls.add(attempted, failed, log)

    async def _register_loop(self) -> None:
        while not self._stopping.is_set():
            phone = next(self._registrants)
            try:
                result = await sipp.register(
                    server=self.server,
                    username=phone.username,
                    password=phone.password,
                    domain=phone.domain,
                    local_port=REGISTER_PORT,
                    expires=600,
                )
            except sipp.SippError as exc:
                self.registrations.add(1, 1, f"{phone}: {exc}")
                continue
            self.registrations.add(1, 0 if result.ok else 1, f"{phone}: {result.log}")


async def run_sipp(
    scenario: Path,
    workdir: Path,
    *,
    server: str,
    local_port: int,
    calls: int,
    rate: float,
    limit: int | None = None,
    keys: dict[str, str] | None = None,
    phone: Phone | None = None,
    extra: list[str] | None = None,
) -> dict[str, str]:
    """Run ``calls`` calls of ``scenario`` (in ``workdir``) in one SIPp; its final statistics."""
    timeout = calls / rate + 30
    for _ in range(3):
        cmd = sipp.build_command(
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            media_port=sipp.media_port(),
            timeout=timeout,
            server=server,
            keys=keys,
            username=phone.username if phone else None,
            password=phone.password if phone else None,
            calls=calls,
            rate=rate,
            limit=limit,
            trace_messages=False,
            extra=[*(extra or []), "-default_behaviors", "all,-bye"],
        )
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
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
        # Another process took the RTP port between our check and SIPp's bind: retry.
        if "Unable to bind" not in stderr:
            break
    raise sipp.SippError(f"sipp exited with {proc.returncode}", stderr + _errors(workdir))


def _errors(workdir: Path) -> str:
    """What went wrong, from SIPp's error log: the events, not the messages they quote."""
    try:
        text = (workdir / "errors.log").read_text(errors="replace")
    except OSError:
        return ""
    # SIPp runs events together on one line; each starts with a date.
    events = re.split(r"(?=\d{4}-\d\d-\d\d\t)", text)
    # A hold ending on its timeout is how every call ends: not an error.
    wanted = [e for e in events if e.strip() and "receive timeout on message" not in e]
    return "\n".join(e[:600] for e in wanted[:5])


def _count(stats: dict[str, str], key: str) -> int:
    return int(float(stats.get(key) or 0))


async def place_calls(
    *,
    server: str,
    caller: Phone,
    callee: Phone,
    calls: int,
    rate: float,
    hold_ms: int,
    limit: int | None = None,
) -> tuple[int, int, str]:
    """``calls`` calls at ``rate`` calls/s, each held ``hold_ms``: (attempted, failed, log).

    ``limit``: calls up at once (SIPp's default is 3 x ``rate``)."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        workdir = Path(tmp)
        scenario = workdir / CALL_SCENARIO.name
        scenario.write_text(CALL_SCENARIO.read_text().replace("HOLD_MS", str(max(1, hold_ms))))
        stats = await run_sipp(
            scenario,
            workdir,
            server=server,
            local_port=CALLER_PORT,
            calls=calls,
            rate=rate,
            limit=limit,
            keys={
                "sip_user": caller.username,
                "sip_domain": caller.domain,
                "sip_target": callee.username,
            },
            phone=caller,
        )
        failed = _count(stats, "FailedCall(C)")
        # Calls SIPp never placed (it stopped early) count as failed too.
        unplaced = max(0, calls - _count(stats, "OutgoingCall(C)"))
        return calls, failed + unplaced, _errors(workdir) if failed or unplaced else ""


@dataclass(frozen=True, slots=True)
class RegisterTimes:
    """Each successful REGISTER's time in ms (first request sent to final 200)."""

    ms: list[float]
    failed: int


async def register_times(
    *, server: str, phones: list[Phone], local_port: int, rate: float = 20
) -> RegisterTimes:
    """REGISTER each phone once, one at a time, in one SIPp process; time each in SIPp.

    Starting SIPp takes longer than a REGISTER, so times are taken inside SIPp
    (response-time 1 of the scenario, written per call by ``-trace_rtt``).
    """
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        workdir = Path(tmp)
        # SIPp names its trace files after the scenario: keep them in workdir.
        scenario = workdir / REGISTER_SCENARIO.name
        shutil.copyfile(REGISTER_SCENARIO, scenario)
        users = workdir / "users.csv"
        # SIPp expands a keyword held in a field, but no field inside [authentication].
        auth = "[authentication username={0.username} password={0.password}]"
        lines = [f"{p.username};{p.domain};{auth.format(p)}\n" for p in phones]
        users.write_text("SEQUENTIAL\n" + "".join(lines))
        stats = await run_sipp(
            scenario,
            workdir,
            server=server,
            local_port=local_port,
            calls=len(phones),
            rate=rate,
            limit=1,  # one at a time: a time must not include waiting behind another
            extra=["-inf", str(users), "-trace_rtt", "-rtt_freq", "1"],
        )
        ms = [float(row[1]) for row in _rows(workdir.glob("*_rtt.csv")) if _number(row, 1)]
        return RegisterTimes(ms=ms, failed=_count(stats, "FailedCall(C)"))


def _rows(paths: Iterable[Path]) -> Iterator[list[str]]:
    for path in paths:
        yield from csv.reader(path.read_text().splitlines(), delimiter=";")


def _number(row: list[str], index: int) -> bool:
    try:
        float(row[index])
    except (IndexError, ValueError):
        return False
    return True


def _last_row(path: Path) -> dict[str, str]:
    try:
        rows = list(csv.reader(path.read_text().splitlines(), delimiter=";"))
    except OSError:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}
