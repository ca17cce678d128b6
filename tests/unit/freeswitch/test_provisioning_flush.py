"""What a change flushes from FreeSWITCH's user cache, over ESL to the fake FreeSWITCH
(the real adapter; the peer records every api command it receives).

FreeSWITCH caches each directory answer (``cacheable``) by user and domain, and its
``xml_flush_cache`` forgets one user (``id <user> <domain>``) or all of them: there is
no per-domain flush (mod_commands' xml_flush_function, switch_xml_clear_user_cache).
So a tenant-level change flushes each of the tenant's users whose answer changed,
appeared or went away, one command each, and nothing of any other tenant; one user's
change flushes that user only; a change no cached answer shows flushes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.provisioning.apply import FreeSwitchProvisioner
from orchestrator.provisioning.tenant import DidRoute, SipUser
from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.kit_fixtures import PASSWORD, Store, provisioner, tenant

NEW_PASSWORD = "Zyxwvuts9876Zyxwvuts9876"


@dataclass
class Peer:
    fs: FakeFreeSwitch
    store: Store
    prov: FreeSwitchProvisioner

    def asked(self) -> list[str]:
        """The api commands received since the last call (sorted: their order does not
        matter, how many of each does)."""
        log = self.fs.switch.api_log
        out = sorted(log)
        log.clear()
        return out


def flushes(domain: str, *users: str) -> list[str]:
    return [f"xml_flush_cache id {u} {domain}" for u in users]


def both(*lists: list[str]) -> list[str]:
    return sorted(x for one in lists for x in one)


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    store = Store(
        tenant(1, "a.example", ("101", "102", "103")),
        tenant(2, "b.example", ("101", "201")),  # 101 also: another tenant's, kept apart
    )
    async with FakeFreeSwitch() as fs:
        engine = FreeSwitchEngine(
            host="127.0.0.1", port=fs.port, password=fs.password, recordings_dir=tmp_path
        )
        await engine.start()
        try:
            await engine.wait_connected()
            prov = provisioner(store, engine)  # type: ignore[arg-type]
            await prov.apply_all(reload=False)
            fs.switch.api_log.clear()
            yield Peer(fs, store, prov)
        finally:
            await engine.stop()


async def test_one_users_change_flushes_that_user_only(peer: Peer) -> None:
    t = peer.store.tenants[1]
    peer.store.tenants[1] = replace(
        t, users=(t.users[0], replace(t.users[1], password=NEW_PASSWORD), t.users[2])
    )
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", "102")


async def test_a_user_added_or_removed_flushes_that_user_only(peer: Peer) -> None:
    t = peer.store.tenants[1]
    added = SipUser("104", "104", PASSWORD, "104@a.example", '"User 104" <104>')
    peer.store.tenants[1] = replace(t, users=(*t.users, added))
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", "104")
    peer.store.tenants[1] = replace(t, users=t.users[1:])
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", "101", "104")


async def test_a_change_no_user_answer_shows_flushes_nothing(peer: Peer) -> None:
    # A DID and a redirect are dialplan answers, which FreeSWITCH does not cache.
    t = peer.store.tenants[1]
    peer.store.tenants[1] = replace(
        t,
        dids=(*t.dids, DidRoute("+12065559999", "extension", "102")),
        users=(replace(t.users[0], redirect="102"), *t.users[1:]),
    )
    result = await peer.prov.tenant_changed(1)
    assert result.ok and result.changed
    assert peer.asked() == []


async def test_a_domain_change_flushes_every_user_of_both_domains(peer: Peer) -> None:
    peer.store.tenants[1] = replace(tenant(1, "c.example", ("101", "102", "103")))
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == both(
        flushes("a.example", "101", "102", "103"), flushes("c.example", "101", "102", "103")
    )
    assert "a.example" not in peer.prov.domains


async def test_a_tenant_disabled_or_removed_flushes_its_users_only(peer: Peer) -> None:
    peer.store.tenants[1] = replace(peer.store.tenants[1], enabled=False)
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", "101", "102", "103")
    peer.store.tenants[1] = replace(peer.store.tenants[1], enabled=True)
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", "101", "102", "103")
    del peer.store.tenants[2]  # gone from the store: as removed
    assert (await peer.prov.tenant_changed(2)).ok
    assert peer.asked() == flushes("b.example", "101", "201")
    assert (await peer.prov.tenant_removed(1)).ok
    assert peer.asked() == flushes("a.example", "101", "102", "103")
    assert (await peer.prov.tenant_removed(1)).changed == []  # already gone: nothing
    assert peer.asked() == []


async def test_a_bulk_change_flushes_exactly_the_changed_users(peer: Peer) -> None:
    numbers = [str(n) for n in range(300, 400)]
    peer.store.tenants[1] = tenant(1, "a.example", numbers)
    assert (await peer.prov.tenant_changed(1)).ok
    # 101-103 went away, 300-399 came: each one flushed once; b.example untouched.
    assert peer.asked() == flushes("a.example", "101", "102", "103", *numbers)
    # Every other user's password changed at once (an import): those 50 only.
    t = peer.store.tenants[1]
    users = tuple(replace(u, password=NEW_PASSWORD) if i % 2 else u for i, u in enumerate(t.users))
    peer.store.tenants[1] = replace(t, users=users)
    assert (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == flushes("a.example", *numbers[1::2])


async def test_a_failed_change_flushes_nothing(peer: Peer) -> None:
    t = peer.store.tenants[1]
    bad = replace(t.users[0], caller_id='"${system(id)}" <101>')
    peer.store.tenants[1] = replace(t, users=(bad, replace(t.users[1], password=NEW_PASSWORD)))
    assert not (await peer.prov.tenant_changed(1)).ok
    assert peer.asked() == []
