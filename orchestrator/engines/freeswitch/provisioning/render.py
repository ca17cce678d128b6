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
from those checked values and kept (:class:`Documents`): rendering 100,000 users'
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
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

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


K = TypeVar("K", bound=Hashable)
S = TypeVar("S")


class Documents(Mapping[K, str], Generic[K, S]):
    """Documents rendered at their first lookup, then kept.

    ``sources`` maps each key to what its document is rendered from (values already
    checked when the index was built); ``render`` turns one into the document. A
    lookup of a key not there costs a dict miss, as before; the first lookup of one
    that is there one render (a few microseconds), the next ones a dict hit.
    """

    __slots__ = ("_render", "_rendered", "_sources")

    def __init__(self, render: Callable[[S], str], sources: dict[K, S]) -> None:
        self._render = render
        self._sources = sources
        self._rendered: dict[K, str] = {}

    def get(self, key: K, default: str | None = None) -> str | None:  # type: ignore[override]
        document = self._rendered.get(key)
        if document is None:
            source = self._sources.get(key)
            if source is None:
                return default
            # Lookups run on the event loop, one at a time; two threads rendering the
            # same key would only store the same text twice.
            document = self._rendered[key] = self._render(source)
        return document

    def __getitem__(self, key: K) -> str:
        document = self.get(key)
        if document is None:
            raise KeyError(key)
        return document

    def __contains__(self, key: object) -> bool:
        return key in self._sources

    def __iter__(self) -> Iterator[K]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def sources(self) -> Mapping[K, S]:
        """What each document is (or will be) rendered from."""
        return self._sources


class DirectoryEntry(NamedTuple):
    """What one user's directory document is made of (besides the tenant's domain and id
    and the renderer's settings): the user, and its caller ID split as checked. (Named
    tuples: 100,000 of each are built per full apply, a frozen dataclass costs more.)"""

    user: SipUser
    cid_name: str
    cid_number: str

    def values(self) -> tuple[str, ...]:
        """Every value of the user's that reaches its document (change detection)."""
        u = self.user
        return (u.username, u.password, u.endpoint, u.number, self.cid_name, self.cid_number)


class DialplanEntry(NamedTuple):
    """One fixed dialplan answer before rendering: its context, kind (a branch of
    dialplan.xml.j2), the number it answers for (checked) and the template's values."""

    context: str
    kind: str
    number: str
    values: dict[str, Any]


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
    #: username -> directory document
    directory: Documents[str, DirectoryEntry] = field(default_factory=lambda: Documents(str, {}))
    #: (context, number) -> dialplan document
    dialplan: Documents[tuple[str, str], DialplanEntry] = field(
        default_factory=lambda: Documents(str, {})
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
        """``user@domain`` -> every value its directory document is made of: two users
        with equal values have equal documents (the same template and settings)."""
        t = self.config
        return {
            f"{name}@{t.domain}": (t.id, t.domain, *entry.values())
            for name, entry in self.directory.sources().items()
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

    def directory_document(self, t: TenantConfig, entry: DirectoryEntry) -> str:
        """One user's directory answer."""
        return self.directory_template.render(
            t=t,
            u=entry.user,
            context=tenant_context(t.id),
            cid_name=entry.cid_name,
            cid_number=entry.cid_number,
            ring_timeout=self.ring_timeout,
            cache_ms=self.cache_ms,
        )

    def render(self, t: TenantConfig) -> TenantIndex:
        """Tenant ``t``'s answers, every value checked now (ValidationError if any is
        unsafe), each fixed document rendered at its first lookup."""
        _check(_DOMAIN, t.domain, "SIP domain")
        # The documents' renderers hold the snapshot and its digest, not the index: no
        # reference cycle keeps a replaced index alive until a full garbage collection.
        digest = Version(self, t)
        index = TenantIndex(config=t, digest=digest)
        context = index.context
        users: dict[str, DirectoryEntry] = {}
        fixed: dict[tuple[str, str], DialplanEntry] = {}
        for d in t.dids:
            _check_did(d)
            kind = f"did_{d.kind}" if t.enabled and d.routed else "refused"
            fixed[(DIDS_CONTEXT, d.number)] = DialplanEntry(DIDS_CONTEXT, kind, d.number, {"d": d})
        index.dialplan = Documents(partial(self._fixed_dialplan, t.id, digest), fixed)
        if not t.enabled:
            return index
        for u in t.users:
            cid_name, cid_number = _check_user(u, t.domain)
            users[u.username] = DirectoryEntry(u, cid_name, cid_number)
            kind = "redirect" if u.redirect else "managed" if u.managed else "user"
            fixed[(context, u.number)] = DialplanEntry(context, kind, u.number, {"u": u})
        index.directory = Documents(partial(self.directory_document, t), users)
        for r in t.rooms:
            _check(_NUMBER, r.number, "room number")
            _check(_ROOM, r.name, "room name")
            room = DialplanEntry(context, "room", r.number, {"r": r})
            fixed.setdefault((context, r.number), room)
        for group in t.ring_groups:
            _check(_NUMBER, group.number, "ring group number")
            fixed.setdefault(
                (context, group.number),
                DialplanEntry(context, "ring_group", group.number, {"g": group}),
            )
        for d in t.routed_dids:
            fixed.setdefault(
                (context, d.number),
                DialplanEntry(context, "own_did", d.number, {"number": d.number}),
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

    def _fixed_dialplan(self, tenant_id: int, digest: Version, entry: DialplanEntry) -> str:
        expression = regex_literal(entry.number)  # checked already: it cannot fail here
        return self._dialplan(
            tenant_id, digest, entry.context, entry.kind, expression=expression, **entry.values
        )
