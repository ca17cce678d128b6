"""The engine queues benchmark's tenants, agents and phones (see bench/queues_engine.py).

Everything is made through the REST API, the way an administrator would: tenants,
extensions, agents, queues, IVR apps of the builtin flow ``queue``, their access
numbers (one DID import per tenant) and the memberships. The phones are SIPp
processes: the agents' phones register from the ports where
:class:`~orchestrator.testing.sipp.Answerer` processes then answer their calls, and
one SIPp per step places the callers' calls from an injection file.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import progress, sipp_port
from bench.traffic import REGISTER_SCENARIO, SCENARIOS, Phone, _count, _errors, run_sipp
from orchestrator.testing import sipp

SCENARIO = SCENARIOS / "queue_call.xml"
DOMAIN = "queues.bench.example"
# Odd local SIP ports (never a SIPp RTP port), away from the other benchmarks' 271xx-275xx.
ANSWER_PORTS = tuple(sipp_port(p) for p in (27601, 27603, 27605, 27607))
CALLER_PORT = sipp_port(27651)
FIRST_AGENT = 1000
CALLER = "2000"
FIRST_ACCESS = 17333560000
NAME = "queues_engine"


@dataclass(frozen=True, slots=True)
class EngineQueueOptions:
    """The shape of the call center and the ramp (bench/README.md, "Queues on the engine")."""

    # As bench/queues.py: 5 tenants x 10 queues x 10 agents. Not one tenant of 500: each
    # agent or membership change through the API reloads its tenant's whole ACD setup.
    tenants: int = 5
    queues_per_tenant: int = 10
    agents_per_queue: int = 10
    rates: tuple[float, ...] = (5, 10, 20, 30, 40, 50, 60, 80)
    step_seconds: float = 15
    # Short calls: the 500 agents could take 200 calls/s, so the machine is the limit,
    # and the engine has few channels up at once.
    hold_ms: int = 2000
    wrapup_s: float = 0.5
    # Steady: 99 % of the callers reached an agent within this.
    max_wait_p99_s: float = 2.0
    # After a step's last call: how long the ACD may take to be idle again.
    settle_s: float = 10.0
    # Measuring the CPU everything takes with no call (two registration polls).
    idle_s: float = 10.0
    # Provisioning requests in flight at once.
    concurrency: int = 8


# `python -m bench --smoke`: one queue of 4 agents (one a phone port), one slow step.
SMOKE = EngineQueueOptions(
    tenants=1,
    queues_per_tenant=1,
    agents_per_queue=4,
    rates=(1,),
    step_seconds=3,
    hold_ms=1000,
    settle_s=5,
    idle_s=1,
    concurrency=4,
)


@dataclass(frozen=True, slots=True)
class Seat:
    """One agent: the phone, the agent's id, the queue it is a member of."""

    phone: Phone
    agent_id: int
    queue: str


@dataclass(slots=True)
class Tenant:
    """What provisioning made in one tenant."""

    id: int
    caller: Phone
    queues: list[str]
    access: list[str]  # the queues' access numbers, in the same order
    seats: list[Seat]


# -- provisioning ---------------------------------------------------------------------------
async def _post(http: httpx.AsyncClient, url: str, **kw: Any) -> dict[str, Any]:
    r = await http.post(url, **kw)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"POST {url}: {r.status_code} {r.text[:500]}")
    data: dict[str, Any] = r.json()
    return data


async def _gather(gate: asyncio.Semaphore, jobs: Iterable[Any]) -> list[Any]:
    """Run the coroutines ``jobs``, as many at a time as ``gate`` lets in; results in order."""

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def access_number(tenant: int, queue: int) -> str:
    return f"+{FIRST_ACCESS + 100 * tenant + queue}"


