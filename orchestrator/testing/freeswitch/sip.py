"""A SIP phone's REGISTER as mod_sofia handles it, minus SIP: the digest credentials are
checked against the directory, looked up over mod_xml_curl first (the fields of e1's
REGISTER lookup) and in the static directory otherwise; a match registers the phone
(``sofia::register`` with the directory user's variables)."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch import registrations
from orchestrator.testing.freeswitch.events import FsEvent
from orchestrator.testing.freeswitch.phones import FarEnd

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.server import FakeFreeSwitch

__all__ = ["authenticate", "call_from_phone", "digest_response", "register_sip"]

_AUTH = ("sofia_reg.c", "sofia_reg_parse_auth", 3124)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5


def digest_response(
    user: str,
    realm: str,
    password: str,
    nonce: str,
    uri: str,
    cnonce: str = "6b8b4567",
    nc: str = "00000001",
    method: str = "REGISTER",
) -> str:
    """RFC 2617 ``qop=auth`` response, as a phone computes it."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{_md5(f'{method}:{uri}')}")


async def register_sip(
    fs: FakeFreeSwitch, user: str, domain: str, password: str, *, port: int = 15072,
    agent: str = "fake-phone",
) -> bool:  # fmt: skip
    """REGISTER ``user@domain`` with ``password``; True when the directory accepted it."""
    call_id = f"{uuidlib.uuid4().hex[:8]}@127.0.0.1"
    variables = await authenticate(
        fs, user, domain, password, "REGISTER", call_id=call_id, port=port, agent=agent
    )
    if variables is None:
        return False
    fs.switch.phones.setdefault(f"{user}@{domain}", FarEnd()).registered = True
    reg = registrations.Registration(
        user, domain, port=port, call_id=call_id, agent=agent, variables=variables
    )
    registrations.register(fs.switch, reg)
    return True


async def authenticate(
    fs: FakeFreeSwitch, user: str, domain: str, password: str, method: str, *,
    call_id: str, port: int = 15072, agent: str = "fake-phone",
) -> dict[str, str] | None:  # fmt: skip
    """The directory check of a REGISTER or INVITE challenge: the user's variables
    (mod_sofia's own first), or None when refused."""
    nonce = str(uuidlib.uuid4())
    uri = f"sip:{domain}:5060"
    response = digest_response(user, domain, password, nonce, uri, method=method)
    request = FsEvent("REQUEST_PARAMS", calling=_AUTH)
    fields = [("tag_name", "domain"), ("key_name", "name"), ("key_value", domain)]
    fields += request.all_headers()
    fields += [
        ("action", "sip_auth"), ("sip_profile", "internal"), ("sip_user_agent", agent),
        ("sip_auth_username", user), ("sip_auth_realm", domain), ("sip_auth_nonce", nonce),
        ("sip_auth_uri", uri), ("sip_contact_user", user), ("sip_contact_host", "127.0.0.1"),
        ("sip_to_user", user), ("sip_to_host", domain), ("sip_via_protocol", "udp"),
        ("sip_from_user", user), ("sip_from_host", domain), ("sip_call_id", call_id),
        ("sip_request_host", domain), ("sip_request_port", "5060"), ("sip_auth_qop", "auth"),
        ("sip_auth_cnonce", "6b8b4567"), ("sip_auth_nc", "00000001"),
        ("sip_auth_response", response), ("sip_auth_method", method),
        ("client_port", str(port)), ("key", "id"), ("user", user), ("domain", domain),
        ("ip", "127.0.0.1"),
    ]  # fmt: skip
    document = await fs.dialplan.directory(fields)
    found = _user(document, user, domain) if document is not None else None
    if found is None:
        return None
    params = {p.get("name", ""): p.get("value", "") for p in found.iter("param")}
    if "a1-hash" in params:
        ha1 = params["a1-hash"]
        expected = _md5(f"{ha1}:{nonce}:00000001:6b8b4567:auth:{_md5(f'{method}:{uri}')}")
    else:
        expected = digest_response(user, domain, params.get("password", ""), nonce, uri,
                                   method=method)  # fmt: skip
    if expected != response:
        return None
    variables = {
        "sip_number_alias": user, "sip_auth_username": user, "sip_auth_realm": domain,
        "number_alias": user, "user_name": user, "domain_name": domain,
    }  # fmt: skip
    variables.update({v.get("name", ""): v.get("value", "") for v in found.iter("variable")})
    return variables


async def call_from_phone(
    fs: FakeFreeSwitch, endpoint: str, destination: str, password: str
) -> str | None:
    """A phone dials ``destination``: the INVITE is challenged and checked against the
    directory; the call then runs in the user's ``user_context`` with the directory
    variables set. The new channel's uuid, or None when the credentials are refused."""
    user, _, domain = endpoint.partition("@")
    call_id = f"{uuidlib.uuid4().hex[:8]}@127.0.0.1"
    variables = await authenticate(fs, user, domain, password, "INVITE", call_id=call_id)
    if variables is None:
        return None
    variables.update({"sip_authorized": "true", "sip_call_id": call_id,
                      "presence_id": f"{user}@{domain}"})  # fmt: skip
    return await fs.call_in(
        destination, caller=user, context=variables.get("user_context", "default"),
        name=f"sofia/internal/{user}@{domain}", variables=variables,
        caller_name=variables.get("effective_caller_id_name", ""),
    )  # fmt: skip


def _user(document: ET.Element, user: str, domain: str) -> ET.Element | None:
    for dom in document.iter("domain"):
        if dom.get("name") != domain:
            continue
        for found in dom.iter("user"):
            if found.get("id") == user:
                return found
    return None
