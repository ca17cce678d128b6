"""Render a tenant's FreeSWITCH documents from the templates in freeswitch_conf/tenant/.

FreeSWITCH asks for one SIP user or one dialed number at a time (mod_xml_curl), so a
tenant renders to an index of answers, not to files:

* ``directory.xml.j2``: one document per SIP user, keyed by (SIP domain, username),
  rendered up front (lookups then cost a dict access);
* ``dialplan.xml.j2``: one document per (context, number) the tenant's data names:
  its extensions and redirects and own DIDs in its context ``t<id>``, its DIDs in
  ``orchestrator-dids``; the outbound patterns, the feature codes and the
  unknown-number answer depend on the call (billing, the calling phone) and are
  rendered when asked, from the same template.

Every value reaching a document went through :mod:`orchestrator.provisioning.data` and
is checked again here for what FreeSWITCH would act on: no ``$``, ``{`` or ``}``
(channel-variable and API expansion), no control characters, and each field's shape;
the templates XML-escape everything (AST-2010-002 in FreeSWITCH's terms).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from orchestrator.core.errors import ValidationError
from orchestrator.provisioning.tenant import (
    DialPattern,
    DidRoute,
    SipTrunk,
    SipUser,
    TenantConfig,
)

DIDS_CONTEXT = "orchestrator-dids"
TEMPLATES = ("directory.xml.j2", "dialplan.xml.j2", "gateways.xml.j2", "trunk_acl.xml.j2")
# What reaches a document, per field (the snapshot's own checks, again).
_NUMBER = re.compile(r"[0-9*#+]{1,40}")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PASSWORD = re.compile(r"[A-Za-z0-9]{12,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_ENDPOINT = re.compile(r"[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9.-]{1,253}")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,80}")
_CALLER_ID = re.compile(r'(?:"([^"]*)" )?<(\+?[0-9]{1,20})>')
_TEXT = re.compile(r"[^${}\\\x00-\x1f\x7f]*")
# A caller ID name: what validation.display_name allows (no " \\ < > ; $ { } `).
_NAME = re.compile(r"[^\"\\<>;${}`\x00-\x1f\x7f]{0,80}")


def tenant_context(tenant_id: int) -> str:
    """The context of tenant ``tenant_id``'s phones (the adapter's ``t<tenant>``)."""
    return f"t{tenant_id}"


def regex_literal(number: str) -> str:
    """``^number$`` as a FreeSWITCH (PCRE) condition: ``*`` and ``+`` escaped."""
    return "^" + re.escape(_check(_NUMBER, number, "number")) + "$"


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValidationError(f"invalid {what} {value!r}", field=what, value=str(value))
    return value


def _check_user(u: SipUser, domain: str) -> tuple[str, str]:
    """A user's fields as FreeSWITCH gets them; returns the caller ID (name, number)."""
    _check(_NUMBER, u.number, "extension number")
    _check(_USERNAME, u.username, "SIP username")
    _check(_PASSWORD, u.password, "SIP password")
    if u.endpoint != f"{u.username}@{domain}":
        raise ValidationError(f"endpoint {u.endpoint!r} is not {u.username}@{domain}")
    m = _CALLER_ID.fullmatch(u.caller_id)
    if m is None or _NAME.fullmatch(m.group(1) or "") is None:
        raise ValidationError(f"invalid caller ID {u.caller_id!r}", field="caller_id")
    if u.redirect:
        _check(_NUMBER, u.redirect, "redirect")
    return m.group(1) or "", m.group(2)


def _check_pattern(p: DialPattern) -> None:
    _check(re.compile(r"[0-9*#+]{0,16}"), p.prefix, "dial prefix")
    _check(re.compile(r"[0-9+]{0,16}"), p.prepend, "dial prepend")
    _check(_TOKEN, p.endpoint, "trunk endpoint")
    _check(_TEXT, p.route, "route name")
    if p.caller_id_number:
        _check(_NUMBER, p.caller_id_number, "caller ID number")
    if not (1 <= p.length <= 32 and 0 <= p.strip <= len(p.prefix) + p.length):
        raise ValidationError(f"invalid pattern length {p.length} / strip {p.strip}")


def _check_did(d: DidRoute) -> None:
    _check(_NUMBER, d.number, "DID number")
    if d.kind in ("extension", "ring_group"):
        _check(_NUMBER, d.target, "DID extension")
    elif d.kind in ("ivr", "inbound") and d.target:
        _check(re.compile(r"[a-z0-9][a-z0-9_-]{0,39}"), d.target, "IVR app or schedule")


_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})"
)
_CREDENTIAL = re.compile(r"[A-Za-z0-9!#%*+\-./:=?@^_~]{1,64}")


def _check_trunk(g: SipTrunk) -> None:
    _check(_TOKEN, g.endpoint, "trunk endpoint")
    _check(_HOST, g.host, "trunk host")
    if type(g.port) is not int or not 1 <= g.port <= 65535:
        raise ValidationError(f"invalid trunk port {g.port!r}", field="port")
    for name in ("username", "password", "from_user"):
        if getattr(g, name):
            _check(_CREDENTIAL, getattr(g, name), f"trunk {name}")
    if g.from_domain:
        _check(_HOST, g.from_domain, "trunk from_domain")


