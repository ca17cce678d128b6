"""Render a tenant's engine configuration from the Jinja2 templates in dialplan_templates/.

Two products per tenant:

* the dialplan file (``tenants/t<id>.conf``), rendered from ``extensions.conf.j2``;
* the SIP objects (endpoint, auth and AOR per user) that Asterisk fetches on demand
  through realtime: the per-tenant options come from ``sip_defaults.conf.j2``, the
  per-user identity is added here from the validated snapshot.

Everything reaching a template went through :mod:`orchestrator.provisioning.data`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestrator.core.errors import ValidationError
from orchestrator.provisioning.data import TenantConfig

SipRows = dict[str, dict[str, dict[str, str]]]  # family -> object id -> fields
FAMILIES = {"endpoint": "ps_endpoints", "auth": "ps_auths", "aor": "ps_aors"}
_OPTION = re.compile(r"(endpoint|auth|aor):\s*([a-z_]+)\s*=\s*(\S(?:.*\S)?)\s*")


@dataclass(frozen=True, slots=True)
class Rendered:
    tenant_id: int
    dialplan: str
    sip: SipRows
    version: str


class Renderer:
    """Renders tenants; templates are loaded once."""

    def __init__(
        self, templates_dir: Path, *, ari_app: str = "orchestrator", ring_timeout: int = 30
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
        self.ari_app = ari_app
        self.ring_timeout = ring_timeout
        sources = [
            self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            for name in ("extensions.conf.j2", "sip_defaults.conf.j2")
        ]
        self._template_digest = "\0".join([*sources, ari_app, str(ring_timeout)]).encode()

    def sip_defaults(self, t: TenantConfig) -> dict[str, dict[str, str]]:
        text = self.sip_template.render(t=t)
        out: dict[str, dict[str, str]] = {"endpoint": {}, "auth": {}, "aor": {}}
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            m = _OPTION.fullmatch(line)
            if not m:
                raise ValidationError(f"sip_defaults template: cannot read line {line!r}")
            out[m.group(1)][m.group(2)] = m.group(3)
        return out

    def render(self, t: TenantConfig) -> Rendered:
        defaults = self.sip_defaults(t)
        sip: SipRows = {family: {} for family in FAMILIES.values()}
        if t.enabled:
            for u in t.users:
                sip["ps_endpoints"][u.endpoint] = {
                    "id": u.endpoint,
                    **defaults["endpoint"],
                    "aors": u.endpoint,
                    "auth": u.endpoint,
                    "callerid": u.caller_id,
                }
                sip["ps_auths"][u.endpoint] = {
                    "id": u.endpoint,
                    **defaults["auth"],
                    "username": u.username,
                    "password": u.password,
                }
                sip["ps_aors"][u.endpoint] = {"id": u.endpoint, **defaults["aor"]}
        # The version names the input (the frozen snapshot's repr and the templates), so a
        # re-render of unchanged data is a no-op; hashing the input once per tenant is far
        # cheaper than hashing 300 rows per 100 users.
        digest = hashlib.sha256(repr(t).encode())
        digest.update(self._template_digest)
        version = digest.hexdigest()[:12]
        body = self.dialplan_template.render(
            t=t, version=version, ari_app=self.ari_app, ring_timeout=self.ring_timeout
        )
        return Rendered(tenant_id=t.id, dialplan=body, sip=sip, version=version)
