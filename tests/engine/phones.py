"""A tenant with SIPp phones on the real engine: the setup the real-engine tests share.

A module fixture creates the tenant and its extensions through REST; the tests then
register the phones, start answering (or refusing, or only ringing) phones on their
contact ports and place calls from them::

    PORT = phone_ports("test_mine", "101", "102", "call")

    @pytest.fixture(scope="module")
    def tenant(service: Service) -> TenantPhones:
        return create_tenant(service, "Mine", "mine.example",
                             {n: PORT[n] for n in ("101", "102")},
                             dial_from={"101": PORT["call"]})

    async def test_it(tenant: TenantPhones) -> None:
        await tenant.register("102")
        async with tenant.answerer("102", calls=1) as phone:
            result = await tenant.call("101", "102", hold_ms=500)
        ...

SIPp ports come from the run's slot (see ``ORCH_TEST_SLOT`` in conftest.py): slot k owns
200 ports, offsets 0-99 at 16000+100k and 100-199 at 19000+100k, and each module owns a
block of them in ``BLOCKS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.testing import sipp
from tests.engine.conftest import SLOT, Service

# -- ports -------------------------------------------------------------------

PHONE_PORT_BASE = 16000
PHONE_PORT_BASE_2 = 19000  # offsets 100-199 (16100+ is the next slot's)
PHONE_PORT_BASE_3 = 17000  # offsets 200-299 (below SIPp's RTP ports, 20000 up)
PORTS_PER_SLOT = 100
OFFSETS = 300
# Each module's offsets in its slot's 100 phone ports. One table, so that no two modules
# share a port: a SIPp process that outlives its test must never answer another's call.
# Modules that do not use this helper yet are listed too, to keep their ports free.
# Offsets 17, 195-204 and 245-299 are free. No module may take a port of its
# own outside this table: two slots' runs (pytest -n 2 with ORCH_TEST_SLOTS, or two
# developers) must never share one.
BLOCKS: dict[str, range] = {
    "test_queues_wallboard": range(0, 10),  # not using the helper (yet)
    "test_queues_restart": range(12, 17),  # not using the helper (yet)
    "test_cdrs_flows": range(30, 38),
    "test_observe": range(40, 42),
    "test_cdrs_gaps": range(42, 48),
    "test_cti": range(50, 52),
    "test_supervision": range(60, 63),  # not using the helper (yet)
    "test_recordings_calls": range(63, 68),
    "test_queues_strategies": range(20, 30),
    "test_queues": range(70, 78),
    "test_cti_transfer": range(80, 84),
    "test_cti_observed": range(90, 92),
    "test_cdrs": range(95, 98),
    "test_restart_adopt": range(84, 90),
    "test_registration_events": range(18, 20),
    "test_registration_events_2": range(10, 12),  # the same module's second block
    "test_dead_phones": range(52, 60),
    "test_conference_rooms": range(38, 40),
    "test_conference_rooms_2": range(48, 50),
    "conformance": range(92, 95),  # tests/conformance/worlds.py: phones
    "conformance_2": range(98, 100),  # tests/conformance/worlds.py: the carrier
    "test_conferences": range(68, 70),
    "test_conferences_2": range(78, 80),  # the same module's second block
    "test_adapter_take": range(100, 102),
    "test_conferences_audio": range(102, 104),
    "test_conferences_audio_2": range(104, 106),  # the same module's second block
    "test_feature_codes": range(106, 111),
    "test_follow_me": range(128, 135),
    "test_ivr": range(140, 141),
    "test_recordings_s3": range(141, 142),
    "test_trunks": range(142, 145),
    "test_prepaid": range(145, 148),
    "test_foundation": range(148, 156),
    "test_call_forwarding": range(111, 119),
    "test_mwi": range(156, 161),
    "test_voicemail": range(161, 168),
    "test_pbx_e2e": range(168, 176),
    "test_ring_groups": range(176, 182),
    "test_ext_features": range(186, 190),
    "test_paging": range(190, 195),
    "test_inbound": range(182, 186),
    "test_park": range(124, 128),
    "test_park_2": range(135, 140),  # the same module's second block
    "test_pickup": range(119, 124),
    "test_dial_lookup": range(210, 215),
    "test_withheld": range(205, 210),
    "conformance_3": range(215, 245),  # tests/conformance/worlds.py: phones
}


def _check_blocks() -> None:
    taken: dict[int, str] = {}
    for module, block in BLOCKS.items():
        for offset in block:
            if not 0 <= offset < OFFSETS or offset in taken:
                raise ValueError(f"{module}: port offset {offset} is not free ({taken})")
            taken[offset] = module


_check_blocks()


def phone_ports(module: str, *names: str) -> dict[str, int]:
    """This slot's SIPp ports for ``names``, one each, in order, from ``module``'s block."""
    block = BLOCKS[module]
    if len(names) > len(block):
        raise ValueError(f"{module} has {len(block)} ports, not {len(names)}")
    return {name: port_of(offset) for name, offset in zip(names, block, strict=False)}


def port_of(offset: int) -> int:
    """This slot's phone port at ``offset`` (0-299)."""
    if offset < PORTS_PER_SLOT:
        return PHONE_PORT_BASE + PORTS_PER_SLOT * SLOT + offset
    if offset < 2 * PORTS_PER_SLOT:
        return PHONE_PORT_BASE_2 + PORTS_PER_SLOT * SLOT + offset - PORTS_PER_SLOT
    return PHONE_PORT_BASE_3 + PORTS_PER_SLOT * SLOT + offset - 2 * PORTS_PER_SLOT


