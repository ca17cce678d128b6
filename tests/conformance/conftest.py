"""The conformance suites' fixtures: every test runs on the FakeEngine, the real Asterisk
and FreeSWITCH (the adapter over the fake FreeSWITCH peer: no engine needed).

``driver`` is parametrized over the engines ("fake", "asterisk", "freeswitch": the
adapter over orchestrator.testing.freeswitch, which needs no engine) and plays the
engine's side of a test (see drivers.py); ``engine`` and
``events`` are its engine object and the events it reported; ``world`` is the whole
service on each engine (worlds.py: FreeSWITCH's is the service on ORCH_ENGINE=freeswitch
over the fake peer and its SIP side). The Asterisk parameter is
marked ``engine`` like tests/engine and shares that directory's session fixtures (one test
engine and one service per slot, see ``shared`` there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.engine import Engine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from tests.conformance.drivers import (
    DB_FAMILY,
    DIALPLAN,
    AsteriskDriver,
    Driver,
    Events,
    FakeDriver,
)
from tests.conformance.worlds import AsteriskWorld, FakeWorld, FreeSwitchWorld, World
from tests.engine.conftest import asterisk, dialplan_file, s3_server, service  # noqa: F401  (shared)

ENGINE_MARKS = [
    pytest.mark.engine,
    # AsteriskInstance.start() drops its Popen while Asterisk runs on (by design).
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]
# The worlds that need no engine (free ports only) are marked no_engine: make test runs
# them with the unit tests on both cores, and the rest with the real-engine tests.
ENGINES = [
    pytest.param("fake", marks=pytest.mark.no_engine),
    pytest.param("asterisk", marks=ENGINE_MARKS),
]
# The suites also run on FreeSWITCH: the adapter over the fake FreeSWITCH peer (no
# engine needed), and for the feature level the whole service over it (worlds.py).
DRIVERS = [*ENGINES, pytest.param("freeswitch", marks=pytest.mark.no_engine)]
DIALPLAN_FILE = "zz_conformance.conf"


@pytest.fixture(scope="session")
def conformance_dialplan(request: pytest.FixtureRequest) -> Iterator[None]:
    """The drivers' test-only dialplan in the test engine (see drivers.DIALPLAN)."""
    instance: AsteriskInstance = request.getfixturevalue("asterisk")
    with dialplan_file(instance, DIALPLAN_FILE, DIALPLAN):
        yield
    instance.cli(f"database deltree {DB_FAMILY}")


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    made: Driver
    peer: Any = None
    if request.param == "fake":
        made = FakeDriver()
    elif request.param == "freeswitch":
        from orchestrator.testing.freeswitch import FakeFreeSwitch
        from tests.conformance.drivers.freeswitch import DIALPLAN as FS_DIALPLAN
        from tests.conformance.drivers.freeswitch import FreeSwitchDriver

        peer = FakeFreeSwitch(dialplan=FS_DIALPLAN)
        await peer.start()
        made = FreeSwitchDriver(peer.host, peer.port, peer.password, peer)
    else:
        request.getfixturevalue("conformance_dialplan")
        made = AsteriskDriver(request.getfixturevalue("asterisk"))
    await made.start()
    try:
        yield made
    finally:
        await made.close()
        if peer is not None:
            await peer.stop()


@pytest.fixture(params=DRIVERS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The whole service on each engine (see worlds.py)."""
    made: FakeWorld | AsteriskWorld | FreeSwitchWorld
    if request.param == "fake":
        made = FakeWorld(tmp_path)
    elif request.param == "freeswitch":
        made = FreeSwitchWorld(tmp_path)
    else:
        request.getfixturevalue("conformance_dialplan")
        made = AsteriskWorld(request.getfixturevalue("service"))
    with made:
        yield made


@pytest.fixture
def engine(driver: Driver) -> Engine:
    return driver.engine


@pytest.fixture
def events(driver: Driver) -> Events:
    return driver.events
