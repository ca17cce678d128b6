"""Prepaid authorization at dialplan-lookup time, as the Asterisk dialplan asks it
before Dial: a limit cuts the carrier leg off, a refusal hangs up with its cause, and
an answer that cannot be had refuses a prepaid tenant's call (41) and lets a
postpaid-only tenant's through."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.engines.freeswitch.provisioning.xml_curl import dialplan_answer
from tests.unit.freeswitch.kit_fixtures import Store, actions, provisioner, tenant

BRIDGE = "sofia/gateway/trunk-t1-carrier/+441234567890"


class Authorizer:
    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.asked: list[dict[str, object]] = []

    async def __call__(self, *, tenant_id: int, endpoint: str, number: str, call_id: str) -> str:
        self.asked.append(
            {"tenant_id": tenant_id, "endpoint": endpoint, "number": number, "call_id": call_id}
        )
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def outbound(billing: str, authorizer: Authorizer | None) -> list[tuple[str, str]]:
    p = provisioner(Store(tenant(1, "a.example", ("101",), billing=billing)))
    asyncio.run(p.apply_all())
    form = {
        "Hunt-Context": "t1",
        "Hunt-Destination-Number": "01234567890",
        "variable_tenant_id": "1",
        "variable_orch_endpoint": "101@a.example",
        "Unique-ID": "b1a2",
        "Channel-Call-UUID": "a1b2c3d4-0000-4000-8000-000000000001",
    }
    answer = asyncio.run(dialplan_answer(p, form, authorizer))
    assert answer is not None
    return actions(answer)


def test_a_limited_call_is_hung_up_when_its_money_runs_out() -> None:
    auth = Authorizer("limit_65500")
    acts = outbound("prepaid", auth)
    bridge = [data for app, data in acts if app == "bridge"]
    assert bridge == [
        "[leg_timeout=60,execute_on_answer=sched_hangup +65 ALLOTTED_TIMEOUT]" + BRIDGE
    ]
    assert auth.asked == [
        {
            "tenant_id": 1,
            "endpoint": "101@a.example",
            "number": "+441234567890",
            "call_id": "a1b2c3d4-0000-4000-8000-000000000001",
        }
    ]


def test_less_than_a_second_still_ends_the_call() -> None:
    acts = outbound("prepaid", Authorizer("limit_400"))
    assert any("sched_hangup +1 " in data for _app, data in acts)


@pytest.mark.parametrize("billing", ["prepaid", "postpaid"])
def test_a_refusal_hangs_up_with_its_cause(billing: str) -> None:
    acts = outbound(billing, Authorizer("refuse_34"))
    assert acts[-1] == ("hangup", "34")
    assert not [a for a in acts if a[0] == "bridge"]


def test_unlimited_dials_without_a_limit() -> None:
    acts = outbound("prepaid", Authorizer("unlimited"))
    assert ("bridge", "[leg_timeout=60]" + BRIDGE) in acts


@pytest.mark.parametrize(
    "answer", [RuntimeError("database down"), "", "limit_", "limit_1,x", "refuse_1}", "LIMIT_5"]
)
def test_no_usable_answer_refuses_prepaid_and_dials_postpaid(answer: str | Exception) -> None:
    assert outbound("prepaid", Authorizer(answer))[-1] == ("hangup", "41")
    assert ("bridge", "[leg_timeout=60]" + BRIDGE) in outbound("postpaid", Authorizer(answer))


def test_no_authorizer_wired_refuses_prepaid() -> None:
    assert outbound("prepaid", None)[-1] == ("hangup", "41")


def test_without_billing_nothing_is_asked() -> None:
    auth = Authorizer("refuse_21")
    assert ("bridge", "[leg_timeout=60]" + BRIDGE) in outbound("", auth)
    assert auth.asked == []


def test_the_captured_sip_calls_uuid_is_the_call_id() -> None:
    from tests.unit.freeswitch.kit_fixtures import captured_form

    p = provisioner(Store(tenant(42, "127.0.0.1", ("1000",), billing="prepaid")))
    asyncio.run(p.apply_all())
    form = captured_form(
        3,  # the SIP call's dialplan lookup, as FreeSWITCH sent it
        **{
            "Hunt-Context": "t42",
            "Hunt-Destination-Number": "01234567890",
            "variable_tenant_id": "42",
            "variable_orch_endpoint": "1000@127.0.0.1",
        },
    )
    auth = Authorizer("limit_30000")
    answer = asyncio.run(dialplan_answer(p, form, auth))
    assert answer is not None and "sched_hangup +30 " in answer
    assert auth.asked == [
        {
            "tenant_id": 42,
            "endpoint": "1000@127.0.0.1",
            "number": "+441234567890",
            "call_id": "de43faaf-0bf4-4a1c-965a-35ce30e0b8c7",  # Channel-Call-UUID
        }
    ]
