"""A phone withholding its number on Asterisk: the realtime answers for its digest user
(orchestrator/engines/asterisk/provisioning/withheld.py), over the rendered rows."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from orchestrator.core import FakeEngine
from orchestrator.engines.asterisk.provisioning.realtime import PREFIX, realtime_router
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.engines.asterisk.provisioning.withheld import (
    REALM,
    Twins,
    changed_twins,
)
from orchestrator.provisioning.data import SipTrunk, SipUser, TenantConfig
from tests.unit.test_provisioning import PASSWORD, TEMPLATES, _provisioner

USERS = {"alice7": "101", "bob7": "102", "shared": "103"}


def tenant(tid: int, domain: str, users: dict[str, str]) -> TenantConfig:
    phones = tuple(
        SipUser(number, user, PASSWORD + str(tid), f"{user}@{domain}", f'"N {number}" <{number}>')
        for user, number in users.items()
    )
    trunk = SipTrunk(endpoint=f"trunk-t{tid}-carrier", host="192.0.2.1",
                     port=5060, username="carrieruser", password=PASSWORD)  # fmt: skip
    return TenantConfig(id=tid, domain=domain, enabled=True, users=phones, trunks=(trunk,))


def index(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = _provisioner(tmp_path, FakeEngine(), {})
    renderer = Renderer(TEMPLATES)
    p._swap_sip(1, renderer.render(tenant(1, "a.example", USERS)))
    p._swap_sip(2, renderer.render(tenant(2, "b.example", {"shared": "201"})))
    return p


def test_the_twin_is_the_phone_with_that_digest_user_shown_as_anonymous(tmp_path: Path) -> None:
    p = index(tmp_path)
    real = p.index["ps_endpoints"]["alice7@a.example"]
    [endpoint] = p.twins.rows("ps_endpoints", f"alice7@{REALM}")
    assert endpoint["id"] == endpoint["auth"] == f"alice7@{REALM}"
    assert endpoint["identify_by"] == "auth_username"  # never by a From user
    assert endpoint["callerid"] == '"Anonymous" <anonymous>'
    assert endpoint["callerid_privacy"] == "prohib"
    # The phone's own tenant and options; no AOR (nothing is registered or called there).
    assert endpoint["context"] == real["context"] == "t1" and endpoint["set_var"] == "TENANT=1"
    assert "aors" not in endpoint
    [auth] = p.twins.rows("ps_auths", f"alice7@{REALM}")
    assert (auth["id"], auth["username"], auth["password"]) == (
        f"alice7@{REALM}", "alice7", PASSWORD + "1"
    )  # fmt: skip
    assert auth["realm"] == REALM  # the realm Asterisk's challenge to it named
    # The real phone is untouched.
    assert p.index["ps_auths"]["alice7@a.example"]["realm"] == "a.example"
    assert real["callerid"] == '"N 101" <101>' and "identify_by" not in real


def test_no_twin_unless_one_phone_has_the_user(tmp_path: Path) -> None:
    p = index(tmp_path)
    for family in ("ps_endpoints", "ps_auths"):
        assert p.twins.rows(family, f"shared@{REALM}") == []  # two tenants: ambiguous
        assert p.twins.rows(family, f"nobody@{REALM}") == []
        assert p.twins.rows(family, f"carrieruser@{REALM}") == []  # a trunk's credentials
        assert p.twins.rows(family, "alice7@a.example") == []  # not the realm
        assert p.twins.rows(family, "alice7") == []
        assert p.twins.rows(family, f"@{REALM}") == []
    assert p.twins.rows("ps_aors", f"alice7@{REALM}") == []


def test_a_changed_phone_expires_its_twin() -> None:
    renderer = Renderer(TEMPLATES)
    old = renderer.render(tenant(1, "a.example", USERS)).sip
    new = renderer.render(tenant(1, "a.example", {"alice7": "101", "carol7": "104"})).sip
    changed = {"endpoint": ["bob7@a.example", "carol7@a.example", "shared@a.example"]}
    assert changed_twins(old, new, changed) == [
        f"bob7@{REALM}", f"carol7@{REALM}", f"shared@{REALM}"
    ]  # fmt: skip
    assert changed_twins(old, new, {}) == []
    # A trunk's credentials are no phone's digest user.
    assert (
        changed_twins(old, new, {"endpoint": ["trunk-t1-carrier"], "auth": ["trunk-t1-carrier"]})
        == []
    )


async def test_the_realtime_route_answers_the_twin(tmp_path: Path) -> None:
    p = index(tmp_path)
    app = FastAPI()
    app.include_router(realtime_router(lambda: p, lambda: "s3cret"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        url = f"{PREFIX}/s3cret/ps_endpoints/single"
        r = await http.post(url, data={"id": f"bob7@{REALM}"})
        assert "identify_by=auth_username" in r.text and "context=t1" in r.text, r.text
        r = await http.post(f"{PREFIX}/s3cret/ps_auths/single", data={"id": f"bob7@{REALM}"})
        assert f"realm={REALM}" in r.text and "username=bob7" in r.text, r.text
        # Only an id lookup of one object.
        r = await http.post(f"{PREFIX}/s3cret/ps_endpoints/multi", data={"id": f"bob7@{REALM}"})
        assert r.text == ""
        r = await http.post(url, data={"id": f"shared@{REALM}"})
        assert r.text == ""


def test_the_provisioners_twins_follow_its_changes_and_walk_the_phones_once(
    tmp_path: Path,
) -> None:
    p = index(tmp_path)
    walked = 0
    endpoints = p.index["ps_endpoints"]

    class Counting(dict[str, dict[str, str]]):
        def items(self):  # type: ignore[no-untyped-def,override]
            nonlocal walked
            walked += 1
            return super().items()

    p.index["ps_endpoints"] = Counting(endpoints)
    p.twins = Twins(p.index)
    for _ in range(3):
        assert p.twins.rows("ps_endpoints", f"bob7@{REALM}")[0]["context"] == "t1"
        assert p.twins.rows("ps_auths", f"alice7@{REALM}")[0]["username"] == "alice7"
    assert walked == 1  # one walk for six lookups
    # Tenant 1 changes: bob7 goes, 'shared' is tenant 2's alone now, carol7 comes.
    renderer = Renderer(TEMPLATES)
    p._swap_sip(1, renderer.render(tenant(1, "a.example", {"alice7": "101", "carol7": "104"})))
    assert p.twins.rows("ps_endpoints", f"bob7@{REALM}") == []
    assert p.twins.rows("ps_endpoints", f"carol7@{REALM}")[0]["context"] == "t1"
    assert p.twins.rows("ps_endpoints", f"shared@{REALM}")[0]["context"] == "t2"
    assert walked == 2
    p._swap_sip(2, None)  # tenant 2 removed
    assert p.twins.rows("ps_auths", f"shared@{REALM}") == []
