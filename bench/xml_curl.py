"""FreeSWITCH's directory lookups as the orchestrator answers them (mod_xml_curl).

``python -m bench --only xml-curl [--xml-curl-users 100000]``: no engine, no database.
``users`` SIP users in tenants of ``users_per_tenant`` are indexed by the FreeSWITCH
provisioner (:class:`~orchestrator.engines.freeswitch.provisioning.apply.
FreeSwitchProvisioner`, from synthetic snapshots: the store's part is the provisioning
benchmark's), then looked up by the request FreeSWITCH 1.10 sent for a REGISTER
(tests/data/freeswitch-esl/e1_xml_curl_requests.json, 45 form fields with the digest
ones), its domain and user changed to random users of the index. Timed:

* ``apply``: indexing every tenant (rendering and validating each user's document);
* ``lookup``: the answer's own path (parse the URL-encoded form, find the user, its
  prepared document), :func:`time.process_time` per lookup;
* ``asgi``: the whole route, called as uvicorn calls the FastAPI app (routing, the
  secret check, the body, the response; not the HTTP parsing nor the TCP connection
  FreeSWITCH opens anew per lookup);
* ``default``: as FreeSWITCH asks, on the default deployment: the API's port as
  ``make run`` serves it (uvicorn, one worker, in a process of its own, with the
  FreeSWITCH kit's front door: :mod:`orchestrator.front_door`), each lookup a new TCP
  connection with mod_xml_curl's request, from ``tcp_clients`` load processes (each its
  share of the lookups one after the other);
* ``tcp``: the same load on uvicorn without the front door (the FastAPI routes);
* ``listener``: the same load on :class:`XmlCurlListener` on a port of its own
  (``ORCH_FREESWITCH__XML_CURL_PORT``) in a process of its own;
* one tenant's change through the API on the fake FreeSWITCH (:mod:`bench.xml_curl_apply`).

The aim (issues 12 and 16): at least 5,000 directory lookups/s for 100,000 users on the
default deployment, each under 50 ms. Figures are for reading; only a wrong answer
fails the run.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import cast
from urllib.parse import quote, urlencode

from fastapi import FastAPI

from bench.harness import progress
from bench.xml_curl_apply import ApplyOptions, run_apply
from orchestrator.core import FakeEngine
from orchestrator.engines.freeswitch.kit import build
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import (
    DIRECTORY_FIELDS,
    PREFIX,
    directory_answer,
    parse_form,
    xml_curl_router,
)
from orchestrator.engines.freeswitch.provisioning.xml_curl_listener import XmlCurlListener
from orchestrator.engines.kit import KitDeps
from orchestrator.front_door import server_config
from orchestrator.provisioning.tenant import SipUser, TenantConfig
from orchestrator.settings import FreeSwitchSettings, Settings

CAPTURE = (
    Path(__file__).resolve().parents[1] / "tests/data/freeswitch-esl/e1_xml_curl_requests.json"
)
SECRET = "bench-xml-curl-secret-0123456789"
PASSWORD = "Abcdefgh1234Abcdefgh1234"


@dataclass(frozen=True, slots=True)
class XmlCurlOptions:
    users: int = 100_000
    users_per_tenant: int = 100
    lookups: int = 20_000
    asgi_lookups: int = 5_000
    tcp_lookups: int = 5_000
    tcp_clients: int = 4
    apply: ApplyOptions = field(default_factory=ApplyOptions)


SMOKE = XmlCurlOptions(
    users=200,
    users_per_tenant=50,
    lookups=200,
    asgi_lookups=50,
    tcp_lookups=50,
    apply=ApplyOptions(tenants=3, extensions=5, changes=2),
)
AIM_LOOKUPS_PER_S = 5_000
AIM_P99_MS = 50


def tenants(options: XmlCurlOptions) -> list[TenantConfig]:
    out = []
    count = max(1, options.users // options.users_per_tenant)
    for tid in range(1, count + 1):
        domain = f"t{tid}.bench.example"
        users = tuple(
            SipUser(str(n), f"u{n}", PASSWORD, f"u{n}@{domain}", f'"User {n}" <{n}>')
            for n in range(1000, 1000 + options.users_per_tenant)
        )
        out.append(TenantConfig(id=tid, domain=domain, enabled=True, users=users))
    return out


def register_form() -> dict[str, str]:
    """The captured REGISTER lookup's fields (the first value of each name)."""
    form: dict[str, str] = {}
    for name, value in json.loads(CAPTURE.read_text())[0]["fields"]:
        form.setdefault(name, value)
    return form


