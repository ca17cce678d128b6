"""Message waiting on the real Asterisk: a SIPp phone registers and receives the NOTIFY
``message-summary`` with its counts, again after it registers again (from the same
contact, as a rebooted phone does, and from another port), after a change, and after
an engine restart: what other PBXs lose there.

The MWI reconciler runs here over an adapter of its own (app ``mwitest``) with the
registrar's events on, as the service would run it; the desired counts are the test's.
The module restarts the shared instance (as test_adapter.py does) and leaves it running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.pbx.mwi import Counts, MwiReconciler
from orchestrator.testing import sipp
from orchestrator.testing.sipp_mwi import MwiPhone
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, create_tenant, phone_ports

pytestmark = [
    pytest.mark.engine,
    # AsteriskInstance.start() drops its Popen while Asterisk runs on (see test_adapter.py).
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

DOMAIN = "mwi.example"
PORT = phone_ports("test_mwi", "7401", "7401-moved", "7402")
ENDPOINT = f"7401@{DOMAIN}"
OTHER = f"7402@{DOMAIN}"


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    return create_tenant(
        service, "Message waiting", DOMAIN, {"7401": PORT["7401"], "7402": PORT["7402"]}
    )


class Desired:
    """The counts the store would give (one tenant here)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counts] = {ENDPOINT: (2, 1), OTHER: (0, 0)}

    async def __call__(self, tenant_id: int | None) -> Mapping[str, Counts]:
        return dict(self.counts)


@pytest.fixture
async def mwi(asterisk: AsteriskInstance) -> AsyncIterator[tuple[MwiReconciler, Desired]]:
    creds = asterisk.credentials()
    engine = AsteriskEngine(
        ari_url=f"http://{asterisk.bind_address}:{asterisk.ports.http}/ari",
        ari_user=str(creds["ari_user"]), ari_password=str(creds["ari_password"]),
        ami_host=asterisk.bind_address, ami_port=asterisk.ports.ami,
        ami_user=str(creds["ami_user"]), ami_password=str(creds["ami_password"]),
        app="mwitest", id_prefix="mwi-", endpoint_events=True, observe_channels=False,
    )  # fmt: skip
    desired = Desired()
    reconciler = MwiReconciler(engine, desired)
    reconciler.start()  # before the engine: its first EngineConnected pushes everything
    await engine.start()
    try:
        await engine.wait_connected(15)
        await until(lambda: ENDPOINT in reconciler.pushed)  # EngineConnected comes later
        await reconciler.idle()
        yield reconciler, desired
    finally:
        await reconciler.stop()
        await engine.stop()
        await asyncio.sleep(0.5)  # Asterisk drops the app's events socket in its own time


async def until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


def phone(tenant: TenantPhones, number: str, port: int) -> MwiPhone:
    return MwiPhone(
        server=tenant.server, username=number, password=tenant.passwords[number],
        domain=DOMAIN, local_port=port,
    )  # fmt: skip


def lit(counts: str, waiting: str = "yes") -> Callable[[dict[str, str]], bool]:
    """A NOTIFY message-summary for ENDPOINT with ``counts`` (``new/old``)."""

    def check(summary: dict[str, str]) -> bool:
        return (
            summary.get("@Event") == "message-summary"
            and summary.get("Messages-Waiting") == waiting
            and summary.get("Voice-Message", "").startswith(f"{counts} ")
            and summary.get("Message-Account") == f"sip:{ENDPOINT}"
        )

    return check


async def forget_contacts(tenant: TenantPhones) -> None:
    """No contact of 7401 from an earlier run (astdb keeps them): the engine would send
    to it before the phone registers."""
    for port in (PORT["7401"], PORT["7401-moved"]):
        await sipp.unregister(
            server=tenant.server, username="7401", password=tenant.passwords["7401"],
            domain=DOMAIN, local_port=port,
        )  # fmt: skip


async def test_the_light_survives_registering_again_and_an_engine_restart(
    tenant: TenantPhones,
    mwi: tuple[MwiReconciler, Desired],
    asterisk: AsteriskInstance,
) -> None:
    reconciler, desired = mwi
    engine = reconciler.engine
    assert engine.registration_events  # the re-sends below come from events, not polls
    await forget_contacts(tenant)
    # The phone registers: the counts reach it.
    async with phone(tenant, "7401", PORT["7401"]) as first:
        await first.wait_notify(lit("2/1"))
        # A change: the new counts, once (the other phone's (0, 0) is not sent again).
        mark = len(first.notifies())
        desired.counts[ENDPOINT] = (3, 1)
        await reconciler.changed(tenant.id, mailbox_id=1)
        await reconciler.changed(tenant.id, mailbox_id=1)
        await first.wait_notify(lit("3/1"), since=mark)
        await asyncio.sleep(1)
        after = first.notifies()[mark:]
        assert [lit("3/1")(n) for n in after].count(True) == 1, after
        assert lit("3/1")(after[-1]), after  # nothing older overtook it
    # The phone reboots and registers again from the same contact (a refresh for
    # Asterisk): it gets the counts again.
    async with phone(tenant, "7401", PORT["7401"]) as rebooted:
        await rebooted.wait_notify(lit("3/1"))
    # It comes back from another port (a new contact replaces the old one).
    async with phone(tenant, "7401", PORT["7401-moved"]) as moved:
        await moved.wait_notify(lit("3/1"))
        # The engine restarts: the adapter reconnects and everything is sent again to
        # the contacts Asterisk kept (astdb).
        mark = len(moved.notifies())
        await asyncio.to_thread(asterisk.stop)
        await asyncio.to_thread(asterisk.start)
        started = time.monotonic()
        await engine.wait_connected(30)
        await moved.wait_notify(lit("3/1"), since=mark, timeout=20)
        print(f"\nlit again {time.monotonic() - started:.2f} s after the engine was back up")
        # Messages heard: the light goes off.
        mark = len(moved.notifies())
        desired.counts[ENDPOINT] = (0, 4)
        await reconciler.changed(tenant.id, mailbox_id=1)
        await moved.wait_notify(lit("0/4", waiting="no"), since=mark)