async def provision_tenant(
    http: httpx.AsyncClient, o: EngineQueueOptions, index: int, limit: asyncio.Semaphore
) -> Tenant:
    """One tenant through the API: extensions, agents, queues, access numbers, members."""
    domain = f"t{index}.{DOMAIN}"
    tenant = await _post(http, "/api/v1/tenants", json={"name": domain, "sip_domain": domain})
    tid = int(tenant["id"])
    queues = [f"q{i:02d}" for i in range(o.queues_per_tenant)]
    numbers = [str(FIRST_AGENT + i) for i in range(o.queues_per_tenant * o.agents_per_queue)]
    extensions = await _gather(
        limit,
        (
            _post(http, f"/api/v1/tenants/{tid}/extensions", json={"number": n})
            for n in [*numbers, CALLER]
        ),
    )
    passwords = {e["number"]: e["sip_password"] for e in extensions}
    agents = await _gather(
        limit,
        (_post(http, "/api/v1/agents", json={"tenant_id": tid, "extension": n}) for n in numbers),
    )
    settings = {"strategy": "longest_idle", "ring_timeout_s": 10, "retry_s": 0.5}
    made = await _gather(
        limit,
        (
            _post(
                http,
                "/api/v1/queues",
                json={"tenant_id": tid, "name": q, "wrapup_s": o.wrapup_s, **settings},
            )
            for q in queues
        ),
    )
    queue_ids = {q["name"]: int(q["id"]) for q in made}
    flow = {"tenant_id": tid, "app": "queue", "max_duration_s": 600}
    await _gather(
        limit,
        (
            _post(http, "/api/v1/ivr-apps", json={**flow, "name": q, "settings": {"queue": q}})
            for q in queues
        ),
    )
    access = [access_number(index, i) for i in range(len(queues))]
    rows = "".join(f"{a},bench,{tid},ivr:{q}\n" for a, q in zip(access, queues, strict=True))
    csv = ("number,pricing_batch,tenant_id,destination\n" + rows).encode()
    await _post(http, "/api/v1/dids/bulk", files={"file": ("dids.csv", csv, "text/csv")})
    seats = [
        Seat(Phone(n, passwords[n], domain), int(a["id"]), queues[i // o.agents_per_queue])
        for i, (n, a) in enumerate(zip(numbers, agents, strict=True))
    ]
    await _gather(
        limit,
        (
            _post(
                http,
                f"/api/v1/queues/{queue_ids[seat.queue]}/members",
                json={"agent_id": seat.agent_id},
            )
            for seat in seats
        ),
    )
    state = (await http.get(f"/api/v1/tenants/{tid}/config")).json()["last_apply"]
    if not state["ok"]:
        raise RuntimeError(f"tenant {domain}'s configuration was not applied: {state}")
    return Tenant(tid, Phone(CALLER, passwords[CALLER], domain), queues, access, seats)


async def provision(http: httpx.AsyncClient, o: EngineQueueOptions) -> list[Tenant]:
    """Every tenant, side by side, at most ``o.concurrency`` requests in flight.

    Each change of a tenant holds a database connection until the engine has its new
    configuration, and the applies wait for each other: more requests at once than
    the service's connection pool (5 + 10 overflow) would time out waiting for one.
    """
    limit = asyncio.Semaphore(o.concurrency)
    tenants = (provision_tenant(http, o, t + 1, limit) for t in range(o.tenants))
    return list(await asyncio.gather(*tenants))


# -- phones --------------------------------------------------------------------------------
def _auth(phone: Phone) -> str:
    # SIPp expands a keyword held in a field, but no field inside [authentication].
    return f"[authentication username={phone.username} password={phone.password}]"


async def register_once(server: str, phones: list[Phone], port: int) -> tuple[int, str]:
    """REGISTER ``phones`` from ``port`` (so that is their contact) in one SIPp.

    Returns the failures and SIPp's errors. Now and then the engine answers a
    REGISTER only after SIPp sent it again (500 ms); the second 401 then arrives after
    the authenticated REGISTER and SIPp fails that one: :func:`register_agents` retries.
    """
    with tempfile.TemporaryDirectory(prefix="bench-qe-register-") as tmp:
        workdir = Path(tmp)
        scenario = workdir / REGISTER_SCENARIO.name
        scenario.write_text(REGISTER_SCENARIO.read_text())
        users = workdir / "users.csv"
        lines = [f"{p.username};{p.domain};{_auth(p)}\n" for p in phones]
        users.write_text("SEQUENTIAL\n" + "".join(lines))
        stats = await run_sipp(
            scenario,
            workdir,
            server=server,
            local_port=port,
            calls=len(phones),
            rate=100,
            limit=5,
            extra=["-inf", str(users)],
        )
        failed = _count(stats, "FailedCall(C)") + len(phones) - _count(stats, "OutgoingCall(C)")
        return failed, _errors(workdir) if failed else ""


async def register_agents(server: str, phones: list[Phone], port: int, attempts: int = 3) -> None:
    """REGISTER ``phones`` from ``port``; all of them again while any failed."""
    for attempt in range(1, attempts + 1):
        failed, log = await register_once(server, phones, port)
        if not failed:
            return
        progress(f"{NAME}: {failed} REGISTERs from port {port} failed (attempt {attempt})")
        if attempt == attempts:
            raise RuntimeError(f"{failed} agents could not register from port {port}:\n{log}")


def caller_lines(tenants: list[Tenant]) -> str:
    """The callers' injection file: each line one call's access number, domain, caller.

    The tenants take turns, and within each tenant its queues.
    """
    lines = ["SEQUENTIAL"]
    for q in range(max(len(t.access) for t in tenants)):
        for t in tenants:
            if q < len(t.access):
                phone = t.caller
                lines.append(f"{t.access[q]};{phone.domain};{phone.username};{_auth(phone)}")
    return "\n".join(lines) + "\n"


async def place_calls(
    server: str, tenants: list[Tenant], *, rate: float, calls: int, hold_ms: int
) -> tuple[int, int, int, str]:
    """``calls`` calls to the access numbers in turn: (placed, failed, far-end BYEs, log)."""
    with tempfile.TemporaryDirectory(prefix="bench-qe-calls-") as tmp:
        workdir = Path(tmp)
        scenario = workdir / SCENARIO.name
        scenario.write_text(SCENARIO.read_text().replace("HOLD_MS", str(max(1, hold_ms))))
        targets = workdir / "callers.csv"
        targets.write_text(caller_lines(tenants))
        try:
            stats = await run_sipp(
                scenario,
                workdir,
                server=server,
                local_port=CALLER_PORT,
                calls=calls,
                rate=rate,
                limit=max(200, round(rate * 30)),
                extra=["-inf", str(targets)],
            )
        except sipp.SippError as exc:
            return 0, calls, 0, str(exc)[:4000]
        placed = _count(stats, "OutgoingCall(C)")
        failed = _count(stats, "FailedCall(C)") + max(0, calls - placed)
        try:
            actions = (workdir / "actions.log").read_text(errors="replace")
        except OSError:
            actions = ""
        far = sum(1 for line in actions.splitlines() if line.startswith("farbye "))
        log = _errors(workdir) if failed or far else ""
        return placed, failed, far, log


async def start_agents(
    http: httpx.AsyncClient, o: EngineQueueOptions, server: str, tenants: list[Tenant]
) -> None:
    """Log every agent in, then register the phones (contacts spread over ANSWER_PORTS).

    A login reads every registered contact from the engine (AMI ``PJSIPShowContacts``):
    500 logins after 500 registrations would parse 250,000 of them. With no contact at
    all, though, Asterisk answers that action with an error that the AMI client never
    takes as the end of the listing, and each read waits for its 10 s timeout. So one
    phone registers first, then the agents log in (``unavailable`` until the ACD's
    poll sees their phones), then the other phones register.
    """
    started = time.monotonic()
    phones = [seat.phone for t in tenants for seat in t.seats]
    await register_agents(server, phones[:1], ANSWER_PORTS[0])
    await _gather(
        asyncio.Semaphore(o.concurrency),
        (
            _post(http, f"/api/v1/agents/{seat.agent_id}/login", json={"queue": seat.queue})
            for t in tenants
            for seat in t.seats
        ),
    )
    progress(f"{NAME}: agents logged in ({time.monotonic() - started:.1f} s)")
    groups = [phones[i :: len(ANSWER_PORTS)] for i in range(len(ANSWER_PORTS))]
    await asyncio.gather(
        *(register_agents(server, g, p) for g, p in zip(groups, ANSWER_PORTS, strict=True))
    )
    progress(f"{NAME}: {len(phones)} phones registered ({time.monotonic() - started:.1f} s)")
