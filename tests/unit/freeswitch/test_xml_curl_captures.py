"""mod_xml_curl's own requests (tests/data/freeswitch-esl/e1_*), answered by the kit.

The requests are the ones FreeSWITCH 1.10.12 sent: a directory lookup for a REGISTER
with its digest fields, the same for an INVITE challenge, mod_voicemail's
message-count, and dialplan lookups for a SIP call and a loopback leg. The capture's
domain (127.0.0.1) and user (1000) are tenant 42's here.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from fastapi import FastAPI

from orchestrator.engines.freeswitch.provisioning.xml_curl import (
    DIRECTORY_FIELDS,
    NOT_FOUND,
    PREFIX,
    parse_form,
    xml_curl_router,
)
from tests.unit.freeswitch.kit_fixtures import (
    SECRET,
    Store,
    actions,
    captured_form,
    captured_requests,
    encode,
    parse,
    provisioner,
    raw_requests,
    tenant,
)

REGISTER, MESSAGE_COUNT, INVITE_AUTH, SIP_DIALPLAN, LOOPBACK_DIALPLAN = range(5)


@pytest.fixture
def client() -> TestClient:
    store = Store(tenant(42, "127.0.0.1", ("1000", "1001")), tenant(7, "b.example", ("1000",)))
    prov = provisioner(store)
    asyncio.run(prov.apply_all())
    app = FastAPI()
    app.include_router(xml_curl_router(lambda: prov, lambda: SECRET))
    return TestClient(app)


def post(client: TestClient, section: str, body: bytes, secret: str = SECRET) -> str:
    response = client.post(
        f"{PREFIX}/{secret}/{section}",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "freeswitch-xml/1.0",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    return response.text


def test_the_raw_captured_bodies_parse_to_the_recorded_fields() -> None:
    bodies = raw_requests()
    requests = captured_requests()
    assert len(bodies) == len(requests) == 10
    for body, request in zip(bodies, requests, strict=True):
        fields = request["fields"]
        assert isinstance(fields, list)
        form = parse_form(body)
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name, value)
        assert form == first


TRICKY = [
    b"user=a+b%2Bc&user=second&domain=caf%C3%A9.example&key=&section",
    b"user=%ZZ%e9&&=x&domain=\xff\xfe&key_value=a=b&tag_name=domain&section=directory",
]


def test_the_directory_fields_parse_as_the_whole_form_does() -> None:
    """Reading only the fields a directory answer uses gives the values the whole
    form's parse gives them (the fast path is no second decoder)."""
    for body in [*raw_requests(), *TRICKY]:
        whole = parse_form(body)
        wanted = {k: v for k, v in whole.items() if k in DIRECTORY_FIELDS}
        assert parse_form(body, DIRECTORY_FIELDS) == wanted, body
    assert parse_form(TRICKY[0], DIRECTORY_FIELDS) == {
        "user": "a b+c", "domain": "café.example", "key": "", "section": ""
    }  # fmt: skip
    # A name FreeSWITCH would never encode is not read as the name (route and front
    # door alike: both parse with this).
    encoded = b"sec%74ion=directory&section+=x&%75ser=1000&user"
    assert parse_form(encoded, DIRECTORY_FIELDS) == {"user": ""}


@pytest.mark.parametrize("index", [REGISTER, INVITE_AUTH, MESSAGE_COUNT])
def test_directory_lookups_get_the_user(client: TestClient, index: int) -> None:
    answer = post(client, "directory", raw_requests()[index])
    doc = parse(answer)
    assert doc.tag == "document" and doc.get("type") == "freeswitch/xml"
    (section,) = doc.findall("section")
    assert section.get("name") == "directory"
    (domain,) = section.findall("domain")
    assert domain.get("name") == "127.0.0.1"
    (user,) = domain.findall("user")
    assert user.get("id") == "1000"
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    assert params["password"] == "Abcdefgh1234Abcdefgh1234"
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert variables["user_context"] == "t42"
    assert variables["tenant_id"] == "42"
    assert variables["orch_endpoint"] == "1000@127.0.0.1"
    assert variables["effective_caller_id_number"] == "1000"


