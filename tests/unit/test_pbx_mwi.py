"""MWI as reconciled state (orchestrator/pbx/mwi.py) on the FakeEngine: what is pushed on
a change, on a re-registration, on a reconnect and an engine restart, and what is not."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.errors import EngineUnavailableError, ValidationError
from orchestrator.pbx.mwi import Counts, MwiReconciler, NoMwi

A1, A2, B1 = "101@a.example", "102@a.example", "201@b.example"


class Store:
    """The desired counts per tenant, as the voicemail store would compute them."""

    def __init__(self) -> None:
        self.tenants: dict[int, dict[str, Counts]] = {1: {A1: (0, 0), A2: (0, 0)}, 2: {B1: (1, 0)}}
        self.asked: list[int | None] = []
        self.down = False

    async def desired(self, tenant_id: int | None) -> Mapping[str, Counts]:
        self.asked.append(tenant_id)
        if self.down:
            raise ConnectionError("database is down")
        if tenant_id is None:
            return {e: c for counts in self.tenants.values() for e, c in counts.items()}
        return dict(self.tenants.get(tenant_id, {}))


def pushes(fake: FakeEngine) -> list[tuple[str, int, int]]:
    return [c[1:] for c in fake.commands if c[0] == "set_message_waiting"]


@pytest.fixture
async def world() -> tuple[FakeEngine, Store, MwiReconciler]:
    fake = FakeEngine(registration_events=True)
    store = Store()
    mwi = MwiReconciler(fake, store.desired)
    mwi.start()
    await fake.start()
    await mwi.idle()
    return fake, store, mwi


async def test_the_first_connect_pushes_every_endpoint(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, _ = world
    assert store.asked == [None]
    assert fake.mwi == {A1: (0, 0), A2: (0, 0), B1: (1, 0)}


async def test_a_change_pushes_only_what_differs_and_never_twice(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    fake.commands.clear()
    store.tenants[1][A1] = (2, 1)
    await mwi.changed(1, mailbox_id=7)
    assert store.asked[-1] == 1
    assert pushes(fake) == [(A1, 2, 1)]
    await mwi.changed(1, mailbox_id=7)  # nothing changed: nothing sent
    assert pushes(fake) == [(A1, 2, 1)]
    store.tenants[1][A1] = (1, 2)
    await mwi.changed(1, mailbox_id=7)
    assert pushes(fake) == [(A1, 2, 1), (A1, 1, 2)]
    assert fake.mwi[A1] == (1, 2)


async def test_a_shared_mailbox_lights_every_notified_phone(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    fake.commands.clear()
    store.tenants[1] = {A1: (3, 0), A2: (3, 0)}
    await mwi.changed(1, mailbox_id=9)
    assert sorted(pushes(fake)) == [(A1, 3, 0), (A2, 3, 0)]


async def test_a_removed_mailbox_turns_its_light_off_once(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    store.tenants[1][A2] = (4, 0)
    await mwi.changed(1, mailbox_id=3)
    fake.commands.clear()
    del store.tenants[1][A2]
    await mwi.changed(1, mailbox_id=3)
    await mwi.changed(1, mailbox_id=3)
    assert pushes(fake) == [(A2, 0, 0)]
    # Another tenant's computation never touches tenant 1's endpoints.
    await mwi.changed(2, mailbox_id=5)
    assert pushes(fake) == [(A2, 0, 0)]


async def test_a_phone_that_registers_again_gets_its_counts_again(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    store.tenants[1][A1] = (2, 1)
    await mwi.changed(1, mailbox_id=7)
    fake.commands.clear()
    await fake.set_registration(A1, "online")
    await mwi.idle()
    assert pushes(fake) == [(A1, 2, 1)]  # the same state again: the phone may have lost it
    await fake.set_registration(A1, "offline")
    await fake.set_registration("999@a.example", "online")  # no mailbox: nothing
    await mwi.idle()
    assert pushes(fake) == [(A1, 2, 1)]


async def test_a_reconnect_sends_everything_again(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    await fake.drop_link()
    store.tenants[1][A2] = (5, 5)  # changed while the link was down: refused, logged
    await mwi.changed(1, mailbox_id=2)
    assert A2 not in mwi.pushed
    fake.commands.clear()
    await fake.reconnect()
    await mwi.idle()
    assert sorted(pushes(fake)) == [(A1, 0, 0), (A2, 5, 5), (B1, 1, 0)]
    assert fake.mwi[A2] == (5, 5)


async def test_an_engine_restart_gets_every_light_back(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    store.tenants[1][A1] = (2, 1)
    await mwi.changed(1, mailbox_id=7)
    await fake.drop_link("engine restarted")
    fake.mwi.clear()  # it came back knowing nothing
    await fake.reconnect()
    await mwi.idle()
    assert fake.mwi == {A1: (2, 1), A2: (0, 0), B1: (1, 0)}


async def test_a_new_run_of_the_orchestrator_pushes_everything(
    world: tuple[FakeEngine, Store, MwiReconciler],
) -> None:
    fake, store, mwi = world
    await mwi.stop()
    store.tenants[2][B1] = (0, 3)
    again = fake.restarted()
    new_run = MwiReconciler(again, store.desired)
    new_run.start()
    await again.start()
    await new_run.idle()
    assert again.mwi == {A1: (0, 0), A2: (0, 0), B1: (0, 3)}


async def test_errors_are_logged_and_retried_on_the_next_connect(
    world: tuple[FakeEngine, Store, MwiReconciler], caplog: pytest.LogCaptureFixture
) -> None:
    fake, store, mwi = world
    store.down = True
    store.tenants[1][A1] = (1, 0)
    await mwi.changed(1, mailbox_id=1)  # the store fails: nothing raised, nothing sent
    assert "cannot compute" in caplog.text
    store.down = False
    failing = {A1}
    original = fake.set_message_waiting

    async def flaky(endpoint: str, new: int, old: int) -> None:
        if endpoint in failing:
            raise EngineUnavailableError("AMI is down")
        await original(endpoint, new, old)

    fake.set_message_waiting = flaky  # type: ignore[method-assign]
    await mwi.changed(1, mailbox_id=1)
    assert A1 not in mwi.pushed and "not shown" in caplog.text
    failing.clear()
    fake.commands.clear()
    await fake.drop_link()
    await fake.reconnect()
    await mwi.idle()
    assert (A1, 1, 0) in pushes(fake)


async def test_the_fake_checks_what_reaches_an_engine() -> None:
    fake = FakeEngine()
    await fake.start()
    for endpoint, new, old in [
        ("101", 1, 0),
        ("1 01@a.example", 1, 0),
        (A1, -1, 0),
        (A1, 1, 10**6),
    ]:
        with pytest.raises(ValidationError):
            await fake.set_message_waiting(endpoint, new, old)
    with pytest.raises(ValidationError):
        await fake.set_message_waiting(A1, True, 0)  # a flag is not a count
    assert fake.mwi == {}
    await NoMwi().changed(1, 2)  # the default notifier does nothing


async def test_a_store_down_at_connect_is_computed_again_at_the_next_registration() -> None:
    fake = FakeEngine(registration_events=True)
    store = Store()
    store.down = True
    mwi = MwiReconciler(fake, store.desired)
    mwi.start()
    await fake.start()
    await mwi.idle()
    assert fake.mwi == {} and mwi.stale
    store.down = False
    await fake.set_registration(A1, "online")
    await mwi.idle()
    assert fake.mwi == {A1: (0, 0), A2: (0, 0), B1: (1, 0)} and not mwi.stale
