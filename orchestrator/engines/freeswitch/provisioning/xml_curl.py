"""The HTTP side of FreeSWITCH's ``mod_xml_curl``: SIP users and dialplan, per lookup.

FreeSWITCH POSTs a form (``application/x-www-form-urlencoded``, every value
URL-encoded, a new connection per lookup) to the bindings of xml_curl.conf.xml::

    POST /engine/freeswitch/xml-curl/<secret>/directory
        section=directory&tag_name=domain&key_name=name&key_value=a.example
        &action=sip_auth&sip_auth_username=101&...&key=id&user=101&domain=a.example
    POST /engine/freeswitch/xml-curl/<secret>/dialplan
        section=dialplan&...&Hunt-Context=t1&Hunt-Destination-Number=102&...

and gets a ``freeswitch/xml`` document (one user; one context with the one extension
for the dialed number) or ``<result status="not found"/>``, after which FreeSWITCH uses
its static files (freeswitch_conf/base: they deny everything). Answers come from the
provisioner's in-memory index (:class:`~.apply.FreeSwitchProvisioner`), never from a
database query; only an outbound call of a tenant with billing asks the orchestrator's
prepaid authorization first (:class:`~orchestrator.provisioning.base.DialplanAuthorizer`).
The secret in the path keeps other local processes from reading SIP passwords.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.engines.freeswitch.provisioning.render import (
    DIDS_CONTEXT,
    TenantIndex,
    regex_literal,
    takes,
)
from orchestrator.provisioning.base import DialplanAuthorizer

log = logging.getLogger(__name__)

PREFIX = "/engine/freeswitch/xml-curl"
MEDIA_TYPE = "text/xml"
NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<document type="freeswitch/xml">\n'
    '  <section name="result">\n'
    '    <result status="not found"/>\n'
    "  </section>\n"
    "</document>\n"
)
_CONTEXT = re.compile(r"t([1-9][0-9]{0,17})")
_NUMBER = re.compile(r"[0-9*#+]{1,40}")
_ENDPOINT = re.compile(r"[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9.-]{1,253}")
# What a phone dials for a feature code (docs/pbx.md): * or # first.
_CODE = re.compile(r"[*#][0-9*#]{0,39}")
_CALL = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A channel's uuid as FreeSWITCH (or the orchestrator's origination_uuid) spells it.
_CHANNEL = re.compile(r"[A-Za-z0-9-]{1,64}")
# The user part of a Refer-To header as mod_sofia stores it whole in sip_refer_to
# ("<sip:*68@a.example>", maybe a display name before, parameters after).
_REFER_USER = re.compile(r"(?:[^<]*<)?sips?:([^@;>]{1,64})@")
_ANSWER = re.compile(r"(limit|refuse)_([0-9]{1,12})|unlimited")
# Q.850 41 (temporary failure): a prepaid tenant's call when authorization failed.
TEMPORARY_FAILURE = "41"


# What a directory answer reads of the form (of its 45 or so fields).
DIRECTORY_FIELDS = frozenset({"section", "tag_name", "key", "key_value", "user", "domain"})


def parse_form(body: bytes, names: frozenset[str] | None = None) -> dict[str, str]:
    """The POSTed fields (only ``names`` if given); a name given twice keeps its first value.

    With ``names``, what the whole form's parse gives for them (``parse_qsl``'s
    decoding: ``+`` is a space, ``%XX`` UTF-8, bad bytes replaced) when they are spelled
    plainly, as FreeSWITCH spells every name; a name spelled with ``%`` or ``+`` is not
    one of them (as before: looking for those costs more than the whole lookup).
    """
    fields: dict[str, str] = {}
    if names is None:
        for pair in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(*pair)
        return fields
    # Decoding only the fields wanted (6 of a directory lookup's 45), straight from the
    # bytes, is most of a lookup's cost saved.
    wanted = _encoded(names)
    for item in body.split(b"&"):
        key, _eq, value = item.partition(b"=")
        if key in wanted:
            name = key.decode("ascii")
            if name not in fields:
                fields[name] = unquote(value.decode("utf-8", "replace").replace("+", " "))
    return fields


@functools.cache
def _encoded(names: frozenset[str]) -> frozenset[bytes]:
    return frozenset(n.encode() for n in names)


def directory_answer(provisioner: FreeSwitchProvisioner, form: Mapping[str, str]) -> str | None:
    """The user document for a directory lookup, or None (not found).

    Only a lookup of one user by id in one domain is answered (REGISTER and INVITE
    digest, ``user/`` dialing, mod_voicemail's message-count): a domain-only lookup
    (a profile enumerating users or gateways) would hand out every user.
    """
    if form.get("tag_name", "domain") != "domain" or form.get("key", "id") != "id":
        return None
    # FreeSWITCH looks for <domain name="key_value">: a "domain" field saying otherwise
    # is not answered.
    domain = form.get("key_value") or form.get("domain", "")
    user = form.get("user", "")
    if not user or not domain or form.get("domain", domain) != domain:
        return None
    index = provisioner.domains.get(domain)
    if index is None:
        return None
    return index.directory.get(user)


async def dialplan_answer(
    provisioner: FreeSwitchProvisioner,
    form: Mapping[str, str],
    authorize: DialplanAuthorizer | None = None,
) -> str | None:
    """The context document for a dialplan lookup, or None (not found)."""
    context = form.get("Hunt-Context") or form.get("Caller-Context", "")
    number = form.get("Hunt-Destination-Number") or form.get("Caller-Destination-Number", "")
    if context == DIDS_CONTEXT:
        did = provisioner.dids.get(number)
        return did.dialplan.get((context, number)) if did else None
    m = _CONTEXT.fullmatch(context)
    index = provisioner.tenants.get(int(m.group(1))) if m else None
    if index is None:
        return None
    renderer = provisioner.renderer
    caller_tenant = form.get("variable_tenant_id", "")
    if (caller_tenant and caller_tenant != str(index.tenant_id)) or not index.config.enabled:
        # A phone of another tenant in this tenant's context: never (nor a disabled
        # tenant's phones anywhere).
        return renderer.dialplan(index, context, "refused")
    if _NUMBER.fullmatch(number) is None:
        return renderer.dialplan(index, context, "unknown")
    fixed = index.dialplan.get((context, number))
    if fixed is not None:
        return fixed
    # Outbound routes first: one with a literal prefix such as *7 is more specific than
    # "anything with * or # first", as in the Asterisk dialplan.
    for pattern in index.patterns:
        if takes(pattern, number):
            dial = pattern.prepend + number[pattern.strip :]
            refuse, limit_s = await _authorized(index, form, dial, authorize)
            return renderer.dialplan(
                index,
                context,
                "outbound",
                expression=regex_literal(number),
                p=pattern,
                dial=dial,
                refuse=refuse,
                limit_s=limit_s,
            )
    if _CODE.fullmatch(number):
        return renderer.dialplan(
            index,
            context,
            "pbx_code",
            expression=regex_literal(number),
            number=number,
            endpoint=_caller_endpoint(index, form),
            transferer_channel=blind_transferer_channel(form, number),
        )
    return renderer.dialplan(index, context, "unknown")


def _caller_endpoint(index: TenantIndex, form: Mapping[str, str]) -> str:
    """The calling phone's endpoint, if it is one of the tenant's users; else ""."""
    endpoint = form.get("variable_orch_endpoint", "")
    if _ENDPOINT.fullmatch(endpoint) and endpoint in index.endpoints:
        return endpoint
    return ""


def blind_transferer_channel(form: Mapping[str, str], number: str) -> str:
    """The uuid of the channel whose phone blind-transferred (SIP REFER) this one to
    ``number``, or "" when this lookup is not such a transfer.

    FreeSWITCH 1.10.12 names the transferring phone on the transferred channel only this
    way (read in its sources, not guessed):

    * mod_sofia's REFER handling (``sofia_handle_sip_i_refer``, sofia.c, the blind branch
      after ``if (exten)``) finds the REFERring channel's bridge partner, sets on it
      ``sip_refer_to`` (the whole Refer-To header) and, only if the phone sent one,
      ``sip_h_Referred-By``, then calls ``switch_ivr_session_transfer(partner, exten,
      NULL, NULL)``: the partner is routed again in its own context.
    * ``last_bridge_to`` (switch_ivr_bridge.c: set on both sides when a bridge starts,
      by ``uuid_bridge`` and by the ``bridge`` app alike) is the REFERring channel's
      uuid, and ``switch_ivr_session_transfer`` (switch_ivr.c) clears ``bridge_to`` and
      ``signal_bridge_to`` but not it: so it names the transferor during this lookup.
    * Not usable: ``transfer_source`` / ``transfer_history`` / ``Caller-Transfer-Source``
      ("<epoch>:<uuid>:bl_xfer:<exten>/<context>/<dialplan>") hold the uuid of the new
      caller profile (``switch_caller_profile_dup`` makes a fresh one; the capture
      b_call_control_plain shows it is neither channel's), and are set after the channel
      is already routing. ``sip_h_Referred-By`` and ``referred_by_user`` (the latter only
      on an INVITE) are what the phone claims, or nothing.

    So: a lookup whose ``sip_refer_to`` names this very number (a REFER to it, not some
    earlier transfer) with a ``last_bridge_to`` is a blind transfer by that channel's
    phone. The adapter knows which phone each channel was (it saw the channel's events)
    and hands the flow ``transferer`` as that phone's endpoint; nothing the phone says
    about itself is believed.
    """
    refer_to = _REFER_USER.match(form.get("variable_sip_refer_to", "").strip())
    channel = form.get("variable_last_bridge_to", "")
    if refer_to is None or refer_to.group(1) != number or not _CHANNEL.fullmatch(channel):
        return ""
    return channel


async def _authorized(
    index: TenantIndex,
    form: Mapping[str, str],
    number: str,
    authorize: DialplanAuthorizer | None,
) -> tuple[str, int]:
    """(hangup cause or "", seconds the call may last or 0) for an outbound call.

    As the Asterisk dialplan does: no billing, no question; an answer that cannot be
    had: a tenant with prepaid accounts refuses (41), a postpaid-only one dials.
    """
    billing = index.config.billing
    if not billing:
        return "", 0
    call = form.get("Channel-Call-UUID") or form.get("Unique-ID", "")
    answer = ""
    if authorize is not None and _CALL.fullmatch(call):
        try:
            answer = await authorize(
                tenant_id=index.tenant_id,
                endpoint=_caller_endpoint(index, form),
                number=number,
                call_id=call,
            )
        except Exception:
            log.exception("authorizing tenant %s's call to %s failed", index.tenant_id, number)
    m = _ANSWER.fullmatch(answer)
    if m is None:
        return ("", 0) if billing == "postpaid" else (TEMPORARY_FAILURE, 0)
    if m.group(1) == "refuse":
        return m.group(2), 0
    if m.group(1) == "limit":
        # sched_hangup counts whole seconds: round down, never beyond the money.
        return "", max(1, int(m.group(2)) // 1000)
    return "", 0


def secret_ok(given: str, expected: str) -> bool:
    """Whether the path's secret is the configured one (none configured: never)."""
    return bool(expected) and secrets.compare_digest(given.encode(), expected.encode())


def lookup_form(section: str | None, body: bytes) -> tuple[str, dict[str, str]]:
    """The section a lookup asks for (``""`` when the path's and the form's differ) and
    its form (only the fields a directory answer reads when the path says directory)."""
    form = parse_form(body, DIRECTORY_FIELDS if section == "directory" else None)
    wanted = form.get("section", "")
    return (wanted if section in (None, wanted) else ""), form


async def xml_curl_answer(
    provisioner: FreeSwitchProvisioner | None,
    section: str | None,
    body: bytes,
    authorizer: DialplanAuthorizer | None = None,
) -> str:
    """The document for one POSTed lookup (``section``: the path's, None for the
    one-binding route): a user, a context, or :data:`NOT_FOUND`."""
    wanted, form = lookup_form(section, body)
    answer: str | None = None
    if provisioner is not None:
        if wanted == "directory":
            answer = directory_answer(provisioner, form)
        elif wanted == "dialplan":
            answer = await dialplan_answer(provisioner, form, authorizer)
    return answer or NOT_FOUND


def xml_curl_router(
    get_provisioner: Callable[[], FreeSwitchProvisioner | None],
    get_secret: Callable[[], str],
    get_authorizer: Callable[[], DialplanAuthorizer | None] = lambda: None,
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def answer(secret: str, section: str | None, request: Request) -> Response:
        if not secret_ok(secret, get_secret()):
            raise HTTPException(status_code=404)
        body = await request.body()
        text = await xml_curl_answer(get_provisioner(), section, body, get_authorizer())
        return Response(text, media_type=MEDIA_TYPE)

    @router.post("/{secret}/{section}")
    async def lookup(secret: str, section: str, request: Request) -> Response:
        """One binding per section (xml_curl.conf.xml): the path names it."""
        return await answer(secret, section, request)

    @router.post("/{secret}")
    async def lookup_any(secret: str, request: Request) -> Response:
        """One binding for several sections: the form's ``section`` says which."""
        return await answer(secret, None, request)

    return router