def test_the_same_user_in_another_domain_is_the_other_tenants(client: TestClient) -> None:
    form = captured_form(REGISTER, key_value="b.example", domain="b.example")
    user = parse(post(client, "directory", encode(form))).find(".//user")
    assert user is not None
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert variables["user_context"] == "t7" and variables["tenant_id"] == "7"


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "1002"},  # no such user
        {"key_value": "c.example", "domain": "c.example"},  # no such domain
        {"domain": "b.example"},  # the field and the key disagree
        {"user": ""},  # a domain-only lookup would list every user
        {"key": "number-alias"},
        {"tag_name": "group"},
    ],
)
def test_other_directory_lookups_are_not_found(client: TestClient, changes: dict[str, str]) -> None:
    assert post(client, "directory", encode(captured_form(REGISTER, **changes))) == NOT_FOUND


def test_the_captured_dialplan_contexts_are_not_ours(client: TestClient) -> None:
    # "default" (a SIP call) and "esl" (a loopback leg): FreeSWITCH falls back to its
    # static dialplan, which denies.
    for body in (raw_requests()[SIP_DIALPLAN], raw_requests()[LOOPBACK_DIALPLAN]):
        assert post(client, "dialplan", body) == NOT_FOUND
    assert parse(NOT_FOUND).find(".//result").get("status") == "not found"  # type: ignore[union-attr]


def test_a_sip_call_in_its_tenants_context_rings_the_extension(client: TestClient) -> None:
    form = captured_form(
        SIP_DIALPLAN,
        **{"Hunt-Context": "t42", "Hunt-Destination-Number": "1001", "variable_tenant_id": "42"},
    )
    doc = parse(post(client, "dialplan", encode(form)))
    assert doc.find(".//section").get("name") == "dialplan"  # type: ignore[union-attr]
    (context,) = doc.iter("context")
    assert context.get("name") == "t42"  # must equal the requested Hunt-Context
    condition = doc.find(".//condition")
    assert condition is not None and condition.get("expression") == "^1001$"
    assert ("bridge", "[leg_timeout=30]user/1001@127.0.0.1") in actions(
        post(client, "dialplan", encode(form))
    )


def test_a_loopback_leg_in_a_tenant_context_is_answered(client: TestClient) -> None:
    form = captured_form(
        LOOPBACK_DIALPLAN, **{"Hunt-Context": "t42", "Hunt-Destination-Number": "1000"}
    )
    assert ("bridge", "[leg_timeout=30]user/1000@127.0.0.1") in actions(
        post(client, "dialplan", encode(form))
    )


def test_a_wrong_secret_is_a_404(client: TestClient) -> None:
    response = client.post(f"{PREFIX}/not-the-secret/directory", content=raw_requests()[0])
    assert response.status_code == 404


def test_no_secret_configured_refuses_everything() -> None:
    prov = provisioner(Store(tenant(42, "127.0.0.1", ("1000",))))
    asyncio.run(prov.apply_all())
    app = FastAPI()
    app.include_router(xml_curl_router(lambda: prov, lambda: ""))
    response = TestClient(app).post(f"{PREFIX}/x/directory", content=raw_requests()[0])
    assert response.status_code == 404


def test_a_section_other_than_the_path_is_not_answered(client: TestClient) -> None:
    # A directory form POSTed to the dialplan binding (or the reverse) answers nothing.
    assert post(client, "dialplan", raw_requests()[REGISTER]) == NOT_FOUND
    assert post(client, "configuration", raw_requests()[REGISTER]) == NOT_FOUND


def test_one_binding_for_both_sections(client: TestClient) -> None:
    # A FreeSWITCH configured with one gateway-url for "directory|dialplan".
    response = client.post(f"{PREFIX}/{SECRET}", content=raw_requests()[REGISTER])
    assert response.status_code == 200 and '<user id="1000"' in response.text
    form = captured_form(
        LOOPBACK_DIALPLAN, **{"Hunt-Context": "t42", "Hunt-Destination-Number": "1000"}
    )
    response = client.post(f"{PREFIX}/{SECRET}", content=encode(form))
    assert "user/1000@127.0.0.1" in response.text
    assert client.post(f"{PREFIX}/wrong", content=raw_requests()[REGISTER]).status_code == 404
