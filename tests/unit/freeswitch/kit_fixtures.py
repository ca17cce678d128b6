"""Tenants, a provisioner and mod_xml_curl's captured requests for the kit's tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.render import Renderer
from orchestrator.provisioning.tenant import DialPattern, DidRoute, SipUser, TenantConfig

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = REPO / "freeswitch_conf"
CAPTURES = REPO / "tests" / "data" / "freeswitch-esl"
PASSWORD = "Abcdefgh1234Abcdefgh1234"
SECRET = "xml-curl-secret-0123456789"


def tenant(
    tid: int = 1,
    domain: str = "a.example",
    numbers: Iterable[str] = ("101", "102"),
    *,
    enabled: bool = True,
    billing: str = "",
    password: str = PASSWORD,
) -> TenantConfig:
    """A tenant with users named like their numbers, a DID to the first, an IVR DID
    and one outbound route (prefix 0, 10 digits, through trunk-t<tid>-carrier)."""
    numbers = tuple(numbers)
    users = tuple(
        SipUser(n, n, password, f"{n}@{domain}", f'"User {n} of {tid}" <{n}>') for n in numbers
    )
    dids = (DidRoute(f"+1206555{tid:04d}", "extension", numbers[0]),) if numbers else ()
    dids += (DidRoute(f"+1206556{tid:04d}", "ivr", "support"),)
    patterns = (DialPattern("0", 10, "national", 1, "+44", f"trunk-t{tid}-carrier", ""),)
    return TenantConfig(
        id=tid,
        domain=domain,
        enabled=enabled,
        users=users,
        dids=dids,
        dial_patterns=patterns,
        billing=billing,
    )


class Store:
    """The tenants the provisioner loads (what the store would hold)."""

    def __init__(self, *tenants: TenantConfig) -> None:
        self.tenants = {t.id: t for t in tenants}

    def load_tenant(self, tid: int) -> TenantConfig | None:
        return self.tenants.get(tid)

    def load_all(self) -> list[TenantConfig]:
        return [self.tenants[k] for k in sorted(self.tenants)]


class RecordingConfig:
    """An EngineConfig that records what the provisioner asked of FreeSWITCH."""

    def __init__(self) -> None:
        self.flushed: list[tuple[str, list[str]]] = []
        self.commands: list[str] = []

    async def reload(self, what: str) -> None:
        self.commands.append(f"reload {what}")

    async def invalidate_sip_objects(self, object_type: str, ids: list[str]) -> None:
        self.flushed.append((object_type, list(ids)))

    async def command(self, text: str) -> str:
        self.commands.append(text)
        return "+OK"


def provisioner(store: Store, engine: RecordingConfig | None = None) -> FreeSwitchProvisioner:
    return FreeSwitchProvisioner(
        engine=engine,
        renderer=Renderer(TEMPLATES),
        load_tenant=store.load_tenant,
        load_all=store.load_all,
    )


def captured_requests() -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((CAPTURES / "e1_xml_curl_requests.json").read_text())
    return data


def captured_form(index: int, **changes: str) -> dict[str, str]:
    """The POST fields of captured request ``index`` (first value of a name), changed."""
    form: dict[str, str] = {}
    for name, value in captured_requests()[index]["fields"]:  # type: ignore[union-attr]
        form.setdefault(name, value)
    form.update(changes)
    return form


def encode(form: dict[str, str]) -> bytes:
    """A form encoded as mod_xml_curl does (spaces as %20, "+" as %2B)."""
    return urlencode(form, quote_via=quote).encode()


def raw_requests() -> list[bytes]:
    """The HTTP request bodies FreeSWITCH sent, byte-exact from e1_xml_curl_http.txt."""
    data = (CAPTURES / "e1_xml_curl_http.txt").read_bytes()
    pos, chunks, bodies = 0, b"", []
    header = re.compile(rb"@@ (<<|>>|--) \S+ \+\S+ (\d+)\n")
    while (m := header.search(data, pos)) is not None:
        size = int(m.group(2))
        payload = data[m.end() : m.end() + size]
        pos = m.end() + size + 1
        if m.group(1) == b"<<":
            chunks += payload
        elif chunks:
            bodies.append(chunks.split(b"\r\n\r\n", 1)[1])
            chunks = b""
    return bodies


def parse(document: str) -> ElementTree.Element:
    """An answer as FreeSWITCH parses it (without the XML declaration's encoding fuss)."""
    return ElementTree.fromstring(document.encode())


def actions(document: str) -> list[tuple[str, str]]:
    """The (application, data) of every action of a dialplan answer, in order."""
    return [(a.get("application", ""), a.get("data", "")) for a in parse(document).iter("action")]