# -- the tenant --------------------------------------------------------------


def orch_api(service: Service) -> str:
    """Where the engine's dialplan asks the orchestrator (its global ``ORCH_API``)."""
    return next(
        line.split("=", 1)[1].strip()
        for line in service.instance.cli("dialplan show globals").splitlines()
        if line.strip().startswith("ORCH_API=")
    )


def ask_lookup(service: Service, path: str) -> str:
    """What the orchestrator answers the engine's per-call lookup ``path`` (``dial/...``)."""
    return httpx.get(f"{orch_api(service)}/{path}", timeout=10).text


def assert_applied(http: httpx.Client, tenant_id: int) -> None:
    """The tenant's configuration reached the engine (its last apply went through)."""
    r = http.get(f"/api/v1/tenants/{tenant_id}/config")
    assert r.json()["last_apply"]["ok"], r.text


def add_ivr_app(
    http: httpx.Client, tenant_id: int, access: str, *, pricing_batch: str, **app: Any
) -> int:
    """Route the DID ``access`` to a new IVR app of the tenant; ``app`` is its JSON fields."""
    r = http.post(
        "/api/v1/dids",
        json={"number": access, "tenant_id": tenant_id, "pricing_batch": pricing_batch},
    )
    assert r.status_code == 201, r.text
    r = http.post("/api/v1/ivr-apps", json={"tenant_id": tenant_id, **app})
    assert r.status_code == 201, r.text
    app_id = int(r.json()["id"])
    r = http.post(f"/api/v1/ivr-apps/{app_id}/numbers", json={"number": access})
    assert r.status_code in (200, 201), r.text
    return app_id


@dataclass
class TenantPhones:
    """A tenant made through REST, with one SIPp phone per extension.

    ``ports`` are the phones' registered contacts (where their answerers listen);
    ``dial_from`` the ports a phone places calls from when that is not its contact.
    """

    service: Service
    tenant: dict[str, Any]
    domain: str
    ports: dict[str, int]
    passwords: dict[str, str] = field(default_factory=dict)
    extension_ids: dict[str, int] = field(default_factory=dict)
    dial_from: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> int:
        """The tenant's id."""
        return int(self.tenant["id"])

    @property
    def server(self) -> str:
        """The engine's SIP address (``host:port``) the phones register with and call."""
        return f"127.0.0.1:{self.service.instance.ports.sip}"

    async def register(self, *numbers: str, attempts: int = 3) -> None:
        """REGISTER ``numbers`` (all phones by default) from their contact ports."""
        for number in numbers or tuple(self.ports):
            result = await register_retrying(
                attempts=attempts,
                server=self.server,
                username=number,
                password=self.passwords[number],
                domain=self.domain,
                local_port=self.ports[number],
            )
            assert result.status == 200, result.log

    async def call(self, number: str, target: str, **kw: Any) -> sipp.CallResult:
        """``number`` calls ``target`` (see :func:`sipp.call` for ``hold_ms``, ``expect``...)."""
        return await sipp.call(
            server=self.server,
            username=number,
            password=self.passwords[number],
            domain=self.domain,
            local_port=self.dial_from.get(number, self.ports[number]),
            target=target,
            **kw,
        )

    def answerer(
        self, number: str, calls: int | None = None, dtmf: str | None = None
    ) -> sipp.Answerer:
        """``number``'s phone, answering every call (``async with``; see :class:`sipp.Answerer`)."""
        return sipp.Answerer(local_port=self.ports[number], calls=calls, dtmf=dtmf)


