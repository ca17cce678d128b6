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

__all__ = ["digest_response", "register_sip"]

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
    nonce, call_id = str(uuidlib.uuid4()), f"{uuidlib.uuid4().hex[:8]}@127.0.0.1"
    uri = f"sip:{domain}:5060"
    response = digest_response(user, domain, password, nonce, uri)
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
        ("sip_auth_response", response), ("sip_auth_method", "REGISTER"),
        ("client_port", str(port)), ("key", "id"), ("user", user), ("domain", domain),
        ("ip", "127.0.0.1"),
    ]  # fmt: skip
    document = await fs.dialplan.directory(fields)
    found = _user(document, user, domain) if document is not None else None
    if found is None:
        return False
    params = {p.get("name", ""): p.get("value", "") for p in found.iter("param")}
    if "a1-hash" in params:
        ha1 = params["a1-hash"]
        expected = _md5(f"{ha1}:{nonce}:00000001:6b8b4567:auth:{_md5(f'REGISTER:{uri}')}")
    else:
        expected = digest_response(user, domain, params.get("password", ""), nonce, uri)
    if expected != response:
        return False
    variables = {
        "sip_number_alias": user, "sip_auth_username": user, "sip_auth_realm": domain,
        "number_alias": user, "user_name": user, "domain_name": domain,
    }  # fmt: skip
    variables.update({v.get("name", ""): v.get("value", "") for v in found.iter("variable")})
    fs.switch.phones.setdefault(f"{user}@{domain}", FarEnd()).registered = True
    reg = registrations.Registration(user, domain, port=port, call_id=call_id, agent=agent,
                                     variables=variables)  # fmt: skip
    registrations.register(fs.switch, reg)
    return True


def _user(document: ET.Element, user: str, domain: str) -> ET.Element | None:
    for dom in document.iter("domain"):
        if dom.get("name") != domain:
            continue
        for found in dom.iter("user"):
            if found.get("id") == user:
                return found
    return None
