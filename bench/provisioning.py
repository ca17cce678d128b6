"""Provisioning at scale: 1,000 tenants x 100 extensions applied from scratch, then one tenant.

The run (see bench/README.md for what each number means):

1. a fresh ``bench`` engine and the whole service on a fresh SQLite store;
2. the store filled directly (not measured): ``tenants`` x ``extensions`` SIP users;
3. two small "live" tenants made through the API, whose phones call each other
   and register, in the background, from now until the end of step 5;
4. ``apply_all()`` on the service's event loop: the full apply from scratch;
5. ``changes`` times, an extension added to one tenant through the API;
6. REGISTER times of users the engine has not cached, then of the same users again;
7. one more ``dialplan reload`` through the CLI: what the engine alone spends on it;
8. 20 more reloads taking turns among 4 AMI sessions: the engine's memory stays
   bounded (docs/provisioning.md#engine-memory-across-reloads).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import SQLModel

from bench.harness import Service, bench_settings, engine_instance, progress, rss_mb, sipp_port
from bench.traffic import Phone, Traffic, register_times
from orchestrator.engines.asterisk.ami import AmiClient
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.store import db
from orchestrator.store.models import utcnow

LATENCY_PORT = sipp_port(27401)
FIRST_NUMBER = 100
LIVE_DOMAINS = ("live-a.bench.example", "live-b.bench.example")
# Issue 16's aims.
AIM_FULL_APPLY_S = 2.0
AIM_ONE_TENANT_S = 0.2
# Dialplans the engine may hold after the reload step: two arenas, each the old and the new.
AIM_RSS_DIALPLANS = 4


@dataclass(frozen=True, slots=True)
class Options:
    tenants: int = 1000
    extensions: int = 100
    changes: int = 5
    latency_users: int = 100
    # Seconds of background traffic before the full apply and after it.
    settle: float = 3.0
    # The reload step: this many reloads, taking turns among this many AMI sessions.
    reloads: int = 20
    reload_sessions: int = 4


# `python -m bench --smoke`: a few tenants, every step once (20 reloads of a tiny
# dialplan take about a second).
SMOKE = Options(tenants=3, extensions=3, changes=1, latency_users=2, settle=0.5)


def report(name: str, value: float, unit: str, aim: str = "") -> None:
    """One result line on stdout, ``name: value unit``, and the aim after ``#``."""
    digits = {"s": 3, "ms": 1, "MB": 0, "count": 0}[unit]
    text = f"{value:.{digits}f}" if digits else str(round(value))
    print(f"{name}: {text} {unit}" + (f"  # aim {aim}" if aim else ""), flush=True)


# -- the store -------------------------------------------------------------------
def bench_domain(tenant: int) -> str:
    return f"t{tenant:04d}.bench.example"


def bench_phone(seed: str, tenant: int, number: int) -> Phone:
    """A bench user; the password is derived, so the phones need no table of them."""
    digest = hashlib.sha256(f"{seed}:{tenant}:{number}".encode()).hexdigest()
    return Phone(username=str(number), password=digest[:24], domain=bench_domain(tenant))


