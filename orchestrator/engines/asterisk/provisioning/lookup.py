"""What a dialed number reaches, answered per call to the tenant dialplans' one lookup.

A tenant's dialplan file holds only tenant-level lines (docs/provisioning.md): its
catch-all asks, with res_curl's ``CURL()`` under the realtime driver's secret path::

    GET /engine/asterisk/realtime/<secret>/dial/<tenant>/<number>?endpoint=...&call=...
    GET /engine/asterisk/realtime/<secret>/did/<number>?endpoint=...&call=...

and gets one short token back, which the shared context ``[orchestrator-route]``
(base/extensions.conf.j2) filters, checks part by part and acts on. Its second part is
the number that decided (a redirect's or a DID's target, else what was dialed): the
call goes on at that extension, so the channel's ``${EXTEN}`` (the called number the
adapter reads) is what it was when each number had a line of its own:

* ``ring/<n>/<endpoint>/<s>``: ``Dial(PJSIP/<endpoint>,<s>)``, a phone;
* ``ext/<n>/<tenant>``: the ``pbx_extension`` flow (a managed user);
* ``room/<n>/<tenant>/<name>``: the ``conference_room`` flow;
* ``group/<n>/<tenant>``: the ``pbx_ring_group`` flow;
* ``app/<did>/<tenant>/<app>``: an IVR app (a DID's);
* ``inbound/<did>/<tenant>``: the ``pbx_inbound`` flow (schedule, blacklist);
* ``out/<n>/<trunk>/<number>/<s>/<ms>/<cid>``: an outbound route,
  ``Dial(PJSIP/<number>@<trunk>,<s>)``, cut off after ``<ms>`` unless 0 (prepaid),
  with the caller ID number ``<cid>`` unless empty; billing was asked in-process;
* ``refuse/<cause>``: ``Hangup(<cause>)`` (a DID that reaches nothing: 21; a call
  billing refused);
* ``code``: a feature code (the ``pbx.code`` flow of the tenant that asked);
* ``unknown``: the tenant's 404 (``[t<id>-unknown]``); in the DID context, 404 too.

The answers come from :class:`TenantRoutes`, built from the validated snapshot when the
tenant is applied and swapped in memory with its SIP users, so a user added, changed or
removed needs no dialplan reload. Every value in a token is one the snapshot validated
(and :func:`routes` checks again); nothing of the request is ever echoed. A standing
redirect is followed here (at most :data:`MAX_HOPS`), as the old dialplan's ``Goto``
did, so the engine gets the final destination in one answer.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse

from orchestrator.core.errors import ValidationError
from orchestrator.core.targets import SIP_ENDPOINT as _ENDPOINT
from orchestrator.core.targets import check as _check
from orchestrator.provisioning.base import DialplanAuthorizer
from orchestrator.provisioning.tenant import DialPattern, DidRoute, TenantConfig

log = logging.getLogger(__name__)

MAX_HOPS = 8
UNKNOWN = "unknown"
CODE = "code"
# Q.850 causes: 21 call rejected (a DID that reaches nothing), 41 temporary failure.
REJECTED = "refuse/21"
TEMPORARY_FAILURE = "refuse/41"

_NUMBER = re.compile(r"[0-9*#+]{1,40}")
_CODE = re.compile(r"[*#][0-9*#]{0,39}")
_TRUNK = re.compile(r"trunk-t[0-9]{1,18}-[a-z0-9-]{1,40}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_CALLER_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_CALL = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIAL = re.compile(r"[0-9*#+]{1,64}")
_AUTHORIZED = re.compile(r"(limit|refuse)_([0-9]{1,12})|unlimited")


@dataclass(frozen=True, slots=True)
class TenantRoutes:
    """One tenant's answers: fixed numbers (extensions, rooms, ring groups, own DIDs)
    to tokens or to a redirect target, and its outbound patterns (longest prefix first)."""

    tenant_id: int
    enabled: bool
    billing: str = ""
    #: number -> token ("ring/..."), or "=<number>" (a redirect: go on as if dialed to it),
    #: or "did:<number>" (an own DID: what the DID reaches)
    fixed: dict[str, str] = field(default_factory=dict)
    patterns: tuple[DialPattern, ...] = ()
    #: the tenant's DIDs: number -> DidRoute
    dids: dict[str, DidRoute] = field(default_factory=dict)
    outbound_ring_timeout: int = 60


def routes(
    t: TenantConfig, *, ring_timeout: int = 30, outbound_ring_timeout: int = 60
) -> TenantRoutes:
    """The tenant's answers, every value checked again for what the dialplan acts on.

    ``ring_timeout``: how long a phone rings; ``outbound_ring_timeout``: a trunk."""
    tid = str(t.id)
    fixed: dict[str, str] = {}
    dids = {}
    for d in t.dids:
        _check(_NUMBER, d.number, "DID")
        if d.kind in ("extension", "ring_group"):
            _check(_NUMBER, d.target, "DID target")
        elif d.kind == "ivr":
            _check(_NAME, d.target, "IVR app")
        dids[d.number] = d
    if not t.enabled:
        return TenantRoutes(t.id, False, dids=dids)
    # The first of a number keeps it, in the order the file-based dialplan had them.
    number_ok, endpoint_ok, ring = _NUMBER.fullmatch, _ENDPOINT.fullmatch, int(ring_timeout)
    for u in t.users:
        # Inlined checks: this loop runs 100,000 times in a full apply.
        if not (number_ok(u.number) and endpoint_ok(u.endpoint)):
            raise ValidationError(f"invalid extension {u.number!r} / endpoint {u.endpoint!r}")
        if u.redirect:
            fixed.setdefault(u.number, "=" + _check(_NUMBER, u.redirect, "redirect"))
        elif u.managed:
            fixed.setdefault(u.number, f"ext/{u.number}/{tid}")
        else:
            fixed.setdefault(u.number, f"ring/{u.number}/{u.endpoint}/{ring}")
    for r in t.rooms:
        name = _check(_NAME, r.name, "room name")
        fixed.setdefault(_check(_NUMBER, r.number, "room"), f"room/{r.number}/{tid}/{name}")
    for g in t.ring_groups:
        fixed.setdefault(_check(_NUMBER, g.number, "ring group"), f"group/{g.number}/{tid}")
    for d in t.routed_dids:
        fixed.setdefault(d.number, "did:" + d.number)
    for p in t.dial_patterns:
        _check(re.compile(r"[0-9*#]{0,16}"), p.prefix, "dial prefix")
        _check(re.compile(r"[0-9+]{0,16}"), p.prepend, "dial prepend")
        _check(_TRUNK, p.endpoint, "trunk")
        if p.caller_id_number:
            _check(_CALLER_NUMBER, p.caller_id_number, "caller ID number")
    patterns = tuple(sorted(t.dial_patterns, key=lambda p: -len(p.prefix)))
    return TenantRoutes(t.id, True, t.billing, fixed, patterns, dids, int(outbound_ring_timeout))


def _takes(p: DialPattern, number: str) -> bool:
    rest = number[len(p.prefix) :]
    return number.startswith(p.prefix) and len(rest) == p.length and rest.isdigit()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: the calling channel's endpoint and call id ("" when not valid)."""

    endpoint: str = ""
    call: str = ""

    @classmethod
    def of(cls, endpoint: str, call: str) -> Caller:
        return cls(
            endpoint if _ENDPOINT.fullmatch(endpoint) else "",
            call if _CALL.fullmatch(call) else "",
        )


