"""api.auth.Principal for the self-care role: each check refuses a ``user`` on its own,
so a route that forgot ``CurrentUser``'s refusal would still not act for it as an agent
(an agent on the user's extension, its events, calls from its phone)."""

from __future__ import annotations

import pytest

from api.auth import RANK, Principal
from orchestrator.core.errors import PermissionDeniedError
from orchestrator.store.models import Role

USER = Principal(
    user_id=1, name="una", role=Role.USER, tenant_id=3, extension_id=5, extension="101"
)
AGENT = Principal(
    user_id=2, name="ann", role=Role.AGENT, tenant_id=3, extension_id=5, extension="101"
)
ADMIN = Principal(user_id=3, name="adm", role=Role.TENANT_ADMIN, tenant_id=3)


def test_user_ranks_below_every_other_role() -> None:
    assert min(RANK, key=RANK.__getitem__) == Role.USER
    assert set(RANK) == set(Role)
    for role in (Role.AGENT, Role.SUPERVISOR, Role.TENANT_ADMIN, Role.SYSTEM_ADMIN):
        assert not USER.at_least(role)
        with pytest.raises(PermissionDeniedError) as refused:
            USER.require(role)
        assert refused.value.details == {"role": "user", "needs": str(role)}


@pytest.mark.parametrize(
    "check",
    [
        lambda p: p.require_own_agent(5, 7),  # the agent on its own extension
        lambda p: p.require_own_extension(5),
        lambda p: p.require_subscription("101", None),  # its own extension's events
        lambda p: p.require_call_placer(),
        lambda p: p.require_call_from("101", {}),
        lambda p: p.require_manages(Role.USER),
    ],
)
def test_user_is_refused_what_an_agent_of_the_same_extension_may(check: object) -> None:
    with pytest.raises(PermissionDeniedError) as refused:
        check(USER)  # type: ignore[operator]
    assert refused.value.details["role"] == "user"


def test_agent_of_the_same_extension_passes_the_same_checks() -> None:
    AGENT.require_own_agent(5, 7)
    AGENT.require_own_extension(5)
    AGENT.require_subscription("101", None)
    AGENT.require_call_from("101", {})


def test_own_phone_is_a_user_s_or_an_agent_s() -> None:
    assert USER.require_own_phone() == (3, 5, "101")
    assert AGENT.require_own_phone() == (3, 5, "101")
    with pytest.raises(PermissionDeniedError) as refused:
        ADMIN.require_own_phone()
    assert "no extension of its own" in refused.value.message