def bodies(configs: list[TenantConfig], count: int, rng: random.Random) -> list[bytes]:
    base = register_form()
    out = []
    for _ in range(count):
        t = rng.choice(configs)
        u = rng.choice(t.users)
        form = base | {
            "key_value": t.domain,
            "domain": t.domain,
            "user": u.username,
            "sip_auth_username": u.username,
            "sip_auth_realm": t.domain,
        }
        out.append(urlencode(form, quote_via=quote).encode())
    return out


def report(name: str, value: float, unit: str, aim: str = "") -> None:
    digits = 3 if unit == "s" else 2
    print(f"{name}: {value:.{digits}f} {unit}" + (f"  # aim {aim}" if aim else ""), flush=True)


async def _asgi(prov: FreeSwitchProvisioner, requests: list[bytes]) -> list[float]:
    """Each request through the app as uvicorn calls it (one ASGI call per lookup)."""
    app = FastAPI()
    app.include_router(xml_curl_router(lambda: prov, lambda: SECRET))
    path = f"{PREFIX}/{SECRET}/directory"
    times = []
    for body in requests:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", b"freeswitch-xml/1.0"),
                (b"accept", b"*/*"),
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        sent: list[dict[str, object]] = []

        async def receive(body: bytes = body) -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object], sent: list[dict[str, object]] = sent) -> None:
            sent.append(message)

        started = time.perf_counter()
        await app(scope, receive, send)
        times.append(time.perf_counter() - started)
        status = sent[0].get("status")
        text = b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]
        if status != 200 or b"<user id=" not in text:
            raise AssertionError(f"no user in the answer: {status} {text[:200]!r}")
    return times


def _app(prov: FreeSwitchProvisioner) -> FastAPI:
    app = FastAPI()
    app.include_router(xml_curl_router(lambda: prov, lambda: SECRET))
    return app


