"""Render a tenant's FreeSWITCH documents from the templates in freeswitch_conf/tenant/.

FreeSWITCH asks for one SIP user or one dialed number at a time (mod_xml_curl), so a
tenant renders to an index of answers, not to files:

* ``directory.xml.j2``: one document per SIP user, keyed by (SIP domain, username);
* ``dialplan.xml.j2``: one document per (context, number) the tenant's data names:
  its extensions and redirects and own DIDs in its context ``t<id>``, its DIDs in
  ``orchestrator-dids``; the outbound patterns, the feature codes and the
  unknown-number answer depend on the call (billing, the calling phone) and are
  rendered when asked, from the same template.

A tenant's values are all checked when its index is built, so a tenant with one bad
value fails its apply whole; each fixed document is then rendered at its first lookup
from those checked values and kept (:mod:`.documents`): rendering 100,000 users'
documents up front was most of a full apply's time, and most of them are never asked
for before they change. Which users changed is decided on the values a user's document
is made of (:meth:`TenantIndex.directory_values`), not on rendered text.

Every value reaching a document went through :mod:`orchestrator.provisioning.data` and
is checked again here for what FreeSWITCH would act on: no ``$``, ``{`` or ``}``
(channel-variable and API expansion), no control characters, and each field's shape;
the templates XML-escape everything (AST-2010-002 in FreeSWITCH's terms).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from orchestrator.core.errors import ValidationError
from orchestrator.engines.freeswitch.provisioning.documents import (
    Documents,
    UserDocuments,
    direct_values,
)
from orchestrator.provisioning.tenant import (
    DialPattern,
    DidRoute,
    RingGroupRoute,
    RoomRoute,
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
_ROOM = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # an IVR app, schedule or room name
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
    cid = caller_id_parts(u)
    if _NAME.fullmatch(cid[0]) is None:
        raise ValidationError(f"invalid caller ID {u.caller_id!r}", field="caller_id")
    if u.redirect:
        _check(_NUMBER, u.redirect, "redirect")
    return cid


def caller_id_parts(u: SipUser) -> tuple[str, str]:
    """The user's caller ID as (name, number), its directory document's two values."""
    m = _CALLER_ID.fullmatch(u.caller_id)
    if m is None:
        raise ValidationError(f"invalid caller ID {u.caller_id!r}", field="caller_id")
    return m.group(1) or "", m.group(2)


def _user_values(u: SipUser) -> dict[str, Any]:
    """directory.xml.j2's values for one user."""
    cid_name, cid_number = caller_id_parts(u)
    return {"u": u, "cid_name": cid_name, "cid_number": cid_number}


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
        _check(_ROOM, d.target, "IVR app or schedule")


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


#: What a fixed dialplan answer is rendered from.
Fixed = SipUser | RoomRoute | RingGroupRoute | DidRoute


def _none(key: object, source: object) -> str:
    raise KeyError(key)  # an empty index's: never called (it has no source)


class Version:
    """A snapshot's version (a digest of it and of the templates), computed when first
    asked: a full apply never asks, and it costs a third of a second at 100,000 users."""

    __slots__ = ("_config", "_renderer", "_value")

    def __init__(self, renderer: Renderer, config: TenantConfig) -> None:
        self._renderer = renderer
        self._config = config
        self._value = ""

    def value(self) -> str:
        if not self._value:
            self._value = self._renderer.version(self._config)
        return self._value


