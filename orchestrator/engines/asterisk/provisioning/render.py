"""Render a tenant's engine configuration from the Jinja2 templates in dialplan_templates/.

Two products per tenant:

* the dialplan file (``tenants/t<id>.conf``), rendered from ``extensions.conf.j2``
  from tenant-level data only (its id, domain, whether it is enabled), and the
  :class:`~.lookup.TenantRoutes` its one lookup is answered from (extensions, rooms,
  ring groups, DIDs, outbound routes), so a user's change leaves the file as it was;
* the SIP objects (endpoint, auth and AOR per user and per trunk) that Asterisk
  fetches on demand through realtime: the per-tenant options come from
  ``sip_defaults.conf.j2`` (users) and ``trunk_defaults.conf.j2`` (trunks), each
  object's identity is added here from the validated snapshot.

Everything reaching a template went through :mod:`orchestrator.provisioning.data`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.lookup import TenantRoutes, routes
from orchestrator.engines.asterisk.targets import tenant_context
from orchestrator.provisioning.tenant import SipTrunk, TenantConfig

SipRows = dict[str, dict[str, dict[str, str]]]  # family -> object id -> fields
Options = dict[str, dict[str, str]]  # object type -> option -> value
FAMILIES = {"endpoint": "ps_endpoints", "auth": "ps_auths", "aor": "ps_aors"}
TEMPLATES = ("extensions.conf.j2", "sip_defaults.conf.j2", "trunk_defaults.conf.j2")
_OPTION = re.compile(r"(endpoint|auth|aor):\s*([a-z_]+)\s*=\s*(\S(?:.*\S)?)\s*")


def dialplan_context(t: TenantConfig) -> str:
    """The dialplan context the tenant's phones dial from (``t<id>``; its ``-unknown`` too)."""
    return tenant_context(str(t.id))