def _serve(prov: FreeSwitchProvisioner, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(_app(prov), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _serve_default(app: FastAPI, sock: socket.socket) -> None:
    """The API's port as `make run` serves it (:func:`server_config`)."""
    import uvicorn

    config = server_config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def default_app(configs: list[TenantConfig], root: Path) -> tuple[FastAPI, FreeSwitchProvisioner]:
    """The FreeSWITCH kit as the service builds it (``build``), its routes and front door
    on an app; its provisioner, to be indexed. The rest of the service's app is not
    needed: a lookup never reaches it (the front door answers first)."""
    group = FreeSwitchSettings(root=root, xml_curl_secret=SECRET)
    settings = Settings(engine="freeswitch", freeswitch=group)
    kit = build(KitDeps(settings, lambda tid: None, lambda: configs, engine=FakeEngine()))
    app = FastAPI()
    for router in kit.routers:
        app.include_router(router)
    app.state.front_door = kit.front_door  # as runtime.build_app does
    return app, cast(FreeSwitchProvisioner, kit.provisioner)


def _serve_listener(prov: FreeSwitchProvisioner, sock: socket.socket) -> None:
    async def main() -> None:
        listener = XmlCurlListener("127.0.0.1", 0, lambda: prov, lambda: SECRET)
        await listener.start(sock=sock)
        await asyncio.Event().wait()  # until killed

    asyncio.run(main())


def _tcp_lookup(port: int, body: bytes) -> float:
    head = (
        f"POST {PREFIX}/{SECRET}/directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: freeswitch-xml/1.0\r\nAccept: */*\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    request = head.encode() + body
    started = time.perf_counter()
    with socket.socket() as conn:  # no name lookup: FreeSWITCH's URL has the address
        conn.settimeout(10)
        conn.connect(("127.0.0.1", port))
        conn.sendall(request)
        data = b""
        while b"</document>" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = time.perf_counter() - started
    if b" 200 OK" not in data[:20] or b"<user id=" not in data:
        raise AssertionError(f"no user in the answer: {data[:200]!r}")
    return elapsed


def _client(port: int, requests: list[bytes], ready: Barrier, out: Queue) -> None:  # type: ignore[type-arg]
    """One load process: its lookups one after the other, each a new connection."""
    ready.wait()
    started = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    try:
        times = [_tcp_lookup(port, body) for body in requests]
    except Exception as exc:  # reported by the parent
        out.put(repr(exc))
        return
    out.put((started, time.perf_counter(), times))


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tcp(
    serve: Callable[[socket.socket], None],
    requests: list[bytes],
    clients: int,
) -> tuple[list[float], float, float]:
    """The lookups' times, the wall clock of them all and the server's CPU seconds
    over them: the server in a process of its own, the load from ``clients`` processes
    (no thread of the bench competing with the server for the GIL; the machine's cores
    are shared all the same)."""
    ctx = multiprocessing.get_context("fork")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    server = ctx.Process(target=serve, args=(sock,))
    server.start()
    workers = []
    try:
        deadline = time.monotonic() + 30
        while True:  # the listening socket accepts at once; wait for answers
            try:
                _tcp_lookup(port, requests[0])
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        cpu = _cpu_s(server.pid)
        ready = ctx.Barrier(clients)
        out: Queue = ctx.Queue()  # type: ignore[type-arg]
        for i in range(clients):
            worker = ctx.Process(target=_client, args=(port, requests[i::clients], ready, out))
            worker.start()
            workers.append(worker)
        results = [out.get(timeout=300) for _ in workers]
        cpu = _cpu_s(server.pid) - cpu
        for worker in workers:
            worker.join(10)
        failed = [r for r in results if isinstance(r, str)]
        if failed:
            raise AssertionError(f"a load process failed: {failed[0]}")
        wall = max(r[1] for r in results) - min(r[0] for r in results)
        return sorted(t for r in results for t in r[2]), wall, cpu
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        server.kill()  # a bench server: nothing of it to keep
        server.join(10)
        sock.close()


def run(options: XmlCurlOptions) -> int:
    rng = random.Random(12)
    configs = tenants(options)
    progress(f"xml-curl: indexing {options.users} users in {len(configs)} tenants")
    with tempfile.TemporaryDirectory(prefix="bench-xml-curl-") as root:
        app, prov = default_app(configs, Path(root))
        apply_s = asyncio.run(prov.apply_all(reload=False))
        _lookups(options, configs, rng, prov, app, apply_s)
    asyncio.run(run_apply(options.apply, report))
    return 0


def _lookups(
    options: XmlCurlOptions,
    configs: list[TenantConfig],
    rng: random.Random,
    prov: FreeSwitchProvisioner,
    app: FastAPI,
    apply_s: float,
) -> None:
    users = sum(len(i.directory) for i in prov.tenants.values())
    if users != len(configs) * options.users_per_tenant:
        raise AssertionError(f"indexed {users} users")
    report("xml_curl_users", users, "users")
    report("xml_curl_apply_s", apply_s, "s")
    requests = bodies(configs, options.lookups, rng)
    started = time.process_time()
    for body in requests:
        if directory_answer(prov, parse_form(body, DIRECTORY_FIELDS)) is None:
            raise AssertionError("a user was not found")
    cpu = time.process_time() - started
    report("xml_curl_lookup_us", cpu / len(requests) * 1e6, "us")
    report("xml_curl_lookups_per_s", len(requests) / cpu if cpu else 0.0, "lookups/s")
    times = asyncio.run(_asgi(prov, requests[: options.asgi_lookups]))
    total = sum(times)
    times.sort()
    report("xml_curl_asgi_lookups_per_s", len(times) / total if total else 0.0, "lookups/s")
    report("xml_curl_asgi_p99_ms", times[int(len(times) * 0.99) - 1] * 1e3, "ms")
    report("xml_curl_asgi_max_ms", times[-1] * 1e3, "ms")
    servers: list[tuple[str, Callable[[socket.socket], None]]] = [
        ("xml_curl_default", partial(_serve_default, app)),
        ("xml_curl_tcp", partial(_serve, prov)),
        ("xml_curl_listener", partial(_serve_listener, prov)),
    ]
    for prefix, serve in servers:
        tcp, wall, cpu = _tcp(serve, requests[: options.tcp_lookups], options.tcp_clients)
        aimed = prefix == "xml_curl_default"
        rate = len(tcp) / wall if wall else 0.0
        report(f"{prefix}_lookups_per_s", rate, "lookups/s", f">= {AIM_LOOKUPS_PER_S}" * aimed)
        p99 = tcp[int(len(tcp) * 0.99) - 1] * 1e3
        report(f"{prefix}_p99_ms", p99, "ms", f"<= {AIM_P99_MS}" * aimed)
        # The server's own cost, less bound than the rate by what else the cores run.
        report(f"{prefix}_server_cpu_us", cpu / len(tcp) * 1e6, "us")


if __name__ == "__main__":
    raise SystemExit(run(XmlCurlOptions()))
