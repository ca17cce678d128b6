"""``restart_recover_s``: how long live calls are out of the orchestrator's hands on a restart.

N phone-to-phone calls run through a tenant's dialplan on the ``bench`` engine (one SIPp
caller process, one SIPp answerer); the orchestrator (the whole service, as in
:mod:`bench.harness`) lists them. It is stopped and a new one is started on the same
store and engine, and the benchmark polls ``GET /api/v1/calls`` until every call is
listed again with its id, then checks ``GET /api/v1/calls/{id}`` of each: the seconds
from the start of the new service (``build_app`` included) to then are
``restart_recover_s``. Each call is then hung up by REST (``restart_hangups_failed``
counts refusals), and the engine's and this process's CPU over the recovery are printed
(the service runs in a thread of this process, next to the benchmark's own polling).

Tiny mode for ``make test``: ``python -m bench --only restart --restart-calls 3``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import Service, bench_settings, engine_instance, progress
from bench.traffic import Phone, place_calls
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.settings import Settings
from orchestrator.testing import sipp

NAME = "restart"
DOMAIN = "restart.bench.example"
CALLER, CALLEE = "100", "200"
CALLEE_PORT = 27701  # odd: never a SIPp RTP port; away from the other benchmarks' ports
REQUESTS_AT_ONCE = 8


@dataclass(frozen=True, slots=True)
class RestartOptions:
    calls: int = 200
    rate: float = 50.0  # calls/s while the calls are placed
    timeout_s: float = 60.0  # longest wait for the calls to be listed, before and after


SMOKE = RestartOptions(calls=3)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _listed(http: httpx.AsyncClient, tenant_id: int) -> set[str]:
    r = await http.get("/api/v1/calls", params={"tenant_id": tenant_id})
    r.raise_for_status()
    return {str(c["id"]) for c in r.json()["items"] if c["kind"] == "dialplan"}


async def _until_listed(
    http: httpx.AsyncClient, tenant_id: int, wanted: int | set[str], timeout: float
) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ids = await _listed(http, tenant_id)
        except httpx.HTTPError:
            ids = set()
        done = wanted <= ids if isinstance(wanted, set) else len(ids) >= wanted
        if done:
            return ids
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids)} calls listed after {timeout} s")
        await asyncio.sleep(0.02)


async def _each(
    request: Callable[[str], Awaitable[httpx.Response]], urls: list[str]
) -> list[httpx.Response]:
    """``request`` each URL, REQUESTS_AT_ONCE at a time (as a few CTI clients would: the
    API's database pool is sized for that, not for hundreds of requests at once)."""
    gate = asyncio.Semaphore(REQUESTS_AT_ONCE)

    async def one(url: str) -> httpx.Response:
        async with gate:
            return await request(url)

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def _tenant(service: Service) -> tuple[int, Phone, Phone]:
    async with service.client() as http:
        r = await http.post("/api/v1/tenants", json={"name": "Restart", "sip_domain": DOMAIN})
        r.raise_for_status()
        tid = int(r.json()["id"])
        phones = []
        for number in (CALLER, CALLEE):
            r = await http.post(f"/api/v1/tenants/{tid}/extensions", json={"number": number})
            r.raise_for_status()
            body = r.json()
            phones.append(Phone(str(body["sip_username"]), str(body["sip_password"]), DOMAIN))
    return tid, phones[0], phones[1]


async def benchmark(
    o: RestartOptions, settings: Settings, instance: AsteriskInstance
) -> tuple[list[str], int]:
    """The result lines and the number of failures."""
    server = f"127.0.0.1:{instance.ports.sip}"
    service = Service(settings)
    await service.start()
    try:
        tid, caller, callee = await _tenant(service)
        result = await sipp.register(
            server=server, username=callee.username, password=callee.password,
            domain=DOMAIN, local_port=CALLEE_PORT,
        )  # fmt: skip
        if result.status != 200:
            raise RuntimeError(f"the callee did not register: {result.log[:2000]}")
    except BaseException:
        await service.stop()
        raise
    hold_ms = int((o.calls / o.rate + 2 * o.timeout_s + 60) * 1000)
    async with sipp.Answerer(local_port=CALLEE_PORT, calls=o.calls):
        placing = asyncio.create_task(
            place_calls(
                server=server, caller=caller, callee=callee, calls=o.calls, rate=o.rate,
                hold_ms=hold_ms, limit=o.calls,
            )
        )  # fmt: skip
        try:
            async with service.client() as http:
                before = await _until_listed(http, tid, o.calls, o.calls / o.rate + o.timeout_s)
            progress(f"{NAME}: {len(before)} calls up; restarting the orchestrator")
            await service.stop()
            engine_cpu, own_cpu = _cpu_s(instance.pid() or 0), time.process_time()
            started = time.monotonic()
            service = Service(settings)
            service.launch()  # (start() would also wait for the start-up sync)
            async with service.client() as http:
                await _until_listed(http, tid, before, o.timeout_s)
                gets = await _each(http.get, [f"/api/v1/calls/{i}" for i in before])
                recovered = time.monotonic() - started
                engine_cpu = _cpu_s(instance.pid() or 0) - engine_cpu
                own_cpu = time.process_time() - own_cpu
                lost = sum(r.status_code != 200 for r in gets)
                hangup = functools.partial(http.post, json={})
                hangups = await _each(hangup, [f"/api/v1/calls/{i}/hangup" for i in before])
            refused = sum(r.status_code != 200 for r in hangups)
            attempted, failed, log = await asyncio.wait_for(placing, o.timeout_s)
        finally:
            placing.cancel()
            await asyncio.gather(placing, return_exceptions=True)
            await service.stop()
    if failed and log:
        progress(f"{NAME}: SIPp log of failed calls:\n{log}")
    lines = [
        f"restart_calls: {len(before)} calls",
        f"restart_recover_s: {recovered:.2f} s",
        f"restart_recover_engine_cpu_s: {engine_cpu:.2f} s",
        f"restart_recover_process_cpu_s: {own_cpu:.2f} s",
        f"restart_calls_not_found: {lost} calls",
        f"restart_hangups_failed: {refused} calls",
        f"restart_calls_failed: {failed} of {attempted}",
    ]
    return lines, lost + refused


async def run(options: RestartOptions | None = None) -> int:
    o = options or RestartOptions()
    progress(f"{NAME}: {o.calls} phone-to-phone calls across a restart of the orchestrator")
    with engine_instance() as instance, tempfile.TemporaryDirectory(prefix="bench-rs-") as tmp:
        settings = bench_settings(Path(tmp))
        lines, failures = await benchmark(o, settings, instance)
    for line in lines:
        print(line, flush=True)
    return 1 if failures else 0
