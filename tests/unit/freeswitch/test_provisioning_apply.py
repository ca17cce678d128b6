"""The FreeSWITCH provisioner: a tenant's whole snapshot is validated before its answers
are swapped in, FreeSWITCH's cached users are flushed, a failure keeps the old ones."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from orchestrator.engines.freeswitch.provisioning.apply import DIRECTORY
from orchestrator.engines.freeswitch.provisioning.xml_curl import directory_answer
from tests.unit.freeswitch.kit_fixtures import RecordingConfig, Store, provisioner, tenant


def password_of(p: object, domain: str, user: str) -> str | None:
    form = {"tag_name": "domain", "key_value": domain, "user": user}
    answer = directory_answer(p, form)  # type: ignore[arg-type]
    if answer is None:
        return None
    return answer.split('name="password" value="')[1].split('"')[0]


def test_a_change_swaps_the_tenant_and_flushes_what_changed() -> None:
    store = Store(tenant(1, "a.example", ("101", "102")))
    engine = RecordingConfig()
    p = provisioner(store, engine)
    asyncio.run(p.apply_all())
    assert engine.commands == ["xml_flush_cache"]
    new_password = "Zyxwvuts9876Zyxwvuts9876"
    t = store.tenants[1]
    store.tenants[1] = replace(
        t,
        users=(replace(t.users[0], password=new_password),),  # 102 removed
    )
    result = asyncio.run(p.tenant_changed(1))
    assert result.ok and result.version == p.tenants[1].version
    assert result.changed == ["directory", "dialplan"]
    assert password_of(p, "a.example", "101") == new_password
    assert password_of(p, "a.example", "102") is None
    assert engine.flushed == [(DIRECTORY, ["101@a.example", "102@a.example"])]
    # The same data again: nothing to do, nothing flushed.
    again = asyncio.run(p.tenant_changed(1))
    assert again.ok and again.changed == [] and len(engine.flushed) == 1


def test_a_failed_render_keeps_the_old_snapshot_whole() -> None:
    store = Store(tenant(1, "a.example", ("101", "102")))
    engine = RecordingConfig()
    p = provisioner(store, engine)
    asyncio.run(p.apply_all())
    old = p.tenants[1]
    t = store.tenants[1]
    # One good change (a new password) and one bad value in the same snapshot.
    store.tenants[1] = replace(
        t,
        users=(
            replace(t.users[0], password="Zyxwvuts9876Zyxwvuts9876"),
            replace(t.users[1], caller_id='"${system(id)}" <102>'),
        ),
    )
    result = asyncio.run(p.tenant_changed(1))
    assert not result.ok and result.error
    assert p.tenants[1] is old
    assert password_of(p, "a.example", "101") == t.users[0].password
    assert engine.flushed == []


def test_a_domain_or_did_of_another_tenant_is_refused() -> None:
    store = Store(tenant(1, "a.example"), tenant(2, "b.example"))
    p = provisioner(store)
    asyncio.run(p.apply_all())
    store.tenants[2] = replace(tenant(2, "a.example"), dids=())
    result = asyncio.run(p.tenant_changed(2))
    assert not result.ok and "tenant 1" in result.error
    assert p.domains["a.example"].tenant_id == 1 and p.domains["b.example"].tenant_id == 2
    store.tenants[2] = replace(store.tenants[2], domain="b.example", dids=tenant(1).dids)
    assert not asyncio.run(p.tenant_changed(2)).ok
    assert p.dids[tenant(1).dids[0].number].tenant_id == 1


def test_removal_and_disabling_take_the_users_away() -> None:
    store = Store(tenant(1, "a.example", ("101",)), tenant(2, "b.example", ("201",)))
    engine = RecordingConfig()
    p = provisioner(store, engine)
    asyncio.run(p.apply_all())
    store.tenants[1] = replace(store.tenants[1], enabled=False)
    assert asyncio.run(p.tenant_changed(1)).ok
    assert password_of(p, "a.example", "101") is None
    assert engine.flushed[-1] == (DIRECTORY, ["101@a.example"])
    del store.tenants[2]
    result = asyncio.run(p.tenant_changed(2))  # gone from the store: removed
    assert result.ok and 2 not in p.tenants and "b.example" not in p.domains
    assert engine.flushed[-1] == (DIRECTORY, ["201@b.example"])
    assert asyncio.run(p.tenant_removed(1)).changed == ["directory", "dialplan"]
    assert p.tenants == {} and p.domains == {} and p.dids == {}


def test_apply_all_skips_a_bad_tenant_and_drops_gone_ones() -> None:
    bad = replace(tenant(2, "b.example"), domain="b.example${x}")
    store = Store(tenant(1, "a.example"), tenant(3, "c.example"))
    p = provisioner(store)
    asyncio.run(p.apply_all(reload=False))
    store.tenants = {1: tenant(1, "a.example"), 2: bad}
    asyncio.run(p.apply_all(reload=False))
    assert sorted(p.tenants) == [1]
    assert sorted(p.domains) == ["a.example"]


def test_a_flush_failure_is_not_fatal() -> None:
    from orchestrator.core.errors import EngineUnavailableError

    class Down(RecordingConfig):
        async def invalidate_sip_objects(self, object_type: str, ids: list[str]) -> None:
            raise EngineUnavailableError("ESL down")

    store = Store(tenant(1, "a.example", ("101",)))
    p = provisioner(store, Down())
    asyncio.run(p.apply_all(reload=False))
    store.tenants[1] = replace(store.tenants[1], users=())
    assert asyncio.run(p.tenant_changed(1)).ok
    assert password_of(p, "a.example", "101") is None
