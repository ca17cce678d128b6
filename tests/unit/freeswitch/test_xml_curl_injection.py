"""What a caller dials and what an admin types never becomes FreeSWITCH syntax.

Caller-dialed numbers reach no document at all unless they are one of the tenant's
own numbers (validated) or an outbound pattern's (digits); admin-typed values with
"$", "{", "}", quotes, markup or control characters are refused when the tenant is
rendered, and the tenant keeps what it had. Everything else is XML-escaped.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.engines.freeswitch.provisioning.render import Renderer
from orchestrator.engines.freeswitch.provisioning.xml_curl import dialplan_answer
from orchestrator.provisioning.tenant import DialPattern, DidRoute, TenantConfig
from tests.unit.freeswitch.kit_fixtures import (
    TEMPLATES,
    Store,
    actions,
    parse,
    provisioner,
    tenant,
)

DIALED = [
    "101,1,System(id)",
    "${system(id)}",
    "$${global}",
    "101 XML t2",
    '101"/><action application="system" data="id',
    "101\nexten",
    "101'",
    "*91{x}",
    "1" * 41,
    "+1%20%0A",
    "",
]


@pytest.mark.parametrize("number", DIALED)
def test_caller_dialed_payloads_are_unknown_numbers(number: str) -> None:
    p = provisioner(Store(tenant(1, "a.example", ("101",), billing="")))
    asyncio.run(p.apply_all())
    form = {
        "section": "dialplan",
        "Hunt-Context": "t1",
        "Hunt-Destination-Number": number,
        "variable_orch_endpoint": "${system(id)}@a.example",
    }
    answer = asyncio.run(dialplan_answer(p, form))
    assert answer is not None
    assert actions(answer)[-1] == ("hangup", "UNALLOCATED_NUMBER")
    if number:
        assert number not in answer
    assert "system" not in answer and "${" not in answer.replace("tone_stream", "")


@pytest.mark.parametrize("number", DIALED[:-1])
def test_did_payloads_are_not_found(number: str) -> None:
    p = provisioner(Store(tenant(1)))
    asyncio.run(p.apply_all())
    form = {"Hunt-Context": "orchestrator-dids", "Hunt-Destination-Number": number}
    assert asyncio.run(dialplan_answer(p, form)) is None


def _user(**changes: Any) -> TenantConfig:
    t = tenant(1, "a.example", ("101",))
    return replace(t, users=(replace(t.users[0], **changes),))


ADMIN_TYPED = [
    _user(caller_id='"Ann ${system(id)}" <101>'),
    _user(caller_id='"Ann {x}" <101>'),
    _user(caller_id='"Ann\\" <101>'),
    _user(caller_id='"Ann" <101>" <666>'),
    _user(caller_id='"Ann\x00" <101>'),
    _user(username='101"/><user id="x'),
    _user(username="101 evil", endpoint="101 evil@a.example"),
    _user(password="short"),
    _user(password="Abcdefgh1234${x}"),
    _user(number="101,1"),
    _user(number="${x}"),
    _user(redirect="102 XML t2"),
    _user(endpoint="101@b.example"),
    replace(tenant(1), domain='a.example"/><domain name="b'),
    replace(tenant(1), domain="${domain}"),
    replace(tenant(1), dids=(DidRoute("+1206${x}", "extension", "101"),)),
    replace(tenant(1), dids=(DidRoute("+12065550100", "extension", "101 XML t2"),)),
    replace(tenant(1), dids=(DidRoute("+12065550100", "ivr", "flow}"),)),
    replace(
        tenant(1),
        dial_patterns=(DialPattern("0", 10, "r${x}", 1, "", "trunk-t1-a", ""),),
    ),
    replace(
        tenant(1),
        dial_patterns=(DialPattern("0", 10, "r", 1, "", "trunk/../x", ""),),
    ),
    replace(
        tenant(1),
        dial_patterns=(DialPattern("0", 10, "r", 1, "+44,x", "trunk-t1-a", ""),),
    ),
    replace(
        tenant(1),
        dial_patterns=(DialPattern("0", 10, "r", 1, "", "trunk-t1-a", "1${x}"),),
    ),
]


@pytest.mark.parametrize("config", ADMIN_TYPED)
def test_admin_typed_payloads_are_refused(config: TenantConfig) -> None:
    with pytest.raises(ValidationError):
        Renderer(TEMPLATES).render(config)


def test_a_refused_change_keeps_the_previous_answers() -> None:
    store = Store(tenant(1, "a.example", ("101",)))
    p = provisioner(store)
    asyncio.run(p.apply_all())
    before = p.tenants[1]
    store.tenants[1] = ADMIN_TYPED[0]
    result = asyncio.run(p.tenant_changed(1))
    assert not result.ok and "caller ID" in result.error
    assert p.tenants[1] is before and p.domains["a.example"] is before


def test_allowed_markup_characters_are_escaped() -> None:
    t = _user(caller_id='"Ann & Bob <Sales>" <101>')
    with pytest.raises(ValidationError):
        Renderer(TEMPLATES).render(t)  # "<" is not a display name's (validation.py)
    index = Renderer(TEMPLATES).render(_user(caller_id='"Ann & Bob\'s" <101>'))
    document = index.directory["101"]
    assert "Ann &amp; Bob&#39;s" in document
    variables = {v.get("name"): v.get("value") for v in parse(document).iter("variable")}
    assert variables["effective_caller_id_name"] == "Ann & Bob's"


_ALPHABET = "0123456789*#+${}()[],;:'\"<>&/\\ \t\n\r%^=@.-_abcXYZ\u00e9\u202e\x00"


def _fuzz(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, size)))


def test_any_dialed_text_reaches_no_argument() -> None:
    """500 random numbers and caller endpoints of FreeSWITCH-significant characters."""
    p = provisioner(Store(tenant(1, "a.example", ("101", "102"))))
    asyncio.run(p.apply_all())
    rng = random.Random(20261206)
    cases = [(_fuzz(rng, 48), _fuzz(rng, 40)) for _ in range(500)]
    cases += [("101" + c, "") for c in "*#+,;$"] + [("0" + "1" * 10 + "$", "")]
    unknown = asyncio.run(
        dialplan_answer(p, {"Hunt-Context": "t1", "Hunt-Destination-Number": "999"})
    )
    for number, endpoint in cases:
        form = {
            "Hunt-Context": "t1",
            "Hunt-Destination-Number": number,
            "variable_tenant_id": "1",
            "variable_orch_endpoint": endpoint,
        }
        # The very same document whatever was dialed: nothing of it is in there.
        assert asyncio.run(dialplan_answer(p, form)) == unknown, (number, endpoint)
    assert unknown is not None and actions(unknown)[-1] == ("hangup", "UNALLOCATED_NUMBER")