@dataclass(slots=True)
class TenantIndex:
    """One tenant's answers (see the module docstring)."""

    config: TenantConfig
    digest: Version
    #: renders the users' directory documents, and tells what each is made of
    user_documents: UserDocuments
    #: username -> directory document (rendered from the user)
    directory: Documents[str, SipUser] = field(default_factory=lambda: Documents(_none, {}))
    #: (context, number) -> dialplan document (rendered from the user, room, ring group
    #: or DID the number is)
    dialplan: Documents[tuple[str, str], Fixed] = field(
        default_factory=lambda: Documents(_none, {})
    )
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

    @property
    def version(self) -> str:
        return self.digest.value()

    def directory_values(self) -> dict[str, tuple[object, ...]]:
        """``user@domain`` -> what its directory document is made of: equal values, equal
        documents (the same template and settings); unequal values, unequal documents."""
        t = self.config
        values = self.user_documents.values
        return {
            f"{name}@{t.domain}": (t.id, t.domain, *values(u))
            for name, u in self.directory.sources().items()
        }


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
        self._printed = direct_values(self.env, "directory.xml.j2")
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
        return self._dialplan(index.tenant_id, index.digest, context, kind, **values)

    def _dialplan(
        self, tenant_id: int, digest: Version, context: str, kind: str, **values: Any
    ) -> str:
        return self.dialplan_template.render(
            tenant=tenant_id,
            version=digest.value(),
            context=context,
            kind=kind,
            expression=values.pop("expression", "^.*$"),
            ring_timeout=self.ring_timeout,
            outbound_ring_timeout=self.outbound_ring_timeout,
            **values,
        )

    def user_documents(self, t: TenantConfig) -> UserDocuments:
        """The renderer of tenant ``t``'s users' directory documents."""
        context = {
            "t": t,
            "context": tenant_context(t.id),
            "ring_timeout": self.ring_timeout,
            "cache_ms": self.cache_ms,
        }
        return UserDocuments(self.directory_template, self._printed, context, _user_values)

    def render(self, t: TenantConfig) -> TenantIndex:
        """Tenant ``t``'s answers, every value checked now (ValidationError if any is
        unsafe), each fixed document rendered at its first lookup."""
        _check(_DOMAIN, t.domain, "SIP domain")
        # The documents' renderers hold the snapshot and its digest, not the index: no
        # reference cycle keeps a replaced index alive until a full garbage collection.
        digest = Version(self, t)
        index = TenantIndex(config=t, digest=digest, user_documents=self.user_documents(t))
        context = index.context
        fixed: dict[tuple[str, str], Fixed] = {}
        for d in t.dids:
            _check_did(d)
            fixed[(DIDS_CONTEXT, d.number)] = d
        index.dialplan = Documents(partial(self._fixed_dialplan, t, digest), fixed)
        if not t.enabled:
            return index
        users: dict[str, SipUser] = {}
        for u in t.users:
            _check_user(u, t.domain)
            users[u.username] = u
            fixed[(context, u.number)] = u
        index.directory = Documents(index.user_documents, users)
        for r in t.rooms:
            _check(_NUMBER, r.number, "room number")
            _check(_ROOM, r.name, "room name")
            fixed.setdefault((context, r.number), r)
        for group in t.ring_groups:
            _check(_NUMBER, group.number, "ring group number")
            fixed.setdefault((context, group.number), group)
        for d in t.routed_dids:
            fixed.setdefault((context, d.number), d)
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

    def _fixed_dialplan(
        self, t: TenantConfig, digest: Version, key: tuple[str, str], source: Fixed
    ) -> str:
        """The answer for one of the tenant's own numbers (checked by :meth:`render`)."""
        context, number = key
        values: dict[str, Any]
        if isinstance(source, SipUser):
            kind = "redirect" if source.redirect else "managed" if source.managed else "user"
            values = {"u": source}
        elif isinstance(source, RoomRoute):
            kind, values = "room", {"r": source}
        elif isinstance(source, RingGroupRoute):
            kind, values = "ring_group", {"g": source}
        elif context == DIDS_CONTEXT:  # a DID as a trunk delivers it
            kind = f"did_{source.kind}" if t.enabled and source.routed else "refused"
            values = {"d": source}
        else:  # the tenant's own DID, dialed by its phones
            kind, values = "own_did", {"number": number}
        expression = regex_literal(number)
        return self._dialplan(t.id, digest, context, kind, expression=expression, **values)