Authorize = Callable[[], DialplanAuthorizer | None]


class RouteIndex:
    """Every tenant's :class:`TenantRoutes` and the DIDs of all, swapped per tenant."""

    def __init__(self, authorizer: Authorize = lambda: None) -> None:
        self.tenants: dict[int, TenantRoutes] = {}
        self.dids: dict[str, int] = {}
        self.authorizer = authorizer

    def swap(self, tenant_id: int, new: TenantRoutes | None) -> bool:
        """Replace a tenant's answers (None: remove); whether they changed."""
        old = self.tenants.get(tenant_id)
        if old is not None:
            for number in old.dids:
                if self.dids.get(number) == tenant_id:
                    del self.dids[number]
        if new is None:
            self.tenants.pop(tenant_id, None)
        else:
            self.tenants[tenant_id] = new
            for number in new.dids:
                self.dids[number] = tenant_id
        return old != new

    async def dial(self, tenant: str, number: str, caller: Caller) -> str:
        """The token for ``number`` dialed in tenant ``tenant``'s context."""
        t = self.tenants.get(int(tenant)) if tenant.isdigit() and len(tenant) < 19 else None
        if t is None or _NUMBER.fullmatch(number) is None:
            return UNKNOWN
        if not t.enabled:
            return REJECTED
        return await self._resolve(t, number, caller, MAX_HOPS)

    async def did(self, number: str, caller: Caller) -> str:
        """The token for a call to the DID ``number`` (from a trunk or a tenant's phone)."""
        tenant_id = self.dids.get(number) if _NUMBER.fullmatch(number) else None
        t = self.tenants.get(tenant_id) if tenant_id is not None else None
        if t is None:
            return UNKNOWN
        return await self._did(t, t.dids[number], caller, MAX_HOPS)

    async def _did(self, t: TenantRoutes, d: DidRoute, caller: Caller, hops: int) -> str:
        if not t.enabled or not d.routed:
            return REJECTED
        if d.kind == "ivr":
            return f"app/{d.number}/{t.tenant_id}/{d.target}"
        if d.kind == "inbound":
            return f"inbound/{d.number}/{t.tenant_id}"
        answer = await self._resolve(t, d.target, caller, hops)
        return REJECTED if answer in (UNKNOWN, CODE) else answer

    async def _resolve(self, t: TenantRoutes, number: str, caller: Caller, hops: int) -> str:
        token = t.fixed.get(number)
        if token is not None:
            if token.startswith("="):
                # A standing redirect goes on as if its target was dialed (the snapshot
                # drops loops; the hop limit bounds a chain all the same).
                if hops <= 0:
                    return TEMPORARY_FAILURE
                return await self._resolve(t, token[1:], caller, hops - 1)
            if token.startswith("did:"):
                return await self._did(t, t.dids[token[4:]], caller, hops - 1)
            return token
        for p in t.patterns:
            if _takes(p, number):
                return await self._outbound(t, p, number, caller)
        return CODE if _CODE.fullmatch(number) else UNKNOWN

    async def _outbound(self, t: TenantRoutes, p: DialPattern, number: str, caller: Caller) -> str:
        dial = p.prepend + number[p.strip :]
        if not _DIAL.fullmatch(dial):
            return UNKNOWN
        head = f"out/{number}/{p.endpoint}/{dial}/{t.outbound_ring_timeout}"
        cid = p.caller_id_number
        if not t.billing:
            return f"{head}/0/{cid}"
        answer = await self._authorize(t, dial, caller)
        m = _AUTHORIZED.fullmatch(answer)
        if m is None:
            # The orchestrator's authorization could not be had: a tenant with prepaid
            # accounts refuses, a postpaid-only one dials (as the engine did on its own).
            return f"{head}/0/{cid}" if t.billing == "postpaid" else TEMPORARY_FAILURE
        if m.group(1) == "refuse":
            return f"refuse/{int(m.group(2))}"
        if m.group(1) == "limit":
            return f"{head}/{max(1, int(m.group(2)))}/{cid}"
        return f"{head}/0/{cid}"

    async def _authorize(self, t: TenantRoutes, dial: str, caller: Caller) -> str:
        authorize = self.authorizer()
        if authorize is None or not caller.call:
            return ""
        try:
            answer: Awaitable[str] = authorize(
                tenant_id=t.tenant_id, endpoint=caller.endpoint, number=dial, call_id=caller.call
            )
            return await answer
        except Exception:
            log.exception("authorizing tenant %s's call to %s failed", t.tenant_id, dial)
            return ""


def dial_router(
    get_index: Callable[[], RouteIndex | None], get_secret: Callable[[], str], prefix: str
) -> APIRouter:
    """The two lookups, under the realtime driver's secret path (a wrong secret: 404)."""
    router = APIRouter(prefix=prefix, include_in_schema=False)

    def index_for(secret: str) -> RouteIndex | None:
        expected = get_secret()
        if not expected or not secrets.compare_digest(secret.encode(), expected.encode()):
            raise HTTPException(status_code=404)
        return get_index()

    @router.get("/{secret}/dial/{tenant}/{number}", response_class=PlainTextResponse)
    async def dial(
        secret: str, tenant: str, number: str, endpoint: str = "", call: str = ""
    ) -> PlainTextResponse:
        index = index_for(secret)
        answer = await index.dial(tenant, number, Caller.of(endpoint, call)) if index else ""
        return PlainTextResponse(answer)

    @router.get("/{secret}/did/{number}", response_class=PlainTextResponse)
    async def did(
        secret: str, number: str, endpoint: str = "", call: str = ""
    ) -> PlainTextResponse:
        index = index_for(secret)
        answer = await index.did(number, Caller.of(endpoint, call)) if index else ""
        return PlainTextResponse(answer)

    return router