async def register_retrying(*, attempts: int = 3, **kw: Any) -> sipp.RegisterResult:
    """:func:`sipp.register` until a 200 or ``attempts`` runs; the last run's result.

    A retry covers a SIPp run that lost a port race or a transient refusal, and one that
    a loaded machine's slow first lookup of a cold tenant aborted (SIPp retransmitted the
    REGISTER and the second 401 ended its run): the next one meets a warm engine. A
    wrong password fails every attempt and shows the last one's log.
    """
    for attempt in range(attempts):
        result = await sipp.register(**kw)
        if result.status == 200 or attempt + 1 == attempts:
            break
        await asyncio.sleep(0.5)
    return result


def create_tenant(
    service: Service,
    name: str,
    domain: str,
    phones: dict[str, int],
    *,
    dial_from: dict[str, int] | None = None,
) -> TenantPhones:
    """A new tenant with an extension for each of ``phones`` (number -> contact port)."""
    with service.client() as http:
        r = http.post("/api/v1/tenants", json={"name": name, "sip_domain": domain})
        assert r.status_code == 201, r.text
        out = TenantPhones(service, r.json(), domain, dict(phones), dial_from=dict(dial_from or {}))
        for number in phones:
            r = http.post(f"/api/v1/tenants/{out.id}/extensions", json={"number": number})
            assert r.status_code == 201, r.text
            out.passwords[number] = r.json()["sip_password"]
            out.extension_ids[number] = r.json()["id"]
        assert_applied(http, out.id)
    return out


# -- phones that do not answer -----------------------------------------------


def _response(status: str, *, contact: bool = False, cseq: str = "[last_CSeq:]") -> str:
    contact_line = "      Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
    return f"""  <send>
    <![CDATA[

      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag09[call_number]
      [last_Call-ID:]
      {cseq}
{contact_line if contact else ""}      Content-Length: 0

    ]]>
  </send>
"""


def _scenario(name: str, *steps: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="{name}">\n  <recv request="INVITE"/>\n'
        + "".join(steps)
        + '  <recv request="ACK"/>\n</scenario>\n'
    )


def refusing_scenario(code: str, *, ring_ms: int | None = None) -> str:
    """A UAS that refuses the INVITE with ``code`` (after ringing ``ring_ms``, if given)."""
    ring = [_response("180 Ringing", contact=True), f'  <pause milliseconds="{ring_ms}"/>\n']
    return _scenario(f"refuse {code}", *(ring if ring_ms is not None else []), _response(code))


# A phone nobody picks up: it rings until the caller gives up (CANCEL).
RINGING_SCENARIO = _scenario(
    "phone nobody picks up",
    _response("180 Ringing", contact=True),
    '  <recv request="CANCEL"/>\n',
    _response("200 OK"),
    _response("487 Request Terminated", cseq="CSeq: [cseq] INVITE"),
)


@contextlib.asynccontextmanager
async def uas_phone(scenario: str, local_port: int, timeout: float = 60) -> AsyncIterator[None]:
    """A SIPp UAS on ``local_port`` playing ``scenario`` once, listening when this yields."""
    with tempfile.TemporaryDirectory(prefix="sipp-uas-") as tmp:
        workdir = Path(tmp)
        path = workdir / "uas.xml"
        path.write_text(scenario)
        cmd = sipp.build_command(
            scenario=path,
            workdir=workdir,
            local_port=local_port,
            media_port=sipp.media_port(),
            timeout=timeout,
            calls=1,
            sipp=shutil.which("sipp") or "/usr/bin/sipp",
        )
        proc = await sipp.spawn(cmd, workdir)
        try:
            # As before: the test itself says it if the phone never listened.
            with contextlib.suppress(sipp.SippError):
                await sipp.wait_listening(proc, local_port, 2)
            yield
        finally:
            await sipp.kill(proc, grace=5)


# -- waiting -----------------------------------------------------------------


async def wait_call(
    http: httpx.AsyncClient,
    call_id: str,
    ready: Callable[[dict[str, Any]], bool],
    timeout: float = 15,
) -> dict[str, Any]:
    """The call (``GET /api/v1/calls/<id>``) once ``ready`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"/api/v1/calls/{call_id}")
        assert r.status_code == 200, r.text
        if ready(r.json()):
            return dict(r.json())
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.2)


def api(service: Service) -> httpx.AsyncClient:
    """An async REST client of the service (``async with api(service) as http``)."""
    return httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30)