@dataclass(frozen=True, slots=True)
class Liveness:
    """How the engine notices a phone or trunk that vanished without a BYE (seconds).

    ``rtp_timeout``/``rtp_timeout_hold``: hang up a call that received no RTP for that
    long (while the far end holds it: the second); ``session_expires``: the SIP session
    timer interval offered (RFC 4028); ``qualify``: OPTIONS every so often (0: never).
    The defaults are :class:`orchestrator.settings.Settings`'.
    """

    rtp_timeout: int = 60
    rtp_timeout_hold: int = 120
    session_expires: int = 180
    qualify: int = 60

    def __post_init__(self) -> None:
        bounds = {
            "rtp_timeout": (2, 3600),
            "rtp_timeout_hold": (2, 3600),
            "session_expires": (90, 86400),
            "qualify": (0, 86400),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ValidationError(f"{name} must be an integer from {low} to {high} s")


@dataclass(frozen=True, slots=True)
class Rendered:
    tenant_id: int
    dialplan: str
    sip: SipRows
    #: what the tenant's numbers reach, answered per call (no reload when it changes)
    routes: TenantRoutes
    #: the version the dialplan file carries (of the tenant-level data it is made of)
    file_version: str
    #: what was rendered: the snapshot, and the renderer's templates and settings
    source: tuple[TenantConfig, bytes]

    @property
    def version(self) -> str:
        """The hash of the input (the frozen snapshot's repr, the templates and
        settings), so a re-render of unchanged data gives the same version; hashing the
        input once per tenant is far cheaper than hashing 300 rows per 100 users.
        Computed when asked: one tenant's apply reports it, a full apply never asks
        (it cost 0.3 s of one at 100,000 users)."""
        config, templates = self.source
        digest = hashlib.sha256(repr(config).encode())
        digest.update(templates)
        return digest.hexdigest()[:12]


class Renderer:
    """Renders tenants; templates are loaded once."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        ari_app: str = "orchestrator",
        ring_timeout: int = 30,
        outbound_ring_timeout: int = 60,
        liveness: Liveness | None = None,
    ):
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir / "tenant"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self.dialplan_template = self.env.get_template("extensions.conf.j2")
        self.sip_template = self.env.get_template("sip_defaults.conf.j2")
        self.trunk_template = self.env.get_template("trunk_defaults.conf.j2")
        self.ari_app = ari_app
        self.ring_timeout = ring_timeout
        self.outbound_ring_timeout = outbound_ring_timeout
        self.liveness = liveness or Liveness()
        sources = [
            self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            for name in TEMPLATES
        ]
        self._template_digest = "\0".join(
            [*sources, ari_app, str(ring_timeout), str(outbound_ring_timeout), repr(self.liveness)]
        ).encode()

    def _options(self, template: jinja2.Template, t: TenantConfig) -> Options:
        out: Options = {"endpoint": {}, "auth": {}, "aor": {}}
        for raw in template.render(
            t=t, context=dialplan_context(t), live=self.liveness
        ).splitlines():
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            m = _OPTION.fullmatch(line)
            if not m:
                raise ValidationError(f"{template.name} template: cannot read line {line!r}")
            if m.group(2) == "id":  # each object's id is its own, set by render()
                raise ValidationError(f"{template.name} template: line {line!r} sets the id")
            out[m.group(1)][m.group(2)] = m.group(3)
        return out

    def sip_defaults(self, t: TenantConfig) -> Options:
        return self._options(self.sip_template, t)

    def trunk_defaults(self, t: TenantConfig) -> Options:
        return self._options(self.trunk_template, t)

    @staticmethod
    def _add_trunk(sip: SipRows, defaults: Options, trunk: SipTrunk) -> None:
        oid = trunk.endpoint
        endpoint = {"id": oid, **defaults["endpoint"], "aors": oid}
        if trunk.username:
            endpoint["outbound_auth"] = oid
            sip["ps_auths"][oid] = {
                "id": oid,
                **defaults["auth"],
                "username": trunk.username,
                "password": trunk.password,
            }
        if trunk.from_user:
            endpoint["from_user"] = trunk.from_user
        if trunk.from_domain:
            endpoint["from_domain"] = trunk.from_domain
        sip["ps_endpoints"][oid] = endpoint
        sip["ps_aors"][oid] = {
            "id": oid,
            **defaults["aor"],
            "contact": f"sip:{trunk.host}:{trunk.port}",
        }

    def render(self, t: TenantConfig) -> Rendered:
        defaults = self.sip_defaults(t)
        sip: SipRows = {family: {} for family in FAMILIES.values()}
        if t.enabled:
            # This loop runs 100,000 times in a full apply: each row is a copy of the
            # tenant's row with its own values set (the same keys in the same order),
            # which costs a third of building it key by key.
            endpoints, auths, aors = sip["ps_endpoints"], sip["ps_auths"], sip["ps_aors"]
            endpoint_row = {
                "id": "",
                **defaults["endpoint"],
                "aors": "",
                "auth": "",
                "callerid": "",
            }
            auth_row = {"id": "", **defaults["auth"], "username": "", "password": ""}
            aor_row = {"id": "", **defaults["aor"]}
            for u in t.users:
                oid = u.endpoint
                endpoints[oid] = row = endpoint_row.copy()
                row["id"] = row["aors"] = row["auth"] = oid
                row["callerid"] = u.caller_id
                auths[oid] = row = auth_row.copy()
                row["id"], row["username"], row["password"] = oid, u.username, u.password
                aors[oid] = row = aor_row.copy()
                row["id"] = oid
            trunk_defaults = self.trunk_defaults(t) if t.trunks else {}
            for trunk in t.trunks:
                self._add_trunk(sip, trunk_defaults, trunk)
        file_digest = hashlib.sha256(f"{t.id}\0{t.domain}\0{t.enabled}\0".encode())
        file_digest.update(self._template_digest)
        file_version = file_digest.hexdigest()[:12]
        body = self.dialplan_template.render(
            t=t, context=dialplan_context(t), version=file_version, ari_app=self.ari_app
        )
        answers = routes(
            t, ring_timeout=self.ring_timeout, outbound_ring_timeout=self.outbound_ring_timeout
        )
        return Rendered(t.id, body, sip, answers, file_version, (t, self._template_digest))
