"""The real Asterisk, started once per test session (instance "test").

The instance is installed (debootstrap, cached in /var/cache/orchestrator) and
started if it is not running; it is stopped at the end only if this session
started it. Every test in tests/engine/ talks to it: none is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.engines.asterisk.instance import AsteriskInstance

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("ORCH_ASTERISK_ROOT", "/var/cache/orchestrator/asterisk-root"))
# The orchestrator service the test engine fetches SIP users from (see tests/engine/test_*).
TEST_API_PORT = int(os.environ.get("ORCH_TEST_API_PORT", "18000"))


def make_instance() -> AsteriskInstance:
    return AsteriskInstance(
        root=ROOT,
        name="test",
        templates_dir=REPO / "dialplan_templates" / "asterisk",
        realtime_url_base=f"http://127.0.0.1:{TEST_API_PORT}/engine/asterisk/realtime",
    )


@pytest.fixture(scope="session")
def asterisk() -> Iterator[AsteriskInstance]:
    """The running test instance of Asterisk (ports: ARI 18088, AMI 15038, SIP 15060)."""
    instance = make_instance()
    instance.install()
    started_here = instance.pid() is None
    if started_here:
        instance.start()
    else:
        instance.configure()
        instance.cli("core reload")
        instance.wait_ready()
    yield instance
    if started_here:
        instance.stop()