def fill_store(database_url: str, *, tenants: int, extensions: int, seed: str) -> None:
    """Insert the bench tenants (ids 1..tenants) and their extensions in one transaction."""
    tables = SQLModel.metadata.tables
    now = utcnow()
    tenant_rows = [
        {
            "id": t,
            "name": f"Bench {t:04d}",
            "sip_domain": bench_domain(t),
            "enabled": True,
            "config_version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for t in range(1, tenants + 1)
    ]
    extension_rows: list[dict[str, Any]] = []
    for t in range(1, tenants + 1):
        for number in range(FIRST_NUMBER, FIRST_NUMBER + extensions):
            phone = bench_phone(seed, t, number)
            extension_rows.append(
                {
                    "tenant_id": t,
                    "number": phone.username,
                    "name": f"User {number}",
                    "first_name": "",
                    "last_name": "",
                    "email": None,
                    "caller_id_name": "",
                    "caller_id_number": "",
                    "enabled": True,
                    "sip_username": phone.username,
                    "sip_password": phone.password,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    sql = db.make_engine(database_url)
    try:
        with sql.begin() as connection:
            connection.execute(sa.insert(tables["tenants"]), tenant_rows)
            connection.execute(sa.insert(tables["extensions"]), extension_rows)
    finally:
        sql.dispose()


async def live_tenants(http: httpx.AsyncClient) -> tuple[list[tuple[Phone, Phone]], list[Phone]]:
    """Make the live tenants through the API: (caller, callee) pairs and phones to register."""
    pairs: list[tuple[Phone, Phone]] = []
    registrants: list[Phone] = []
    for domain in LIVE_DOMAINS:
        r = await http.post("/api/v1/tenants", json={"name": domain, "sip_domain": domain})
        r.raise_for_status()
        tenant_id = r.json()["id"]
        phones = []
        for number in ("100", "101", "102", "103"):
            r = await http.post(f"/api/v1/tenants/{tenant_id}/extensions", json={"number": number})
            r.raise_for_status()
            phones.append(Phone(number, r.json()["sip_password"], domain))
        pairs.append((phones[1], phones[0]))
        registrants += phones[2:]
    return pairs, registrants


# -- the steps -------------------------------------------------------------------
def _label(users: int) -> str:
    return f"{users // 1000}k" if users % 1000 == 0 else str(users)


def applied_extensions(conf: str, context: str) -> int:
    """The distinct extensions a tenant file gives ``context``: what ``dialplan show`` counts.

    Taken from the file the provisioner wrote, not from a count of the store's rows, so
    a template that gains extensions (feature codes, catch-alls) does not break the check.
    """
    names: set[str] = set()
    current = None
    for raw in conf.splitlines():
        line = raw.strip()
        if line.startswith("[") and "]" in line:
            current = line[1 : line.index("]")]
        elif current == context and line.startswith("exten =>"):
            names.add(line.removeprefix("exten =>").split(",", 1)[0].strip())
    return len(names)


async def check_dialplan(instance: AsteriskInstance, tenants: list[int]) -> None:
    """The engine shows every sampled tenant's extensions and the version marker of its
    file (apply_all verifies only one): the engine runs the files the provisioner wrote."""
    for tenant in tenants:
        context = f"t{tenant}"
        conf = (instance.tenants_dir / f"{context}.conf").read_text()
        expected = applied_extensions(conf, context)
        version = re.search(r"^exten => (version-[0-9a-f]+),", conf, re.M)
        out = await asyncio.to_thread(instance.cli, f"dialplan show {context}")
        if (
            not expected
            or f"-= {expected} extensions" not in out
            or (version is not None and f"'{version.group(1)}'" not in out)
        ):
            raise RuntimeError(
                f"the engine's dialplan of {context} is not the applied one "
                f"({expected} extensions in {context}.conf):\n{out}"
            )


async def one_tenant_changes(
    http: httpx.AsyncClient, tenant_id: int, changes: int
) -> tuple[list[float], list[float], int]:
    """Add ``changes`` extensions to one tenant, one request at a time.

    Returns the apply times the service reports, the requests' wall times and
    how many applies failed.
    """
    applies, requests, failed = [], [], 0
    for i in range(changes):
        started = time.perf_counter()
        r = await http.post(
            f"/api/v1/tenants/{tenant_id}/extensions", json={"number": str(200 + i)}
        )
        requests.append(time.perf_counter() - started)
        r.raise_for_status()
        state = (await http.get(f"/api/v1/tenants/{tenant_id}/config")).json()["last_apply"]
        applies.append(float(state["seconds"]))
        if not state["ok"] or "dialplan" not in state["changed"]:
            failed += 1
            progress(f"apply: change {i + 1} to tenant {tenant_id} failed: {state}")
        # Let the phones run between changes, as they would between API calls.
        await asyncio.sleep(1)
    return applies, requests, failed


async def reload_memory(instance: AsteriskInstance, reloads: int, sessions: int) -> list[float]:
    """``dialplan reload`` ``reloads`` times, taking turns among ``sessions`` AMI logins;
    the engine's VmRSS (MB) after each.

    Each AMI login is a thread of the engine, as each node of a service, each remote
    console and each operator's manager session is: the pattern under which the
    allocator kept a dialplan's worth of memory per thread.
    """
    creds = instance.credentials()
    clients = [
        AmiClient(
            "127.0.0.1",
            instance.ports.ami,
            str(creds["ami_user"]),
            str(creds["ami_password"]),
            events="off",
        )
        for _ in range(sessions)
    ]
    try:
        for client in clients:
            await client.start()
            await client.wait_connected()
        series = []
        for i in range(reloads):
            await clients[i % sessions].command("dialplan reload", timeout=120)
            series.append(rss_mb(instance))
        return series
    finally:
        for client in clients:
            await client.stop()


async def benchmark(service: Service, instance: AsteriskInstance, options: Options) -> int:
    """Run the steps on a started service; return the number of failures (0: all went well)."""
    seed = secrets.token_hex(8)
    server = f"127.0.0.1:{instance.ports.sip}"
    users = options.tenants * options.extensions
    progress(f"store: {options.tenants} tenants x {options.extensions} extensions")
    started = time.perf_counter()
    await asyncio.to_thread(
        fill_store,
        service.settings.database_url,
        tenants=options.tenants,
        extensions=options.extensions,
        seed=seed,
    )
    progress(f"store: {users} SIP users inserted in {time.perf_counter() - started:.1f} s")

    async with service.client() as http:
        pairs, live = await live_tenants(http)
        traffic = Traffic(server=server, pairs=pairs, registrants=live)
        progress(f"traffic: calls and registrations on {len(LIVE_DOMAINS)} live tenants")
        await traffic.start()
        try:
            await asyncio.sleep(options.settle)
            rss_before = rss_mb(instance)
            report("engine_rss_before_apply", rss_before, "MB")
            progress("apply: every tenant, from scratch")
            started, cpu = time.perf_counter(), time.process_time()
            seconds = await service.run(service.provisioner.apply_all())
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            progress(
                f"apply: done in {seconds:.2f} s ({wall:.2f} s seen from the benchmark, "
                f"load average {os.getloadavg()[0]:.1f})"
            )
            report(
                f"provision_full_apply_{_label(users)}", seconds, "s", f"<= {AIM_FULL_APPLY_S} s"
            )
            # The service runs in this process: its CPU time holds on a busy machine.
            report(f"provision_full_apply_cpu_{_label(users)}", cpu, "s")
            # The full apply is the engine's first reload of the whole dialplan.
            rss_first = rss_mb(instance)
            report("engine_rss_after_1_reload", rss_first, "MB")
            sample = sorted(random.sample(range(1, options.tenants + 1), min(5, options.tenants)))
            await check_dialplan(instance, sample)

            # Now the bench users exist: register those too, a different tenant each time.
            traffic.register_from(
                bench_phone(seed, t, FIRST_NUMBER) for t in range(1, options.tenants + 1)
            )
            await asyncio.sleep(options.settle)
            changed = max(1, options.tenants // 2)
            progress(f"apply: {options.changes} changes to tenant {changed} through the API")
            applies, requests, failed_applies = await one_tenant_changes(
                http, changed, options.changes
            )
            report(
                "provision_one_tenant_apply",
                statistics.median(applies),
                "s",
                f"<= {AIM_ONE_TENANT_S} s (median of {len(applies)})",
            )
            report("provision_one_tenant_request", statistics.median(requests), "s")
            report("provision_failed_applies", failed_applies, "count", "0")
        finally:
            progress("traffic: stopping")
            await traffic.stop()

    report("provision_registrations", traffic.registrations.attempted, "count")
    report("provision_failed_registrations", traffic.registrations.failed, "count", "0")
    report("provision_calls", traffic.calls.attempted, "count")
    report("provision_failed_calls", traffic.calls.failed, "count", "0")
    for what, tally in (("registration", traffic.registrations), ("call", traffic.calls)):
        for log in tally.logs:
            progress(f"--- a failed {what} ---\n{log}")

    report("engine_rss_after_changes", rss_mb(instance), "MB")
    # Users nobody registered yet, one per tenant across the range, never the changed one's.
    last = FIRST_NUMBER + options.extensions - 1
    step = max(1, options.tenants // options.latency_users)
    phones = [bench_phone(seed, t, last) for t in range(1, options.tenants + 1, step)]
    phones = phones[: options.latency_users]
    progress(f"latency: {len(phones)} first REGISTERs, then the same again")
    first = await register_times(server=server, phones=phones, local_port=LATENCY_PORT)
    repeat = await register_times(server=server, phones=phones, local_port=LATENCY_PORT)
    report("register_first_ms", statistics.median(first.ms), "ms")
    report("register_repeat_ms", statistics.median(repeat.ms), "ms")
    report("register_failed", first.failed + repeat.failed, "count", "0")
    report("engine_rss_after_registrations", rss_mb(instance), "MB")
    # What the engine alone spends on the dialplan every apply reloads (asterisk -rx included).
    started = time.perf_counter()
    await asyncio.to_thread(instance.cli, "dialplan reload", 120)
    report(f"engine_dialplan_reload_{_label(users)}", time.perf_counter() - started, "s")
    progress(f"memory: {options.reloads} reloads through {options.reload_sessions} AMI sessions")
    series = await reload_memory(instance, options.reloads, options.reload_sessions)
    progress("memory: VmRSS after each reload (MB): " + " ".join(f"{v:.0f}" for v in series))
    # Bounded: the engine's two malloc arenas (instance.ENGINE_ENVIRONMENT) hold at most
    # the old and the new dialplan each, one dialplan being what the full apply added.
    # With glibc's default every session that reloads keeps about two more.
    bound = rss_before + AIM_RSS_DIALPLANS * max(0.0, rss_first - rss_before)
    report(
        f"engine_rss_after_{options.reloads}_reloads",
        series[-1],
        "MB",
        f"<= {bound:.0f} MB (before the apply + {AIM_RSS_DIALPLANS} x what its reload added)",
    )
    return (
        traffic.registrations.failed
        + traffic.calls.failed
        + failed_applies
        + first.failed
        + repeat.failed
    )


async def run(options: Options) -> int:
    """Set everything up, run the benchmark, tear everything down; return the failures."""
    with (
        tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as tmp,
        engine_instance() as instance,
    ):
        settings = bench_settings(Path(tmp))
        async with Service(settings) as service:
            return await benchmark(service, instance, options)
