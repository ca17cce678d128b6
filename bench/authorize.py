"""Prepaid authorization as the dialplan asks for it: round trip, throughput, overspend.

What runs: the whole service (:func:`orchestrator.runtime.build_app`) on the
:class:`~orchestrator.core.FakeEngine` (no Asterisk: the dialplan's question is plain
HTTP), served by uvicorn from a thread on a free local port, twice (two nodes on one
database, for the overspend check), on a fresh SQLite file or, with ``--authorize-db
postgresql://...``, in a fresh schema of that PostgreSQL database (dropped at the end).
Everything is provisioned through the REST API: a tenant, extensions, a per-second
tariff of a few thousand prefixes, a product and a prepaid account per extension.

The requests are the dialplan's own (dialplan_templates/asterisk/tenant/extensions.conf.j2):
``GET <realtime prefix>/<secret>/billing-authorize?tenant=..&endpoint=..&number=..&call=..``
with libcurl's ``User-Agent``, the secret in the path (the realtime driver's: there is
no header), on a **new TCP connection each**: ``CURL()`` keeps one curl handle per
thread and every call's dialplan runs in a thread of its own. They are timed at
concurrency 1 and ``concurrency`` against the first node, from the accounts in turn.

Then the overspend check: ``contention`` requests at once against one account whose
balance buys only about half of them, sent to the two nodes in turn; what they must get
is in :func:`bench.authorize_check.contention_failures`. See bench/README.md,
"Prepaid authorization".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from api.services import services_of
from bench.authorize_check import (
    CONTENTION_NUMBER,
    CONTENTION_REST,
    EFFECTIVE,
    Attempt,
    authorize_target,
    contention_charge,
    contention_failures,
    curl_request,
    expected_grants,
    make_rates,
    parse_head,
    percentile,
    rate_json,
)
from bench.authorize_service import AttemptLog, database, serve, service_cpu_s
from bench.harness import progress
from orchestrator.pricing import Rounding
from orchestrator.rating.service import RatingService
from orchestrator.settings import Settings
from orchestrator.store import ledger
from orchestrator.store.models import Reservation
from orchestrator.testing.browser import LiveServer

TOKEN = "bench-authorize-admin-token-0123456789"
DOMAIN = "authorize.bench.example"
FIRST_EXTENSION = 100


@dataclass(frozen=True, slots=True)
class AuthorizeOptions:
    db: str = ""  # "": SQLite; else a PostgreSQL URL (a schema of its own, dropped after)
    prefixes: int = 3000
    accounts: int = 50
    serial: int = 300  # requests one after the other
    requests: int = 1000  # requests at `concurrency`
    concurrency: int = 32
    contention: int = 200  # requests at once against one account
    seed: int = 11


# `python -m bench --smoke`: a few requests of each kind, 10 at once on one account.
SMOKE = AuthorizeOptions(
    prefixes=50, accounts=3, serial=10, requests=20, concurrency=4, contention=10
)


@dataclass(slots=True)
class Level:
    """The requests of one load level."""

    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    cpu_s: float = 0.0
    tries: list[Attempt] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return sum(1 for a in self.tries if a.outcome == "contended")


class Bench:
    """The provisioned tenant and the dialplan's requests against the running service."""

    def __init__(self, o: AuthorizeOptions, servers: list[LiveServer], secret: str) -> None:
        self.o = o
        self.ports = [server.port for server in servers]
        self.secret = secret
        self.rating: RatingService = services_of(servers[0].app).rating
        self.log = AttemptLog()
        for server in servers:
            self.log.watch(services_of(server.app).rating)
        self.http = httpx.AsyncClient(
            base_url=servers[0].url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        self.rng = random.Random(o.seed)
        self.numbers: list[str] = []
        self.tenant = 0
        self.shared = FIRST_EXTENSION + o.accounts  # the contended account's extension
        self.shared_account = 0
        self.charge = contention_charge()
        self.balance = (o.contention // 2) * self.charge(self.rating.cap_s) + CONTENTION_REST
        self._base, self._calls = int(time.time()), 0

    def call_id(self) -> str:
        """Shaped like Asterisk's linkedid, ``<epoch>.<sequence>``."""
        self._calls += 1
        return f"{self._base}.{self._calls}"

    async def _ok(self, method: str, url: str, json: Any, code: int = 201) -> Any:
        r = await self.http.request(method, url, json=json)
        if r.status_code != code:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    async def provision(self) -> None:
        tenant = await self._ok(
            "POST", "/api/v1/tenants", {"name": "Authorize", "sip_domain": DOMAIN}
        )
        self.tenant = tenant["id"]
        rates = make_rates(self.rng, self.o.prefixes)
        tariff = await self._ok("POST", "/api/v1/tariffs", {
            "tenant_id": self.tenant, "name": "per-second", "currency": "EUR",
            "rounding": Rounding.HALF_UP.value, "precision": 2,
        })  # fmt: skip
        await self._ok("POST", f"/api/v1/tariffs/{tariff['id']}/versions", {
            "label": "v1", "effective_from": EFFECTIVE.isoformat(),
            "rates": [rate_json(r) for r in rates],
        })  # fmt: skip
        product = await self._ok("POST", "/api/v1/products", {
            "tenant_id": self.tenant, "name": "prepaid", "tariffs": {"outgoing": tariff["id"]},
        })  # fmt: skip
        # Numbers of 12 digits under the rates' prefixes (not the contended one's).
        self.numbers = [
            r.prefix + "".join(self.rng.choices("0123456789", k=12 - len(r.prefix)))
            for r in rates[:-1]
        ]
        self.rng.shuffle(self.numbers)
        gate = asyncio.Semaphore(4)

        async def phone(number: int, money: Decimal) -> int:
            async with gate:
                await self._ok("POST", f"/api/v1/tenants/{self.tenant}/extensions",
                               {"number": str(number)})  # fmt: skip
                account = await self._ok("POST", "/api/v1/accounts", {
                    "tenant_id": self.tenant, "name": f"caller-{number}", "kind": "prepaid",
                    "currency": "EUR", "product_id": product["id"],
                })  # fmt: skip
                url = f"/api/v1/accounts/{account['id']}"
                await self._ok("POST", f"{url}/extensions", {"extension": str(number)}, 204)
                await self._ok("POST", f"{url}/transactions",
                               {"kind": "topup", "amount": str(money)})  # fmt: skip
                return int(account["id"])

        # Enough for every request of the load levels (at most 4 h at the dearest rate).
        plenty = Decimal(100_000)
        *_, self.shared_account = await asyncio.gather(
            *(phone(FIRST_EXTENSION + i, plenty) for i in range(self.o.accounts)),
            phone(self.shared, self.balance),
        )

    def target(self, extension: int, number: str, call: str) -> str:
        endpoint = f"{extension}@{DOMAIN}"  # ${CHANNEL(endpoint)}: sip_username@domain
        return authorize_target(
            self.secret, tenant=self.tenant, endpoint=endpoint, number=number, call=call
        )

    async def ask(self, target: str, node: int = 0) -> tuple[str, float]:
        """One request to a service on a new connection, as ``CURL()``: (body or
        ``HTTP <status>``, ms)."""
        port = self.ports[node]
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(curl_request(f"127.0.0.1:{port}", target))
            status, length = parse_head(await reader.readuntil(b"\r\n\r\n"))
            body = (await reader.readexactly(length)).decode()
        finally:
            writer.close()
        ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return (body if status == 200 else f"HTTP {status}"), ms

    async def load(self, concurrency: int, total: int) -> Level:
        """``total`` requests from the accounts in turn, ``concurrency`` in flight."""
        level = Level(concurrency)
        jobs = iter(range(total))
        first = len(self.log.attempts)

        async def worker() -> None:
            for i in jobs:
                number = self.numbers[i % len(self.numbers)]
                target = self.target(FIRST_EXTENSION + i % self.o.accounts, number, self.call_id())
                answer, ms = await self.ask(target)
                level.latencies_ms.append(ms)
                level.answers["limit" if answer.startswith("limit_") else answer] += 1

        cpu, started = service_cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        level.seconds = time.perf_counter() - started
        level.cpu_s = service_cpu_s() - cpu
        level.tries = self.log.since(first)
        return level

    async def contention(self) -> tuple[list[str], dict[str, Any]]:
        """All ``contention`` requests at once against the one account, to each service in
        turn: (failures, figures)."""
        calls = [self.call_id() for _ in range(self.o.contention)]
        answers: dict[str, str] = {}
        first = len(self.log.attempts)

        async def one(i: int, call: str) -> None:
            target = self.target(self.shared, CONTENTION_NUMBER, call)
            answers[call], _ = await self.ask(target, i % len(self.ports))

        started = time.perf_counter()
        await asyncio.gather(*(one(i, call) for i, call in enumerate(calls)))
        seconds = time.perf_counter() - started
        tries = self.log.since(first)
        rows = await asyncio.to_thread(self._reservations)
        account = (await self.http.get(f"/api/v1/accounts/{self.shared_account}")).json()
        expected = expected_grants(self.charge, self.balance, self.rating.cap_s)
        failures = contention_failures(
            balance=self.balance,
            expected=expected,
            charge=self.charge,
            answers=answers,
            reservations=rows,
            attempts=tries,
        )
        if Decimal(account["balance"]) != self.balance:
            failures.append(f"the account's balance is {account['balance']}, not {self.balance}")
        if Decimal(account["available"]) < 0:
            failures.append(f"OVERSPEND: the account has {account['available']} available")
        reserved = sum((amount for _, _, amount in rows), Decimal(0))
        per_call = collections.Counter(a.call_id for a in tries)
        return failures, {
            "granted": sum(1 for a in answers.values() if a.startswith("limit_")),
            "expected": len(expected),
            "answers": collections.Counter(answers.values()),
            "reserved": reserved,
            "left": self.balance - reserved,
            "retries": sum(1 for a in tries if a.outcome == "contended"),
            "max_tries": max(per_call.values(), default=0),
            "seconds": seconds,
        }

    def _reservations(self) -> list[tuple[str, int, Decimal]]:
        with self.rating.sessions() as session:
            rows = session.exec(
                select(Reservation).where(col(Reservation.account_id) == self.shared_account)
            ).all()
        return [(r.call_id, r.max_duration_s, r.amount) for r in rows]


# -- the run ------------------------------------------------------------------------
AIM_P99_MS = 100
NODES = ("node-a", "node-b")
CURL_TIMEOUT_MS = 3000  # res_curl's total timeout in the dialplan (docs/billing.md)


def report(name: str, value: object, unit: str = "", aim: str = "") -> None:
    """One result line on stdout, ``name: value unit``, and the aim after ``#``."""
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    tail = f" {unit}" if unit else ""
    print(f"{name}: {text}{tail}" + (f"  # {aim}" if aim else ""), flush=True)


async def run(o: AuthorizeOptions) -> int:
    """Run the benchmark, print its lines; 1 when a check failed (an overspend above all)."""
    secret = secrets.token_hex(16)
    with (
        tempfile.TemporaryDirectory(prefix="bench-authorize-") as tmp,
        database(o.db, Path(tmp)) as url,
        contextlib.ExitStack() as stack,
    ):
        settings = Settings(
            engine="fake",
            database_url=url,
            state_dir=Path(tmp) / NODES[0],
            admin_token=TOKEN,
            realtime_secret=secret,
            asterisk={"credentials": Path(tmp) / "no-engine.json"},  # not the machine's
        )
        # Two nodes of the service on the one database, as two orchestrators would be: each
        # takes the authorizations of an account in turn, the account's compare-and-set
        # keeps them from spending the same money.
        servers: list[LiveServer] = []
        for node in NODES:
            (Path(tmp) / node).mkdir()
            server = serve(settings.model_copy(update={"state_dir": Path(tmp) / node}))
            stack.callback(server.stop)
            servers.append(server)
        bench = Bench(o, servers, secret)
        try:
            return await _measure(bench)
        finally:
            await bench.http.aclose()


async def _measure(bench: Bench) -> int:
    o = bench.o
    started = time.perf_counter()
    await bench.provision()
    progress(
        f"authorize: a tenant, {o.prefixes} per-second prefixes, {o.accounts + 1} prepaid "
        f"accounts made through the API in {time.perf_counter() - started:.1f} s "
        f"({'PostgreSQL' if o.db else 'SQLite'})"
    )
    failures: list[str] = []
    first, first_ms = await bench.ask(
        bench.target(FIRST_EXTENSION, bench.numbers[0], bench.call_id())
    )
    if not first.startswith("limit_"):
        failures.append(f"the first request was answered {first!r}")
    levels = [await bench.load(1, o.serial), await bench.load(o.concurrency, o.requests)]
    for level in levels:
        other = {k: n for k, n in level.answers.items() if k != "limit"}
        if other:
            failures.append(f"concurrency {level.concurrency}: not limit_<ms>: {other}")
        progress(
            f"authorize: concurrency {level.concurrency}: {len(level.latencies_ms)} requests "
            f"in {level.seconds:.1f} s, {dict(level.answers)}, {level.retries} retries, "
            f"service CPU {level.cpu_s:.1f} s"
        )
    wrong, figures = await bench.contention()
    failures += wrong
    progress(
        f"authorize: {o.contention} at once on one account of {bench.balance} EUR "
        f"through {len(NODES)} services: "
        f"{dict(figures['answers'])} in {figures['seconds']:.2f} s; reserved "
        f"{figures['reserved']}, left {figures['left']} (1 s costs {bench.charge(1)})"
    )

    report("authorize_database", "postgresql" if o.db else "sqlite")
    report("authorize_prefixes", o.prefixes, "prefixes")
    report("authorize_first_ms", first_ms, "ms")
    aim = f"aim p99 < {AIM_P99_MS} ms (res_curl gives up after {CURL_TIMEOUT_MS // 1000} s)"
    for level in levels:
        name = f"authorize_c{level.concurrency}"
        report(f"{name}_p50_ms", percentile(level.latencies_ms, 50), "ms")
        report(f"{name}_p99_ms", percentile(level.latencies_ms, 99), "ms", aim)
        report(f"{name}_per_s", len(level.latencies_ms) / level.seconds, "authorizations/s")
        report(f"{name}_retries", level.retries, "retries")
    busy = levels[-1]
    report("authorize_cpu_ms_per_request", busy.cpu_s * 1000 / o.requests, "ms")
    slow = sum(1 for level in levels for ms in level.latencies_ms if ms > CURL_TIMEOUT_MS)
    report("authorize_over_curl_timeout", slow, "requests", "aim 0")
    report("authorize_contention_requests", o.contention, "requests")
    report("authorize_contention_nodes", len(NODES), "services")
    report("authorize_contention_granted", figures["granted"], "calls",
           f"exactly what the money buys: {figures['expected']}")  # fmt: skip
    report("authorize_contention_refused", o.contention - figures["granted"], "calls")
    report("authorize_contention_retries", figures["retries"], "retries")
    report("authorize_contention_max_tries", figures["max_tries"], "tries",
           f"the service gives up after {ledger.RETRIES}")  # fmt: skip
    report("authorize_contention_per_s", o.contention / figures["seconds"], "authorizations/s")
    overspend = max(Decimal(0), figures["reserved"] - bench.balance)
    report("authorize_overspend", f"{overspend:.2f}", "EUR", "aim 0")
    report("authorize_exact", int(not failures), "bool")
    for failure in failures[:20]:
        progress(f"authorize: FAILED {failure}")
    if len(failures) > 20:
        progress(f"authorize: ... and {len(failures) - 20} more failures")
    return 1 if failures else 0