def takes(p: DialPattern, number: str) -> bool:
    """Whether ``number`` is one the pattern dials: its prefix, then ``length`` digits."""
    rest = number[len(p.prefix) :]
    return number.startswith(p.prefix) and len(rest) == p.length and rest.isdigit()


@dataclass(slots=True)
class TenantIndex:
    """One tenant's rendered answers (see the module docstring)."""

    config: TenantConfig
    version: str
    #: username -> directory document
    directory: dict[str, str] = field(default_factory=dict)
    #: (context, number) -> dialplan document
    dialplan: dict[tuple[str, str], str] = field(default_factory=dict)
    #: outbound patterns, longest literal prefix first
    patterns: tuple[DialPattern, ...] = ()
    endpoints: frozenset[str] = frozenset()
    #: the trunks as sofia gateways (the file conf/gateways/t<id>.xml), and their names
    gateways: str = ""
    gateway_names: frozenset[str] = frozenset()
    #: the trunks' addresses that may call in without authentication (conf/trunk-acl)
    trunk_acl: str = ""

    @property
    def tenant_id(self) -> int:
        return self.config.id

    @property
    def context(self) -> str:
        return tenant_context(self.config.id)


class Renderer:
    """Renders tenants' answers; templates are loaded once."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        ring_timeout: int = 30,
        outbound_ring_timeout: int = 60,
        cache_ms: int = 60_000,
    ) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir / "tenant"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=True,
        )
        self.directory_template = self.env.get_template("directory.xml.j2")
        self.dialplan_template = self.env.get_template("dialplan.xml.j2")
        self.gateways_template = self.env.get_template("gateways.xml.j2")
        self.trunk_acl_template = self.env.get_template("trunk_acl.xml.j2")
        self.ring_timeout = ring_timeout
        self.outbound_ring_timeout = outbound_ring_timeout
        self.cache_ms = cache_ms
        sources = [
            self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            for name in TEMPLATES
        ]
        self._digest = "\0".join(
            [*sources, str(ring_timeout), str(outbound_ring_timeout), str(cache_ms)]
        ).encode()

    def version(self, t: TenantConfig) -> str:
        digest = hashlib.sha256(repr(t).encode())
        digest.update(self._digest)
        return digest.hexdigest()[:12]

    def dialplan(self, index: TenantIndex, context: str, kind: str, **values: Any) -> str:
        """One dialplan answer for ``index``'s tenant (see dialplan.xml.j2 for ``kind``)."""
        return self.dialplan_template.render(
            tenant=index.tenant_id,
            version=index.version,
            context=context,
            kind=kind,
            expression=values.pop("expression", "^.*$"),
            ring_timeout=self.ring_timeout,
            outbound_ring_timeout=self.outbound_ring_timeout,
            **values,
        )

    def render(self, t: TenantConfig) -> TenantIndex:
        """Every fixed answer of tenant ``t``; ValidationError if any value is unsafe."""
        _check(_DOMAIN, t.domain, "SIP domain")
        index = TenantIndex(config=t, version=self.version(t))
        context = index.context
        for d in t.dids:
            _check_did(d)
            kind = f"did_{d.kind}" if t.enabled and d.routed else "refused"
            index.dialplan[(DIDS_CONTEXT, d.number)] = self.dialplan(
                index, DIDS_CONTEXT, kind, expression=regex_literal(d.number), d=d
            )
        if not t.enabled:
            return index
        for u in t.users:
            cid_name, cid_number = _check_user(u, t.domain)
            index.directory[u.username] = self.directory_template.render(
                t=t,
                u=u,
                context=context,
                cid_name=cid_name,
                cid_number=cid_number,
                ring_timeout=self.ring_timeout,
                cache_ms=self.cache_ms,
            )
            kind = "redirect" if u.redirect else "managed" if u.managed else "user"
            index.dialplan[(context, u.number)] = self.dialplan(
                index, context, kind, expression=regex_literal(u.number), u=u
            )
        for r in t.rooms:
            _check(_NUMBER, r.number, "room number")
            _check(re.compile(r"[a-z0-9][a-z0-9_-]{0,39}"), r.name, "room name")
            index.dialplan.setdefault(
                (context, r.number),
                self.dialplan(index, context, "room", expression=regex_literal(r.number), r=r),
            )
        for group in t.ring_groups:
            _check(_NUMBER, group.number, "ring group number")
            index.dialplan.setdefault(
                (context, group.number),
                self.dialplan(
                    index, context, "ring_group", expression=regex_literal(group.number), g=group
                ),
            )
        for d in t.routed_dids:
            index.dialplan.setdefault(
                (context, d.number),
                self.dialplan(
                    index, context, "own_did", expression=regex_literal(d.number), number=d.number
                ),
            )
        for p in t.dial_patterns:
            _check_pattern(p)
        index.patterns = tuple(sorted(t.dial_patterns, key=lambda p: -len(p.prefix)))
        index.endpoints = frozenset(u.endpoint for u in t.users)
        for g in t.trunks:
            _check_trunk(g)
        if t.trunks:
            index.gateways = self.gateways_template.render(trunks=t.trunks)
            index.gateway_names = frozenset(g.endpoint for g in t.trunks)
            # Only an address can be in an ACL: a trunk named by a DNS name is not there.
            addresses = sorted({g.host for g in t.trunks if _IPV4.fullmatch(g.host)})
            if addresses:
                index.trunk_acl = self.trunk_acl_template.render(addresses=addresses)
        return index
