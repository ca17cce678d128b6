"""One tenant's change on FreeSWITCH, measured as the Asterisk provisioning benchmark does.

Part of ``python -m bench --only xml-curl`` (:mod:`bench.xml_curl`). The whole service
(:func:`~orchestrator.runtime.build_app`, SQLite, uvicorn with the front door, as
``make run`` serves it) on ``ORCH_ENGINE=freeswitch`` over the fake FreeSWITCH
(:class:`~orchestrator.testing.freeswitch.FakeFreeSwitch`: the ESL side, a real
``xml_flush_cache`` api command per flushed user; there is no FreeSWITCH binary here).
``tenants`` x ``extensions`` are put in the store (bench/provisioning.py's
``fill_store``) and indexed (``apply_all``, timed), then ``changes`` extensions are added
to one tenant through ``POST /api/v1/tenants/{id}/extensions``: its
``last_apply.seconds`` (the median is ``provision_one_tenant_apply`` on Asterisk).
Each change must flush exactly the one new user in FreeSWITCH's cache and nothing else,
and the new user must then be answered by the lookups on the API's port; otherwise the
run fails.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httpx

from api.services import services_of
from bench.harness import Service, progress
from bench.provisioning import bench_domain, fill_store
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.xml_curl import PREFIX
from orchestrator.settings import FreeSwitchSettings, Settings
from orchestrator.testing.freeswitch import FakeFreeSwitch, sofia


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    tenants: int = 1_000
    extensions: int = 100
    changes: int = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(root: Path, state_dir: Path, api_port: int) -> Settings:
    return Settings(
        engine="freeswitch",
        state_dir=state_dir,
        database_url=f"sqlite:///{state_dir / 'bench.db'}",
        admin_token="bench-" + secrets.token_urlsafe(24),
        api_port=api_port,
        freeswitch=FreeSwitchSettings(root=root),
    )


def _lookup(port: int, secret: str, user: str, domain: str) -> bytes:
    """mod_xml_curl's directory lookup of one user, on the API's port; the answer."""
    body = f"section=directory&tag_name=domain&key_name=name&key_value={domain}&key=id"
    body += f"&user={user}&domain={domain}"
    request = (
        f"POST {PREFIX}/{secret}/directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
        f"{body}"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


async def _changes(
    http: httpx.AsyncClient, peer: FakeFreeSwitch, tenant_id: int, changes: int
) -> tuple[list[float], list[float]]:
    """``changes`` extensions added to one tenant, one request at a time: the apply
    times the service reports and the requests' wall times."""
    applies, requests = [], []
    domain = bench_domain(tenant_id)
    for i in range(changes):
        number = str(200 + i)
        before = len(peer.switch.api_log)
        started = time.perf_counter()
        r = await http.post(f"/api/v1/tenants/{tenant_id}/extensions", json={"number": number})
        requests.append(time.perf_counter() - started)
        r.raise_for_status()
        state = (await http.get(f"/api/v1/tenants/{tenant_id}/config")).json()["last_apply"]
        if not state["ok"] or "directory" not in state["changed"]:
            raise AssertionError(f"change {i + 1} to tenant {tenant_id} failed: {state}")
        applies.append(float(state["seconds"]))
        asked = peer.switch.api_log[before:]
        if asked != [f"xml_flush_cache id {number} {domain}"]:
            raise AssertionError(f"one new user, yet FreeSWITCH was asked {asked[:5]}")
    return applies, requests


async def run_apply(options: ApplyOptions, say: Callable[[str, float, str, str], None]) -> None:
    """Measure; ``say(name, value, unit, aim)`` prints each result line."""
    with tempfile.TemporaryDirectory(prefix="bench-fs-") as tmp:
        root = Path(tmp) / "freeswitch"
        instance = root / "default"
        (instance / "conf" / "gateways").mkdir(parents=True)
        api_port = _free_port()
        secret = secrets.token_urlsafe(24)
        password = secrets.token_urlsafe(18)
        url = f"http://127.0.0.1:{api_port}{PREFIX}/{secret}"
        async with FakeFreeSwitch(password=password, xml_curl_url=url) as peer:
            creds = {"esl_password": password, "xml_curl_secret": secret, "esl_port": peer.port}
            (instance / "credentials.json").write_text(json.dumps(creds))
            # Its SIP side (sofia, reloadacl), the trunks' files read where the kit writes.
            sofia.install(peer, conf_dir=instance / "conf", profile="orchestrator")
            service = Service(_settings(root, Path(tmp), api_port))  # with the front door
            async with service:
                users = options.tenants * options.extensions
                progress(f"xml-curl apply: {options.tenants} x {options.extensions} in the store")
                await asyncio.to_thread(
                    fill_store,
                    service.settings.database_url,
                    tenants=options.tenants,
                    extensions=options.extensions,
                    seed=secrets.token_hex(8),
                )
                prov = cast(FreeSwitchProvisioner, services_of(service.app).provisioner)
                seconds = await service.run(prov.apply_all())
                if sum(len(t.directory) for t in prov.tenants.values()) != users:
                    raise AssertionError("not every user was indexed")
                say("xml_curl_full_apply_s", seconds, "s", "<= 2")
                changed = max(1, options.tenants // 2)
                progress(f"xml-curl apply: {options.changes} changes to tenant {changed}")
                async with service.client() as http:
                    applies, requests = await _changes(http, peer, changed, options.changes)
                say("xml_curl_one_tenant_apply", statistics.median(applies), "s", "<= 0.2")
                say("xml_curl_one_tenant_request", statistics.median(requests), "s", "")
                answer = await asyncio.to_thread(
                    _lookup, api_port, secret, str(200 + options.changes - 1), bench_domain(changed)
                )
                if b"<user id=" not in answer:
                    raise AssertionError(f"the new user is not served: {answer[:200]!r}")
